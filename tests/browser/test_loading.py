"""The banner shifts nothing and blocks no rendering (the timings: benchmarks/bench_frontend.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser.conftest import build_app
from tests.live import serve

pytestmark = pytest.mark.browser

#: The snippet's script arrives this long after it is asked for.
SCRIPT_DELAY = 0.8

SHIFTS = """
window.ckShifts = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    window.ckShifts.push({value: e.value, nodes: e.sources.map((s) => s.node && s.node.nodeName)});
  }
}).observe({type: 'layout-shift', buffered: true});
"""


class SlowNetwork:
    """Sends an HTML page in two parts with a pause inside the banner (a frame gets painted
    with half a banner), and the snippet's script late."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].endswith(".js") and "/consent/consentkit." in scope["path"]:
            await asyncio.sleep(SCRIPT_DELAY)
            await self.app(scope, receive, send)
            return

        async def split(message: Any) -> None:
            body = message.get("body", b"")
            cut = body.find(b'<details class="ck-more"')
            if message["type"] != "http.response.body" or cut < 0:
                await send(message)
                return
            more = message.get("more_body", False)
            await send({"type": "http.response.body", "body": body[:cut], "more_body": True})
            await asyncio.sleep(0.4)
            await send({"type": "http.response.body", "body": body[cut:], "more_body": more})

        await self.app(scope, receive, split)


@pytest.fixture(scope="module")
def slow_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(SlowNetwork(build_app(tmp_path_factory.mktemp("loading") / "c.db"))) as url:
        yield url


def test_banner_and_dialog_never_shift_the_page(
    make_context: Callable[..., Any], slow_site: str
) -> None:
    context = make_context(base_url=slow_site, viewport={"width": 360, "height": 640})
    page = context.new_page()
    page.add_init_script(SHIFTS)
    page.goto("/")
    banner = page.locator("#consentkit-banner")
    banner.get_by_role("button", name="Accept all").wait_for()
    assert banner.evaluate("el => getComputedStyle(el).position") == "fixed"
    page.wait_for_function("window.consentkit")
    banner.get_by_text("Customize").click()
    dialog = page.get_by_role("dialog", name="Privacy preferences")
    dialog.wait_for()
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    banner.get_by_role("button", name="Accept all").click()
    banner.wait_for(state="detached")
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 100)))")
    # Every shift counts here, even those right after a click (CLS would leave them out).
    assert page.evaluate("window.ckShifts") == []


def test_nothing_consentkit_adds_blocks_the_first_paint(
    make_context: Callable[..., Any], slow_site: str
) -> None:
    page = make_context(base_url=slow_site).new_page()
    page.goto("/", wait_until="commit")
    page.wait_for_function("window.consentkit")
    script = page.locator("#consentkit-js")
    assert script.evaluate("s => s.defer && !s.async && s.parentElement === document.body")
    # The banner's styles came with the page: no stylesheet of ours was asked for.
    assert page.evaluate("document.querySelectorAll('link[rel=stylesheet]').length") == 0
    banner = page.locator("#consentkit-banner")
    assert banner.evaluate("el => getComputedStyle(el).position") == "fixed"
    assert banner.evaluate("el => getComputedStyle(el).opacity") == "1"
    timing = page.evaluate(
        """() => ({
            paint: performance.getEntriesByName('first-contentful-paint')[0].startTime,
            ours: performance.getEntriesByType('resource')
                .filter((r) => r.name.includes('/consent/consentkit.'))
                .map((r) => [r.initiatorType, r.renderBlockingStatus, r.responseEnd]),
        })"""
    )
    [(kind, blocking, arrived)] = timing["ours"]
    assert (kind, blocking) == ("script", "non-blocking")
    # The page was painted before the script had even arrived.
    assert timing["paint"] < arrived
    # The whole stylesheet loads when the preferences first open, before they show.
    banner.get_by_text("Customize").click()
    dialog = page.get_by_role("dialog", name="Privacy preferences")
    dialog.wait_for()
    assert dialog.evaluate("d => getComputedStyle(d).borderTopLeftRadius") == "16px"
    links = page.evaluate(
        "[...document.querySelectorAll('link[rel=stylesheet]')].map((l) => l.parentNode.nodeName)"
    )
    assert links == ["HEAD"]


def test_without_javascript_the_banner_is_styled(
    make_context: Callable[..., Any], slow_site: str
) -> None:
    page = make_context(base_url=slow_site, java_script_enabled=False).new_page()
    page.goto("/")
    banner = page.locator("#consentkit-banner")
    assert banner.evaluate("el => getComputedStyle(el).position") == "fixed"
    assert banner.evaluate("el => getComputedStyle(el).opacity") == "1"
    assert page.evaluate("document.activeElement.id") == "consentkit-banner"
