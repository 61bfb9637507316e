"""The reopen button in Chromium, on the demo site's pages: accessible, reachable, out of the way.

After a decision consentkit puts a "Cookie settings" link at the end of every page; with
JavaScript it opens the preferences dialog, without it leads to the privacy page. On a
360 px screen it sits in the page's flow after the content, so it covers none of the
page's own controls; from 48em it floats in a corner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from examples.seed_site.app import create_app

from tests.live import serve

pytestmark = pytest.mark.browser

PAGES = ("/", "/news", "/reports", "/programs", "/events", "/about", "/reports/ai-pulse")
PHONE = {"width": 360, "height": 640}
#: The page's own controls: everything a visitor can press or type in, except consentkit's.
OVERLAPS = """() => {
  const mine = document.querySelector('.ck-reopen').getBoundingClientRect();
  const hit = [];
  for (const el of document.querySelectorAll('a, button, input, select, textarea, summary')) {
    if (el.closest('.ck-reopen, #consentkit-banner, dialog')) continue;
    for (const r of el.getClientRects()) {
      if (r.width === 0 || r.height === 0) continue;
      if (r.left < mine.right && mine.left < r.right && r.top < mine.bottom && mine.top < r.bottom)
        hit.push(el.outerHTML.slice(0, 80));
    }
  }
  return hit;
}"""


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    demo = create_app(storage=f"sqlite:///{tmp_path_factory.mktemp('reopen') / 'demo.db'}")
    with serve(demo.app) as url:
        yield url


@pytest.fixture
def decided(browser: Any, demo_url: str) -> Iterator[Callable[..., Any]]:
    """``decided(**context_options)``: a page of a visitor who has just rejected all."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        options.setdefault("locale", "en-GB")
        context = browser.new_context(base_url=demo_url, **options)
        context.set_default_timeout(5000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/")
        assert page.locator(".ck-reopen").count() == 0, "a reopen button before a decision"
        page.locator("#consentkit-banner button[value=reject_all]").click()
        if options.get("java_script_enabled", True):
            page.locator("#consentkit-banner").wait_for(state="detached")
        else:
            page.wait_for_url("**/")
        page.reload()
        return page

    yield make
    for context in contexts:
        context.close()


def test_absent_before_a_decision(browser: Any, demo_url: str) -> None:
    context = browser.new_context(base_url=demo_url)
    page = context.new_page()
    for path in PAGES[:3]:
        page.goto(path)
        page.locator("#consentkit-banner").wait_for()
        assert page.locator(".ck-reopen").count() == 0
    context.close()


def test_no_axe_violations(decided: Callable[..., Any], axe: Callable[..., Any]) -> None:
    for viewport in (PHONE, {"width": 1280, "height": 800}):
        page = decided(viewport=viewport)
        link = page.get_by_role("link", name="Cookie settings").last
        assert link.evaluate("e => e.classList.contains('ck-reopen')")
        assert axe(page) == []
        assert axe(page, ".ck-reopen") == []


def test_last_in_focus_order_and_opens_the_dialog(decided: Callable[..., Any]) -> None:
    page = decided(viewport={"width": 1280, "height": 800})
    order: list[str] = []
    for _ in range(60):
        page.keyboard.press("Tab")
        order.append(
            page.evaluate("document.activeElement.className + '|' + document.activeElement.tagName")
        )
        if order[-1].startswith("ck-reopen"):
            break
    assert order[-1] == "ck-reopen|A", order
    # The page's own controls came first, every one of them.
    controls = page.evaluate(
        "document.querySelectorAll('main a, main button, header a, footer a').length"
    )
    assert len(order) - 1 >= controls
    # Nothing of the page's comes after it.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement === document.body")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.className") == "ck-reopen"
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    assert page.evaluate("document.activeElement.closest('dialog') !== null")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.className") == "ck-reopen"


def test_floats_in_a_corner_on_wide_screens(decided: Callable[..., Any]) -> None:
    page = decided(viewport={"width": 1280, "height": 800})
    box = page.locator(".ck-reopen").bounding_box()
    assert box is not None
    assert page.locator(".ck-reopen").evaluate("e => getComputedStyle(e).position") == "fixed"
    assert box["x"] + box["width"] <= 1280 - 8 and box["y"] + box["height"] <= 800 - 8
    assert box["x"] > 1280 / 2 and box["y"] > 800 / 2


@pytest.mark.parametrize("path", PAGES)
def test_covers_nothing_on_a_360_px_screen(decided: Callable[..., Any], path: str) -> None:
    page = decided(viewport=PHONE)
    page.goto(path)
    link = page.locator(".ck-reopen")
    link.wait_for()
    assert link.evaluate("e => getComputedStyle(e).position") == "static"
    assert page.evaluate(OVERLAPS) == []
    # Also scrolled to the end, where it shows.
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    assert link.is_visible() and page.evaluate(OVERLAPS) == []
    box = link.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360


def test_without_javascript_it_is_a_link_to_the_privacy_page(
    decided: Callable[..., Any],
) -> None:
    page = decided(java_script_enabled=False)
    page.locator(".ck-reopen").click()
    page.wait_for_url("**/privacy")
    assert page.get_by_role("heading", level=1).count() == 1


def test_label_and_side_in_the_visitors_language(
    decided: Callable[..., Any], axe: Callable[..., Any]
) -> None:
    page = decided(locale="ar", extra_http_headers={"Accept-Language": "ar"})
    link = page.locator(".ck-reopen")
    assert link.inner_text() == "إعدادات ملفات تعريف الارتباط"
    assert link.get_attribute("lang") == "ar" and link.get_attribute("dir") == "rtl"
    assert axe(page) == []
