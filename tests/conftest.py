"""Shared fixtures, and the rule that nothing needing a real service may skip in CI."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from consentkit import Category, ConsentConfig, ConsentMiddleware, Cookie, get_consent

KEY = "test-secret-key-0123456789abcdef-0001"
OLD_KEY = "old-secret-key-0123456789abcdef-00002"
ORIGIN = {"origin": "http://testserver"}

_IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
_MUST_RUN = ("browser", "postgres", "compiled")


_BROWSER_FIXTURES = {"browser", "page", "context", "playwright"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last.

    Playwright's sync API keeps an event loop running on the main thread for
    as long as its session browser lives; tests that call ``asyncio.run``
    must come before it starts.
    """
    items.sort(key=lambda item: bool(_BROWSER_FIXTURES & set(getattr(item, "fixturenames", ()))))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI a browser, PostgreSQL or compiled-scan test that skips has failed: it must run."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if _IN_CI and report.skipped and any(item.get_closest_marker(m) for m in _MUST_RUN):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where it must run: {report.longrepr}"


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's browser is Debian's Chromium, never a downloaded one.

    Every browser test uses that one session browser: a second
    ``sync_playwright()`` inside it would fail. Without Chromium the browser
    tests skip, except in CI, where they fail.
    """
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium, or make browser)"
        if _IN_CI:
            pytest.fail(f"browser tests must run in CI: {reason}")
        pytest.skip(reason)
    return {
        **browser_type_launch_args,
        "executable_path": str(CHROMIUM),
        "args": ["--disable-gpu", "--disable-quic"],
    }


def categories() -> list[Category]:
    """The categories most tests declare."""
    return [
        Category(
            key="necessary",
            label="Strictly necessary",
            required=True,
            cookies=[Cookie(name="session", purpose="Keeps you signed in", duration="session")],
        ),
        Category(
            key="analytics",
            label="Analytics",
            description="Which sections are popular",
            cookies=[
                Cookie(name="_ga*", provider="Google", purpose="Counts", duration="13 months")
            ],
        ),
        Category(
            key="marketing",
            label="Marketing",
            cookies=[Cookie(name="ads", purpose="Ads", duration="1 month")],
        ),
    ]


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., ConsentConfig]:
    """Builds a ConsentConfig with a SQLite log in the test's temporary folder."""

    def make(**overrides: Any) -> ConsentConfig:
        options: dict[str, Any] = {
            "secret_keys": [KEY],
            "categories": categories(),
            "storage": f"sqlite:///{tmp_path}/consent.db",
        }
        options.update(overrides)
        return ConsentConfig(**options)

    return make


async def page(request: Request) -> Response:
    """An HTML page that sets one cookie of every kind, and shows its consent."""
    consent = get_consent(request)
    assert request.state.consent is consent
    response = HTMLResponse(
        f"<html><body><p>granted={','.join(sorted(consent.granted))}</p></body></html>"
    )
    response.set_cookie("session", "s1")
    response.set_cookie("_ga_XYZ", "g1")
    response.set_cookie("ads", "a1")
    response.set_cookie("undeclared", "u1")
    return response


async def whoami(request: Request) -> Response:
    """The consent as the app sees it, as JSON."""
    consent = get_consent(request)
    return JSONResponse(
        {
            "decided": consent.decided,
            "granted": sorted(consent.granted),
            "consent_id": consent.consent_id,
            "gpc": consent.gpc,
        }
    )


async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    consent = get_consent(websocket)
    await websocket.send_json({"decided": consent.decided, "granted": sorted(consent.granted)})
    await websocket.close()


def site() -> Starlette:
    """The small site most tests put behind the middleware."""
    return Starlette(routes=[Route("/", page), Route("/whoami", whoami), WebSocketRoute("/ws", ws)])


@pytest.fixture
def config(make_config: Callable[..., ConsentConfig]) -> ConsentConfig:
    return make_config()


@pytest.fixture
def client(config: ConsentConfig) -> Iterator[TestClient]:
    app = ConsentMiddleware(site(), config=config)
    with TestClient(app) as test_client:
        yield test_client


def log_rows(config: ConsentConfig) -> list[sqlite3.Row]:
    """Every consent log record in the config's SQLite file, in order."""
    path = config.storage.removeprefix("sqlite:///")
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return list(conn.execute("SELECT * FROM consentkit_log ORDER BY id"))
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):  # nothing was ever written
            return []
        raise
    finally:
        conn.close()


def set_cookies(response: Any) -> dict[str, str]:
    """The response's Set-Cookie headers by cookie name."""
    return {value.split("=", 1)[0]: value for value in response.headers.get_list("set-cookie")}
