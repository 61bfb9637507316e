"""A site that does everything right: the audit finds nothing (exit 0).

Starlette with ``add_middleware`` (so the audit must walk the middleware
stack), a lifespan whose state the pages need, server-set cookies of every
declared category (the middleware holds back the optional ones), a gated
third-party script and a same-site one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from consentkit import ConsentMiddleware

from ._common import AnalyticsConfig, db_dir, make_config, page


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    yield {"site_name": "Peace Alliance"}


async def home(request: Request) -> HTMLResponse:
    name = request.state.site_name  # fails without the lifespan state
    body = (
        f"<h1>{name}</h1><a href='/reports'>Reports</a> <a href='https://elsewhere.example/'>x</a>"
        "<script src='/static/site.js'></script>"
        "<script type='text/plain' data-consent='analytics' "
        "src='https://www.googletagmanager.com/gtag/js?id=G-1'></script>"
    )
    response = HTMLResponse(page(body))
    response.set_cookie("session", "abc")
    response.set_cookie("_ga", "GA1.1.1")
    return response


async def reports(request: Request) -> HTMLResponse:
    response = HTMLResponse(page("<h1>Reports</h1><a href='/'>Home</a>"))
    response.set_cookie("_fbp", "fb.1")
    return response


def create_app(directory: str, **config: Any) -> Starlette:
    app = Starlette(routes=[Route("/", home), Route("/reports", reports)], lifespan=lifespan)
    app.add_middleware(
        ConsentMiddleware, config=make_config(directory, analytics=AnalyticsConfig(), **config)
    )
    return app


app = create_app(db_dir())
