"""Datasette (an app nobody here wrote) behind consentkit with this release's features, in Chromium.

Regions from Cloudflare's headers (a trusted proxy on loopback), a config script,
automatic blocking of the tag Datasette's own ``extra_js_urls`` puts on every page,
and the reopen button: what a visitor from Germany and one from California get.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consentkit import (
    Category,
    CloudflareHeaders,
    ConsentConfig,
    ConsentMiddleware,
    Region,
    Script,
)
from tests.live import serve

datasette_app = pytest.importorskip("datasette.app")

TAG = "https://www.googletagmanager.com/gtag/js?id=G-DATASETTE"


def app(directory: Path) -> ConsentMiddleware:
    db = directory / "reports.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table sections (id integer primary key, name text)")
        conn.executemany("insert into sections (name) values (?)", [("Peace",), ("Climate",)])
    datasette = datasette_app.Datasette([str(db)], metadata={"extra_js_urls": [TAG]}).app()
    config = ConsentConfig(
        secret_keys=["datasette-browser-secret-0123456789abcdef"],
        storage=f"sqlite:///{directory}/consent.db",
        categories=[
            Category(key="necessary", label="Strictly necessary", required=True),
            Category(
                key="analytics",
                label="Analytics",
                hosts=["www.googletagmanager.com"],
                scripts=[Script(inline="window.ckTag = (window.ckTag || 0) + 1;")],
            ),
            Category(key="ads", label="Advertising", sale_or_share=True),
        ],
        regions=[
            Region(match=["EU"], regime="opt_in"),
            Region(match=["US-CA"], regime="us_opt_out"),
            Region(match=["*"], regime="opt_in"),
        ],
        region_source=CloudflareHeaders(),
        trusted_proxies=["127.0.0.1"],
        auto_block=True,
    )
    return ConsentMiddleware(datasette, config=config)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(app(tmp_path_factory.mktemp("datasette-browser"))) as url:
        yield url


def tag_state(page: Any) -> dict[str, Any]:
    return dict(
        page.evaluate(
            """(src) => {
                const s = [...document.scripts].find((e) => e.src === src
                    || e.getAttribute('src') === src);
                return {type: s ? s.type : null, consent: s ? s.dataset.consent : null,
                        ran: window.ckTag || 0,
                        reopen: !!document.querySelector('.ck-reopen'),
                        optOut: !!document.querySelector('a[href$="/consent/opt-out"]')};
            }""",
            TAG,
        )
    )


def test_visitor_from_germany_opts_in(browser: Any, base_url: str) -> None:
    context = browser.new_context(base_url=base_url, extra_http_headers={"CF-IPCountry": "DE"})
    try:
        page = context.new_page()
        page.goto("/reports/sections")
        assert page.get_by_role("button", name="Accept all").is_visible()
        state = tag_state(page)
        # Datasette's own tag is held back, the config script is inert, no reopen button yet.
        assert state == {
            "type": "text/plain", "consent": "analytics", "ran": 0,
            "reopen": False, "optOut": False,
        }  # fmt: skip
        page.get_by_role("button", name="Accept all").click()
        page.wait_for_function("() => window.ckTag === 1")  # run on the grant, no reload
        page.reload()
        state = tag_state(page)
        assert state["type"] in ("", "text/javascript") and state["ran"] == 1
        assert state["reopen"] and not state["optOut"]
        page.locator(".ck-reopen").click()
        # The dialog opens once its stylesheet and the consent state have loaded.
        page.get_by_role("dialog").wait_for(state="visible")
        assert page.get_by_role("dialog").get_by_role("button", name="Reject all").is_visible()
    finally:
        context.close()


def test_visitor_from_california_may_opt_out(browser: Any, base_url: str) -> None:
    context = browser.new_context(
        base_url=base_url,
        extra_http_headers={"CF-IPCountry": "US", "cf-region-code": "CA"},
    )
    try:
        page = context.new_page()
        page.goto("/reports/sections")
        # No banner: everything runs until the visitor opts out, and the link is there.
        assert page.get_by_role("button", name="Accept all").count() == 0
        state = tag_state(page)
        assert state["ran"] == 1 and state["type"] != "text/plain" and state["optOut"]
        assert page.evaluate("() => typeof window.__gpp") == "function"
        page.locator('a[href$="/consent/opt-out"]').click()
        page.get_by_role("button").filter(has_text="Opt").first.click()
        page.wait_for_load_state()
        cookies = {c["name"] for c in context.cookies()}
        assert "consentkit" in cookies
        page.goto("/reports/sections")
        ping = page.evaluate("() => new Promise((done) => __gpp('ping', (data) => done(data)))")
        assert ping["applicableSections"] == [7]
        field = page.evaluate(
            "() => new Promise((done) => __gpp('getField', (v) => done(v), 'usnat.SaleOptOut'))"
        )
        assert field == 1  # opted out
    finally:
        context.close()
