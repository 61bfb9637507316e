"""Config scripts in Chromium: inert before consent, run on a grant without a reload, live after.

A site of its own (not the shared demo): its categories declare ``scripts``, one page
has a strict nonce Content-Security-Policy, and Google Consent Mode is on.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import NonceMiddleware
from tests.live import serve

pytestmark = pytest.mark.browser

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Tags</title>
</head><body><main><h1>Annual report</h1><p>Text.</p></main>
<script{nonce}>window.ckLoads = (window.ckLoads || 0) + 1;</script></body></html>"""
#: Inline code that tries to end its tag and inject markup.
INLINE = "window.ckInline = '</script><b id=\"pwn\">x</b><script>window.ckPwned=1</script>';"
TAG_JS = "window.ckTagRuns = (window.ckTagRuns || 0) + 1; window.dataLayer.push(['tag']);"


def build_app(db: Path) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, Response
    from starlette.routing import Route

    from consentkit import Category, ConsentConfig, ConsentMiddleware, Script

    async def home(request: Request) -> Response:
        return HTMLResponse(PAGE.format(nonce=""))

    async def strict(request: Request) -> Response:
        nonce = request.state.csp_nonce
        csp = f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'"
        return HTMLResponse(
            PAGE.format(nonce=f' nonce="{nonce}"'), headers={"content-security-policy": csp}
        )

    async def tag(request: Request) -> Response:
        return Response(TAG_JS, media_type="text/javascript")

    config = ConsentConfig(
        secret_keys=(secrets.token_urlsafe(32),),
        storage=f"sqlite:///{db}",
        google_consent_mode={"analytics": ("analytics_storage",)},
        categories=(
            Category(key="necessary", label="Strictly necessary", required=True),
            Category(
                key="analytics",
                label="Analytics",
                scripts=(
                    Script(
                        inline="window.dataLayer=window.dataLayer||[];dataLayer.push(['config']);",
                        placement="head",
                    ),
                    Script(src="/t/tag.js", placement="head", attrs={"async": True}),
                    Script(inline=INLINE),
                ),
            ),
            Category(key="marketing", label="Marketing"),
        ),
    )
    routes = [Route("/", home), Route("/csp", strict), Route("/t/tag.js", tag)]
    return NonceMiddleware(ConsentMiddleware(Starlette(routes=routes), config=config))


@pytest.fixture(scope="module")
def tags_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(build_app(tmp_path_factory.mktemp("tags") / "consent.db")) as url:
        yield url


@pytest.fixture
def new_page(browser: Any, tags_server: str) -> Iterator[Callable[..., Any]]:
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        context = browser.new_context(base_url=tags_server, locale="en-US", **options)
        context.set_default_timeout(5000)
        contexts.append(context)
        page = context.new_page()
        page.violations = []
        # What the page's Content-Security-Policy refused (a missing favicon is no matter).
        page.on(
            "console",
            lambda m: "Content Security Policy" in m.text and page.violations.append(m.text),
        )
        return page

    yield make
    for context in contexts:
        context.close()


def ran(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(
        """() => ({tag: window.ckTagRuns, inline: window.ckInline, pwned: window.ckPwned,
                  pwn: !!document.getElementById('pwn'), loads: window.ckLoads,
                  inert: document.querySelectorAll('script[type="text/plain"]').length,
                  layer: (window.dataLayer || []).map(e => Array.from(e).slice(0, 2).join(' '))})"""
    )
    return result


@pytest.mark.parametrize("path", ["/", "/csp"])
def test_inert_until_granted_then_run_without_a_reload(
    new_page: Callable[..., Any], path: str
) -> None:
    page = new_page()
    page.goto(path)
    page.locator("#consentkit-banner").wait_for()
    before = ran(page)
    assert before["tag"] is None and before["inline"] is None
    assert before["inert"] == 3 and not before["pwn"] and before["pwned"] is None
    page.get_by_role("button", name="Accept all").click()
    page.wait_for_function("() => window.ckTagRuns === 1")
    after = ran(page)
    assert after["loads"] == 1, "the page was reloaded"
    assert after["inline"] == '</script><b id="pwn">x</b><script>window.ckPwned=1</script>'
    assert not after["pwn"] and after["pwned"] is None
    # Consent Mode: default, then the update, then the tag's own commands.
    assert after["layer"][:4] == ["consent default", "consent update", "config", "tag"]
    assert page.violations == []


@pytest.mark.parametrize("path", ["/", "/csp"])
def test_live_for_a_visitor_who_granted_with_the_nonce(
    new_page: Callable[..., Any], path: str
) -> None:
    page = new_page()
    page.goto(path)
    page.get_by_role("button", name="Accept all").click()
    page.wait_for_function("() => window.ckTagRuns === 1")
    page.reload()
    page.wait_for_function("() => window.ckTagRuns === 1 && !!window.consentkit")
    html = page.content()
    assert 'type="text/plain"' not in html
    state = ran(page)
    assert state["inert"] == 0 and state["inline"].startswith("</script>")
    assert not state["pwn"] and state["pwned"] is None
    # The default and the update come before the tag's commands even though they run before
    # the (deferred) snippet; its own default and update follow, the update last.
    layer = state["layer"]
    assert layer[:3] == ["consent default", "consent update", "config"]
    assert "tag" in layer
    assert [e for e in layer if e.startswith("consent")][-1] == "consent update"
    page.wait_for_timeout(300)
    assert ran(page)["tag"] == 1, "a live script ran twice"
    assert page.violations == []


def test_never_run_after_a_withdrawal_reload(new_page: Callable[..., Any]) -> None:
    page = new_page()
    page.goto("/")
    page.get_by_role("button", name="Accept all").click()
    page.wait_for_function("() => window.ckTagRuns === 1")
    status = page.evaluate(
        "fetch('/consent', {method: 'POST', headers: {'Content-Type': 'application/json'},"
        " body: JSON.stringify({action: 'withdraw'})}).then(r => r.status)"
    )
    assert status == 200
    page.reload()
    page.locator("#consentkit-banner").wait_for()
    page.wait_for_function("() => !!window.consentkit")
    page.wait_for_timeout(300)
    state = ran(page)
    assert state["tag"] is None and state["inline"] is None and state["inert"] == 3


def test_refused_category_stays_inert(new_page: Callable[..., Any]) -> None:
    page = new_page()
    page.goto("/")
    page.get_by_role("button", name="Reject all").click()
    page.locator("#consentkit-banner").wait_for(state="detached")
    page.reload()
    page.wait_for_function("() => !!window.consentkit")
    page.wait_for_timeout(300)
    state = ran(page)
    assert state["tag"] is None and state["inline"] is None and state["inert"] == 3
