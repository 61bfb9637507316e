"""Automatic blocking in Chromium: nothing loads before consent; the placeholder allows the embed.

Like test_csp.py, two other host names (``cdn.alpha.test`` for analytics,
``media.beta.test`` for marketing) are mapped to loopback in a browser of
this module's own, and a third-party server counts what each host was asked for. A FastAPI
app with its own session and gzip middleware inside consentkit gets the same in Chromium.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentkit import Category, ConsentConfig, ConsentMiddleware
from tests.browser.test_csp import ThirdParty, wait_for
from tests.live import serve

EMBEDS = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Video</title>
</head><body><main><h1>Annual report 2025</h1>
<script src="http://cdn.alpha.test:{port}/t.js"></script>
<img id="pixel" src="http://media.beta.test:{port}/pixel.png" alt="">
<iframe id="video" title="video" width="320" height="180"
  src="http://media.beta.test:{port}/frame.html"></iframe>
<script>window.ckLoadedOnce = (window.ckLoadedOnce || 0) + 1;</script>
</main></body></html>"""


def site(port: int, db: Path) -> Any:
    async def page(request: Request) -> Response:
        return HTMLResponse(EMBEDS.format(port=port))

    config = ConsentConfig(
        secret_keys=["browser-autoblock-secret-0123456789abcdef"],
        storage=f"sqlite:///{db}",
        auto_block=True,
        categories=[
            Category(key="necessary", label="Strictly necessary", required=True),
            Category(key="analytics", label="Analytics", hosts=[f"cdn.alpha.test:{port}"]),
            Category(key="marketing", label="Video embeds", hosts=[f"media.beta.test:{port}"]),
        ],
    )
    return ConsentMiddleware(Starlette(routes=[Route("/", page)]), config=config)


@pytest.fixture(scope="module")
def third_party() -> Iterator[tuple[ThirdParty, int]]:
    """The other hosts' server and its port."""
    third = ThirdParty()
    with serve(third, lifespan="off") as third_url:
        yield third, int(third_url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def servers(
    third_party: tuple[ThirdParty, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ThirdParty, str]]:
    third, port = third_party
    db = tmp_path_factory.mktemp("autoblock") / "consent.db"
    with serve(site(port, db)) as url:
        yield third, url


@pytest.fixture(scope="module")
def resolving_browser(browser_type: Any, browser_type_launch_args: dict[str, Any]) -> Iterator[Any]:
    args = [*browser_type_launch_args.get("args", []), "--host-resolver-rules=MAP *.test 127.0.0.1"]
    browser = browser_type.launch(**{**browser_type_launch_args, "args": args})
    yield browser
    browser.close()


@pytest.fixture
def new_page(
    resolving_browser: Any, servers: tuple[ThirdParty, str]
) -> Iterator[Callable[..., Any]]:
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        context = resolving_browser.new_context(base_url=servers[1], locale="en-US", **options)
        context.set_default_timeout(5000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def test_nothing_loads_until_the_placeholder_allows_it(
    new_page: Callable[..., Any], servers: tuple[ThirdParty, str]
) -> None:
    third, _ = servers
    third.hits.clear()
    page = new_page()
    page.goto("/")
    page.wait_for_load_state("networkidle")
    assert third.hits == []
    box = page.locator(".ck-ph")
    assert box.is_visible()
    assert "media.beta.test" in box.inner_text() and "Video embeds" in box.inner_text()
    assert page.locator("#video").is_hidden()
    button = page.get_by_role("button", name="Allow and show")
    assert button.is_visible()
    assert box.get_by_role("link").get_attribute("href") == "/privacy"
    button.click()
    # Granted with fetch, no reload: the frame and the image load, the placeholder goes.
    assert wait_for(lambda: "media.beta.test/frame.html" in third.hits)
    page.locator("#video").wait_for(state="visible")
    assert page.locator(".ck-ph").count() == 0
    assert page.evaluate("window.ckLoadedOnce") == 1
    assert wait_for(lambda: page.evaluate("document.getElementById('pixel').naturalWidth === 1"))
    frame = page.frame_locator("#video")
    assert frame.locator("p").inner_text() == "video"
    # Analytics was not granted: its script stays gated.
    assert "cdn.alpha.test/t.js" not in third.hits
    state = page.evaluate("fetch('/consent').then(r => r.json())")
    assert "marketing" in state["granted"] and "analytics" not in state["granted"]
    # The next page comes with the frame live from the server.
    third.hits.clear()
    page.reload()
    page.wait_for_load_state("networkidle")
    assert page.locator(".ck-ph").count() == 0
    assert "media.beta.test/frame.html" in third.hits


def test_the_placeholder_works_without_javascript(
    new_page: Callable[..., Any], servers: tuple[ThirdParty, str]
) -> None:
    third, _ = servers
    third.hits.clear()
    page = new_page(java_script_enabled=False)
    page.goto("/")
    assert third.hits == []
    with page.expect_navigation():
        page.get_by_role("button", name="Allow and show").click()
    page.wait_for_load_state("networkidle")
    assert page.url == servers[1] + "/"  # the form's next: back to the page
    assert page.locator(".ck-ph").count() == 0
    assert page.locator("#video").get_attribute("src") is not None
    assert wait_for(lambda: "media.beta.test/frame.html" in third.hits)
    assert "cdn.alpha.test/t.js" not in third.hits


def test_the_placeholder_is_accessible(
    new_page: Callable[..., Any], axe: Callable[..., list[dict[str, Any]]]
) -> None:
    page = new_page()
    page.goto("/")
    assert axe(page, ".ck-ph") == []


def fastapi_shop(port: int, db: Path) -> Any:
    """A FastAPI app with its own session and gzip middleware inside consentkit: consentkit
    gets the page gzip-encoded, gates its embed, and encodes it again."""
    fastapi = pytest.importorskip("fastapi")
    from starlette.middleware.gzip import GZipMiddleware
    from starlette.middleware.sessions import SessionMiddleware

    from consentkit import Cookie
    from consentkit.integrations.starlette import install

    app = fastapi.FastAPI()

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> str:
        request.session["basket"] = ["tea"]
        return EMBEDS.format(port=port).replace(
            "<main>", "<main>" + "<p>Green, black and white tea.</p>" * 40
        )

    app.add_middleware(GZipMiddleware, minimum_size=100)
    app.add_middleware(SessionMiddleware, secret_key="shop-secret", session_cookie="basket")
    config = ConsentConfig(
        secret_keys=["fastapi-autoblock-secret-0123456789abcdef"],
        storage=f"sqlite:///{db}",
        auto_block=True,
        categories=[
            Category(key="necessary", label="Strictly necessary", required=True),
            Category(
                key="personalization",
                label="Personalization",
                cookies=[Cookie(name="basket", purpose="Basket", duration="2 weeks")],
            ),
            Category(key="analytics", label="Analytics", hosts=[f"cdn.alpha.test:{port}"]),
            Category(key="marketing", label="Video embeds", hosts=[f"media.beta.test:{port}"]),
        ],
    )
    install(app, config)
    return app


def test_a_fastapi_apps_gzip_page_is_gated_and_the_placeholder_allows_the_embed(
    resolving_browser: Any, third_party: tuple[ThirdParty, int], tmp_path: Path
) -> None:
    third, port = third_party
    with serve(fastapi_shop(port, tmp_path / "consent.db")) as url:
        context = resolving_browser.new_context(base_url=url, locale="en-US")
        context.set_default_timeout(5000)
        try:
            third.hits.clear()
            page = context.new_page()
            response = page.goto("/")
            assert response is not None
            assert response.headers["content-encoding"] == "gzip"
            page.wait_for_load_state("networkidle")
            assert third.hits == []
            assert {c["name"] for c in context.cookies()} == set()  # no session before consent
            page.get_by_role("button", name="Allow and show").click()
            assert wait_for(lambda: "media.beta.test/frame.html" in third.hits)
            page.locator("#video").wait_for(state="visible")
            assert page.locator(".ck-ph").count() == 0
            assert "cdn.alpha.test/t.js" not in third.hits
            # Marketing only: the basket cookie (personalization) still never set.
            page.reload()
            page.wait_for_load_state("networkidle")
            assert page.locator(".ck-ph").count() == 0
            assert "basket" not in {c["name"] for c in context.cookies()}
        finally:
            context.close()
