"""Faults: the storage goes away under a running site and comes back.

SQLite: the tests run as root, so file modes stop nothing. The outage is made
of two honest parts: the database path is swapped for a directory (every
reopen fails with SQLITE_CANTOPEN, as on a vanished volume), and the handles
already open are switched to ``PRAGMA query_only`` (every write fails with
SQLITE_READONLY, as on a volume remounted read-only). Restoring moves the
file back; nothing else is touched: the site must recover by itself.

PostgreSQL: the site talks to the real server through a TCP proxy; cutting
the proxy drops every live connection and refuses new ones, as a stopped
server would; restoring it listens again on the same port (the real server
is never stopped: other tests use it).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from consentkit import ConsentMiddleware
from tests.live import serve
from tests.reliability.conftest import PG_DSN, with_search_path
from tests.reliability.mixed_load import CODEC, UA, stored_ids, verify
from tests.reliability.site_app import build
from tests.reliability.support import TcpProxy


class Visitor:
    """A client of the served site that remembers every acknowledged decision."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=20.0, headers=UA)
        self.acked: list[str] = []
        self.token = CODEC.encode(["analytics"], "fault-visitor", time.time())

    def decide(self, action: str = "accept_all") -> httpx.Response:
        self.http.cookies.clear()
        response = self.http.post("/consent", json={"action": action}, headers={"origin": self.url})
        if response.status_code == 200:
            self.acked.append(response.json()["consent_id"])
        return response

    def pages(self, count: int = 10) -> list[httpx.Response]:
        answers = []
        for n in range(count):
            self.http.cookies.clear()
            for path, cookie in ((f"/reports/{n}", self.token), ("/", None)):
                headers = {"cookie": f"consentkit={cookie}"} if cookie else {}
                answers.append(self.http.get(path, headers=headers))
        return answers

    def stats(self) -> dict[str, int]:
        data: dict[str, int] = self.http.get("/_test/stats").json()
        return data


def scenario(
    app: ConsentMiddleware,
    storage: str,
    cut: Callable[[], None],
    restore: Callable[[], None],
    caplog: pytest.LogCaptureFixture,
) -> dict[str, Any]:
    """Decide and browse; cut the storage; decide and browse; restore; check everything."""
    caplog.set_level(logging.INFO)
    figures: dict[str, Any] = {}
    with serve(app) as url:
        visitor = Visitor(url)
        assert [visitor.decide().status_code for _ in range(5)] == [200] * 5
        assert all(r.status_code == 200 for r in visitor.pages())
        time.sleep(1.0)  # one analytics flush
        assert visitor.stats()["failed_batches"] == 0

        cut()
        outage = [visitor.decide() for _ in range(6)]
        assert [r.status_code for r in outage] == [503] * 6
        assert all("set-cookie" not in r.headers for r in outage)
        assert outage[0].json()["error"] == "storage_unavailable"
        pages = visitor.pages()
        assert all(r.status_code == 200 for r in pages), [r.status_code for r in pages]
        assert b"consentkit" in pages[1].content  # the banner is still there
        deadline = time.monotonic() + 10
        while visitor.stats()["failed_batches"] == 0 and time.monotonic() < deadline:
            visitor.pages(2)
            time.sleep(0.3)
        during = visitor.stats()
        assert during["failed_batches"] > 0, during  # counted (and logged), never raised
        figures["decisions_refused"] = len(outage)
        figures["pages_served_during_outage"] = len(pages)
        figures["analytics_during_outage"] = during
        logged = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert any("consent log write failed" in m for m in logged), logged
        assert any("analytics lost a batch" in m for m in logged), logged

        restore()
        deadline = time.monotonic() + 15
        first: list[int] = []
        while time.monotonic() < deadline:
            status = visitor.decide().status_code
            first.append(status)
            if status == 200:
                break
            time.sleep(0.2)
        assert first[-1] == 200, first
        figures["decisions_until_recovered"] = len(first)
        assert [visitor.decide().status_code for _ in range(5)] == [200] * 5
        before = visitor.stats()["failed_batches"]
        visitor.pages()
        time.sleep(1.5)
        after = visitor.stats()
        assert after["failed_batches"] == before, after  # analytics writes again
        assert after["pending"] == 0, after
        figures["analytics_after"] = after
    missing = set(visitor.acked) - stored_ids(storage)
    assert not missing, f"{len(missing)} acknowledged decisions lost"
    figures["acknowledged"] = len(visitor.acked)
    figures["verify"] = verify(storage)
    return figures


@pytest.mark.slow
def test_sqlite_storage_disappears_and_returns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "site.db"
    storage = f"sqlite:///{db}"
    app = build(storage)
    away = tmp_path / "site.db.away"

    def cut() -> None:
        os.rename(db, away)
        db.mkdir()  # reopening fails: the path is a directory now
        for conn in (app.log._conn, app.tracker._store._conn):  # type: ignore[attr-defined,union-attr]
            if conn is not None:
                conn.execute("PRAGMA query_only = ON")  # open handles: writes refused

    def restore() -> None:
        db.rmdir()
        os.rename(away, db)

    figures = scenario(app, storage, cut, restore, caplog)
    rows = sqlite3.connect(db).execute("SELECT sum(views) FROM consentkit_analytics_daily")
    assert rows.fetchone()[0] > 0
    print("sqlite fault:", figures)


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_stops_and_restarts(
    pg_schema: tuple[Any, str], caplog: pytest.LogCaptureFixture
) -> None:
    admin, schema = pg_schema
    target = httpx.URL(PG_DSN.replace("postgresql://", "http://", 1))
    proxy = TcpProxy((target.host, target.port or 5432))
    proxy.restore()
    via_proxy = PG_DSN.replace(f"{target.host}:{target.port or 5432}", f"127.0.0.1:{proxy.port}")
    storage = with_search_path(via_proxy, schema)
    try:
        figures = scenario(build(storage), storage, proxy.cut, proxy.restore, caplog)
    finally:
        proxy.cut()
    direct = with_search_path(PG_DSN, schema)
    assert len(stored_ids(direct)) == figures["acknowledged"]  # straight from the server too
    views = admin.execute(f"SELECT sum(views) FROM {schema}.consentkit_analytics_daily").fetchone()
    assert views[0] > 0
    print("postgres fault:", figures, "proxy connections:", proxy.accepted)
