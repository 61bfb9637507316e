"""The per-request path: consent on the scope, Set-Cookie enforcement, GPC, re-consent."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from consentkit import ConsentConfig, ConsentMiddleware
from consentkit.consent import ConsentCodec
from tests.conftest import KEY, OLD_KEY, ORIGIN, log_rows, set_cookies, site


def decide(client: TestClient, action: str = "accept_all", **extra: Any) -> dict[str, Any]:
    response = client.post("/consent", json={"action": action, **extra}, headers=ORIGIN)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_undecided_visitor_gets_only_necessary_cookies(client: TestClient) -> None:
    response = client.get("/")
    assert "granted=necessary" in response.text
    assert set(set_cookies(response)) == {"session", "undeclared"}


def test_accepted_visitor_gets_everything(client: TestClient) -> None:
    decide(client)
    response = client.get("/")
    assert "granted=analytics,marketing,necessary" in response.text
    assert set(set_cookies(response)) == {"session", "_ga_XYZ", "ads", "undeclared"}


def test_custom_choice_filters_exact_and_prefix_names(client: TestClient) -> None:
    decide(client, "custom", categories={"analytics": True})
    assert set(set_cookies(client.get("/"))) == {"session", "_ga_XYZ", "undeclared"}
    decide(client, "custom", categories={"marketing": True})
    assert set(set_cookies(client.get("/"))) == {"session", "ads", "undeclared"}


@pytest.mark.parametrize(("mode", "kept"), [("allow", True), ("warn", True), ("block", False)])
def test_undeclared_cookies(
    make_config: Callable[..., ConsentConfig],
    caplog: pytest.LogCaptureFixture,
    mode: str,
    kept: bool,
) -> None:
    app = ConsentMiddleware(site(), config=make_config(undeclared_cookies=mode))
    with TestClient(app) as client, caplog.at_level(logging.WARNING, "consentkit"):
        for _ in range(3):
            assert ("undeclared" in set_cookies(client.get("/"))) is kept
    warnings = [r for r in caplog.records if "undeclared cookie 'undeclared'" in r.getMessage()]
    assert len(warnings) == (1 if mode == "warn" else 0)


def test_existing_cookies_of_denied_categories_are_expired(client: TestClient) -> None:
    decide(client, "reject_all")
    client.cookies.set("_ga_OLD", "x")
    client.cookies.set("ads", "y")
    client.cookies.set("session", "z")
    cookies = set_cookies(client.get("/whoami"))
    assert "Max-Age=0" in cookies["_ga_OLD"] and "Max-Age=0" in cookies["ads"]
    assert "session" not in cookies


def test_deciding_expires_cookies_of_denied_categories(client: TestClient) -> None:
    decide(client)
    client.cookies.set("_ga_XYZ", "g")
    response = client.post(
        "/consent", json={"action": "custom", "categories": {"marketing": True}}, headers=ORIGIN
    )
    assert "Max-Age=0" in set_cookies(response)["_ga_XYZ"]


def test_hostile_request_cookie_names_are_not_echoed(client: TestClient) -> None:
    decide(client, "reject_all")
    token = client.cookies["consentkit"]
    response = client.get("/whoami", headers={"cookie": f"consentkit={token}; _ga\x7fx=1; _ga,y=2"})
    assert response.status_code == 200
    assert all(
        "\x7f" not in v and "," not in v.split(";")[0]
        for v in response.headers.get_list("set-cookie")
    )


def test_websocket_gets_consent(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json() == {"decided": False, "granted": ["necessary"]}
    decide(client, "custom", categories={"analytics": True})
    with client.websocket_connect("/ws") as ws:
        assert ws.receive_json() == {"decided": True, "granted": ["analytics", "necessary"]}


def test_lifespan_passes_through(make_config: Callable[..., ConsentConfig]) -> None:
    events: list[str] = []

    async def lifespan(app: Starlette) -> Any:
        events.append("startup")
        yield
        events.append("shutdown")

    from contextlib import asynccontextmanager

    app = Starlette(lifespan=asynccontextmanager(lifespan))
    middleware = ConsentMiddleware(app, config=make_config())
    with TestClient(middleware):
        assert events == ["startup"]
        assert middleware._started
    assert events == ["startup", "shutdown"]
    assert not middleware._started


def test_other_scope_types_pass_through(config: ConsentConfig) -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    import asyncio

    asyncio.run(ConsentMiddleware(app, config=config)({"type": "custom"}, None, None))  # type: ignore[arg-type]
    assert seen == ["custom"]


def test_add_middleware_form(make_config: Callable[..., ConsentConfig]) -> None:
    app = site()
    app.add_middleware(ConsentMiddleware, config=make_config())
    with TestClient(app) as client:
        assert client.get("/consent").json()["decided"] is False


def test_gpc_denies_opt_out_categories(client: TestClient) -> None:
    body = client.get("/whoami", headers={"sec-gpc": "1"}).json()
    assert body["gpc"] is True and body["granted"] == ["necessary"]
    state = client.post(
        "/consent", json={"action": "accept_all"}, headers={**ORIGIN, "sec-gpc": "1"}
    ).json()
    assert state["granted"] == ["necessary"] and state["gpc"] is True


def test_gpc_overrides_an_earlier_grant_once(client: TestClient, config: ConsentConfig) -> None:
    decide(client)
    first = client.get("/", headers={"sec-gpc": "1"})
    assert "granted=necessary<" in first.text
    assert set(set_cookies(first)) >= {"consentkit"}
    assert "_ga_XYZ" not in set_cookies(first) and "ads" not in set_cookies(first)
    for _ in range(3):
        again = client.get("/whoami", headers={"sec-gpc": "1"}).json()
        assert again["granted"] == ["necessary"] and again["gpc"]
    assert [r["action"] for r in log_rows(config)] == ["accept_all", "gpc"]
    assert log_rows(config)[-1]["surface"] == "gpc" and log_rows(config)[-1]["gpc"] == 1
    # Without the signal the re-issued cookie still says what GPC left.
    assert client.get("/whoami").json()["granted"] == ["necessary"]


def test_gpc_keeps_categories_without_opt_out(make_config: Callable[..., ConsentConfig]) -> None:
    from tests.conftest import categories

    cats = categories()
    cats[1] = cats[1].model_copy(update={"gpc_opt_out": False})
    app = ConsentMiddleware(site(), config=make_config(categories=cats))
    with TestClient(app) as client:
        decide(client)
        body = client.get("/whoami", headers={"sec-gpc": "1"}).json()
        assert body["granted"] == ["analytics", "necessary"]


def test_policy_bump_asks_again_and_keeps_the_consent_id(
    make_config: Callable[..., ConsentConfig],
) -> None:
    old = make_config(policy_version="2025-01")
    with TestClient(ConsentMiddleware(site(), config=old)) as client:
        first = decide(client)
        jar = dict(client.cookies)
    new = make_config(policy_version="2026-01")
    with TestClient(ConsentMiddleware(site(), config=new), cookies=jar) as client:
        body = client.get("/whoami").json()
        assert body["decided"] is False and body["granted"] == ["necessary"]
        assert "consentkit-banner" in client.get("/").text
        second = decide(client, "reject_all")
        assert second["consent_id"] == first["consent_id"]
        assert second["policy_version"] == "2026-01"
    rows = log_rows(new)
    assert [(r["policy_version"], r["action"]) for r in rows] == [
        ("2025-01", "accept_all"),
        ("2026-01", "reject_all"),
    ]


def test_key_rotation_through_http(make_config: Callable[..., ConsentConfig]) -> None:
    with TestClient(ConsentMiddleware(site(), config=make_config(secret_keys=[OLD_KEY]))) as c:
        decide(c, "custom", categories={"analytics": True})
        jar = dict(c.cookies)
    rotated = make_config(secret_keys=[KEY, OLD_KEY])
    with TestClient(ConsentMiddleware(site(), config=rotated), cookies=jar) as client:
        assert client.get("/whoami").json()["granted"] == ["analytics", "necessary"]
        response = client.post("/consent", json={"action": "accept_all"}, headers=ORIGIN)
        token = set_cookies(response)["consentkit"].split(";")[0].split("=", 1)[1]
    only_new = ConsentCodec(
        [KEY],
        "1",
        frozenset({"necessary"}),
        frozenset({"necessary", "analytics", "marketing"}),
        max_age=3600,
    )
    assert only_new.decode(token).decided


@pytest.mark.parametrize(
    "cookie",
    [
        "consentkit=garbage",
        "consentkit=",
        "consentkit=a.b.c",
        "consentkit=" + "A" * 5000,
        "consentkit",
        "=;;;=",
        'consentkit="quoted"',
        "a=b; consentkit=x.y",
    ],
)
def test_bad_consent_cookies_mean_undecided(client: TestClient, cookie: str) -> None:
    response = client.get("/whoami", headers={"cookie": cookie})
    assert response.status_code == 200 and response.json()["decided"] is False


def test_secure_flag_on_https(make_config: Callable[..., ConsentConfig]) -> None:
    app = ConsentMiddleware(site(), config=make_config())
    with TestClient(app, base_url="https://testserver") as client:
        response = client.post(
            "/consent", json={"action": "reject_all"}, headers={"origin": "https://testserver"}
        )
        assert "; Secure" in set_cookies(response)["consentkit"]


def test_forwarded_proto_only_from_trusted_proxies(
    make_config: Callable[..., ConsentConfig],
) -> None:
    headers = {**ORIGIN, "x-forwarded-proto": "https", "x-forwarded-for": "198.51.100.9"}
    untrusted = make_config()
    with TestClient(ConsentMiddleware(site(), config=untrusted), client=("10.0.0.2", 1)) as c:
        response = c.post("/consent", json={"action": "reject_all"}, headers=headers)
        assert "Secure" not in set_cookies(response)["consentkit"]
    assert log_rows(untrusted)[0]["ip"] == "10.0.0.0/24"
    trusted = make_config(trusted_proxies=["10.0.0.0/8"], storage=untrusted.storage + "2")
    with TestClient(ConsentMiddleware(site(), config=trusted), client=("10.0.0.2", 1)) as c:
        response = c.post("/consent", json={"action": "reject_all"}, headers=headers)
        assert "Secure" in set_cookies(response)["consentkit"]
    assert log_rows(trusted)[0]["ip"] == "198.51.100.0/24"


def test_cookie_secure_can_be_forced(make_config: Callable[..., ConsentConfig]) -> None:
    with TestClient(ConsentMiddleware(site(), config=make_config(cookie_secure=True))) as c:
        response = c.post("/consent", json={"action": "reject_all"}, headers=ORIGIN)
        assert "; Secure" in set_cookies(response)["consentkit"]


@pytest.mark.parametrize(("mode", "expected"), [("none", None), ("truncate", "192.0.2.0/24")])
def test_ip_modes(
    make_config: Callable[..., ConsentConfig], mode: str, expected: str | None
) -> None:
    config = make_config(ip=mode)
    with TestClient(ConsentMiddleware(site(), config=config), client=("192.0.2.55", 1)) as c:
        decide(c)
    assert log_rows(config)[0]["ip"] == expected


def test_ip_hash_mode_is_keyed(make_config: Callable[..., ConsentConfig]) -> None:
    config = make_config(ip="hash")
    with TestClient(ConsentMiddleware(site(), config=config), client=("192.0.2.55", 1)) as c:
        decide(c)
    stored = log_rows(config)[0]["ip"]
    assert len(stored) == 32 and "192.0.2" not in stored


def test_banner_only_until_decided_snippet_always(client: TestClient) -> None:
    first = client.get("/")
    assert 'id="consentkit-banner"' in first.text and "consentkit." in first.text
    assert int(first.headers["content-length"]) == len(first.content)
    decide(client)
    later = client.get("/")
    assert 'id="consentkit-banner"' not in later.text
    assert "/consent/consentkit." in later.text
    assert int(later.headers["content-length"]) == len(later.content)


def test_insertion_can_be_switched_off(make_config: Callable[..., ConsentConfig]) -> None:
    app = ConsentMiddleware(site(), config=make_config(insert_snippet=False, insert_banner=False))
    with TestClient(app) as client:
        assert "consentkit" not in client.get("/").text


def test_privacy_page_html_and_json(client: TestClient) -> None:
    html = client.get("/privacy")
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "Privacy Overview" in html.text
    data = client.get("/privacy", headers={"accept": "application/json"}).json()
    assert data["declaration"]["categories"][1]["key"] == "analytics"


def test_snippet_assets_are_served_with_cache_headers(client: TestClient) -> None:
    data = client.get("/consent").json()
    html = client.get("/").text
    import re

    js = re.search(r'src="(/consent/consentkit\.[^"]+\.js)"', html)
    assert js and data
    response = client.get(js.group(1))
    assert response.status_code == 200 and "javascript" in response.headers["content-type"]
    assert "immutable" in response.headers["cache-control"]
    etag = response.headers["etag"]
    assert client.get(js.group(1), headers={"if-none-match": etag}).status_code == 304


def test_asset_headers_are_not_repeated(client: TestClient) -> None:
    for accept in ("identity", "gzip", "br"):
        with client.stream(
            "GET", "/consent/consentkit.css", headers={"accept-encoding": accept}
        ) as response:
            raw = b"".join(response.iter_raw())
        assert len(response.headers.get_list("content-length")) == 1
        assert len(response.headers.get_list("vary")) == 1
        assert int(response.headers["content-length"]) == len(raw)


def test_banner_without_snippet(make_config: Callable[..., ConsentConfig]) -> None:
    from consentkit.consent import Consent

    app = ConsentMiddleware(site(), config=make_config(insert_snippet=False))
    with TestClient(app) as client:
        text = client.get("/").text
    assert 'id="consentkit-banner"' in text
    assert "<script" not in text and "stylesheet" not in text
    tags = app.renderer.snippet_tags(Consent(False, frozenset({"necessary"})), "n0nce").decode()
    assert '<script src="/consent/consentkit.' in tags and 'nonce="n0nce"' in tags


def test_cookies_split_over_several_headers(client: TestClient) -> None:
    """HTTP/2 clients may send one Cookie header per cookie: all of them count."""
    decide(client, "custom", categories={"analytics": True})
    token = client.cookies["consentkit"]
    client.cookies.clear()
    import asyncio

    app = client.app
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request", "body": b""}

    scope = {
        "type": "http", "method": "GET", "path": "/whoami", "query_string": b"",
        "headers": [(b"cookie", b"session=s1"), (b"cookie", f"consentkit={token}".encode())],
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    assert b'"granted":["analytics","necessary"]' in sent[-1]["body"]


def test_a_site_without_a_required_category_gets_one(
    make_config: Callable[..., ConsentConfig],
) -> None:
    from consentkit import Category

    config = make_config(categories=[Category(key="analytics", label="Analytics")])
    with TestClient(ConsentMiddleware(site(), config=config)) as client:
        state = client.get("/consent").json()
        page = client.get("/").text
    necessary = state["declaration"]["categories"][0]
    assert necessary["key"] == "necessary" and necessary["required"] is True
    assert [c["name"] for c in necessary["cookies"]] == ["consentkit"]
    assert state["granted"] == ["necessary"]
    assert 'data-required="necessary"' in page


async def _drive_lifespan(middleware: ConsentMiddleware) -> tuple[list[str], BaseException | None]:
    """Play a server's lifespan against ``middleware``: startup, then shutdown."""
    import asyncio

    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for kind in ("lifespan.startup", "lifespan.shutdown"):
        incoming.put_nowait({"type": kind})
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return await incoming.get()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])
        if message["type"] == "lifespan.startup.complete":
            assert middleware._started  # opened before the server is told

    try:
        await middleware({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    except Exception as exc:
        return sent, exc
    return sent, None


def test_lifespan_answered_for_an_app_that_refuses_it(
    make_config: Callable[..., ConsentConfig], caplog: pytest.LogCaptureFixture
) -> None:
    """Django raises ValueError for a lifespan scope before reading anything."""
    import asyncio

    async def django_like(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError("Django can only handle ASGI/HTTP connections, not lifespan.")

    middleware = ConsentMiddleware(django_like, config=make_config())
    with caplog.at_level(logging.INFO, logger="consentkit"):
        sent, error = asyncio.run(_drive_lifespan(middleware))
    assert error is None
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert not middleware._started  # shut down again
    assert "does not support lifespan" in caplog.text


def test_lifespan_answered_for_an_app_that_ignores_it(
    make_config: Callable[..., ConsentConfig],
) -> None:
    import asyncio

    async def http_only(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    middleware = ConsentMiddleware(http_only, config=make_config())
    sent, error = asyncio.run(_drive_lifespan(middleware))
    assert error is None
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_lifespan_failure_of_an_app_that_speaks_it_is_not_hidden(
    make_config: Callable[..., ConsentConfig],
) -> None:
    """An app that read the startup event and then failed really failed: it propagates."""
    import asyncio

    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        raise RuntimeError("database unreachable")

    middleware = ConsentMiddleware(failing, config=make_config())
    sent, error = asyncio.run(_drive_lifespan(middleware))
    assert isinstance(error, RuntimeError) and "database unreachable" in str(error)
    assert sent == []

    async def reports_failure(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    middleware = ConsentMiddleware(reports_failure, config=make_config())
    sent, error = asyncio.run(_drive_lifespan(middleware))
    assert error is None and sent == ["lifespan.startup.failed"]
    assert not middleware._started
@pytest.mark.parametrize(
    ("csp", "styled_inline"),
    [(None, True), ("default-src 'self'", False), ("style-src 'self' 'unsafe-inline'", True)],
)
def test_banner_styles_follow_the_pages_content_security_policy(
    make_config: Callable[..., ConsentConfig], csp: str | None, styled_inline: bool
) -> None:
    from starlette.requests import Request
    from starlette.responses import HTMLResponse
    from starlette.routing import Route

    async def page(request: Request) -> HTMLResponse:
        headers = {"content-security-policy": csp} if csp else None
        return HTMLResponse("<html><body><p>hi</p></body></html>", headers=headers)

    app = ConsentMiddleware(Starlette(routes=[Route("/", page)]), config=make_config())
    with TestClient(app) as client:
        text = client.get("/").text
    assert 'id="consentkit-banner"' in text
    assert ("<style>" in text) is styled_inline
    assert ('<link rel="stylesheet"' in text) is not styled_inline
