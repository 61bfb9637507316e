"""axe-core finds no WCAG 2.1 A/AA violation; screenshots for the docs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"


def describe(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {v['targets']}" for v in violations
    )


@pytest.mark.parametrize("locale", ["en-US", "ar"])
def test_banner_has_no_violations(
    make_context: Callable[..., Any], axe: Callable[..., list[dict[str, Any]]], locale: str
) -> None:
    context = make_context(locale=locale, extra_http_headers={"Accept-Language": locale})
    page = context.new_page()
    page.goto("/")
    page.locator("#consentkit-banner").wait_for()
    violations = axe(page)
    assert not violations, describe(violations)


def test_open_dialog_has_no_violations(
    make_context: Callable[..., Any], axe: Callable[..., list[dict[str, Any]]]
) -> None:
    page = make_context().new_page()
    page.goto("/")
    page.get_by_text("Customize").click()
    page.get_by_role("dialog").wait_for()
    page.get_by_role("switch", name="Analytics").check()
    violations = axe(page)
    assert not violations, describe(violations)


@pytest.mark.parametrize("decided", [False, True])
def test_privacy_page_has_no_violations(
    make_context: Callable[..., Any], axe: Callable[..., list[dict[str, Any]]], decided: bool
) -> None:
    page = make_context().new_page()
    if decided:
        page.goto("/")
        page.get_by_role("button", name="Accept all").click()
        page.locator("#consentkit-banner").wait_for(state="detached")
    page.goto("/privacy")
    violations = axe(page)
    assert not violations, describe(violations)


def test_screenshots(make_context: Callable[..., Any]) -> None:
    """Keeps docs/images/banner.png and preferences.png up to date."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    context = make_context(viewport={"width": 1100, "height": 720}, device_scale_factor=1)
    page = context.new_page()
    page.goto("/")
    page.locator("#consentkit-banner").wait_for()
    page.evaluate("document.activeElement.blur()")
    page.screenshot(path=str(IMAGES / "banner.png"), animations="disabled")
    page.get_by_text("Customize").click()
    page.get_by_role("dialog").wait_for()
    page.get_by_role("switch", name="Analytics").check()
    page.evaluate("document.activeElement.blur()")
    page.screenshot(path=str(IMAGES / "preferences.png"), animations="disabled")
    assert (IMAGES / "banner.png").stat().st_size > 1000
