"""Regions in Chromium: a Cloudflare header picks the jurisdiction, and Consent Mode's
per-region defaults reach the ``dataLayer`` before the visitor's update."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentkit import Category, CloudflareHeaders, ConsentConfig, ConsentMiddleware, Region
from tests.live import serve

pytestmark = pytest.mark.browser

GCM = {
    "analytics": ("analytics_storage",),
    "marketing": ("ad_storage", "ad_user_data", "ad_personalization"),
}


async def home(request: Request) -> Response:
    where = request.state.jurisdiction
    return HTMLResponse(
        "<!doctype html><html lang='en'><head><title>Report</title></head><body><main>"
        f"<h1>Report</h1><p id='where'>{where.regime} {where.region} {where.source}</p>"
        "</main></body></html>"
    )


def app(tmp_path: Path) -> ConsentMiddleware:
    config = ConsentConfig(
        secret_keys=["browser-regions-secret-0123456789abcdef"],
        storage=f"sqlite:///{tmp_path}/consent.db",
        categories=[
            Category(key="necessary", label="Necessary", required=True),
            Category(key="analytics", label="Analytics"),
            Category(key="marketing", label="Marketing", sale_or_share=True),
        ],
        google_consent_mode=GCM,
        google_ads_data_redaction=True,
        regions=[
            Region(match=["EU", "EEA", "GB", "CH"], regime="opt_in"),
            Region(match=["US-CA"], regime="us_opt_out"),
            Region(match=["*"], regime="opt_in"),
        ],
        region_source=CloudflareHeaders(),
        trusted_proxies=["127.0.0.1"],
    )
    return ConsentMiddleware(Starlette(routes=[Route("/", home)]), config=config)


def commands(page: Any) -> list[list[Any]]:
    return page.evaluate("window.dataLayer.map((e) => Array.from(e))")  # type: ignore[no-any-return]


def test_region_and_consent_mode_defaults_before_the_update(browser: Any, tmp_path: Path) -> None:
    with serve(app(tmp_path)) as url:
        context = browser.new_context(base_url=url)
        context.set_default_timeout(5000)
        context.set_extra_http_headers({"CF-IPCountry": "US", "cf-region-code": "CA"})
        try:
            page = context.new_page()
            page.goto("/")
            assert page.text_content("#where") == "us_opt_out US-CA header:cf-ipcountry"
            page.wait_for_function("window.dataLayer && window.dataLayer.length >= 4")
            undecided = commands(page)
            assert [c[:2] for c in undecided] == [
                ["consent", "default"],
                ["consent", "default"],
                ["consent", "default"],
                ["set", "ads_data_redaction"],
            ]
            assert "region" not in undecided[0][2]
            assert set(undecided[0][2].values()) == {"denied"}
            regional = {tuple(c[2]["region"]): c[2] for c in undecided[1:3]}
            assert regional[("US-CA",)]["ad_storage"] == "granted"
            assert "DE" in next(r for r in regional if r != ("US-CA",))
            # No banner under us_opt_out: the visitor refuses in the preferences.
            page.evaluate("window.consentkit.open()")
            page.get_by_role("dialog").get_by_role("button", name="Reject all").click()
            page.wait_for_function("window.dataLayer.length === 5")
            update = commands(page)[4]
            assert update[:2] == ["consent", "update"]
            assert set(update[2].values()) == {"denied"}
            # A decided visitor's next page: every default, then the update.
            page.reload()
            page.wait_for_function("window.dataLayer && window.dataLayer.length >= 5")
            order = [c[:2] for c in commands(page)]
            assert order == [
                ["consent", "default"],
                ["consent", "default"],
                ["consent", "default"],
                ["set", "ads_data_redaction"],
                ["consent", "update"],
            ]
        finally:
            context.close()
