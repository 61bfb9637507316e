"""The dashboard endpoint through an ASGI client: authorisation, SVG charts, escaping."""

from __future__ import annotations

import asyncio
import base64
import re
from datetime import date, datetime
from typing import Any

import httpx
import pytest
from analytics_helpers import Clock, make_config, simulate, view
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from consentkit.analytics import AnalyticsTracker
from consentkit.analytics.dashboard import consent_rates, dashboard_endpoint
from consentkit.config import ConsentConfig

try:
    from consentkit.log import DayStats
except ImportError:  # pragma: no cover - the consent log lands separately
    DayStats = None


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def make_app(config: ConsentConfig, tracker: AnalyticsTracker, stats: Any = None) -> Starlette:
    async def endpoint(request: Request) -> Response:
        return await dashboard_endpoint(request, tracker, stats, config)

    return Starlette(routes=[Route("/consent/dashboard", endpoint, methods=["GET", "POST"])])


async def get(app: Starlette, path: str = "/consent/dashboard", **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://site.test") as client:
        return await client.get(path, **kwargs)


@pytest.fixture
def tracker(sqlite_url: str) -> AnalyticsTracker:
    clock = Clock()
    tracker = AnalyticsTracker(make_config(sqlite_url, count_without_consent=True), clock=clock)
    simulate(tracker, clock)
    clock.advance(days=8)  # "today" is 2026-03-10: the simulated week is in the last 30 days
    asyncio.run(tracker.flush())
    return tracker


def with_auth(sqlite_url: str, auth: Any) -> ConsentConfig:
    return make_config(sqlite_url).model_copy(update={"dashboard_auth": auth})


def test_off_without_dashboard_auth(sqlite_url: str, tracker: AnalyticsTracker) -> None:
    response = asyncio.run(get(make_app(make_config(sqlite_url), tracker)))
    assert response.status_code == 404


def test_basic_auth(sqlite_url: str, tracker: AnalyticsTracker) -> None:
    app = make_app(with_auth(sqlite_url, ("admin", "s3cret-pass")), tracker)
    for headers in (
        {},
        basic("admin", "wrong"),
        basic("other", "s3cret-pass"),
        {"authorization": "Basic !!!"},
        {"authorization": "Bearer x"},
        {"authorization": "Basic " + base64.b64encode(b"nocolon").decode()},
    ):
        response = asyncio.run(get(app, headers=headers))
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Basic realm=")
        assert "<svg" not in response.text
    response = asyncio.run(get(app, headers=basic("admin", "s3cret-pass")))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"


def test_callable_auth_sync_and_async(sqlite_url: str, tracker: AnalyticsTracker) -> None:
    def allow_admins(request: Request) -> bool:
        return request.headers.get("x-admin") == "yes"

    async def allow_async(request: Request) -> bool:
        await asyncio.sleep(0)
        return request.headers.get("x-admin") == "yes"

    def explode(request: Request) -> bool:
        raise RuntimeError("boom")

    for auth in (allow_admins, allow_async):
        app = make_app(with_auth(sqlite_url, auth), tracker)
        assert asyncio.run(get(app)).status_code == 403
        assert asyncio.run(get(app, headers={"x-admin": "yes"})).status_code == 200
    assert asyncio.run(get(make_app(with_auth(sqlite_url, explode), tracker))).status_code == 403


def test_page_has_charts_and_numbers_and_no_external_assets(
    sqlite_url: str, tracker: AnalyticsTracker
) -> None:
    stats = [
        {
            "day": date(2026, 3, 2),
            "policy_version": "1",
            "decisions": 10,
            "actions": {"accept_all": 6, "reject_all": 4},
            "granted": {"analytics": 6, "marketing": 6},
        },
        {
            "day": "2026-03-03",
            "policy_version": "1",
            "decisions": 4,
            "actions": {"custom": 4},
            "granted": {"analytics": 3},
        },
        "garbage",
        {"day": "not a day"},
        {"day": "2026-03-04", "decisions": "x", "granted": None},
    ]

    async def consent_stats() -> list[Any]:
        return stats

    app = make_app(with_auth(sqlite_url, lambda r: True), tracker, consent_stats)
    response = asyncio.run(get(app))
    assert response.status_code == 200
    html = response.text
    assert html.count("<svg") == 3
    assert "New and returning visitors" in html and "Top sections" in html
    assert "Consent rate" in html and "60%" in html and "75%" in html
    report = asyncio.run(tracker.report(date(2026, 2, 9), date(2026, 3, 10)))
    views = sum(d["views"] for d in report["days"])
    assert f"<b>{views}</b>" in html
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert 'name="viewport"' in html
    assert "2026-02-09 to 2026-03-10" in html


def test_days_parameter_and_unsafe_names(sqlite_url: str) -> None:
    clock = Clock()
    config = make_config(sqlite_url, sections={"/x": "<script>alert(1)</script>"})
    tracker = AnalyticsTracker(config, clock=clock)
    view(tracker, "/x/<img src=x onerror=alert(2)>")
    asyncio.run(tracker.flush())
    app = make_app(config.model_copy(update={"dashboard_auth": lambda r: True}), tracker)
    html = asyncio.run(get(app, params={"days": "7"})).text
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "2026-02-24 to 2026-03-02" in html
    for days in ("abc", "-5", "100000"):
        assert asyncio.run(get(app, params={"days": days})).status_code == 200


def test_storage_failure_gives_503(sqlite_url: str, tracker: AnalyticsTracker) -> None:
    class Broken(AnalyticsTracker):
        async def report(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            raise OSError("disk gone")

    broken = Broken(make_config(sqlite_url))
    app = make_app(with_auth(sqlite_url, lambda r: True), broken)
    response = asyncio.run(get(app))
    assert response.status_code == 503


def test_consent_stats_failure_still_renders(sqlite_url: str, tracker: AnalyticsTracker) -> None:
    async def failing() -> list[Any]:
        raise RuntimeError("log down")

    app = make_app(with_auth(sqlite_url, lambda r: True), tracker, failing)
    response = asyncio.run(get(app))
    assert response.status_code == 200
    assert "could not be read" in response.text


def test_method_not_allowed(sqlite_url: str, tracker: AnalyticsTracker) -> None:
    async def post() -> httpx.Response:
        app = make_app(with_auth(sqlite_url, lambda r: True), tracker)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="https://site.test"
        ) as client:
            return await client.post("/consent/dashboard")

    assert asyncio.run(post()).status_code == 405


@pytest.mark.skipif(DayStats is None, reason="consentkit.log.DayStats is not there yet")
def test_consent_rates_from_day_stats() -> None:
    assert DayStats is not None
    stats = [
        DayStats(
            day=date(2026, 3, 2),
            policy_version="1",
            decisions=5,
            actions={"accept_all": 1, "reject_all": 3, "gpc": 1},
            granted={"analytics": 1},
            choices=4,
        ),
        DayStats(
            day=date(2026, 3, 2),
            policy_version="2",
            decisions=6,
            actions={"accept_all": 4, "reject_all": 1, "withdraw": 1},
            granted={"analytics": 3},
            choices=4,
            repeats=1,
        ),
    ]
    # Rates are of visitors' choices: GPC overrides, withdrawals and repeats are not choices.
    days, rates, decisions = consent_rates(stats, ["analytics", "marketing"])
    assert days == [date(2026, 3, 2)]
    assert rates == {"analytics": [0.5], "marketing": [0.0]}
    assert decisions == [8]


def test_consent_stats_called_with_since_when_it_accepts_it(
    sqlite_url: str, tracker: AnalyticsTracker
) -> None:
    seen: list[Any] = []

    async def stats(since: datetime | None = None) -> list[Any]:
        seen.append(since)
        return [{"day": "2020-01-01", "decisions": 5, "granted": {"analytics": 5}}]

    app = make_app(with_auth(sqlite_url, lambda r: True), tracker, stats)
    html = asyncio.run(get(app)).text
    assert seen and isinstance(seen[0], datetime) and seen[0].date() == date(2026, 2, 9)
    assert "No consent decisions" in html  # the out-of-range day is left out
