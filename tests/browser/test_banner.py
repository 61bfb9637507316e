"""The banner, the preferences dialog and the snippet in a real Chromium."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytestmark = pytest.mark.browser

NECESSARY = {"session"}
ANALYTICS = {"_ga_demo", "ck_js_analytics"}
MARKETING = {"ads_id", "ck_js_marketing"}


def cookie_names(context: Any) -> set[str]:
    return {c["name"] for c in context.cookies()}


def test_first_visit_shows_banner_with_focus_and_only_necessary_cookies(
    make_context: Callable[..., Any],
) -> None:
    context = make_context()
    page = context.new_page()
    page.goto("/")
    banner = page.locator("#consentkit-banner")
    banner.wait_for()
    assert banner.is_visible()
    page.wait_for_function("document.activeElement && document.activeElement.id === 'consentkit-banner'")
    assert cookie_names(context) == NECESSARY
    assert page.evaluate("window.ckAnalytics") is None
    # Google Consent Mode: the default comes first, everything optional denied.
    first = page.evaluate("Array.from(window.dataLayer[0])")
    assert first[0:2] == ["consent", "default"]
    assert first[2] == {
        "analytics_storage": "denied",
        "ad_storage": "denied",
        "ad_user_data": "denied",
        "ad_personalization": "denied",
    }
