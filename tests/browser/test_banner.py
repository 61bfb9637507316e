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
    page.wait_for_function(
        "document.activeElement && document.activeElement.id === 'consentkit-banner'"
    )
    assert cookie_names(context) == NECESSARY
    assert page.evaluate("window.ckAnalytics") is None
    # A script of a required category runs at once, after the Consent Mode default.
    assert page.evaluate("window.ckFirstInLayer") == "consent default"
    # Google Consent Mode: the default comes first, everything optional denied.
    first = page.evaluate("Array.from(window.dataLayer[0])")
    assert first[0:2] == ["consent", "default"]
    assert first[2] == {
        "analytics_storage": "denied",
        "ad_storage": "denied",
        "ad_user_data": "denied",
        "ad_personalization": "denied",
    }


def state(page: Any) -> dict[str, Any]:
    """The visitor's state as the consent API reports it."""
    result: dict[str, Any] = page.evaluate(
        "fetch('/consent', {headers: {Accept: 'application/json'}}).then(r => r.json())"
    )
    return result


def test_reject_all_sets_no_optional_cookie_and_runs_no_gated_script(
    make_context: Callable[..., Any],
) -> None:
    context = make_context()
    page = context.new_page()
    page.goto("/")
    page.get_by_role("button", name="Reject all").click()
    page.locator("#consentkit-banner").wait_for(state="detached")
    events = page.evaluate("window.ckEvents")
    assert len(events) == 1 and events[0]["granted"] == ["necessary"]
    assert state(page)["decided"] is True
    page.goto("/other")
    assert page.locator("#consentkit-banner").count() == 0
    assert page.evaluate("[window.ckAnalytics, window.ckMarketing]") == [None, None]
    assert cookie_names(context) == NECESSARY | {"consentkit"}
    update = page.evaluate("Array.from(window.dataLayer[1])")
    assert update[:2] == ["consent", "update"] and update[2]["analytics_storage"] == "denied"


def test_accept_all_runs_gated_scripts_exactly_once(make_context: Callable[..., Any]) -> None:
    context = make_context()
    page = context.new_page()
    page.goto("/")
    page.get_by_role("button", name="Accept all").click()
    page.wait_for_function("window.ckAnalytics === 1 && window.ckMarketing === 1")
    assert page.locator("#consentkit-banner").count() == 0
    # Deciding again activates nothing twice.
    page.evaluate("window.consentkit.decide('accept_all', undefined, 'api')")
    page.wait_for_function("window.ckEvents.length === 2")
    page.wait_for_timeout(200)
    assert page.evaluate("[window.ckAnalytics, window.ckMarketing]") == [1, 1]
    last = page.evaluate("Array.from(window.dataLayer[window.dataLayer.length - 1])")
    assert last[:2] == ["consent", "update"]
    assert set(last[2].values()) == {"granted"}
    # The next page: server-side cookies too, scripts once more (once per page).
    page.goto("/other")
    page.wait_for_function("window.ckAnalytics === 1 && window.ckMarketing === 1")
    assert cookie_names(context) == NECESSARY | ANALYTICS | MARKETING | {"consentkit"}
    layer = page.evaluate("window.dataLayer.map(a => Array.from(a).slice(0, 2).join(' '))")
    assert layer[:2] == ["consent default", "consent update"]


def test_customize_records_exactly_the_chosen_categories(make_context: Callable[..., Any]) -> None:
    context = make_context()
    page = context.new_page()
    page.goto("/")
    page.get_by_text("Customize").click()
    dialog = page.get_by_role("dialog", name="Privacy preferences")
    dialog.wait_for()
    # Focus moved into the dialog; required locked on; nothing optional pre-ticked.
    assert page.evaluate("!!document.activeElement.closest('dialog')")
    necessary = dialog.get_by_role("switch", name="Strictly necessary")
    assert necessary.is_checked() and necessary.is_disabled()
    analytics = dialog.get_by_role("switch", name="Analytics")
    marketing = dialog.get_by_role("switch", name="Marketing")
    assert not analytics.is_checked() and not marketing.is_checked()
    analytics.check()
    dialog.get_by_role("button", name="Save choices").click()
    dialog.wait_for(state="hidden")
    page.wait_for_function("window.ckAnalytics === 1")
    assert page.evaluate("window.ckMarketing") is None
    assert state(page)["granted"] == ["analytics", "necessary"]
    page.reload()
    names = cookie_names(context)
    assert "_ga_demo" in names and not names & MARKETING


def test_reopen_escape_records_nothing_and_withdraw_removes_cookies(
    make_context: Callable[..., Any],
) -> None:
    context = make_context()
    page = context.new_page()
    page.goto("/")
    page.get_by_role("button", name="Accept all").click()
    page.wait_for_function("window.ckAnalytics === 1")
    page.goto("/other")
    assert cookie_names(context) >= ANALYTICS
    before = state(page)

    # Reopen from any element (here the site's own link, not consentkit's reopen button);
    # Escape closes, records nothing, gives focus back.
    link = page.get_by_role("main").get_by_role("link", name="Cookie settings")
    link.click()
    dialog = page.get_by_role("dialog", name="Privacy preferences")
    dialog.wait_for()
    assert dialog.get_by_role("switch", name="Analytics").is_checked()
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.textContent") == "Cookie settings"
    assert state(page) == before
    # The close button records nothing either.
    link.click()
    dialog.wait_for()
    dialog.get_by_role("button", name="Close").click()
    dialog.wait_for(state="hidden")
    assert state(page) == before

    # Withdraw analytics in the dialog: its cookies are gone.
    link.click()
    dialog.wait_for()
    dialog.get_by_role("switch", name="Analytics").uncheck()
    dialog.get_by_role("button", name="Save choices").click()
    dialog.wait_for(state="hidden")
    names = cookie_names(context)
    assert not names & ANALYTICS, names
    assert names >= MARKETING
    assert state(page)["granted"] == ["marketing", "necessary"]

    # Withdraw everything on the privacy page: back to undecided, banner again.
    page.goto("/privacy")
    assert before["consent_id"] in page.content()
    page.get_by_role("button", name="Withdraw consent").click()
    page.wait_for_url("**/privacy")
    assert not cookie_names(context) & (ANALYTICS | MARKETING)
    page.goto("/")
    page.locator("#consentkit-banner").wait_for()


def test_keyboard_only_from_first_tab_to_saved_decision(make_context: Callable[..., Any]) -> None:
    context = make_context()
    page = context.new_page()
    page.goto("/")
    page.wait_for_function("document.activeElement.id === 'consentkit-banner'")

    def tab_to(text: str, limit: int = 15) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent.trim()") == text:
                return
        raise AssertionError(f"never reached {text!r} with Tab")

    tab_to("Customize")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Privacy preferences")
    dialog.wait_for()
    # Focus starts on the first switch that can change: analytics.
    assert page.evaluate("document.activeElement.value") == "analytics"
    page.keyboard.press("Space")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Save choices":
            break
    page.keyboard.press("Enter")
    dialog.wait_for(state="hidden")
    page.wait_for_function("window.ckAnalytics === 1")
    assert state(page)["granted"] == ["analytics", "necessary"]


@pytest.mark.parametrize(
    ("button", "granted"),
    [
        ("Reject all", set()),
        ("Accept all", ANALYTICS - {"ck_js_analytics"} | {"ads_id"}),
    ],
)
def test_without_javascript_the_first_layer_forms_work(
    make_context: Callable[..., Any], button: str, granted: set[str]
) -> None:
    context = make_context(java_script_enabled=False)
    page = context.new_page()
    page.goto("/other?x=1")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name=button).click()
    assert posted.value.status == 303
    assert posted.value.headers["location"] == "/other?x=1"
    page.wait_for_url("**/other?x=1")
    assert page.locator("#consentkit-banner").count() == 0
    assert cookie_names(context) == NECESSARY | {"consentkit"} | granted


def test_without_javascript_customize_works(make_context: Callable[..., Any]) -> None:
    context = make_context(java_script_enabled=False)
    page = context.new_page()
    page.goto("/")
    page.get_by_text("Customize").click()
    page.get_by_role("switch", name="Marketing").check()
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Save choices").click()
    assert posted.value.status == 303
    page.wait_for_url("**/")
    assert page.locator("#consentkit-banner").count() == 0
    assert cookie_names(context) == NECESSARY | {"consentkit", "ads_id"}


def test_hebrew_is_right_to_left(make_context: Callable[..., Any]) -> None:
    context = make_context(locale="he-IL", extra_http_headers={"Accept-Language": "he"})
    page = context.new_page()
    page.goto("/")
    banner = page.locator("#consentkit-banner")
    assert banner.get_attribute("dir") == "rtl" and banner.get_attribute("lang") == "he"
    assert banner.evaluate("el => getComputedStyle(el).direction") == "rtl"
    page.get_by_role("button", name="אישור הכול").wait_for()
    page.get_by_text("התאמה אישית").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    assert dialog.get_attribute("dir") == "rtl"


def test_strict_csp_needs_no_inline_script(make_context: Callable[..., Any]) -> None:
    context = make_context()
    page = context.new_page()
    page.add_init_script(
        "window.cspViolations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    page.goto("/csp")
    page.get_by_role("button", name="Accept all").click()
    # wait_for_function would need 'unsafe-eval': poll from outside instead.
    for _ in range(100):
        if page.evaluate("[window.ckAnalytics, window.ckMarketing]") == [1, 1]:
            break
        page.wait_for_timeout(50)
    assert page.evaluate("[window.ckAnalytics, window.ckMarketing]") == [1, 1]
    page.get_by_role("link", name="Cookie settings").click()
    page.get_by_role("dialog").wait_for()
    assert page.evaluate("window.cspViolations") == []


def test_privacy_page_shows_choices_and_cookie_tables(make_context: Callable[..., Any]) -> None:
    context = make_context()
    page = context.new_page()
    page.goto("/privacy")
    assert page.get_by_role("heading", name="Privacy Overview", level=1).is_visible()
    assert page.get_by_text("You have not made a choice yet.").is_visible()
    table = page.get_by_role("table", name="Cookies: Analytics")
    assert table.get_by_role("cell", name="Google").is_visible()
    page.get_by_role("switch", name="Analytics").check()
    page.get_by_role("button", name="Save choices").click()
    page.wait_for_url("**/privacy")
    assert page.get_by_role("switch", name="Analytics").is_checked()
    assert not page.get_by_role("switch", name="Marketing").is_checked()
    assert page.get_by_text("Your consent id").is_visible()


def test_a_decision_whose_answer_is_lost_is_recorded_once(
    make_context: Callable[..., Any],
) -> None:
    """The fetch's answer is lost after the server recorded it; the form posts the same id."""
    context = make_context()
    page = context.new_page()
    page.goto("/")
    form_id = page.locator("#consentkit-banner input[name=decision_id]").first.input_value()
    committed: dict[str, Any] = {}

    def lose_the_answer(route: Any) -> None:
        if route.request.method != "POST" or route.request.resource_type != "fetch":
            route.continue_()
            return
        response = route.fetch()  # the decision reaches the server and is recorded
        committed.update(sent=route.request.post_data_json, answer=response.json())
        route.abort()  # but the page never gets the answer (nor its cookie)

    page.route("**/consent", lose_the_answer)
    with (
        page.expect_navigation(wait_until="load"),
        page.expect_response(lambda r: r.request.method == "POST" and r.status == 303),
    ):
        page.get_by_role("button", name="Accept all").click()
    assert committed["sent"]["decision_id"] == form_id
    # The native form's retry got the stored answer: the same consent id, not a new one.
    assert state(page)["consent_id"] == committed["answer"]["consent_id"]
    assert state(page)["granted"] == ["analytics", "marketing", "necessary"]


def test_the_dialog_sends_a_fresh_decision_id_each_time(
    make_context: Callable[..., Any],
) -> None:
    context = make_context()
    page = context.new_page()
    page.goto("/")
    sent: list[str] = []
    page.on(
        "request",
        lambda r: (
            sent.append(r.post_data_json["decision_id"])
            if r.method == "POST" and r.resource_type == "fetch"
            else None
        ),
    )
    for action in ("accept_all", "reject_all"):
        page.evaluate(f"window.consentkit.decide('{action}', undefined, 'api')")
    page.wait_for_function("window.ckEvents && window.ckEvents.length === 2")
    assert len(sent) == 2 and sent[0] != sent[1]
    assert all(len(value) == 44 and value.isdigit() for value in sent)
