"""A mixed, bounded-concurrency load on the site in ``site_app``, and what it saw."""

from __future__ import annotations

import asyncio
import http.cookiejar
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from consentkit.consent import ConsentCodec
from consentkit.log.read import open_reader
from tests.cli import run_cli
from tests.reliability.support import SECRET

UA = {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) reliability-load"}
KNOWN = frozenset({"necessary", "analytics", "marketing"})
CODEC = ConsentCodec(
    [SECRET], "1", required=frozenset({"necessary"}), known=KNOWN, max_age=86_400 * 182
)


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Every request says who it is explicitly: the client keeps no cookies."""

    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    acked: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    rss: list[tuple[float, int]] = field(default_factory=list)
    banners: int = 0
    elapsed: float = 0.0


def _kind(rng: random.Random) -> str:
    roll = rng.random()
    for limit, kind in (
        (0.30, "page"), (0.58, "page_consented"), (0.62, "stream"), (0.67, "api"),
        (0.70, "state"), (0.72, "privacy"), (0.86, "decide_json"), (0.93, "decide_form"),
        (0.95, "withdraw"), (1.0, "gpc_page"),
    ):  # fmt: skip
        if roll < limit:
            return kind
    return "page"


async def mixed_load(
    url: str,
    *,
    duration: float,
    concurrency: int = 12,
    rss: Callable[[], int] | None = None,
    at: tuple[float, Callable[[], None]] | None = None,
    seed: int = 8,
) -> LoadResult:
    """Run the mix against ``url`` for ``duration`` seconds; sample RSS every second.

    ``at=(seconds, action)`` runs ``action`` (say a SIGKILL) that far in.
    A decision counts as acknowledged only with a 2xx (JSON) or 303 (form)
    carrying its consent cookie.
    """
    result = LoadResult()
    started = time.monotonic()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    jar = http.cookiejar.CookieJar(policy=_NoCookies())
    origin = {"origin": url}

    async def one(client: httpx.AsyncClient, rng: random.Random) -> None:
        kind = _kind(rng)
        n = rng.randrange(50)
        page = rng.choice(["/", f"/reports/{n}", f"/news/{n}"])
        cookie: dict[str, str] = {}
        if result.tokens and kind in ("page_consented", "withdraw", "gpc_page", "state"):
            cookie = {"cookie": f"consentkit={rng.choice(result.tokens[-2000:])}"}
        elif kind in ("page_consented", "gpc_page"):
            kind = "page"
        result.kinds[kind] += 1
        if kind in ("page", "page_consented"):
            response = await client.get(page, headers={**UA, **cookie})
            expect = (200,)
        elif kind == "gpc_page":
            response = await client.get(page, headers={**UA, **cookie, "sec-gpc": "1"})
            expect = (200,)
        elif kind == "stream":
            response = await client.get("/stream", headers=UA)
            expect = (200,)
        elif kind == "api":
            response = await client.get("/api/data", headers=UA)
            expect = (200,)
        elif kind == "state":
            response = await client.get("/consent", headers={**UA, **cookie})
            expect = (200,)
        elif kind == "privacy":
            response = await client.get("/privacy", headers=UA)
            expect = (200,)
        elif kind == "decide_json":
            action = rng.choice(["accept_all", "reject_all", "custom"])
            body: dict[str, Any] = {"action": action}
            if action == "custom":
                body["categories"] = {"analytics": rng.random() < 0.5, "marketing": False}
            response = await client.post("/consent", json=body, headers={**UA, **origin})
            expect = (200,)
        elif kind == "decide_form":
            form = [("action", "custom"), ("category", "analytics"), ("next", page)]
            response = await client.post("/consent", data=dict(form), headers={**UA, **origin})
            expect = (303,)
        else:  # withdraw
            response = await client.delete("/consent", headers={**UA, **origin, **cookie})
            expect = (200,)
        result.statuses[response.status_code] += 1
        if response.status_code not in expect:
            result.errors += 1
            result.error_kinds[f"{kind}:{response.status_code}"] += 1
            return
        if kind in ("page", "stream") and b"consentkit" in response.content:
            result.banners += 1
        if kind.startswith("decide") or kind == "withdraw":
            token = _consent_cookie(response)
            if kind == "withdraw":
                result.acked.append(response.json()["consent_id"])
                return
            if token is None:
                result.errors += 1
                result.error_kinds[f"{kind}:no-cookie"] += 1
                return
            consent = CODEC.decode(token)
            assert consent.consent_id is not None
            if kind == "decide_json":
                assert response.json()["consent_id"] == consent.consent_id
            result.acked.append(consent.consent_id)
            result.tokens.append(token)

    async def worker(client: httpx.AsyncClient, index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        while time.monotonic() - started < duration:
            result.requests += 1
            try:
                await one(client, rng)
            except httpx.HTTPError as exc:
                result.errors += 1
                result.error_kinds[type(exc).__name__] += 1
                await asyncio.sleep(0.05)

    async def sampler() -> None:
        while rss is not None and time.monotonic() - started < duration:
            try:
                result.rss.append((time.monotonic() - started, rss()))
            except (OSError, RuntimeError):
                return
            await asyncio.sleep(1.0)

    async def trigger() -> None:
        if at is not None:
            await asyncio.sleep(at[0])
            at[1]()

    async with httpx.AsyncClient(base_url=url, timeout=15.0, limits=limits, cookies=jar) as client:
        await asyncio.gather(*(worker(client, i) for i in range(concurrency)), sampler(), trigger())
    result.elapsed = time.monotonic() - started
    return result


def _consent_cookie(response: httpx.Response) -> str | None:
    for value in response.headers.get_list("set-cookie"):
        if value.startswith("consentkit="):
            token = value.split(";", 1)[0].split("=", 1)[1]
            return token or None
    return None


def stored_ids(storage: str) -> set[str]:
    with open_reader(storage) as reader:
        return {record.consent_id for record in reader.records()}


def verify(storage: str) -> str:
    """``consentkit log verify`` on ``storage``: its summary; fails the test on exit != 0."""
    result = run_cli("log", "verify", "--storage", storage,
                     env={"CONSENTKIT_SECRET_KEYS": SECRET})  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()
