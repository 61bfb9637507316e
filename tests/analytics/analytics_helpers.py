"""Helpers for the analytics tests: a controllable clock, configs, scopes, cookies."""

from __future__ import annotations

import os
from typing import Any

from consentkit.config import AnalyticsConfig, Category, ConsentConfig, Cookie
from consentkit.consent import Consent

KEY = "k" * 40
#: 2026-03-02 10:00:00 UTC
T0 = 1_772_445_600.0
DAY = 86_400.0
PG_DSN = os.environ.get("CONSENTKIT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
BROWSER = b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130 Safari/537.36"

GRANTED = Consent(decided=True, granted=frozenset({"necessary", "analytics"}))
REJECTED = Consent(decided=True, granted=frozenset({"necessary"}))
UNDECIDED = Consent(decided=False, granted=frozenset({"necessary"}))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, days: float = 0, seconds: float = 0) -> None:
        self.now += days * DAY + seconds


def make_config(storage: str, **analytics: Any) -> ConsentConfig:
    """A site config with necessary + analytics + marketing categories."""
    options: dict[str, Any] = {"sections": {"/reports": "Reports", "/news": "News"}}
    options.update(analytics)
    return ConsentConfig(
        secret_keys=[KEY],
        categories=[
            Category(key="necessary", label="Necessary", required=True),
            Category(
                key="analytics",
                label="Analytics",
                cookies=[Cookie(name="consentkit_visitor", purpose="returning visitors")],
            ),
            Category(key="marketing", label="Marketing"),
        ],
        storage=storage,
        analytics=AnalyticsConfig(**options),
    )


def scope(
    path: str = "/",
    *,
    method: str = "GET",
    query: bytes = b"",
    agent: bytes | None = BROWSER,
    headers: list[tuple[bytes, bytes]] | None = None,
    scheme: str = "https",
) -> dict[str, Any]:
    """An ASGI http scope."""
    hdrs: list[tuple[bytes, bytes]] = [(b"accept", b"text/html")]
    if agent is not None:
        hdrs.append((b"user-agent", agent))
    hdrs += headers or []
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "headers": hdrs,
        "scheme": scheme,
    }


def cookie_value(set_cookie: str) -> str:
    """The value part of a Set-Cookie header value."""
    return set_cookie.split(";", 1)[0].split("=", 1)[1]


def cookie_attrs(set_cookie: str) -> dict[str, str]:
    """Lower-cased attribute name -> value of a Set-Cookie header value."""
    attrs: dict[str, str] = {}
    for part in set_cookie.split(";")[1:]:
        name, _, value = part.strip().partition("=")
        attrs[name.lower()] = value
    return attrs


def pg_unreachable() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(PG_DSN, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at CONSENTKIT_TEST_PG_DSN is unreachable: {type(exc).__name__}"


def view(
    tracker: Any,
    path: str = "/",
    consent: Consent = GRANTED,
    cookie: str | None = None,
    *,
    status: int = 200,
    html: bool = True,
    **scope_options: Any,
) -> str | None:
    """One response through ``tracker.on_response``; returns its Set-Cookie value."""
    return tracker.on_response(scope(path, **scope_options), consent, status, html, cookie)  # type: ignore[no-any-return]


class Browser:
    """A visitor with a cookie jar of one analytics cookie."""

    def __init__(self, tracker: Any, consent: Consent = GRANTED) -> None:
        self.tracker = tracker
        self.consent = consent
        self.cookie: str | None = None
        self.set_cookies: list[str] = []

    def visit(self, path: str = "/", **options: Any) -> str | None:
        header = view(self.tracker, path, self.consent, self.cookie, **options)
        if header is not None:
            self.set_cookies.append(header)
            self.cookie = cookie_value(header)
        return header


def simulate(tracker: Any, clock: Clock) -> None:
    """A fixed, varied week of traffic (deterministic)."""
    start = clock.now
    people = [Browser(tracker) for _ in range(5)]
    anonymous = Browser(tracker, REJECTED)
    paths = ["/", "/reports/2024", "/reports/2024/annex", "/news/a", "/about", "/news/b"]
    for day in (0, 1, 2, 7):
        clock.now = start + day * DAY
        for index, person in enumerate(people):
            if (index + day) % 3 == 0:
                continue
            for step in range(index + 1):
                person.visit(paths[(index + step + day) % len(paths)])
        for step in range(day + 2):
            anonymous.visit(paths[step % len(paths)])
        view(tracker, "/", agent=b"Googlebot/2.1")
    clock.now = start
