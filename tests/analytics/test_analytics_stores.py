"""Rollup stores: SQLite and PostgreSQL agree, migrate once, add up concurrent writers."""

from __future__ import annotations

import asyncio
import threading
from datetime import date
from typing import Any

import pytest
from analytics_helpers import Clock, make_config, simulate

from consentkit.analytics import AnalyticsTracker
from consentkit.analytics.rollup import Rollup
from consentkit.analytics.store import open_store, parse_url
from consentkit.errors import StorageError

WIDE = (date(2000, 1, 1), date(2100, 1, 1))


async def simulated_report(url: str, clock: Clock) -> tuple[dict[str, Any], dict[str, Any]]:
    tracker = AnalyticsTracker(make_config(url, count_without_consent=True), clock=clock)
    await tracker.start()
    simulate(tracker, clock)
    await tracker.stop()
    reader = AnalyticsTracker(make_config(url), clock=clock)
    full = await reader.report(*WIDE)
    news = await reader.report(date(2026, 3, 3), date(2026, 3, 9), section="News")
    return full, news


def test_parse_url() -> None:
    assert parse_url("sqlite:///data/a.db") == ("sqlite", "data/a.db")
    assert parse_url("sqlite:////var/lib/a.db") == ("sqlite", "/var/lib/a.db")
    assert parse_url("postgres://u:p@h/db") == ("postgresql", "postgresql://u:p@h/db")
    for bad in ("sqlite://a.db", "sqlite:///", "mysql://x/y", "nothing"):
        with pytest.raises(StorageError):
            parse_url(bad)


def test_sqlite_relative_path(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///rel.db")
    store.open()
    store.close()
    assert (tmp_path / "rel.db").exists()


def test_simulated_traffic_report(tmp_path: Any) -> None:
    full, news = asyncio.run(simulated_report(f"sqlite:///{tmp_path}/a.db", Clock()))
    days = [d["day"] for d in full["days"]]
    assert days == ["2026-03-02", "2026-03-03", "2026-03-04", "2026-03-09"]
    for day in full["days"]:
        assert day["views"] == day["consented_views"] + day["anonymous_views"]
        assert day["visitors"] == day["new"] + day["returning"]
    assert full["days"][0]["returning"] == 0
    assert full["days"][-1]["new"] == 0
    assert 0 < full["consent_share"] < 1
    assert [s["section"] for s in news["sections"]] == ["News"]


@pytest.mark.postgres
def test_sqlite_and_postgresql_give_identical_reports(tmp_path: Any, pg_url: str) -> None:
    sqlite_reports = asyncio.run(simulated_report(f"sqlite:///{tmp_path}/a.db", Clock()))
    pg_reports = asyncio.run(simulated_report(pg_url, Clock()))
    assert sqlite_reports == pg_reports
    assert sqlite_reports[0]["days"]


@pytest.mark.postgres
def test_postgresql_migrates_idempotently_and_sums_concurrent_writers(pg_url: str) -> None:
    rows = [Rollup(date(2026, 3, 2), "home", "/", views=1, visitors=1, new=1, consented_views=1)]
    stores = [open_store(pg_url) for _ in range(4)]
    for store in stores:
        store.open()

    def write(store: Any) -> None:
        for _ in range(25):
            store.apply(rows)

    threads = [threading.Thread(target=write, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (day,) = stores[0].day_totals(*WIDE, None)
    assert (day.views, day.visitors, day.new, day.consented_views) == (100, 100, 100, 100)
    assert stores[0].purge(date(2026, 3, 3)) == 1
    assert stores[0].day_totals(*WIDE, None) == []
    for store in stores:
        store.close()


@pytest.mark.postgres
def test_postgresql_store_recovers_after_connection_loss(pg_url: str) -> None:
    store = open_store(pg_url)
    store.open()
    row = [Rollup(date(2026, 3, 2), "home", "/", views=1)]
    store.apply(row)
    store._conn.close()  # type: ignore[attr-defined]  # simulate a dropped connection
    store.apply(row)
    assert store.day_totals(*WIDE, None)[0].views == 2
    store.close()


def test_reading_a_missing_sqlite_file_is_an_error(tmp_path: Any) -> None:
    store = open_store(f"sqlite:///{tmp_path}/missing.db")
    with pytest.raises(StorageError, match="no SQLite database"):
        store.open(create=False)
    assert not (tmp_path / "missing.db").exists()
