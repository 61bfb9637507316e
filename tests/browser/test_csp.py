"""The consent CSP in Chromium: third-party hosts refused, reported, granted and withdrawn.

Two other host names, ``cdn.alpha.test`` (analytics) and ``media.beta.test``
(marketing), are mapped to loopback with ``--host-resolver-rules`` in a browser
of this module's own, launched from the session's Playwright like the session
browser (same executable and arguments). The sites are plain http, so their policy
reports with ``report-uri`` (``application/csp-report``), the format Chromium uses there;
one more site is served over https with a throwaway certificate (the browser is told to
accept it) to see the Reporting API format (``Reporting-Endpoints``, ``report-to``) arrive.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentkit import Category, ConsentConfig, ConsentMiddleware, Cookie
from tests.browser.conftest import PAGE, NonceMiddleware
from tests.cli import run_cli
from tests.live import serve

PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
LEAKY = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Leaky page</title>
</head><body><main><h1>Annual report 2025</h1>
<script src="http://cdn.alpha.test:{port}/t.js"></script>
<img id="pixel" src="http://media.beta.test:{port}/pixel.png" alt="">
<iframe id="video" title="video" src="http://media.beta.test:{port}/frame.html"></iframe>
</main></body></html>"""
MARKETING_JS = "window.ckMarketing = (window.ckMarketing || 0) + 1;"


class ThirdParty:
    """The other hosts' server: remembers which host and path each request asked for."""

    def __init__(self) -> None:
        self.hits: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        host = dict(scope["headers"]).get(b"host", b"").decode().split(":")[0]
        self.hits.append(f"{host}{scope['path']}")
        body, kind = {
            "/t.js": (b"window.ckThird = 1;", b"text/javascript"),
            "/pixel.png": (PIXEL, b"image/png"),
            "/frame.html": (b"<!doctype html><title>video</title><p>video</p>", b"text/html"),
        }.get(scope["path"], (b"not found", b"text/plain"))
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", kind)]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})


def site(mode: str, port: int, db: Path) -> tuple[Any, ConsentMiddleware]:
    """The site under the consent policy in ``mode``: ``/`` leaks, ``/strict`` has its own CSP."""

    async def leaky(request: Request) -> Response:
        return HTMLResponse(LEAKY.format(port=port))

    async def strict(request: Request) -> Response:
        nonce = request.state.csp_nonce
        csp = (
            f"default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic'; "
            f"style-src 'self' 'nonce-{nonce}'; connect-src 'self'; object-src 'none'; "
            "base-uri 'none'"
        )
        html = PAGE.format(title="Strict CSP", extra="").replace(
            "<style>", f'<style nonce="{nonce}">'
        )
        return HTMLResponse(html, headers={"content-security-policy": csp})

    async def marketing(request: Request) -> Response:
        return Response(MARKETING_JS, media_type="text/javascript")

    config = ConsentConfig(
        secret_keys=["browser-csp-secret-key-0123456789abcdef"],
        storage=f"sqlite:///{db}",
        csp=mode,  # type: ignore[arg-type]
        categories=[
            Category(key="necessary", label="Strictly necessary", required=True,
                     cookies=[Cookie(name="session")]),
            Category(key="analytics", label="Analytics", hosts=[f"cdn.alpha.test:{port}"]),
            Category(key="marketing", label="Marketing", hosts=[f"media.beta.test:{port}"]),
        ],
    )  # fmt: skip
    app = Starlette(
        routes=[
            Route("/", leaky),
            Route("/strict", strict),
            Route("/gated/marketing.js", marketing),
        ]
    )
    consent = ConsentMiddleware(app, config=config)
    return NonceMiddleware(consent), consent


class Site:
    def __init__(self, url: str, middleware: ConsentMiddleware, db: Path) -> None:
        self.url = url
        self.middleware = middleware
        self.db = db

    @property
    def received(self) -> int:
        reports = self.middleware.csp_reports
        assert reports is not None
        return reports.received


@pytest.fixture(scope="module")
def third_party() -> Iterator[tuple[ThirdParty, int]]:
    server = ThirdParty()
    with serve(server, lifespan="off") as url:
        yield server, int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def sites(
    third_party: tuple[ThirdParty, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Site]]:
    _, port = third_party
    found: dict[str, Site] = {}
    apps = {mode: site(mode, port, tmp_path_factory.mktemp(mode) / "consent.db")
            for mode in ("enforce", "report-only")}  # fmt: skip
    with serve(apps["enforce"][0]) as enforce_url, serve(apps["report-only"][0]) as report_url:
        for mode, url in (("enforce", enforce_url), ("report-only", report_url)):
            consent = apps[mode][1]
            db = Path(consent.config.storage.removeprefix("sqlite:///"))
            found[mode] = Site(url, consent, db)
        yield found


@pytest.fixture(scope="module")
def resolving_browser(browser_type: Any, browser_type_launch_args: dict[str, Any]) -> Iterator[Any]:
    """A browser like the session one that resolves every ``*.test`` host to 127.0.0.1."""
    args = [
        *browser_type_launch_args.get("args", []),
        "--host-resolver-rules=MAP *.test 127.0.0.1",
        "--short-reporting-delay",  # Reporting API reports leave within a second
        "--ignore-certificate-errors",  # the https site's throwaway certificate
    ]
    browser = browser_type.launch(**{**browser_type_launch_args, "args": args})
    yield browser
    browser.close()


@pytest.fixture
def new_page(resolving_browser: Any) -> Iterator[Callable[[Site], Any]]:
    contexts: list[Any] = []

    def make(on: Site) -> Any:
        context = resolving_browser.new_context(base_url=on.url, locale="en-US")
        context.set_default_timeout(5000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def loaded(page: Any) -> dict[str, bool]:
    """Which of the three third-party resources the page got."""
    return {
        "script": page.evaluate("window.ckThird === 1"),
        "image": page.evaluate("document.getElementById('pixel').naturalWidth === 1"),
    }


def decide(page: Any, on: Site, action: str) -> None:
    """A decision as a plain form post (what the no-JavaScript banner sends)."""
    answer = page.context.request.post(
        f"{on.url}/consent",
        form={"action": action, "next": "/"},
        headers={"origin": on.url},
        max_redirects=0,
    )
    assert answer.status == 303


def wait_for(condition: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def stored(db: Path) -> list[tuple[str, str, str, str]]:
    try:
        with sqlite3.connect(db) as conn:
            return [
                tuple(r)
                for r in conn.execute(
                    "SELECT host, directive, path, state FROM consentkit_csp_daily ORDER BY 1, 2"
                )
            ]
    except sqlite3.OperationalError:
        return []


ALL_HITS = ["cdn.alpha.test/t.js", "media.beta.test/frame.html", "media.beta.test/pixel.png"]


def test_enforce_refuses_until_granted_and_again_after_withdrawal(
    sites: dict[str, Site], third_party: tuple[ThirdParty, int], new_page: Callable[[Site], Any]
) -> None:
    server, _ = third_party
    on = sites["enforce"]
    page = new_page(on)
    server.hits.clear()
    page.goto("/")
    assert page.get_by_role("button", name="Accept all").is_visible()  # the banner still works
    assert loaded(page) == {"script": False, "image": False}
    page.wait_for_timeout(300)
    assert server.hits == []

    decide(page, on, "accept_all")
    page.goto("/")
    assert loaded(page) == {"script": True, "image": True}
    assert sorted(server.hits) == ALL_HITS

    server.hits.clear()
    decide(page, on, "withdraw")
    page.goto("/")
    assert loaded(page) == {"script": False, "image": False}
    page.wait_for_timeout(300)
    assert server.hits == []


def test_report_only_loads_everything_and_reports_it(
    sites: dict[str, Site], third_party: tuple[ThirdParty, int], new_page: Callable[[Site], Any]
) -> None:
    server, port = third_party
    on = sites["report-only"]
    page = new_page(on)
    server.hits.clear()
    before = on.received
    page.goto("/")
    assert loaded(page) == {"script": True, "image": True}
    assert sorted(server.hits) == ALL_HITS
    assert wait_for(lambda: on.received >= before + 3), on.received - before
    expected = [
        (f"cdn.alpha.test:{port}", "script-src-elem", "/", "undecided"),
        (f"media.beta.test:{port}", "frame-src", "/", "undecided"),
        (f"media.beta.test:{port}", "img-src", "/", "undecided"),
    ]
    assert wait_for(lambda: stored(on.db) == expected), stored(on.db)
    result = run_cli("csp", "report", "--storage", f"sqlite:///{on.db}", "--format", "json")
    assert result.returncode == 0, result.stderr
    hosts = {h["host"]: h for h in json.loads(result.stdout)["hosts"]}
    assert hosts[f"cdn.alpha.test:{port}"]["directives"] == {"script-src-elem": 1}
    assert hosts[f"media.beta.test:{port}"]["directives"] == {"frame-src": 1, "img-src": 1}
    assert hosts[f"media.beta.test:{port}"]["states"] == {"undecided": 2}
    table = run_cli("csp", "report", "--storage", f"sqlite:///{on.db}")
    assert f"media.beta.test:{port}" in table.stdout

    decide(page, on, "accept_all")
    granted_before = on.received
    server.hits.clear()
    page.goto("/")
    assert loaded(page) == {"script": True, "image": True}
    assert sorted(server.hits) == ALL_HITS
    page.wait_for_timeout(1500)  # report-uri reports leave at once
    assert on.received == granted_before


@pytest.mark.parametrize("mode", ["enforce", "report-only"])
def test_strict_nonce_site_keeps_a_working_banner(
    sites: dict[str, Site], new_page: Callable[[Site], Any], mode: str
) -> None:
    on = sites[mode]
    page = new_page(on)
    page.add_init_script(
        "window.cspViolations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.cspViolations.push(e.disposition + ' ' + e.effectiveDirective + ' '"
        " + e.blockedURI));"
    )
    answer = page.goto("/strict")
    assert answer is not None
    policies = answer.headers_array()
    names = [h["name"].lower() for h in policies]
    assert "content-security-policy" in names
    assert ("content-security-policy-report-only" in names) == (mode == "report-only")
    page.get_by_role("button", name="Accept all").click()
    for _ in range(100):
        if page.evaluate("[window.ckAnalytics, window.ckMarketing]") == [1, 1]:
            break
        page.wait_for_timeout(50)
    assert page.evaluate("[window.ckAnalytics, window.ckMarketing]") == [1, 1]
    page.get_by_role("link", name="Cookie settings").click()
    page.get_by_role("dialog").wait_for()
    assert page.evaluate("window.cspViolations") == []


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A throwaway self-signed certificate for 127.0.0.1: (key file, certificate file)."""
    if shutil.which("openssl") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("openssl is needed in CI for the https CSP test")
        pytest.skip("openssl is missing")
    folder = tmp_path_factory.mktemp("tls")
    key, cert = str(folder / "key.pem"), str(folder / "cert.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
         "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


def test_reporting_api_over_https(
    resolving_browser: Any,
    third_party: tuple[ThirdParty, int],
    certificate: tuple[str, str],
    tmp_path: Path,
) -> None:
    _, port = third_party
    app, consent = site("report-only", port, tmp_path / "consent.db")
    formats: list[str] = []

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/consent/csp-report":
            formats.append(dict(scope["headers"]).get(b"content-type", b"").decode())
        await app(scope, receive, send)

    key, cert = certificate
    with serve(spy, ssl_keyfile=key, ssl_certfile=cert) as url:
        context = resolving_browser.new_context(base_url=url, ignore_https_errors=True)
        try:
            answer = context.new_page().goto("/")
            assert answer is not None
            headers = answer.headers
            assert "report-to consentkit-csp" in headers["content-security-policy-report-only"]
            assert headers["reporting-endpoints"] == (
                'consentkit-csp="/consent/csp-report?state=undecided"'
            )
            reports = consent.csp_reports
            assert reports is not None
            assert wait_for(lambda: reports.received >= 3), reports.received
        finally:
            context.close()
    assert formats and set(formats) == {"application/reports+json"}
