"""A gzip page (GZipMiddleware inside consentkit) in Chromium: the banner shows and works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integrations.compressed_sites import starlette_app
from tests.live import serve

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def gzip_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db: Path = tmp_path_factory.mktemp("compressed") / "consent.db"
    with serve(starlette_app(db)) as url:
        yield url


def test_banner_visible_and_clickable_on_a_gzip_page(browser: Any, gzip_site: str) -> None:
    context = browser.new_context(base_url=gzip_site, locale="en-US")
    context.set_default_timeout(5000)
    try:
        page = context.new_page()
        assets: dict[str, str | None] = {}
        page.on(
            "response",
            lambda r: (
                assets.__setitem__(r.url.rsplit(".", 1)[-1], r.headers.get("content-encoding"))
                if "/consent/consentkit." in r.url
                else None
            ),
        )
        response = page.goto("/")
        assert response is not None
        assert response.headers["content-encoding"] == "gzip"
        banner = page.locator("#consentkit-banner")
        banner.wait_for()
        assert banner.is_visible()
        # The snippet's files come precompressed, br as Chromium asks. The stylesheet is
        # loaded only when the preferences open: fetch it as the snippet would.
        page.wait_for_function("document.getElementById('consentkit-js') !== null")
        page.wait_for_function("window.consentkit !== undefined")
        assert assets == {"js": "br"}
        with page.expect_response(lambda r: r.url.endswith(".css")) as css:
            page.evaluate("fetch(document.getElementById('consentkit-js').dataset.css)")
        assert css.value.headers.get("content-encoding") == "br"
        page.get_by_role("button", name="Accept all").click()
        banner.wait_for(state="hidden")
        state = page.evaluate("fetch('/consent').then(r => r.json())")
        assert state["decided"] is True and "analytics" in state["granted"]
        # The next gzip page knows the decision: snippet, no banner.
        page.goto("/streamed")
        assert page.locator("#consentkit-js").count() == 1
        assert page.locator("#consentkit-banner").count() == 0
    finally:
        context.close()
