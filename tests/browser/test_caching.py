"""The browser's own cache: a page stored under one choice is not reused after another.

The page says ``Cache-Control: public, max-age=600``; consentkit makes it
``private, max-age=600`` with ``Vary: Cookie``, so Chromium may keep it, but a
decision changes the consent cookie and with it the page Chromium shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.live import serve
from tests.test_caching import site

pytestmark = pytest.mark.browser


def test_a_decision_is_not_hidden_by_the_browser_cache(browser: Any, tmp_path: Path) -> None:
    with serve(site(tmp_path)) as url:
        context = browser.new_context(base_url=url)
        context.set_default_timeout(5000)
        try:
            page = context.new_page()
            page.goto("/public")
            page.locator("#consentkit-banner").wait_for()
            page.goto("/edge")
            page.goto("/public")  # stored and fresh: may come from the browser's cache
            assert page.locator("#consentkit-banner").count() == 1
            page.evaluate("() => window.consentkit.decide('accept_all', undefined, 'api')")
            page.goto("/edge")
            page.goto("/public")
            assert page.locator("#consentkit-banner").count() == 0
            script = page.locator("#consentkit-js")
            assert script.get_attribute("data-decided") == "1"
            assert script.get_attribute("data-granted") == "analytics necessary"
            page.evaluate("() => window.consentkit.decide('withdraw', undefined, 'api')")
            page.goto("/edge")
            page.goto("/public")
            assert page.locator("#consentkit-js").get_attribute("data-granted") != (
                "analytics necessary"
            )
        finally:
            context.close()
