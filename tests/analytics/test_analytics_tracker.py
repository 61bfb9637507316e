"""AnalyticsTracker: what counts, what does not, and how it reaches storage."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

import pytest
from analytics_helpers import (
    DAY,
    GRANTED,
    KEY,
    REJECTED,
    UNDECIDED,
    Browser,
    Clock,
    cookie_attrs,
    cookie_value,
    scope,
    view,
)

from consentkit.analytics import AnalyticsTracker
from consentkit.analytics.rollup import Rollup
from consentkit.analytics.store import MemoryStore
from consentkit.config import ConsentConfig
from consentkit.errors import StorageUnavailable

ConfigFactory = Callable[..., ConsentConfig]
D0 = date(2026, 3, 2)
WIDE = (date(2000, 1, 1), date(2100, 1, 1))


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def flushed_report(tracker: AnalyticsTracker, section: str | None = None) -> dict[str, Any]:
    await tracker.flush()
    return await tracker.report(*WIDE, section=section)


def totals(report: dict[str, Any]) -> dict[str, int]:
    keys = ("views", "visitors", "new", "returning", "consented_views", "anonymous_views")
    return {k: sum(d[k] for d in report["days"]) for k in keys}


def test_visitor_new_then_returning_next_day_and_next_week(
    config_factory: ConfigFactory, clock: Clock
) -> None:
    tracker = AnalyticsTracker(config_factory(), clock=clock)
    alice = Browser(tracker)
    first = alice.visit("/reports/2024")
    assert first is not None
    assert alice.visit("/news/x") is None  # same day: no new cookie, not counted again
    clock.advance(days=1)
    assert alice.visit("/") is not None
    assert alice.visit("/about") is None
    clock.advance(days=6)
    assert alice.visit("/reports/2024") is not None

    report = run(flushed_report(tracker))
    days = {d["day"]: d for d in report["days"]}
    assert list(days) == [str(D0), str(D0 + timedelta(days=1)), str(D0 + timedelta(days=7))]
    assert days[str(D0)] | {} == {
        "day": str(D0),
        "views": 2,
        "visitors": 1,
        "new": 1,
        "returning": 0,
        "consented_views": 2,
        "anonymous_views": 0,
    }
    for later in (D0 + timedelta(days=1), D0 + timedelta(days=7)):
        assert days[str(later)]["new"] == 0
        assert days[str(later)]["returning"] == 1
        assert days[str(later)]["visitors"] == 1
        assert days[str(later)]["views"] == 2 if later.day == 3 else 1
    assert report["consent_share"] == 1.0
    sections = {s["section"]: s for s in report["sections"]}
    assert sections["Reports"]["views"] == 2
    assert sections["Reports"]["pages"] == [{"path": "/reports/2024", "views": 2, "visitors": 2}]
    assert report["range"] == {"since": "2000-01-01", "until": "2100-01-01"}


def test_cookie_keeps_its_expiry_and_identity(config_factory: ConfigFactory, clock: Clock) -> None:
    tracker = AnalyticsTracker(config_factory(), clock=clock)
    bob = Browser(tracker)
    bob.visit("/")
    clock.advance(days=40)
    bob.visit("/")
    first, second = (cookie_attrs(c) for c in bob.set_cookies)
    assert second["expires"] == first["expires"]
    assert int(first["max-age"]) == 395 * 86400
    assert int(second["max-age"]) == (395 - 40) * 86400
    for attrs in (first, second):
        assert {"httponly", "path", "samesite", "secure"} <= set(attrs)
        assert attrs["samesite"] == "Lax" and attrs["path"] == "/"
    ids = [cookie_value(c).split(".")[0] for c in bob.set_cookies]
    assert ids[0] == ids[1]
    assert bob.set_cookies[0].startswith("consentkit_visitor=")


def test_expired_cookie_makes_a_new_visitor(config_factory: ConfigFactory, clock: Clock) -> None:
    tracker = AnalyticsTracker(config_factory(cookie_max_age=timedelta(days=30)), clock=clock)
    carol = Browser(tracker)
    carol.visit("/")
    clock.advance(days=31)
    assert carol.visit("/") is not None
    report = run(flushed_report(tracker))
    assert totals(report)["new"] == 2 and totals(report)["returning"] == 0


@pytest.mark.parametrize("consent", [REJECTED, UNDECIDED])
def test_without_consent_nothing_is_recorded(
    config_factory: ConfigFactory, clock: Clock, sqlite_url: str, consent: Any
) -> None:
    tracker = AnalyticsTracker(config_factory(), clock=clock)
    for path in ("/", "/reports/1", "/news"):
        assert view(tracker, path, consent) is None
    assert tracker.pending == 0
    report = run(flushed_report(tracker))
    assert report["days"] == [] and report["sections"] == []
    assert report["consent_share"] == 0.0


def test_count_without_consent_counts_anonymous_views_only(
    config_factory: ConfigFactory, clock: Clock
) -> None:
    tracker = AnalyticsTracker(config_factory(count_without_consent=True), clock=clock)
    assert view(tracker, "/news/a", REJECTED, cookie="anything") is None
    assert view(tracker, "/news/a", UNDECIDED) is None
    alice = Browser(tracker)
    assert alice.visit("/news/b") is not None
    report = run(flushed_report(tracker))
    assert totals(report) == {
        "views": 3,
        "visitors": 1,
        "new": 1,
        "returning": 0,
        "consented_views": 1,
        "anonymous_views": 2,
    }
    assert report["consent_share"] == pytest.approx(1 / 3, abs=1e-6)
    (news,) = report["sections"]
    assert news["section"] == "News"
    assert {p["path"]: p["views"] for p in news["pages"]} == {"/news/a": 2, "/news/b": 1}


def test_sections_exclusions_and_consent_endpoints(
    config_factory: ConfigFactory, clock: Clock
) -> None:
    config = config_factory(
        sections=[("/reports/*/annex", "Annexes"), ("/reports", "Reports")],
        exclude=["/admin", "/shop/*/cart"],
    )
    tracker = AnalyticsTracker(config, clock=clock)
    counted = ["/", "/reports/2024/annex", "/reports/2024", "/about/team", "/shop/a"]
    ignored = [
        "/admin",
        "/admin/users",
        "/shop/a/cart",
        "/consent",
        "/consent/dashboard",
        "/consent/consentkit.js",
        "/privacy",
    ]
    for path in ignored:
        assert view(tracker, path) is None
    assert tracker.pending == 0
    for path in counted:
        view(tracker, path)
    report = run(flushed_report(tracker))
    assert {s["section"]: s["views"] for s in report["sections"]} == {
        "home": 1,
        "Annexes": 1,
        "Reports": 1,
        "about": 1,
        "shop": 1,
    }
    only = run(tracker.report(*WIDE, section="Annexes"))
    assert [s["section"] for s in only["sections"]] == ["Annexes"]
    assert totals(only)["views"] == 1


@pytest.mark.parametrize(
    ("options", "status", "html"),
    [
        ({"method": "POST"}, 200, True),
        ({"method": "HEAD"}, 200, True),
        ({}, 404, True),
        ({}, 304, True),
        ({}, 500, True),
        ({}, 301, True),
        ({}, 200, False),
    ],
)
def test_only_successful_html_gets_count(
    config_factory: ConfigFactory, clock: Clock, options: dict[str, Any], status: int, html: bool
) -> None:
    tracker = AnalyticsTracker(config_factory(), clock=clock)
    assert view(tracker, "/", status=status, html=html, **options) is None
    assert tracker.pending == 0
    assert view(tracker, "/", status=204) is not None  # 2xx HTML counts
    assert tracker.pending == 1


@pytest.mark.parametrize(
    "agent",
    [
        b"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        b"Mozilla/5.0 (compatible; bingbot/2.0)",
        b"curl/8.5.0",
        b"python-requests/2.32",
        b"Mozilla/5.0 HeadlessChrome/120",
        None,
    ],
)
def test_bots_are_not_counted(config_factory: ConfigFactory, clock: Clock, agent: Any) -> None:
    tracker = AnalyticsTracker(config_factory(), clock=clock)
    assert view(tracker, "/", agent=agent) is None
    assert tracker.pending == 0


@pytest.mark.parametrize(
    "header",
    [
        (b"sec-purpose", b"prefetch"),
        (b"sec-purpose", b"prefetch;prerender"),
        (b"purpose", b"prefetch"),
        (b"x-moz", b"prefetch"),
    ],
)
def test_prefetches_are_not_counted(
    config_factory: ConfigFactory, clock: Clock, header: tuple[bytes, bytes]
) -> None:
    tracker = AnalyticsTracker(config_factory(), clock=clock)
    assert view(tracker, "/", headers=[header]) is None
    assert tracker.pending == 0


def test_query_strings_never_reach_storage(
    config_factory: ConfigFactory, clock: Clock, tmp_path: Any
) -> None:
    tracker = AnalyticsTracker(config_factory(), clock=clock)
    view(tracker, "/news/a", query=b"email=alice%40example.org&token=SECRET123")
    report = run(flushed_report(tracker))
    assert report["sections"][0]["pages"][0]["path"] == "/news/a"
    run(tracker.stop())
    raw = (tmp_path / "analytics.db").read_bytes()
    for suffix in ("-wal",):
        wal = tmp_path / f"analytics.db{suffix}"
        if wal.exists():
            raw += wal.read_bytes()
    assert b"SECRET123" not in raw and b"example.org" not in raw


def test_tampered_cookie_is_a_new_visitor(config_factory: ConfigFactory, clock: Clock) -> None:
    tracker = AnalyticsTracker(config_factory(), clock=clock)
    good = cookie_value(view(tracker, "/") or "")
    visitor_id, issued, last, signature = good.split(".")
    forged_old = f"{visitor_id}.{int(issued) - 100 * 86400}.{last}.{signature}"
    for bad in (forged_old, "not-a-cookie", good[:-3] + "AAA", "a.b.c.d.e", "\x00\xff", "x" * 4096):
        header = view(tracker, "/", cookie=bad)
        assert header is not None and header.startswith("consentkit_visitor=")
    report = run(flushed_report(tracker))
    assert totals(report)["new"] == 7
    assert totals(report)["returning"] == 0


def test_cookie_signed_by_another_site_is_not_trusted(
    config_factory: ConfigFactory, clock: Clock, sqlite_url: str
) -> None:
    ours = AnalyticsTracker(config_factory(), clock=clock)
    other_config = ConsentConfig(
        secret_keys=["o" * 40],
        categories=config_factory().categories,
        storage=sqlite_url,
        analytics=config_factory().analytics,
    )
    theirs = AnalyticsTracker(other_config, clock=clock)
    foreign = cookie_value(view(theirs, "/") or "")
    clock.advance(days=2)
    assert view(ours, "/", cookie=foreign) is not None
    report = run(flushed_report(ours))
    assert totals(report)["new"] == 1


def test_bounded_queue_drops_and_counts(config_factory: ConfigFactory, clock: Clock) -> None:
    tracker = AnalyticsTracker(config_factory(queue_size=3), clock=clock)
    browsers = [Browser(tracker) for _ in range(5)]
    for browser in browsers:
        assert browser.visit("/") is not None  # the page and its cookie are unaffected
    assert tracker.dropped == 2
    assert tracker.pending == 3
    report = run(flushed_report(tracker))
    assert totals(report)["views"] == 3
    view(tracker, "/")
    assert tracker.dropped == 2  # room again after the flush


class FlakyStore(MemoryStore):
    """Fails the first ``failures`` writes."""

    def __init__(self, failures: int = 1) -> None:
        super().__init__()
        self.failures = failures
        self.writes = 0
        self.purges = 0

    def apply(self, rows: Sequence[Rollup]) -> None:
        self.writes += 1
        if self.failures:
            self.failures -= 1
            raise StorageUnavailable("disk I/O error (simulated)")
        super().apply(rows)

    def purge(self, before: date) -> int:
        self.purges += 1
        return super().purge(before)


def test_failing_store_loses_one_batch_logs_and_recovers(
    config_factory: ConfigFactory, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    store = FlakyStore(failures=1)
    tracker = AnalyticsTracker(config_factory(batch_size=2), clock=clock, store=store)
    for _ in range(5):
        assert view(tracker, "/", cookie=None) is not None
    caplog.set_level(logging.INFO, logger="consentkit.analytics")
    run(tracker.flush())
    assert tracker.failed_batches == 1
    assert tracker.pending == 3  # only the batch in hand was lost
    errors = [r for r in caplog.records if r.name == "consentkit.analytics"]
    assert errors and "lost a batch of 2" in errors[0].getMessage()
    assert KEY not in caplog.text
    run(tracker.flush())
    report = run(tracker.report(*WIDE))
    assert totals(report)["views"] == 3
    assert tracker.pending == 0


def test_unreachable_sqlite_never_fails_a_page(
    clock: Clock, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from analytics_helpers import make_config

    missing = tmp_path / "no" / "such" / "dir" / "a.db"
    tracker = AnalyticsTracker(make_config(f"sqlite:///{missing}"), clock=clock)

    async def scenario() -> None:
        await tracker.start()  # logs, does not raise
        assert view(tracker, "/") is not None
        await tracker.flush()
        await tracker.stop()

    caplog.set_level(logging.WARNING, logger="consentkit.analytics")
    run(scenario())
    assert tracker.failed_batches == 1
    assert "storage" in caplog.text


def test_on_response_never_raises(config_factory: ConfigFactory, clock: Clock) -> None:
    tracker = AnalyticsTracker(config_factory(), clock=clock)
    assert tracker.on_response({"method": "GET"}, GRANTED, 200, True, None) is None  # no headers
    assert tracker.on_response(scope("/"), None, 200, True, None) is None  # type: ignore[arg-type]
    broken = scope("/")
    broken["headers"] = [(b"user-agent", 42)]
    assert tracker.on_response(broken, GRANTED, 200, True, None) is None


def test_flush_at_shutdown(config_factory: ConfigFactory, clock: Clock) -> None:
    config = config_factory(flush_interval=3600)
    tracker = AnalyticsTracker(config, clock=clock)

    async def scenario() -> None:
        await tracker.start()
        await tracker.start()  # idempotent
        for _ in range(3):
            Browser(tracker).visit("/news/a")
        await tracker.stop()

    run(scenario())
    reader = AnalyticsTracker(config, clock=clock)
    report = run(reader.report(*WIDE))
    assert totals(report)["views"] == 3 and totals(report)["new"] == 3


def test_background_flush_on_timer_and_full_batch(
    config_factory: ConfigFactory, clock: Clock
) -> None:
    tracker = AnalyticsTracker(config_factory(flush_interval=0.05), clock=clock)

    async def scenario() -> dict[str, Any]:
        await tracker.start()
        view(tracker, "/")
        for _ in range(100):
            await asyncio.sleep(0.02)
            if tracker.pending == 0:
                break
        report = await tracker.report(*WIDE)
        await tracker.stop()
        return report

    assert totals(run(scenario()))["views"] == 1

    big = AnalyticsTracker(config_factory(flush_interval=3600, batch_size=10), clock=clock)

    async def batch_scenario() -> dict[str, Any]:
        await big.start()
        for _ in range(10):
            view(big, "/batch")
        for _ in range(100):
            await asyncio.sleep(0.02)
            if big.pending == 0:
                break
        report = await big.report(*WIDE, section="batch")
        await big.stop()
        return report

    assert totals(run(batch_scenario()))["views"] == 10


def test_retention_purges_old_rows_at_most_hourly(
    config_factory: ConfigFactory, clock: Clock
) -> None:
    store = FlakyStore(failures=0)
    tracker = AnalyticsTracker(config_factory(retention_days=30), clock=clock, store=store)
    view(tracker, "/old")
    run(tracker.flush())
    assert store.purges == 1
    clock.advance(seconds=600)
    view(tracker, "/")
    run(tracker.flush())
    assert store.purges == 1  # not again within the hour
    clock.advance(days=31)
    view(tracker, "/new")
    run(tracker.flush())
    assert store.purges == 2
    report = run(tracker.report(*WIDE))
    assert [p["path"] for s in report["sections"] for p in s["pages"]] == ["/new"]


def test_sqlite_uses_wal(config_factory: ConfigFactory, clock: Clock, tmp_path: Any) -> None:
    tracker = AnalyticsTracker(config_factory(), clock=clock)
    view(tracker, "/")
    run(tracker.flush())
    with sqlite3.connect(tmp_path / "analytics.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"consentkit_analytics_daily", "consentkit_analytics_meta"}


def test_tracker_needs_analytics_config(sqlite_url: str) -> None:
    from analytics_helpers import make_config

    config = make_config(sqlite_url).model_copy(update={"analytics": None})
    with pytest.raises(ValueError, match="analytics"):
        AnalyticsTracker(config)


def test_day_boundary_uses_utc(config_factory: ConfigFactory) -> None:
    clock = Clock(1_772_495_999.0)  # 2026-03-02 23:59:59 UTC
    tracker = AnalyticsTracker(config_factory(), clock=clock)
    dave = Browser(tracker)
    dave.visit("/")
    clock.advance(seconds=2)
    assert dave.visit("/") is not None
    report = run(flushed_report(tracker))
    assert [(d["day"], d["new"], d["returning"]) for d in report["days"]] == [
        ("2026-03-02", 1, 0),
        ("2026-03-03", 0, 1),
    ]
    assert DAY == 86400.0


def test_unreachable_postgresql_logs_without_password(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    from analytics_helpers import make_config

    config = make_config("postgresql://site:hunter2-secret@127.0.0.1:1/db")
    tracker = AnalyticsTracker(config, clock=clock)

    async def scenario() -> None:
        await tracker.start()
        assert view(tracker, "/") is not None
        await tracker.stop()

    caplog.set_level(logging.DEBUG, logger="consentkit.analytics")
    run(scenario())
    assert tracker.failed_batches == 1
    assert "cannot connect to PostgreSQL" in caplog.text
    assert "hunter2" not in caplog.text and KEY not in caplog.text
