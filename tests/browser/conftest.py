"""Fixtures for the browser tests: Debian's Chromium, axe-core and a live demo site.

The tests skip with a reason when Chromium or axe-core is missing, except on
CI (``CI=true``), where a missing tool is a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live import serve

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"

GCM = {
    "analytics": ("analytics_storage",),
    "marketing": ("ad_storage", "ad_user_data", "ad_personalization"),
}


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    if not AXE.exists():
        return f"{AXE.relative_to(ROOT)} is missing (run npm ci)"
    try:
        import playwright  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the machine
        return f"{exc.name} is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="session", autouse=True)
def _browser_tools() -> None:
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run on CI: {reason}")
    pytest.skip(reason)


# --- the demo site ------------------------------------------------------------------------

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 17px/1.6 Georgia, serif; margin: 0; color: #1f2328; background: #f6f4ef; }}
header {{ background: #1e3a5f; color: #fff; padding: 1.2rem 2rem; }}
header a {{ color: #fff; }}
main {{ max-width: 44rem; margin: 2rem auto; padding: 0 1.5rem; }}
</style>
</head><body>
<header><p><strong>Alliance for Peacebuilding</strong></p></header>
<main>
<h1>{title}</h1>
<p>In 2025 our members worked in 34 countries. This annual report shows what changed,
what we learned, and where we go next.</p>
<p><a href="/other">Read the regional reports</a></p>
<footer><p><a href="/privacy" data-consentkit-open>Cookie settings</a></p></footer>
</main>
{extra}
<script type="text/plain" data-consent="necessary">
window.ckFirstInLayer = Array.from(window.dataLayer[0]).slice(0, 2).join(" ");
</script>
<script type="text/plain" data-consent="analytics">
window.ckAnalytics = (window.ckAnalytics || 0) + 1;
document.cookie = "ck_js_analytics=1; path=/";
</script>
<script type="text/plain" data-consent="marketing" src="/gated/marketing.js"></script>
</body></html>
"""

LISTENER = """<script>
document.addEventListener("consentkit:change", function (e) {
  (window.ckEvents = window.ckEvents || []).push(e.detail);
});
</script>"""

MARKETING_JS = """window.ckMarketing = (window.ckMarketing || 0) + 1;
document.cookie = "ck_js_marketing=1; path=/";
"""


def build_app(db: Path, regime: str | None = None) -> Any:
    """The seed-like demo site wrapped by ConsentMiddleware.

    ``regime``: the consent regime for every visitor (``opt_in`` when None).
    Marketing sells or shares (``sale_or_share``), so ``us_opt_out`` turns it off.
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, Response
    from starlette.routing import Route

    from consentkit import Category, ConsentConfig, ConsentMiddleware, Cookie, get_consent
    from consentkit.regions import Region

    def page(request: Request, html: str, headers: dict[str, str] | None = None) -> Response:
        consent = get_consent(request)
        response = HTMLResponse(html, headers=headers)
        response.set_cookie("session", "1")
        if consent.allows("analytics"):
            response.set_cookie("_ga_demo", "GA1.1")
        if consent.allows("marketing"):
            response.set_cookie("ads_id", "42")
        return response

    async def home(request: Request) -> Response:
        return page(request, PAGE.format(title="Annual report 2025", extra=LISTENER))

    async def other(request: Request) -> Response:
        return page(request, PAGE.format(title="Regional reports", extra=LISTENER))

    async def strict(request: Request) -> Response:
        nonce = request.state.csp_nonce
        csp = (
            f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; "
            "connect-src 'self'; object-src 'none'; base-uri 'none'"
        )
        html = PAGE.format(title="Strict CSP", extra="")
        html = html.replace("<style>", f'<style nonce="{nonce}">')
        return page(request, html, {"content-security-policy": csp})

    async def marketing(request: Request) -> Response:
        return Response(MARKETING_JS, media_type="text/javascript")

    site = Starlette(
        routes=[
            Route("/", home),
            Route("/other", other),
            Route("/csp", strict),
            Route("/gated/marketing.js", marketing),
        ]
    )
    config = ConsentConfig(
        secret_keys=(secrets.token_urlsafe(32),),
        storage=f"sqlite:///{db}",
        policy_version="2026-01",
        google_consent_mode=GCM,
        regions=[Region(match=("*",), regime=regime)] if regime else [],
        categories=(
            Category(
                key="necessary",
                label="Strictly necessary",
                required=True,
                description="Needed for the site to work and to remember your choices.",
                cookies=(
                    Cookie(name="session", purpose="Keeps you signed in", duration="session"),
                ),
            ),
            Category(
                key="analytics",
                label="Analytics",
                description="Recognises returning visitors and shows us which sections are read.",
                cookies=(
                    Cookie(
                        name="_ga*",
                        provider="Google",
                        purpose="Tells visitors apart",
                        duration="13 months",
                    ),
                    Cookie(
                        name="ck_js_analytics",
                        purpose="Test cookie set by a script",
                        duration="session",
                    ),
                ),
            ),
            Category(
                key="marketing",
                label="Marketing",
                description="Measures our campaigns on other sites.",
                sale_or_share=True,
                cookies=(
                    Cookie(
                        name="ads_id",
                        provider="AdCo",
                        purpose="Campaign measurement",
                        duration="90 days",
                    ),
                    Cookie(
                        name="ck_js_marketing",
                        purpose="Test cookie set by a script",
                        duration="session",
                    ),
                ),
            ),
        ),
    )
    return NonceMiddleware(ConsentMiddleware(site, config=config))


class NonceMiddleware:
    """Gives every request a fresh CSP nonce in ``scope["state"]["csp_nonce"]``."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["csp_nonce"] = secrets.token_urlsafe(16)
        await self.app(scope, receive, send)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The demo site served by uvicorn on 127.0.0.1, a free port."""
    with serve(build_app(tmp_path_factory.mktemp("browser") / "consent.db")) as url:
        yield url


@pytest.fixture
def make_context(browser: Any, live_server: str) -> Iterator[Callable[..., Any]]:
    """``make_context(**options)``: a fresh browser context (own cookies) on the live site."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        options.setdefault("base_url", live_server)
        options.setdefault("locale", "en-US")
        context = browser.new_context(**options)
        context.set_default_timeout(5000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def axe() -> Callable[..., list[dict[str, Any]]]:
    """``axe(page, include=None)``: WCAG 2.1 A/AA violations axe-core finds on the page."""

    def run(page: Any, include: str | None = None) -> list[dict[str, Any]]:
        if not page.evaluate("typeof axe !== 'undefined'"):
            page.add_script_tag(path=str(AXE))
        violations: list[dict[str, Any]] = page.evaluate(
            """async (include) => {
                const result = await axe.run(include ? {include: [include]} : document, {
                    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
                    resultTypes: ["violations"],
                });
                return result.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help,
                    targets: v.nodes.map(n => n.target.join(" ")),
                }));
            }""",
            include,
        )
        return violations

    return run
