"""Starlette: middleware added to the app, pages in Jinja2 with ``consent.allows``."""

from __future__ import annotations

import jinja2
from frameworks_config import example_config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from consentkit import ConsentConfig, ConsentMiddleware, get_consent, templating

PAGE = """<!doctype html><html lang="en"><head><title>Annual report</title></head><body>
<h1>Annual report</h1>
{% if consent.allows("analytics") %}<p id="analytics">Thanks for helping us count readers.</p>
{% else %}<p id="no-analytics">We do not count your visit.</p>{% endif %}
<script type="text/plain" data-consent="analytics"
        src="https://www.googletagmanager.com/gtag/js?id=G-DEMO"></script>
<a href="/privacy">Privacy overview</a> <a href="#" data-consentkit-open>Cookie settings</a>
</body></html>"""


def create_app(config: ConsentConfig | None = None) -> Starlette:
    """The example site."""
    templates = Jinja2Templates(
        env=jinja2.Environment(loader=jinja2.DictLoader({"page.html": PAGE}), autoescape=True),
        context_processors=[templating.context_processor],
    )
    templating.install(templates)

    async def home(request: Request) -> Response:
        response = templates.TemplateResponse(request, "page.html")
        response.set_cookie("session", "s", httponly=True, samesite="lax")
        response.set_cookie("_ga", "GA1.1.demo")  # dropped unless analytics is granted
        return response

    async def me(request: Request) -> Response:
        consent = get_consent(request)
        return JSONResponse({"decided": consent.decided, "granted": sorted(consent.granted)})

    app = Starlette(routes=[Route("/", home), Route("/me", me)])
    app.add_middleware(ConsentMiddleware, config=config or example_config())
    return app


app = create_app()
