"""Consent regimes through the HTTP API: what runs before and after a choice in each.

The regime comes from ``ConsentConfig.regions``; ``Region(match=["*"], ...)`` picks
it for every visitor. Marketing sells or shares (``sale_or_share``); analytics is
first-party and left on by GPC here (``gpc_opt_out=False``), so the two opt-outs
can be told apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from consentkit import ConsentConfig, ConsentMiddleware
from consentkit.regimes import RegimePolicy
from consentkit.regions import STRICTNESS, Jurisdiction, Region
from tests.conftest import ORIGIN, categories, log_rows, set_cookies, site

FORM = {"content-type": "application/x-www-form-urlencoded", **ORIGIN}
ALL = ["analytics", "marketing", "necessary"]
GPC = {"sec-gpc": "1"}
#: The consent cookie of consentkit 0.1 (four fields, no regime), for KEY, granting
#: analytics, made at 1_799_999_000 (see tests/test_consent.py).
COOKIE_0_1 = (
    "WyIxIixbImFuYWx5dGljcyJdLCJ2MDEtY29uc2VudC1pZC1BQUFBQUEiLDE3OTk5OTkwMDBd"
    ".a0nSAA.Qj7zArHXMEfZE_XV4igyrBT7_nS9DzeOGLevk3fYWd4"
)


def regime_categories() -> list[object]:
    cats = categories()
    cats[1] = cats[1].model_copy(update={"gpc_opt_out": False})
    cats[2] = cats[2].model_copy(update={"sale_or_share": True})
    return cats


MakeClient = Callable[[str], tuple[TestClient, ConsentConfig]]


@pytest.fixture
def make_client(make_config: Callable[..., ConsentConfig]) -> Iterator[MakeClient]:
    """``make_client(regime)``: a client of the test site where ``regime`` applies everywhere.

    Every client shares one log and one secret, so a cookie made under one
    regime can be carried to another.
    """
    clients: list[TestClient] = []

    def make(regime: str) -> tuple[TestClient, ConsentConfig]:
        config = make_config(
            categories=regime_categories(), regions=[Region(match=("*",), regime=regime)]
        )
        client = TestClient(ConsentMiddleware(site(), config=config))
        client.__enter__()
        clients.append(client)
        return client, config

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def page_cookies(client: TestClient, headers: dict[str, str] | None = None) -> set[str]:
    """The cookies the test page gets to set (it tries session, _ga_XYZ, ads, undeclared)."""
    return set(set_cookies(client.get("/", headers=headers))) - {"consentkit"}


# --- opt_in ----------------------------------------------------------------------------


def test_opt_in_runs_nothing_optional_before_a_choice(make_client: MakeClient) -> None:
    client, config = make_client("opt_in")
    assert page_cookies(client) == {"session", "undeclared"}
    html = client.get("/").text
    assert 'id="consentkit-banner"' in html and 'value="reject_all"' in html
    assert "consentkit-opt-out" not in html
    state = client.get("/consent").json()
    assert state["regime"] == "opt_in" and state["granted"] == ["necessary"]
    client.post("/consent", json={"action": "accept_all"}, headers=ORIGIN)
    assert page_cookies(client) == {"session", "undeclared", "_ga_XYZ", "ads"}
    assert "consentkit-banner" not in client.get("/").text
    (row,) = log_rows(config)
    assert (row["regime"], row["region"], row["region_source"]) == ("opt_in", None, "default")


# --- us_opt_out --------------------------------------------------------------------------


def test_us_opt_out_runs_everything_until_the_visitor_opts_out(
    make_client: MakeClient,
) -> None:
    client, config = make_client("us_opt_out")
    assert page_cookies(client) == {"session", "undeclared", "_ga_XYZ", "ads"}
    state = client.get("/consent").json()
    assert state["decided"] is False and state["granted"] == ALL
    assert state["regime"] == "us_opt_out" and state["region_source"] == "default"
    html = client.get("/").text
    # No opt-in banner: the persistent opt-out link instead, rendered on the server.
    assert "consentkit-banner" not in html
    link = re.search(r'<p id="consentkit-opt-out"[^>]*><a href="([^"]+)">([^<]+)</a></p>', html)
    assert link is not None
    assert link.groups() == ("/consent/opt-out", "Do Not Sell or Share My Personal Information")
    assert log_rows(config) == []


def test_opt_out_page_works_as_a_plain_form(make_client: MakeClient) -> None:
    client, config = make_client("us_opt_out")
    page = client.get("/consent/opt-out")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "<h1" in page.text and "Do Not Sell or Share My Personal Information" in page.text
    form = re.search(r'<form method="post" action="/consent"[^>]*>(.*?)</form>', page.text, re.S)
    assert form is not None and 'value="opt_out"' in form.group(1)
    decision_id = re.search(r'name="decision_id" value="([0-9a-f]{32})"', form.group(1))
    assert decision_id is not None
    assert 'id="ck-opted-out"' not in page.text
    response = client.post(
        "/consent",
        content=urlencode(
            {
                "action": "opt_out",
                "surface": "opt_out_page",
                "next": "/consent/opt-out",
                "decision_id": decision_id.group(1),
            }
        ),
        headers=FORM,
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/consent/opt-out"
    assert "consentkit" in set_cookies(response)
    after = client.get("/consent/opt-out").text
    assert 'id="ck-opted-out"' in after and 'value="opt_out"' not in after
    # Marketing sells or shares: off. Analytics does not: still on.
    assert page_cookies(client) == {"session", "undeclared", "_ga_XYZ"}
    assert "consentkit-opt-out" in client.get("/").text  # the link stays
    (row,) = log_rows(config)
    assert row["action"] == "opt_out" and row["surface"] == "opt_out_page"
    assert json.loads(row["granted"]) == ["analytics", "necessary"]
    assert json.loads(row["denied"]) == ["marketing"]
    assert (row["regime"], row["region"], row["region_source"]) == ("us_opt_out", None, "default")


def test_opt_out_as_json(make_client: MakeClient) -> None:
    client, _ = make_client("us_opt_out")
    state = client.post("/consent", json={"action": "opt_out"}, headers=ORIGIN).json()
    assert state["decided"] is True and state["granted"] == ["analytics", "necessary"]
    assert state["regime"] == "us_opt_out"


def test_privacy_page_links_the_opt_out_page_only_under_us_opt_out(
    make_client: MakeClient,
) -> None:
    us, _ = make_client("us_opt_out")
    eu, _ = make_client("opt_in")
    assert 'href="/consent/opt-out"' in us.get("/privacy").text
    assert "/consent/opt-out" not in eu.get("/privacy").text


def test_opt_out_texts_in_the_visitors_language(make_client: MakeClient) -> None:
    client, _ = make_client("us_opt_out")
    page = client.get("/consent/opt-out", headers={"accept-language": "es"})
    assert page.headers["content-language"] == "es"
    assert "No vender ni compartir mi información personal" in page.text
    assert 'lang="es"' in page.text
    html = client.get("/", headers={"accept-language": "he"}).text
    assert 'lang="he" dir="rtl"' in html


def test_gpc_under_us_opt_out_is_an_opt_out_without_a_record(
    make_client: MakeClient,
) -> None:
    client, config = make_client("us_opt_out")
    state = client.get("/whoami", headers=GPC).json()
    assert state["gpc"] is True and state["granted"] == ["analytics", "necessary"]
    assert page_cookies(client, GPC) == {"session", "undeclared", "_ga_XYZ"}
    page = client.get("/consent/opt-out", headers=GPC).text
    assert "Opt-Out Preference Signal Honored" in page and 'id="ck-opted-out"' in page
    # Nothing the visitor granted was overridden: nothing to log, no cookie.
    assert log_rows(config) == []
    assert "Opt-Out Preference Signal Honored" not in client.get("/consent/opt-out").text


def test_gpc_under_us_opt_out_overrides_an_earlier_opt_in_once(
    make_client: MakeClient,
) -> None:
    client, config = make_client("us_opt_out")
    state = client.post("/consent", json={"action": "accept_all"}, headers=ORIGIN).json()
    assert state["granted"] == ALL and state["regime"] == "us_opt_out"
    first = client.get("/", headers=GPC)
    assert "ads" not in set_cookies(first) and "_ga_XYZ" in set_cookies(first)
    reissued = set_cookies(first)["consentkit"]
    for _ in range(3):
        again = client.get("/whoami", headers=GPC).json()
        assert again["granted"] == ["analytics", "necessary"] and again["gpc"] is True
    rows = log_rows(config)
    assert [r["action"] for r in rows] == ["accept_all", "gpc"]
    gpc = rows[-1]
    assert gpc["gpc"] == 1 and gpc["regime"] == "us_opt_out"
    assert json.loads(gpc["denied"]) == ["marketing"]
    # The re-issued cookie holds the override, so it holds without the signal too.
    assert reissued
    assert client.get("/whoami").json()["granted"] == ["analytics", "necessary"]


# --- notice and none ---------------------------------------------------------------------


def test_notice_informs_and_blocks_nothing(make_client: MakeClient) -> None:
    client, config = make_client("notice")
    assert page_cookies(client) == {"session", "undeclared", "_ga_XYZ", "ads"}
    html = client.get("/").text
    notice = re.search(
        r'<section id="consentkit-banner" class="[^"]*ck-notice.*?</section>', html, re.S
    )
    assert notice is not None
    assert 'value="dismiss"' in notice.group(0) and 'value="accept_all"' not in notice.group(0)
    assert "to recognise returning visitors" in notice.group(0)
    decision_id = re.search(r'name="decision_id" value="([0-9a-f]{32})"', notice.group(0))
    assert decision_id is not None
    response = client.post(
        "/consent",
        content=urlencode(
            {
                "action": "dismiss",
                "surface": "notice",
                "next": "/",
                "decision_id": decision_id.group(1),
            }
        ),
        headers=FORM,
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/"
    assert "consentkit-banner" not in client.get("/").text
    assert page_cookies(client) == {"session", "undeclared", "_ga_XYZ", "ads"}
    (row,) = log_rows(config)
    assert row["action"] == "dismiss" and row["surface"] == "notice"
    assert row["regime"] == "notice" and json.loads(row["granted"]) == ALL


def test_none_shows_nothing_but_the_snippet(make_client: MakeClient) -> None:
    client, config = make_client("none")
    assert page_cookies(client) == {"session", "undeclared", "_ga_XYZ", "ads"}
    assert log_rows(config) == []
    html = client.get("/").text
    assert 'id="consentkit-js"' in html
    assert "consentkit-banner" not in html and "consentkit-opt-out" not in html
    state = client.get("/consent").json()
    assert state["decided"] is False and state["granted"] == ALL and state["regime"] == "none"


@pytest.mark.parametrize("regime", ["none", "notice", "us_opt_out", "opt_in"])
def test_required_categories_stay_required(make_client: MakeClient, regime: str) -> None:
    client, _ = make_client(regime)
    response = client.post(
        "/consent", json={"action": "custom", "categories": {"necessary": False}}, headers=ORIGIN
    )
    assert response.status_code == 400 and response.json()["error"] == "required_category"
    state = client.post("/consent", json={"action": "reject_all"}, headers=ORIGIN).json()
    assert state["granted"] == ["necessary"]


@pytest.mark.parametrize("regime", ["opt_in", "us_opt_out"])
def test_dismiss_is_refused_where_a_choice_counts(make_client: MakeClient, regime: str) -> None:
    client, config = make_client(regime)
    response = client.post("/consent", json={"action": "dismiss"}, headers=ORIGIN)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_action"
    assert regime in response.json()["detail"]
    assert log_rows(config) == [] and "consentkit" not in set_cookies(response)


@pytest.mark.parametrize("regime", ["us_opt_out", "notice", "none"])
def test_a_withdrawal_holds_where_everything_runs_by_default(
    make_client: MakeClient, regime: str
) -> None:
    client, config = make_client(regime)
    client.post("/consent", json={"action": "accept_all"}, headers=ORIGIN)
    state = client.delete("/consent", headers=ORIGIN).json()
    # Clearing the cookie would turn everything back on: the withdrawal is kept instead.
    assert state["decided"] is True and state["granted"] == ["necessary"]
    assert page_cookies(client) == {"session", "undeclared"}
    assert [r["action"] for r in log_rows(config)] == ["accept_all", "withdraw"]


# --- the cookie and the log remember the regime ------------------------------------------


def test_cookie_and_record_carry_the_regime(make_client: MakeClient) -> None:
    client, config = make_client("us_opt_out")
    response = client.post("/consent", json={"action": "accept_all"}, headers=ORIGIN)
    token = set_cookies(response)["consentkit"].split(";", 1)[0].split("=", 1)[1]
    mw = ConsentMiddleware(site(), config=config)
    stored = mw.codec.decode(token)
    assert (stored.regime, stored.region, stored.region_source) == (
        "us_opt_out",
        None,
        "default",
    )
    (row,) = log_rows(config)
    assert (row["regime"], row["region"], row["region_source"]) == ("us_opt_out", None, "default")


@pytest.mark.parametrize("regime", ["opt_in", "us_opt_out"])
def test_a_version_0_1_cookie_still_works_as_opt_in(
    make_config: Callable[..., ConsentConfig], regime: str
) -> None:
    config = make_config(
        categories=regime_categories(), regions=[Region(match=("*",), regime=regime)]
    )
    # The 0.1 cookie was made at 1_800_000_000: the middleware's clock is a minute later.
    app = ConsentMiddleware(site(), config=config, clock=lambda: 1_800_000_060.0)
    with TestClient(app) as client:
        client.cookies.set("consentkit", COOKIE_0_1)
        state = client.get("/consent").json()
        assert state["decided"] is True and state["granted"] == ["analytics", "necessary"]
        assert state["consent_id"] == "v01-consent-id-AAAAAA"
        assert (state["regime"], state["region"], state["region_source"]) == ("opt_in", None, None)
        assert page_cookies(client) == {"session", "undeclared", "_ga_XYZ"}
        assert "consentkit-banner" not in client.get("/").text


# --- a region whose regime changes ---------------------------------------------------------


def _decide_under(client: TestClient, regime: str) -> None:
    action = "dismiss" if regime == "notice" else "accept_all"
    response = client.post("/consent", json={"action": action}, headers=ORIGIN)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("before", ["none", "notice", "us_opt_out", "opt_in"])
@pytest.mark.parametrize("after", ["none", "notice", "us_opt_out", "opt_in"])
def test_a_stricter_regime_asks_again_a_looser_one_keeps_the_choice(
    make_client: MakeClient, before: str, after: str
) -> None:
    first, _ = make_client(before)
    _decide_under(first, before)
    consent_id = first.get("/consent").json()["consent_id"]
    second, _ = make_client(after)
    second.cookies = first.cookies
    state = second.get("/consent").json()
    assert state["consent_id"] == consent_id  # the log links the old and new decisions
    if STRICTNESS[after] > STRICTNESS[before]:
        assert state["decided"] is False and state["regime"] == after
        html = second.get("/").text
        if after == "opt_in":
            assert state["granted"] == ["necessary"] and 'value="reject_all"' in html
        elif after == "notice":
            assert 'value="dismiss"' in html
    else:
        assert state["decided"] is True and state["regime"] == before
        assert state["granted"] == ALL


def test_an_opt_out_moving_to_opt_in_is_asked_and_a_refusal_moving_looser_is_kept(
    make_client: MakeClient,
) -> None:
    us, _ = make_client("us_opt_out")
    us.post("/consent", json={"action": "opt_out"}, headers=ORIGIN)
    eu, _ = make_client("opt_in")
    eu.cookies = us.cookies
    # "Not sold" under us_opt_out is no opt-in to analytics: asked again, nothing on.
    assert eu.get("/consent").json()["decided"] is False
    assert page_cookies(eu) == {"session", "undeclared"}
    eu.post("/consent", json={"action": "reject_all"}, headers=ORIGIN)
    none, _ = make_client("none")
    none.cookies = eu.cookies
    state = none.get("/consent").json()
    assert state["decided"] is True and state["granted"] == ["necessary"]
    assert page_cookies(none) == {"session", "undeclared"}


# --- RegimePolicy ------------------------------------------------------------------------


def test_regime_policy_defaults_and_cache() -> None:
    required = frozenset({"necessary"})
    every = frozenset({"necessary", "analytics", "marketing"})
    policy = RegimePolicy(required, every, ["marketing", "necessary"])
    assert policy.sale_or_share == {"marketing"}  # a required category is never sold off
    assert policy.defaults == {
        "none": every,
        "notice": every,
        "us_opt_out": every,
        "opt_in": required,
    }
    here = Jurisdiction("us_opt_out", "US-CA", "header:cf-ipregioncode")
    undecided = policy.undecided(here)
    assert undecided is policy.undecided(Jurisdiction(*here))  # built once per jurisdiction
    assert (undecided.regime, undecided.region, undecided.region_source) == here
    assert not undecided.decided and undecided.granted == every
