"""Consent Mode defaults per region, from the same table as the banner's regime."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from consentkit import Category, CloudflareHeaders, ConsentConfig, Region
from consentkit.consent_mode import default_commands
from consentkit.regions import GROUPS
from tests.test_html import UNDECIDED, make_renderer

GCM = {
    "analytics": ("analytics_storage",),
    "marketing": ("ad_storage", "ad_user_data", "ad_personalization"),
}
DENIED = {
    "analytics_storage": "denied",
    "ad_storage": "denied",
    "ad_user_data": "denied",
    "ad_personalization": "denied",
}
GRANTED = dict.fromkeys(DENIED, "granted")


def test_without_regions_one_default_as_before() -> None:
    assert default_commands(GCM, [], ["necessary"]) == [["consent", "default", DENIED]]
    with_required = {**GCM, "necessary": ("functionality_storage",)}
    assert default_commands(with_required, [], ["necessary"]) == [
        ["consent", "default", {**DENIED, "functionality_storage": "granted"}]
    ]


def test_one_default_per_regime_with_its_regions() -> None:
    rules = [
        Region(match=["EU", "GB", "FR"], regime="opt_in"),
        Region(match=["DE"], regime="notice"),  # a country over its group
        Region(match=["US-CA", "US-CO"], regime="us_opt_out"),
        Region(match=["*"], regime="notice"),
    ]
    commands = default_commands(GCM, rules, ["necessary"])
    assert commands[0] == ["consent", "default", GRANTED]  # the default rule: no region
    by_region = {
        tuple(c[2]["region"]): {k: v for k, v in c[2].items() if k != "region"}
        for c in commands[1:]
    }
    eu_but_de = sorted((GROUPS["EU"] - {"DE"}) | {"GB"})
    assert by_region == {
        ("DE",): GRANTED,
        tuple(eu_but_de): DENIED,
        ("US-CA", "US-CO"): GRANTED,
    }
    assert len(commands) == 4


def test_a_subdivision_beside_its_country() -> None:
    rules = [Region(match=["US"], regime="notice"), Region(match=["US-CA"], regime="opt_in")]
    commands = default_commands(GCM, rules, ["necessary"])
    # No '*': the default is opt_in; US-CA is listed although it is the default's regime,
    # since US alone would otherwise give it notice's grants.
    assert commands == [
        ["consent", "default", DENIED],
        ["consent", "default", {**GRANTED, "region": ["US"]}],
        ["consent", "default", {**DENIED, "region": ["US-CA"]}],
    ]


def test_redaction_and_url_passthrough() -> None:
    commands = default_commands(GCM, [], [], ads_data_redaction=True, url_passthrough=True)
    assert commands[1:] == [["set", "ads_data_redaction", True], ["set", "url_passthrough", True]]


def test_the_list_is_rendered_as_data(make_config: Callable[..., ConsentConfig]) -> None:
    config = make_config(
        google_consent_mode=GCM,
        regions=[Region(match=["US-CA"], regime="us_opt_out")],
        region_source=CloudflareHeaders(),
        trusted_proxies=["10.0.0.0/8"],
        categories=[
            Category(key="necessary", label="Necessary", required=True),
            Category(key="analytics", label="Analytics"),
            Category(key="marketing", label="Marketing", sale_or_share=True),
        ],
        google_url_passthrough=True,
    )
    html = make_renderer(config)[0].fragment(UNDECIDED, "en", "/", None).decode()
    raw = re.search(r'data-gcmd="([^"]+)"', html)
    assert raw is not None
    assert json.loads(raw.group(1).replace("&quot;", '"')) == [
        ["consent", "default", DENIED],
        ["consent", "default", {**GRANTED, "region": ["US-CA"]}],
        ["set", "url_passthrough", True],
    ]
    assert (
        "data-gcmd"
        not in make_renderer(make_config())[0].fragment(UNDECIDED, "en", "/", None).decode()
    )


def test_under_us_opt_out_ad_types_come_from_sale_or_share_categories(
    make_config: Callable[..., ConsentConfig],
) -> None:
    regional = {
        "regions": [Region(match=["US"], regime="us_opt_out")],
        "region_source": CloudflareHeaders(),
        "trusted_proxies": ["10.0.0.0/8"],
    }
    # conftest's marketing category is not sale_or_share: an opt-out would leave ad_storage on.
    with pytest.raises(
        ValidationError, match=r"google_consent_mode\['marketing'\] maps 'ad_personalization'"
    ):
        make_config(google_consent_mode=GCM, **regional)
    make_config(google_consent_mode=GCM)  # without us_opt_out anything goes
    make_config(google_consent_mode={"analytics": ("analytics_storage",)}, **regional)
