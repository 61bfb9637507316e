"""Web security: cross-site posts, redirects, escaping, header injection, Secure, secrets.

tests/test_endpoints.py covers the basic cross-site refusals and a list of bad
``next`` values; this file adds what a reviewer asks next.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from starlette.testclient import TestClient

from consentkit import AnalyticsConfig, Category, ConsentConfig, ConsentMiddleware, Cookie
from consentkit.log import derive_log_key
from tests.cli import run_cli
from tests.conftest import KEY, ORIGIN, log_rows, site
from tests.live import free_port, serve
from tests.reliability.support import RAW_IP, SECRET, Answer, asgi_call

FORM = {"content-type": "application/x-www-form-urlencoded"}
JSON = {"content-type": "application/json"}
XSS = '<script>alert(1)</script><img src=x onerror="window.__xss=1">'


def run(app: Any, *args: Any, **kw: Any) -> Answer:
    async def go() -> Answer:
        if isinstance(app, ConsentMiddleware):
            await app.startup()
        try:
            return await asgi_call(app, *args, **kw)
        finally:
            if isinstance(app, ConsentMiddleware):
                await app.shutdown()

    return asyncio.run(go())


def cookie_of(answer: Answer, name: bytes) -> bytes | None:
    return next((v for v in answer.header_values(b"set-cookie") if v.startswith(name + b"=")), None)


# -- cross-site decision posts ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "headers", "body"),
    [
        # Fetch metadata saying cross-site wins over a same-site Origin.
        ("POST", {**JSON, **ORIGIN, "sec-fetch-site": "cross-site"}, b'{"action":"accept_all"}'),
        ("POST", {**FORM, "sec-fetch-site": "cross-site"}, b"action=accept_all"),
        ("POST", {**FORM, "sec-fetch-site": "CROSS-SITE", **ORIGIN}, b"action=accept_all"),
        # Another port, a look-alike host, userinfo tricks, a scheme-less origin.
        ("POST", {**JSON, "origin": "http://testserver:8080"}, b'{"action":"accept_all"}'),
        ("POST", {**JSON, "origin": "http://testserver.evil.example"}, b'{"action":"reject_all"}'),
        ("POST", {**JSON, "origin": "http://eviltestserver"}, b'{"action":"reject_all"}'),
        ("POST", {**JSON, "origin": "http://testserver@evil.example"}, b'{"action":"reject_all"}'),
        ("POST", {**FORM, "origin": "http://evil.example"}, b"action=withdraw"),
        ("POST", {**JSON, "origin": "testserver"}, b'{"action":"accept_all"}'),
        ("POST", {**JSON, "origin": ""}, b'{"action":"accept_all"}'),
        # A withdrawal is a decision too.
        ("DELETE", {"origin": "http://evil.example"}, b""),
        ("DELETE", {"sec-fetch-site": "cross-site"}, b""),
        ("DELETE", {}, b""),
    ],
)
def test_more_cross_site_decisions_refused(
    client: TestClient, config: ConsentConfig, method: str, headers: dict[str, str], body: bytes
) -> None:
    response = client.request(method, "/consent", content=body, headers=headers)
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "cross_site"
    assert "set-cookie" not in response.headers
    assert log_rows(config) == []


def test_look_alike_domain_refused_with_cookie_domain(
    make_config: Callable[..., ConsentConfig],
) -> None:
    app = ConsentMiddleware(site(), config=make_config(cookie_domain="example.org"))
    with TestClient(app, base_url="http://www.example.org") as client:
        for origin in ("https://evilexample.org", "https://example.org.evil", "https://org"):
            response = client.post(
                "/consent", json={"action": "accept_all"}, headers={"origin": origin}
            )
            assert response.status_code == 403, origin


def test_state_is_not_shared_cross_origin(client: TestClient) -> None:
    """No CORS: another site's script cannot read the visitor's consent id."""
    response = client.get("/consent", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/consent",
        headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code == 405


def test_hostile_decisions_through_uvicorn_are_refused_not_500(
    make_config: Callable[..., ConsentConfig],
) -> None:
    app = ConsentMiddleware(site(), config=make_config())
    with serve(app) as url, httpx.Client(base_url=url) as client:
        deep = client.post(
            "/consent",
            content=b'{"action": ' + b"[" * 3000 + b"]" * 3000 + b"}",
            headers={**JSON, "origin": url},
        )
        origin = client.post(
            "/consent", json={"action": "accept_all"}, headers={"origin": "http://[::1"}
        )
    assert (deep.status_code, origin.status_code) == (400, 403)


# -- open redirects -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "HTTPS://evil.example", "hTtP://evil.example", "http:evil.example", "http:/evil.example",
        "//evil.example", "///evil.example", "/\\/evil.example", "\\/evil.example",
        "/%2f%2fevil.example", "/%2F%5Cevil.example", "/%5C%5Cevil.example",
        "/%252f%252fevil.example", "/%09/evil.example", "/\t/evil.example",
        "/%0a/evil.example", "/%00//evil.example", "/\u3000/evil", " //evil.example",
        "javascript:alert(1)", "data:text/html,<script>alert(1)</script>",
        "/%0d%0aSet-Cookie:%20consentkit=forged",
    ],
)  # fmt: skip
def test_open_redirects_refused(client: TestClient, target: str) -> None:
    response = client.post(
        "/consent",
        content=urlencode({"action": "accept_all", "next": target}),
        headers=FORM,
        follow_redirects=False,
    )
    assert response.status_code == 303
    location = response.headers["location"]
    assert location == "/" or (
        location.startswith("/") and not location.startswith(("//", "/\\"))
    ), (target, location)
    assert "evil" not in location or location.startswith("/%"), (target, location)
    assert set(response.headers.get_list("set-cookie")) == {
        v for v in response.headers.get_list("set-cookie") if "forged" not in v
    }


# -- escaping -------------------------------------------------------------------------------


def xss_config(make_config: Callable[..., ConsentConfig], **extra: Any) -> ConsentConfig:
    return make_config(
        categories=[
            Category(
                key="necessary",
                label=XSS,
                required=True,
                description=XSS,
                cookies=[Cookie(name="session", provider=XSS, purpose=XSS, duration=XSS)],
            ),
            Category(
                key="analytics",
                label=XSS,
                description=XSS,
                cookies=[Cookie(name="_ga*", provider=XSS, purpose=XSS, duration=XSS)],
            ),
        ],
        texts={"en": {"banner_title": XSS, "banner_text": XSS, "accept_all": XSS}},
        policy_version=XSS,
        **extra,
    )


def assert_inert_html(html: str) -> None:
    assert "<script>alert(1)</script>" not in html
    assert "<img src=x" not in html
    assert 'onerror="window' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html or "\\u003cscript" in html


def test_config_and_locale_texts_are_escaped(make_config: Callable[..., ConsentConfig]) -> None:
    app = ConsentMiddleware(site(), config=xss_config(make_config))
    with TestClient(app) as client:
        banner = client.get("/")
        assert banner.status_code == 200
        assert_inert_html(banner.text)
        privacy = client.get("/privacy", headers={"accept": "text/html"})
        assert_inert_html(privacy.text)
        state = client.get("/consent")
        assert state.headers["content-type"].startswith("application/json")
        # In JSON the text is data, exactly as declared; no HTML anywhere serves it raw.
        assert state.json()["declaration"]["categories"][1]["label"] == XSS
        as_json = client.get("/privacy", headers={"accept": "application/json"})
        assert as_json.headers["content-type"].startswith("application/json")


@pytest.mark.browser
@pytest.mark.slow
def test_xss_texts_are_inert_in_chromium(
    make_config: Callable[..., ConsentConfig], browser: Any
) -> None:
    app = ConsentMiddleware(site(), config=xss_config(make_config))
    page = browser.new_page()
    with serve(app) as url:
        try:
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            for path in ("/", "/privacy"):
                page.goto(url + path)
                page.wait_for_load_state("load")
                page.wait_for_timeout(200)
                assert page.evaluate("window.__xss") is None, path
                assert XSS in page.inner_text("body"), path  # shown as text
            assert dialogs == []
        finally:
            page.close()


# -- header injection -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["a b", "a;b", "a\r\nb", "a\nSet-Cookie: x", "a=b", "a,b", "", "caf\u00e9", "a\x00"]
)
def test_config_rejects_bad_cookie_names(
    make_config: Callable[..., ConsentConfig], name: str
) -> None:
    with pytest.raises(ValueError):
        Cookie(name=name)
    with pytest.raises(ValueError):
        make_config(cookie_name=name)


@pytest.mark.parametrize(
    "options",
    [
        {"cookie_domain": "example.org\r\nX-Injected: 1"},
        {"cookie_domain": "example.org; Secure=0"},
        {"cookie_path": "/a\r\nX-Injected: 1"},
        {"cookie_path": "/a; Domain=evil.example"},
        {"analytics": {"cookie_name": "v\r\nX-Injected: 1"}},
        {"analytics": {"cookie_name": "v; Domain=evil.example"}},
    ],
)
def test_config_rejects_header_injection(
    make_config: Callable[..., ConsentConfig], options: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        make_config(**options)


def test_hostile_request_cookie_names_never_reach_set_cookie(
    make_config: Callable[..., ConsentConfig],
) -> None:
    """Stale cookies of a refused category are expired by name, but only token names are echoed."""
    app = ConsentMiddleware(site(), config=make_config())
    hostile = [b"_ga x=1", b"_ga\x0bv=1", b"_ga\xc3\xa9=1", b"_ga(a)=1", b'_ga"=1', b"_gaok=1"]
    answer = run(app, "GET", "/whoami", [(b"cookie", b"; ".join(hostile))])
    assert answer.status == 200
    expired = answer.header_values(b"set-cookie")
    assert any(v.startswith(b"_gaok=;") for v in expired)
    for value in expired:
        assert all(0x20 <= byte < 0x7F for byte in value), value
        assert not value.startswith((b"_ga x", b"_ga\x0b", b"_ga(", b'_ga"', b"_ga\xc3"))


# -- Secure behind a proxy ------------------------------------------------------------------

PROXY = ("10.0.0.5", 5000)
STRANGER = ("198.51.100.9", 5000)


@pytest.mark.parametrize(
    ("client", "scheme", "forwarded", "secure"),
    [
        (STRANGER, "http", b"https", False),  # anyone can send the header: ignored
        (PROXY, "http", b"https", True),  # the configured proxy terminated TLS
        (PROXY, "http", b"http", False),
        (PROXY, "http", b"https, http", True),  # first hop as the proxy saw it
        (STRANGER, "https", b"http", True),  # the connection itself was https
        (PROXY, "http", b"HTTPS", True),
        (PROXY, "http", b"gopher", False),
    ],
)
def test_secure_only_from_trusted_proxy(
    make_config: Callable[..., ConsentConfig],
    client: tuple[str, int],
    scheme: str,
    forwarded: bytes,
    secure: bool,
) -> None:
    app = ConsentMiddleware(site(), config=make_config(trusted_proxies=["10.0.0.0/8"]))
    headers = [(b"content-type", b"application/json"), (b"origin", b"http://testserver"),
               (b"x-forwarded-proto", forwarded)]  # fmt: skip
    answer = run(app, "POST", "/consent", headers, b'{"action":"accept_all"}', client=client,
                 scheme=scheme)  # fmt: skip
    assert answer.status == 200
    cookie = cookie_of(answer, b"consentkit")
    assert cookie is not None
    assert (b"; Secure" in cookie) is secure, cookie


def test_forwarded_for_from_a_stranger_is_not_logged_as_the_client(
    make_config: Callable[..., ConsentConfig],
) -> None:
    config = make_config(trusted_proxies=["10.0.0.0/8"])
    app = ConsentMiddleware(site(), config=config)
    headers = [(b"content-type", b"application/json"), (b"origin", b"http://testserver"),
               (b"x-forwarded-for", b"192.0.2.44")]  # fmt: skip
    run(app, "POST", "/consent", headers, b'{"action":"reject_all"}', client=STRANGER)
    run(app, "POST", "/consent", headers, b'{"action":"reject_all"}', client=PROXY)
    assert [row["ip"] for row in log_rows(config)] == ["198.51.100.0/24", "192.0.2.0/24"]


def test_visitor_cookie_secure_behind_trusted_proxy(
    make_config: Callable[..., ConsentConfig],
) -> None:
    config = make_config(trusted_proxies=["10.0.0.0/8"], analytics=AnalyticsConfig())
    app = ConsentMiddleware(site(), config=config)
    token = app.codec.encode(["analytics"], "cid", 1_900_000_000)
    headers = [(b"cookie", f"consentkit={token}".encode()), (b"user-agent", b"Mozilla/5.0"),
               (b"x-forwarded-proto", b"https")]  # fmt: skip
    answer = run(app, "GET", "/", headers, client=PROXY)
    visitor = cookie_of(answer, b"consentkit_visitor")
    assert visitor is not None and b"; Secure" in visitor


# -- secrets and raw IPs stay out of logs, error answers and CLI output -----------------------

PG_PASSWORD = "pg-pa55word-S3CR3T-xyz"


def secrets_of(config: ConsentConfig) -> list[str]:
    key = derive_log_key(config.log_key or config.secret_keys[0])
    return [*config.secret_keys, key.secret.hex(), PG_PASSWORD, RAW_IP, "LOG-KEY-S3CR3T"]


def assert_clean(text: str, config: ConsentConfig) -> None:
    for secret in secrets_of(config):
        assert secret not in text, f"{secret!r} leaked into: {text[:500]!r}"


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


def all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            parts.append(record.exc_text)
    return "\n".join(parts)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_no_secret_or_raw_ip_in_logs_or_answers_during_a_storage_failure(
    tmp_path: Path,
    everything_logged: pytest.LogCaptureFixture,
    backend: str,
) -> None:
    if backend == "sqlite":
        (tmp_path / "gone.db").mkdir()  # root ignores modes: a directory cannot be opened
        storage = f"sqlite:///{tmp_path}/gone.db"
    else:  # nothing listens there: connection refused
        storage = f"postgresql://postgres:{PG_PASSWORD}@127.0.0.1:{free_port()}/test"
    config = ConsentConfig(
        secret_keys=[SECRET, KEY],
        log_key="LOG-KEY-S3CR3T-0123456789abcdef-0123456789",
        categories=[
            Category(key="necessary", label="Necessary", required=True),
            Category(key="analytics", label="Analytics"),
        ],
        storage=storage,
        ip="hash",
        trusted_proxies=["127.0.0.1/32"],  # so the forwarded RAW_IP is the client's address
        analytics=AnalyticsConfig(flush_interval=0.1),
    )
    app = ConsentMiddleware(site(), config=config)
    answers: list[httpx.Response] = []
    with (
        serve(app) as url,
        httpx.Client(base_url=url, headers={"x-forwarded-for": RAW_IP}) as client,
    ):
        for action in ("accept_all", "reject_all"):
            answers.append(
                client.post("/consent", json={"action": action}, headers={"origin": url})
            )
        answers.append(client.delete("/consent", headers={"origin": url}))
        answers.append(client.post("/consent", content=b"{bad", headers={**JSON, "origin": url}))
        token = app.codec.encode(["analytics"], "cid", 1_900_000_000)
        for _ in range(3):
            answers.append(
                client.get("/", headers={"cookie": f"consentkit={token}", "user-agent": "M"})
            )
        answers.append(client.get("/", headers={"cookie": f"consentkit={token}", "sec-gpc": "1"}))
        import time

        time.sleep(0.5)  # an analytics flush fails meanwhile
    assert [a.status_code for a in answers[:3]] == [503, 503, 503]
    assert all("set-cookie" not in a.headers for a in answers[:3])
    assert [a.status_code for a in answers[4:]] == [200, 200, 200, 200]
    logged = all_log_text(everything_logged)
    assert "consent log write failed" in logged
    assert "analytics" in logged  # its lost batch is logged too
    assert_clean(logged, config)
    for answer in answers:
        assert_clean(answer.text + str(answer.headers), config)
    assert_clean(repr(config) + str(config), config)


def test_no_secret_in_cli_error_output(tmp_path: Path) -> None:
    config = ConsentConfig(
        secret_keys=[SECRET],
        categories=[Category(key="necessary", label="Necessary", required=True)],
    )
    env = {"CONSENTKIT_SECRET_KEYS": SECRET, "CONSENTKIT_LOG_KEY": "LOG-KEY-S3CR3T-0123456789"}
    dead = f"postgresql://postgres:{PG_PASSWORD}@127.0.0.1:{free_port()}/test"
    (tmp_path / "dir.db").mkdir()
    runs = [
        run_cli("log", "verify", "--storage", dead, env=env),
        run_cli("log", "export", "--storage", dead, env=env),
        run_cli("log", "stats", "--storage", dead, env=env),
        run_cli("analytics", "report", "--storage", dead, env=env),
        run_cli("log", "verify", "--storage", f"sqlite:///{tmp_path}/dir.db", env=env),
        run_cli("log", "verify", "--storage", f"sqlite:///{tmp_path}/missing.db", env=env),
        run_cli("log", "verify", "--storage", "mysql://root:" + PG_PASSWORD + "@h/db", env=env),
    ]
    for result in runs:
        assert result.returncode != 0, result
        assert result.stderr.strip(), result
        assert "Traceback" not in result.stderr, result.stderr
        assert_clean(result.stdout + result.stderr, config)
    assert json.dumps([r.stderr for r in runs])  # the messages, for the log when this fails
