"""Uvicorn servers in subprocesses and a bounded-concurrency decision load for the log tests."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from tests.live import UvicornProcess

HERE = Path(__file__).resolve().parent


class Server(UvicornProcess):
    """``uvicorn crash_app:app`` on a free port, logging to a file."""

    def __init__(self, storage: str, log_dir: Path) -> None:
        port_log = log_dir / f"uvicorn-{len(list(log_dir.glob('uvicorn-*.log')))}.log"
        super().__init__(
            "crash_app:app",
            port_log,
            env={"CONSENTKIT_TEST_STORAGE": storage},
            args=("--app-dir", str(HERE)),
        )


@dataclass
class Load:
    """What a load run saw: consent ids of acknowledged decisions, and failures."""

    acked: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0


async def decide(
    urls: list[str],
    *,
    total: int | None = None,
    duration: float | None = None,
    concurrency: int = 16,
    stop_after: float | None = None,
    on_stop: object = None,
) -> Load:
    """POST accept_all decisions round-robin to ``urls`` with bounded concurrency.

    Stops after ``total`` decisions or ``duration`` seconds. ``on_stop`` (a
    callable) runs ``stop_after`` seconds in, while requests are in flight.
    """
    load = Load()
    started = time.monotonic()
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=10.0, limits=limits) as client:

        async def worker(n: int) -> None:
            nonlocal sent
            while True:
                if total is not None and sent >= total:
                    return
                if duration is not None and time.monotonic() - started > duration:
                    return
                url = urls[(sent + n) % len(urls)]
                sent += 1
                try:
                    response = await client.post(
                        url + "/consent",
                        json={"action": "accept_all"},
                        headers={"sec-fetch-site": "same-origin"},
                    )
                except httpx.HTTPError:
                    load.errors += 1
                    await asyncio.sleep(0.01)
                    continue
                load.statuses[response.status_code] = load.statuses.get(response.status_code, 0) + 1
                if 200 <= response.status_code < 300:
                    load.acked.append(response.json()["consent_id"])

        async def stopper() -> None:
            if stop_after is not None and callable(on_stop):
                await asyncio.sleep(stop_after)
                await asyncio.to_thread(on_stop)

        await asyncio.gather(*(worker(n) for n in range(concurrency)), stopper())
    return load
