"""The site the load, crash and fault tests serve: pages, a stream, an API, analytics on.

The storage URL comes from ``CONSENTKIT_TEST_STORAGE``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from consentkit import (
    AnalyticsConfig,
    Category,
    ConsentConfig,
    ConsentMiddleware,
    Cookie,
    get_consent,
)
from tests.reliability.support import SECRET

ARTICLE = "<p>" + "The alliance's annual report. " * 60 + "</p>"


async def page(request: Request) -> Response:
    consent = get_consent(request)
    response = HTMLResponse(
        f"<html><head><title>Report</title></head><body><h1>{request.url.path}</h1>"
        f"{ARTICLE}<p>{'on' if consent.allows('analytics') else 'off'}</p></body></html>"
    )
    response.set_cookie("session", "s1")
    response.set_cookie("_ga_XYZ", "g1")
    response.set_cookie("ads", "a1")
    return response


async def stream(request: Request) -> Response:
    async def body() -> AsyncIterator[bytes]:
        yield b"<html><body><h1>Streamed</h1>"
        for _ in range(5):
            yield ARTICLE.encode()
        yield b"</bo"
        yield b"dy></html>"

    return StreamingResponse(body(), media_type="text/html")


async def data(request: Request) -> Response:
    return JSONResponse({"items": list(range(20))})


def make_config(storage: str) -> ConsentConfig:
    return ConsentConfig(
        secret_keys=[SECRET],
        categories=[
            Category(
                key="necessary",
                label="Strictly necessary",
                required=True,
                cookies=[Cookie(name="session", purpose="Signed in", duration="session")],
            ),
            Category(
                key="analytics",
                label="Analytics",
                cookies=[Cookie(name="_ga*", provider="Google", purpose="Counts")],
            ),
            Category(key="marketing", label="Marketing", cookies=[Cookie(name="ads")]),
        ],
        storage=storage,
        analytics=AnalyticsConfig(
            sections={"/reports": "Reports", "/news": "News"},
            flush_interval=0.5,
            queue_size=int(os.environ.get("CONSENTKIT_TEST_QUEUE", "20000")),
        ),
        token_cache_size=2000,
    )


def build(storage: str) -> ConsentMiddleware:
    """The site behind the middleware, its log and analytics in ``storage``."""

    async def stats(request: Request) -> Response:
        tracker = middleware.tracker
        assert tracker is not None
        return JSONResponse(
            {"dropped": tracker.dropped, "failed_batches": tracker.failed_batches,
             "pending": tracker.pending}
        )  # fmt: skip

    routes = [
        Route("/", page),
        Route("/reports/{n}", page),
        Route("/news/{n}", page),
        Route("/stream", stream),
        Route("/api/data", data),
        Route("/_test/stats", stats),
    ]
    middleware = ConsentMiddleware(Starlette(routes=routes), config=make_config(storage))
    return middleware


def __getattr__(name: str) -> ConsentMiddleware:
    # ``uvicorn tests.reliability.site_app:app`` builds it from CONSENTKIT_TEST_STORAGE.
    if name == "app":
        return build(os.environ["CONSENTKIT_TEST_STORAGE"])
    raise AttributeError(name)
