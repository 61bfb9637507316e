"""Consent regimes in Chromium: the opt-out link and page with and without JavaScript,
GPC under ``us_opt_out``, and the notice's dismiss.

The demo site's marketing category sells or shares (``sale_or_share``); its
script sets ``window.ckMarketing`` and the page sets ``ads_id`` when it may.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.browser.conftest import build_app
from tests.live import serve

pytestmark = pytest.mark.browser

LINK = "Do Not Sell or Share My Personal Information"


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The demo site under ``us_opt_out`` and under ``notice``: regime -> base URL."""
    folder = tmp_path_factory.mktemp("regimes")
    with (
        serve(build_app(folder / "us.db", "us_opt_out")) as us,
        serve(build_app(folder / "notice.db", "notice")) as notice,
    ):
        yield {"us_opt_out": us, "notice": notice}


@pytest.fixture
def visit(browser: Any, sites: dict[str, str]) -> Iterator[Callable[..., Any]]:
    """``visit(regime, **options)``: a fresh page (own cookies) on that regime's site."""
    contexts: list[Any] = []

    def make(regime: str, **options: Any) -> Any:
        context = browser.new_context(base_url=sites[regime], locale="en-US", **options)
        context.set_default_timeout(5000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def cookie_names(page: Any) -> set[str]:
    return {cookie["name"] for cookie in page.context.cookies()}


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_opt_out_link_and_page(visit: Callable[..., Any], javascript: bool) -> None:
    page = visit("us_opt_out", java_script_enabled=javascript)
    page.goto("/")
    # Before any choice everything runs, and there is no opt-in banner.
    assert page.locator("#consentkit-banner").count() == 0
    assert {"ads_id", "_ga_demo"} <= cookie_names(page)
    if javascript:
        page.wait_for_function("window.ckMarketing === 1")
    link = page.get_by_role("link", name=LINK)
    assert link.is_visible()
    link.click()
    page.wait_for_url("**/consent/opt-out")
    assert page.get_by_role("heading", level=1).inner_text() == LINK
    page.get_by_role("button", name="Opt out").click()
    page.wait_for_url("**/consent/opt-out")
    assert page.locator("#ck-opted-out").inner_text() == (
        "You have opted out of the sale and sharing of your personal information."
    )
    assert page.get_by_role("button", name="Opt out").count() == 0
    page.goto("/")
    # Marketing is off and its cookie gone; analytics (not sold or shared) stays on.
    assert "ads_id" not in cookie_names(page) and "_ga_demo" in cookie_names(page)
    if javascript:
        page.wait_for_function("window.ckAnalytics === 1")
        assert page.evaluate("window.ckMarketing") is None
    assert page.get_by_role("link", name=LINK).is_visible()  # persistent


def test_gpc_is_honored_and_said_so(visit: Callable[..., Any]) -> None:
    page = visit("us_opt_out", extra_http_headers={"Sec-GPC": "1"})
    page.goto("/")
    # The necessary script runs once the snippet has activated what is granted.
    page.wait_for_function("window.ckFirstInLayer !== undefined")
    # GPC turns off marketing (sold or shared) and analytics (gpc_opt_out) alike.
    assert page.evaluate("[window.ckMarketing, window.ckAnalytics]") == [None, None]
    assert page.evaluate("window.consentkit.allows('marketing')") is False
    assert not {"ads_id", "_ga_demo"} & cookie_names(page)
    page.get_by_role("link", name=LINK).click()
    page.wait_for_url("**/consent/opt-out")
    assert page.locator("#ck-gpc-honored").inner_text() == "Opt-Out Preference Signal Honored"
    assert page.locator("#ck-opted-out").is_visible()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_notice_informs_and_is_dismissed(visit: Callable[..., Any], javascript: bool) -> None:
    page = visit("notice", java_script_enabled=javascript)
    page.goto("/other")
    notice = page.locator("#consentkit-banner")
    assert notice.is_visible()
    assert "recognise returning visitors" in notice.inner_text()
    assert page.get_by_role("button", name="Accept all").count() == 0
    # Nothing waits for the notice.
    assert {"ads_id", "_ga_demo"} <= cookie_names(page)
    if javascript:
        page.wait_for_function("window.ckMarketing === 1 && window.ckAnalytics === 1")
    page.get_by_role("button", name="Got it").click()
    if javascript:
        notice.wait_for(state="detached")
    else:
        page.wait_for_url("**/other")
    page.reload()
    assert page.locator("#consentkit-banner").count() == 0
    assert "consentkit" in cookie_names(page)


def test_opt_out_page_link_and_notice_are_accessible(
    visit: Callable[..., Any], axe: Callable[..., list[dict[str, Any]]]
) -> None:
    page = visit("us_opt_out")
    page.goto("/")
    assert axe(page, "#consentkit-opt-out") == []
    page.goto("/consent/opt-out")
    assert axe(page) == []
    page = visit("notice")
    page.goto("/")
    page.locator("#consentkit-banner").wait_for()
    assert axe(page, "#consentkit-banner") == []
