"""docs/consent-mode.md in Chromium: its config and its held-back gtag snippet, as written.

Google's ``gtag.js`` is replaced by a local stand-in that records the ``dataLayer``
it finds, so the test sees the order Google's tag would see.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentkit import ConsentMiddleware
from tests.live import serve

pytestmark = pytest.mark.browser

GUIDE = (Path(__file__).resolve().parents[2] / "docs" / "consent-mode.md").read_text()
GTAG_STANDIN = "window.gtagLoadedWith = window.dataLayer.map((e) => Array.from(e).slice(0, 2));"


def guide_block(language: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", GUIDE, re.DOTALL)
    assert blocks, language
    return blocks[0]


def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CONSENTKIT_SECRET_KEYS", "consent-mode-guide-secret-0123456789abcd")
    namespace: dict[str, Any] = {}
    exec(guide_block("python"), namespace)  # the guide's config, as written
    config = namespace["config"].model_copy(update={"storage": f"sqlite:///{tmp_path}/consent.db"})
    tags = guide_block("html").replace(
        "https://www.googletagmanager.com/gtag/js?id=G-XXXXXXX", "/gtag.js"
    )

    async def home(request: Any) -> Response:
        return HTMLResponse(
            "<!doctype html><html lang='en'><head><title>Report</title></head>"
            f"<body><main><h1>Annual report</h1></main>{tags}</body></html>"
        )

    async def gtag(request: Any) -> Response:
        return Response(GTAG_STANDIN, media_type="text/javascript")

    app = Starlette(routes=[Route("/", home), Route("/gtag.js", gtag)])
    return ConsentMiddleware(app, config=config)


def test_default_then_update_then_the_sites_config(
    browser: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(site(tmp_path, monkeypatch)) as url:
        context = browser.new_context(base_url=url)
        context.set_default_timeout(5000)
        try:
            page = context.new_page()
            page.goto("/")
            page.wait_for_function("window.gtagLoadedWith !== undefined")
            # Undecided: the default first, then the site's own commands, then gtag.js loads.
            assert page.evaluate("window.gtagLoadedWith") == [
                ["consent", "default"],
                ["js", page.evaluate("window.gtagLoadedWith[1][1]")],
                ["config", "G-XXXXXXX"],
            ]
            default = page.evaluate("Array.from(window.dataLayer[0])[2]")
            assert default == {
                "analytics_storage": "denied",
                "ad_storage": "denied",
                "ad_user_data": "denied",
                "ad_personalization": "denied",
            }
            page.get_by_role("button", name="Accept all").click()
            page.wait_for_function("window.dataLayer.length === 4")
            update = page.evaluate("Array.from(window.dataLayer[3])")
            assert update[:2] == ["consent", "update"]
            assert set(update[2].values()) == {"granted"}
            # On the next page the decided visitor's update comes before Google's tag.
            page.reload()
            page.wait_for_function("window.gtagLoadedWith !== undefined")
            order = [entry[0:2] for entry in page.evaluate("window.gtagLoadedWith")]
            assert order[:2] == [["consent", "default"], ["consent", "update"]]
            assert order[3] == ["config", "G-XXXXXXX"]
        finally:
            context.close()
