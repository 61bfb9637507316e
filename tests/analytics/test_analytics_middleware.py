"""Analytics through the real ConsentMiddleware, with an ASGI client and a controllable clock."""

from __future__ import annotations

import asyncio
import base64
from datetime import date
from typing import Any

import httpx
import pytest
from analytics_helpers import BROWSER, Clock, make_config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from consentkit.analytics import AnalyticsTracker
from consentkit.config import ConsentConfig

middleware = pytest.importorskip("consentkit.middleware")
VISITOR = "consentkit_visitor"
WIDE = (date(2000, 1, 1), date(2100, 1, 1))


async def page(request: Request) -> Response:
    return HTMLResponse(f"<!doctype html><html><body><h1>{request.url.path}</h1></body></html>")


async def data(request: Request) -> Response:
    return JSONResponse({"ok": True})


def site(config: ConsentConfig, clock: Clock) -> Any:
    app = Starlette(
        routes=[
            Route("/", page),
            Route("/reports/{year}", page),
            Route("/news/{slug}", page),
            Route("/admin", page),
            Route("/api/data", data),
        ]
    )
    return middleware.ConsentMiddleware(app, config=config, clock=clock)


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="https://example.org",
        headers={"user-agent": BROWSER.decode(), "origin": "https://example.org"},
    )


def visitor_cookies(response: httpx.Response) -> list[str]:
    return [v for v in response.headers.get_list("set-cookie") if v.startswith(VISITOR + "=")]


async def report(url: str) -> dict[str, Any]:
    return await AnalyticsTracker(make_config(url)).report(*WIDE)


def test_accept_return_next_day_and_next_week(sqlite_url: str) -> None:
    clock = Clock()
    app = site(make_config(sqlite_url, exclude=["/admin"]), clock)

    async def scenario() -> dict[str, Any]:
        async with client(app) as c:
            first = await c.get("/")  # undecided: the banner, no visitor cookie
            assert first.status_code == 200 and not visitor_cookies(first)
            decided = await c.post("/consent", json={"action": "accept_all"})
            assert decided.status_code == 200, decided.text
            assert not visitor_cookies(decided)
            hit = await c.get("/reports/2024", params={"utm_source": "mail"})
            (cookie,) = visitor_cookies(hit)
            assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
            assert not visitor_cookies(await c.get("/news/a"))  # same day: counted once
            assert not visitor_cookies(await c.get("/api/data"))  # not HTML
            assert not visitor_cookies(await c.get("/admin"))  # excluded
            assert not visitor_cookies(await c.get("/consent"))  # consent endpoint
            assert not visitor_cookies(await c.get("/privacy"))
            prefetch = await c.get("/news/b", headers={"sec-purpose": "prefetch"})
            assert not visitor_cookies(prefetch)
            bot = await c.get("/news/c", headers={"user-agent": "Googlebot/2.1"})
            assert not visitor_cookies(bot)
            clock.advance(days=1)
            (again,) = visitor_cookies(await c.get("/"))
            assert (
                again.split("Expires=")[1].split(";")[0]
                == (cookie.split("Expires=")[1].split(";")[0])
            )
            clock.advance(days=6)
            assert visitor_cookies(await c.get("/news/a"))
        await app.shutdown()  # flushes analytics
        return await report(sqlite_url)

    result = asyncio.run(scenario())
    assert [(d["day"], d["views"], d["new"], d["returning"]) for d in result["days"]] == [
        ("2026-03-02", 2, 1, 0),
        ("2026-03-03", 1, 0, 1),
        ("2026-03-09", 1, 0, 1),
    ]
    paths = {p["path"] for s in result["sections"] for p in s["pages"]}
    assert paths == {"/", "/reports/2024", "/news/a"}


def test_reject_leaves_no_trace(sqlite_url: str) -> None:
    clock = Clock()
    app = site(make_config(sqlite_url), clock)

    async def scenario() -> dict[str, Any]:
        async with client(app) as c:
            assert (await c.post("/consent", json={"action": "reject_all"})).status_code == 200
            for path in ("/", "/reports/2024", "/news/a"):
                response = await c.get(path)
                assert response.status_code == 200
                assert not visitor_cookies(response)
            custom = {"action": "custom", "categories": {"analytics": False, "marketing": True}}
            assert (await c.post("/consent", json=custom)).status_code == 200
            assert not visitor_cookies(await c.get("/"))
        await app.shutdown()
        return await report(sqlite_url)

    result = asyncio.run(scenario())
    assert result["days"] == [] and result["sections"] == []


def test_withdrawal_expires_the_visitor_cookie(sqlite_url: str) -> None:
    clock = Clock()
    app = site(make_config(sqlite_url), clock)

    async def scenario() -> list[str]:
        async with client(app) as c:
            await c.post("/consent", json={"action": "accept_all"})
            assert visitor_cookies(await c.get("/"))
            withdrawn = await c.delete("/consent")
            assert withdrawn.status_code in (200, 204), withdrawn.text
            after = visitor_cookies(await c.get("/news/a"))
            await app.shutdown()
            return visitor_cookies(withdrawn) + after

    cookies = asyncio.run(scenario())
    assert cookies, "withdrawal should expire the visitor cookie"
    assert all("Max-Age=0" in c or "1970" in c for c in cookies)


def test_dashboard_through_the_middleware(sqlite_url: str) -> None:
    clock = Clock()
    auth = ("admin", "correct horse battery")
    config = make_config(sqlite_url).model_copy(update={"dashboard_auth": auth})
    app = site(config, clock)
    closed = site(make_config(sqlite_url), clock)

    async def scenario() -> tuple[int, int, httpx.Response]:
        async with client(app) as c:
            await c.post("/consent", json={"action": "accept_all"})
            await c.get("/reports/2024")
            await app.tracker.flush()
            missing = (await c.get("/consent/dashboard")).status_code
            token = base64.b64encode(":".join(auth).encode()).decode()
            ok = await c.get("/consent/dashboard", headers={"authorization": f"Basic {token}"})
        async with client(closed) as c:
            off = (await c.get("/consent/dashboard")).status_code
        await app.shutdown()
        await closed.shutdown()
        return missing, off, ok

    missing, off, ok = asyncio.run(scenario())
    assert missing == 401
    assert off == 404
    assert ok.status_code == 200
    assert "<svg" in ok.text and "Reports" in ok.text
    assert not visitor_cookies(ok)
