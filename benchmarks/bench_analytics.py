"""Benchmark: what analytics adds to a response, and how fast rollups reach SQLite.

Run: ``.venv/bin/python benchmarks/bench_analytics.py``. Prints figures; asserts nothing.

1. ``on_response``: median nanoseconds per call with analytics on, against a no-op
   with the same signature (off), interleaved round by round in one run, for the
   common cases (a returning visitor already counted today, an anonymous view, a
   refused visitor, a non-HTML response) and the once-a-day case (a cookie to sign).
2. Flush throughput: events per second from the in-memory queue into SQLite
   (aggregation + upserts in the storage thread), with a realistic number of
   distinct pages and with every event on its own page (worst case).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from consentkit.analytics import AnalyticsTracker
from consentkit.config import AnalyticsConfig, Category, ConsentConfig
from consentkit.consent import Consent

ROUNDS = 41
CALLS = 2_000
T0 = 1_772_445_600.0
AGENT = (
    b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/130 Safari/537.36"
)


def config(storage: str, **analytics: Any) -> ConsentConfig:
    return ConsentConfig(
        secret_keys=["b" * 40],
        categories=[
            Category(key="necessary", label="Necessary", required=True),
            Category(key="analytics", label="Analytics"),
        ],
        storage=storage,
        analytics=AnalyticsConfig(
            sections={"/reports": "Reports", "/news": "News"},
            exclude=("/admin",),
            queue_size=10_000_000,
            **analytics,
        ),
    )


def scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": b"",
        "scheme": "https",
        "headers": [
            (b"host", b"example.org"),
            (b"user-agent", AGENT),
            (b"accept", b"text/html,application/xhtml+xml"),
            (b"accept-language", b"en-GB,en;q=0.9"),
            (b"accept-encoding", b"gzip, br"),
            (b"cookie", b"consentkit=abc; consentkit_visitor=xyz"),
            (b"sec-fetch-site", b"same-origin"),
        ],
    }


def off(scope: Any, consent: Any, status: int, is_html: bool, cookie: str | None) -> None:
    return None


def per_call_ns(fn: Callable[..., Any], args: tuple[Any, ...]) -> float:
    start = time.perf_counter_ns()
    for _ in range(CALLS):
        fn(*args)
    return (time.perf_counter_ns() - start) / CALLS


def bench_on_response(storage: str) -> None:
    clock = [T0]
    tracker = AnalyticsTracker(config(storage, count_without_consent=True), clock=lambda: clock[0])
    granted = Consent(decided=True, granted=frozenset({"necessary", "analytics"}))
    refused = Consent(decided=True, granted=frozenset({"necessary"}))
    header = tracker.on_response(scope("/reports/2024"), granted, 200, True, None)
    assert header is not None
    cookie = header.split(";", 1)[0].split("=", 1)[1]
    cases: dict[str, tuple[Any, ...]] = {
        "returning visitor, counted today": (scope("/reports/2024"), granted, 200, True, cookie),
        "anonymous view (count_without_consent)": (scope("/news/a"), refused, 200, True, None),
        "not counted: JSON response": (scope("/api/x"), granted, 200, False, cookie),
    }
    print("on_response, median ns per call over", ROUNDS, "interleaved rounds of", CALLS)
    print(f"  {'case':42} {'off':>8} {'on':>8} {'added':>8}")
    for name, args in cases.items():
        ons: list[float] = []
        offs: list[float] = []
        for _ in range(ROUNDS):
            offs.append(per_call_ns(off, args))
            ons.append(per_call_ns(tracker.on_response, args))
            tracker._queue.clear()
        on_ns, off_ns = statistics.median(ons), statistics.median(offs)
        print(f"  {name:42} {off_ns:8.0f} {on_ns:8.0f} {on_ns - off_ns:8.0f}")

    # Once per visitor per day: a new or updated cookie has to be signed.
    samples: list[float] = []
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        for _ in range(200):
            tracker.on_response(scope("/"), granted, 200, True, None)
        samples.append((time.perf_counter_ns() - start) / 200)
        tracker._queue.clear()
    print(
        f"  {'first view of the day (signs a cookie)':42} {'':8} {statistics.median(samples):8.0f}"
    )


def bench_flush(storage: str, events: int, pages: int, label: str) -> None:
    clock = [T0]
    tracker = AnalyticsTracker(
        config(storage, count_without_consent=True, batch_size=50_000), clock=lambda: clock[0]
    )
    granted = Consent(decided=True, granted=frozenset({"necessary", "analytics"}))
    cookie_header = tracker.on_response(scope("/"), granted, 200, True, None)
    assert cookie_header is not None
    cookie = cookie_header.split(";", 1)[0].split("=", 1)[1]
    scopes = [scope(f"/reports/{i}") for i in range(pages)]

    async def run() -> float:
        await tracker.start()
        await tracker.flush()
        for day in range(3):
            clock[0] = T0 + day * 86_400
            per_day = events // 3
            for i in range(per_day):
                tracker.on_response(scopes[i % pages], granted, 200, True, cookie)
        queued = tracker.pending
        start = time.perf_counter()
        await tracker.flush()
        elapsed = time.perf_counter() - start
        await tracker.stop()
        return queued / elapsed

    rate = asyncio.run(run())
    print(f"  {label:42} {rate:12,.0f} events/s")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bench_on_response(f"sqlite:///{Path(tmp) / 'a.db'}")
        print("flush into SQLite (WAL, synchronous=NORMAL), events/second")
        bench_flush(
            f"sqlite:///{Path(tmp) / 'b.db'}", 300_000, 2_000, "300k events on 2,000 pages x 3 days"
        )
        bench_flush(
            f"sqlite:///{Path(tmp) / 'c.db'}",
            300_000,
            20_000,
            "300k events on 20,000 pages x 3 days",
        )
        bench_flush(
            f"sqlite:///{Path(tmp) / 'd.db'}", 150_000, 150_000, "150k events, every one a new row"
        )


if __name__ == "__main__":
    main()
