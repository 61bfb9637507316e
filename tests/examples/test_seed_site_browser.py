"""The demo site in Debian's Chromium: banner, a decision, the gated video, privacy, dashboard."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from examples.seed_site.__main__ import startup_message
from examples.seed_site.app import create_app

from tests.live import serve

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_violations(page: Any) -> list[Any]:
    """WCAG 2.1 A/AA violations axe-core finds on the page (needs ``npm ci``)."""
    page.add_script_tag(path=str(AXE))
    found: list[Any] = page.evaluate(
        """async (tags) => (await axe.run(document, {runOnly: {type: "tag", values: tags}}))
            .violations.map(v => [v.id, v.nodes.map(n => n.target.join(" "))])""",
        WCAG,
    )
    return found


pytestmark = pytest.mark.browser


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium, or `make browser`)"
    if not AXE.exists():
        return f"{AXE} is missing (npm ci)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(autouse=True)
def _browser_tools() -> None:
    reason = _missing()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser test cannot run on CI: {reason}")
        pytest.skip(reason)


def test_demo_in_a_browser(browser: Any, tmp_path: Path) -> None:
    demo = create_app(storage=f"sqlite:///{tmp_path}/demo.db")
    with serve(demo.app) as base:
        printed = startup_message(demo, base)
        user, password = re.search(r"user: (\S+)\s+password: (\S+)", printed).groups()  # type: ignore[union-attr]

        context = browser.new_context(base_url=base, locale="en-GB")
        context.set_default_timeout(5000)
        page = context.new_page()
        page.goto("/")
        assert page.get_by_role("heading", level=1).inner_text().startswith("2025 Annual Report")
        banner = page.get_by_role("button", name="Accept all")
        assert banner.is_visible()
        assert page.get_by_role("button", name="Reject all").is_visible()
        assert page.locator(".ck-ph").is_visible()  # auto_block's placeholder for the video
        assert page.locator(".video-frame iframe").is_hidden()
        assert axe_violations(page) == []  # the site's own pages, with the banner showing

        banner.click()
        # Marketing granted: the snippet loads the frame from the "video service" in place.
        player = page.frame_locator(".video-frame iframe").locator(".player .play")
        player.wait_for()
        assert page.locator(".ck-ph").count() == 0
        assert not page.get_by_role("button", name="Accept all").is_visible()
        cookies = {c["name"]: c for c in context.cookies()}
        # The analytics tag from the config ran on the grant, without a reload: one page view.
        page.wait_for_function(
            "() => window.demoTag && window.demoTag.seen && window.demoTag.seen.length === 1"
        )
        cookies = {c["name"]: c for c in context.cookies()}
        assert cookies["consentkit"]["httpOnly"]
        assert cookies["demo_tag"]["value"] == "1"

        page.goto("/reports/ai-pulse")
        assert page.get_by_role("button", name="Accept all").count() == 0

        page.goto("/privacy")
        body = page.locator("body").inner_text()
        assert "recognizing you when you return to our website" in body
        assert "Marketing" in body
        context.close()

        stranger = browser.new_context(
            base_url=base, http_credentials={"username": user, "password": "wrong-password"}
        )
        refused = stranger.new_page().goto("/consent/dashboard")
        assert refused is not None and refused.status == 401
        stranger.close()

        admin = browser.new_context(
            base_url=base, http_credentials={"username": user, "password": password}
        )
        dash = admin.new_page()
        response = dash.goto("/consent/dashboard")
        assert response is not None and response.status == 200
        assert dash.locator("svg").count() >= 1
        admin.close()


def test_hebrew_switcher_in_a_browser(browser: Any, tmp_path: Path) -> None:
    demo = create_app(storage=f"sqlite:///{tmp_path}/demo.db")
    with serve(demo.app) as base:
        context = browser.new_context(base_url=base, locale="en-GB")
        context.set_default_timeout(5000)
        page = context.new_page()
        page.goto("/events/paris")
        page.get_by_role("link", name="עברית").click()
        page.wait_for_url("**/events/paris")
        assert page.locator("html").get_attribute("dir") == "rtl"
        assert page.get_by_role("button", name="Reject all").count() == 0  # banner in Hebrew
        assert page.get_by_text("ניתוח נתונים").count() >= 1
        assert axe_violations(page) == []
        context.close()
