"""A 60-second mixed load against uvicorn; then SIGKILL under the same mix."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.reliability.conftest import PG_DSN, with_search_path
from tests.reliability.mixed_load import mixed_load, stored_ids, verify
from tests.reliability.support import SiteProcess

LOAD_SECONDS = 60
WARM_UP = 20


@pytest.mark.slow
def test_sixty_seconds_of_mixed_load(tmp_path: Path, record_property: object) -> None:
    storage = f"sqlite:///{tmp_path}/load.db"
    server = SiteProcess(storage, tmp_path / "uvicorn.log")
    try:
        result = asyncio.run(
            mixed_load(server.url, duration=LOAD_SECONDS, concurrency=12, rss=server.rss_kib)
        )
        stats = server.rss_kib()
        analytics = httpx.get(server.url + "/_test/stats").json()
    finally:
        server.stop()
    with sqlite3.connect(f"{tmp_path}/load.db") as conn:
        views = conn.execute("SELECT sum(views) FROM consentkit_analytics_daily").fetchone()[0]
    stored = stored_ids(storage)
    summary = verify(storage)
    missing = set(result.acked) - stored
    warm = [kib for t, kib in result.rss if t >= WARM_UP]
    figures = {
        "seconds": round(result.elapsed, 1),
        "requests": result.requests,
        "errors": result.errors,
        "error_kinds": dict(result.error_kinds),
        "statuses": {str(k): v for k, v in result.statuses.items()},
        "mix": dict(result.kinds),
        "banners_injected": result.banners,
        "decisions_acknowledged": len(result.acked),
        "decision_ids_distinct": len(set(result.acked)),
        "decision_ids_found": len(set(result.acked) & stored),
        "rss_kib_at_warm_up": warm[0] if warm else None,
        "rss_kib_peak": max(k for _, k in result.rss),
        "rss_kib_final": stats,
        "rss_kib_every_10s": [kib for _, kib in result.rss][::10],
        "analytics": {**analytics, "views_stored": views},
        "verify": summary,
    }
    print(json.dumps(figures, indent=1))
    record_property("load", json.dumps(figures))  # type: ignore[operator]
    (tmp_path / "figures.json").write_text(json.dumps(figures))
    assert result.errors == 0, figures
    assert result.requests > 5_000, figures
    assert result.acked and not missing, f"{len(missing)} acknowledged decisions lost"
    assert result.banners > 0
    assert analytics["failed_batches"] == 0 and analytics["dropped"] == 0, analytics
    assert views > 0
    # Flat after warm-up: caches and queues are bounded by configuration.
    assert len(warm) >= LOAD_SECONDS - WARM_UP - 5, result.rss
    assert max(warm) - warm[0] < 24 * 1024, figures
    assert stats - warm[0] < 16 * 1024, figures


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store: a SQLite file, or a fresh PostgreSQL schema (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/crash.db"
        return
    _, schema = request.getfixturevalue("pg_schema")
    yield with_search_path(PG_DSN, schema)


@pytest.mark.slow
def test_sigkill_under_mixed_load_loses_no_acknowledged_decision(
    storage: str, tmp_path: Path
) -> None:
    acked: set[str] = set()
    for round_ in range(2):
        server = SiteProcess(storage, tmp_path / "uvicorn.log")
        result = asyncio.run(
            mixed_load(server.url, duration=6.0, concurrency=12, at=(3.0, server.kill), seed=round_)
        )
        assert result.acked, "nothing was acknowledged before the kill"
        assert result.errors, "the kill came after the load"
        acked.update(result.acked)
        missing = acked - stored_ids(storage)
        assert not missing, f"round {round_}: {len(missing)} acknowledged decisions lost"
        verify(storage)
    # Restarted, the site serves the mix again without an error, and the log verifies.
    server = SiteProcess(storage, tmp_path / "uvicorn.log")
    try:
        after = asyncio.run(mixed_load(server.url, duration=4.0, concurrency=8))
    finally:
        server.stop()
    assert after.errors == 0, after.error_kinds
    assert not (acked | set(after.acked)) - stored_ids(storage)
    verify(storage)
