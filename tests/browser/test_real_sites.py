"""Real applications wrapped by consentkit, served by uvicorn, driven in Chromium.

Django's admin (the guide's files, ``--lifespan on``) signs in with and without
JavaScript; a FastAPI shop with Starlette's ``SessionMiddleware``, installed with
`consentkit.integrations.starlette.install`, sends its session cookie only after
Accept all, whatever the order of its ``add_middleware`` calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request

from consentkit import Category, ConsentConfig, Cookie
from consentkit.integrations.starlette import install
from tests.django_site import ADMIN_PASSWORD, ADMIN_USER, serve_django
from tests.live import serve

pytestmark = pytest.mark.browser


def names(context: Any) -> set[str]:
    return {c["name"] for c in context.cookies()}


@pytest.fixture(scope="module")
def django_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("django")
    with serve_django(tmp_path_factory.mktemp("django")) as server:
        yield server.url


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_django_admin_login(browser: Any, django_url: str, javascript: bool) -> None:
    context = browser.new_context(base_url=django_url, java_script_enabled=javascript)
    context.set_default_timeout(5000)
    try:
        page = context.new_page()
        page.goto("/admin/login/?next=/admin/")
        assert page.locator("#consentkit-banner").count() == 1
        page.get_by_role("button", name="Reject all").click()
        page.locator("#consentkit-banner").wait_for(state="detached")
        page.wait_for_url("**/admin/login/?next=/admin/")
        page.fill("#id_username", ADMIN_USER)
        page.fill("#id_password", ADMIN_PASSWORD)
        page.locator("input[type=submit]").click()
        page.wait_for_url("**/admin/")
        assert page.get_by_text("Site administration").count() >= 1
        assert names(context) == {"csrftoken", "sessionid", "consentkit"}
        # A notice after a save comes through (the messages cookie is necessary).
        page.goto("/admin/auth/user/1/change/")
        page.fill("#id_first_name", "Ada")
        page.locator("input[name=_save]").click()
        page.wait_for_url("**/admin/auth/user/")
        assert page.get_by_text("was changed successfully").count() == 1
    finally:
        context.close()



@pytest.mark.parametrize("width", [360, 1280])
def test_django_admin_reopen_button_covers_none_of_its_controls(
    browser: Any, django_url: str, width: int
) -> None:
    from tests.browser.test_reopen import OVERLAPS

    context = browser.new_context(base_url=django_url, viewport={"width": width, "height": 640})
    context.set_default_timeout(5000)
    try:
        page = context.new_page()
        page.goto("/admin/login/?next=/admin/")
        page.get_by_role("button", name="Accept all").click()
        page.fill("#id_username", ADMIN_USER)
        page.fill("#id_password", ADMIN_PASSWORD)
        page.locator("input[type=submit]").click()
        page.wait_for_url("**/admin/")
        for path in ("/admin/", "/admin/auth/user/", "/admin/auth/user/1/change/"):
            page.goto(path)
            page.locator(".ck-reopen").wait_for()
            assert page.evaluate(OVERLAPS) == [], path
            page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            assert page.evaluate(OVERLAPS) == [], path
    finally:
        context.close()

def shop(db: Path, order: str) -> FastAPI:
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> str:
        request.session["basket"] = ["tea"]
        return (
            "<!doctype html><html lang='en'><head><title>Shop</title></head><body><main>"
            "<h1>Tea shop</h1>"
            + "<p>Green, black and white tea.</p>" * 20
            + "</main></body></html>"
        )

    config = ConsentConfig(
        secret_keys=["fastapi-shop-secret-0123456789abcdefghij"],
        storage=f"sqlite:///{db}",
        categories=[
            Category(key="necessary", label="Strictly necessary", required=True),
            Category(
                key="personalization",
                label="Personalization",
                description="Remembers your basket.",
                cookies=[Cookie(name="basket_session", purpose="Basket", duration="2 weeks")],
            ),
        ],
    )
    session = {"secret_key": "shop-session-secret", "session_cookie": "basket_session"}
    if order == "consent-first":
        install(app, config)
        app.add_middleware(SessionMiddleware, **session)
        app.add_middleware(GZipMiddleware)
    else:
        app.add_middleware(GZipMiddleware)
        app.add_middleware(SessionMiddleware, **session)
        install(app, config)
    return app


@pytest.mark.parametrize("order", ["consent-first", "consent-last"])
def test_fastapi_session_cookie_only_after_accept(browser: Any, tmp_path: Path, order: str) -> None:
    with serve(shop(tmp_path / "consent.db", order)) as url:
        context = browser.new_context(base_url=url)
        context.set_default_timeout(5000)
        try:
            page = context.new_page()
            page.goto("/")
            page.locator("#consentkit-banner").wait_for()
            assert names(context) == set()
            page.get_by_role("button", name="Reject all").click()
            page.locator("#consentkit-banner").wait_for(state="detached")
            page.reload()
            assert names(context) == {"consentkit"}
            # Accept all from the snippet's API (this page has no settings link).
            page.evaluate("() => window.consentkit.decide('accept_all', undefined, 'api')")
            page.reload()
            assert names(context) == {"consentkit", "basket_session"}
        finally:
            context.close()
