"""Sites that compress their pages inside consentkit (the wrong order, on purpose).

``starlette_app(db)``: Starlette with ``GZipMiddleware`` inside `ConsentMiddleware`.
``application``: Django with ``django.middleware.gzip.GZipMiddleware``, under ASGI
(``uvicorn tests.integrations.compressed_sites:application``; its consent log
goes to ``CONSENTKIT_STORAGE``). Django is configured only when that name is used.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from consentkit import Category, ConsentConfig, ConsentMiddleware, Cookie

SECRET = "compressed-sites-secret-0123456789abcdef"
PAGE = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Annual report</title>"
    "</head><body><main><h1>Annual report 2025</h1>"
    + "<p>In 2025 our members worked in 34 countries to prevent violent conflict.</p>" * 40
    + "</main></body></html>"
)


def config(storage: str) -> ConsentConfig:
    """The sites' declaration."""
    return ConsentConfig(
        secret_keys=[SECRET],
        storage=storage,
        categories=[
            Category(
                key="necessary",
                label="Strictly necessary",
                required=True,
                cookies=[Cookie(name="session", purpose="Keeps you signed in", duration="session")],
            ),
            Category(key="analytics", label="Analytics", description="Counts visits."),
        ],
    )


def starlette_app(db: Path) -> Any:
    """Starlette, ``GZipMiddleware`` inside consentkit: one held page and one streamed."""
    from starlette.applications import Starlette
    from starlette.middleware.gzip import GZipMiddleware
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, StreamingResponse
    from starlette.routing import Route

    async def home(request: Request) -> HTMLResponse:
        return HTMLResponse(PAGE, headers={"etag": '"page-v1"'})

    async def streamed(request: Request) -> StreamingResponse:
        async def parts() -> AsyncIterator[str]:
            yield PAGE.split("</main>")[0]
            yield "</main></bo"
            yield "dy></html>"

        return StreamingResponse(parts(), media_type="text/html")

    site = Starlette(routes=[Route("/", home), Route("/streamed", streamed)])
    site.add_middleware(GZipMiddleware, minimum_size=100)
    site.add_middleware(ConsentMiddleware, config=config(f"sqlite:///{db}"))
    return site


def _django() -> Any:
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY=SECRET,
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF=__name__,
            MIDDLEWARE=["django.middleware.gzip.GZipMiddleware"],
            INSTALLED_APPS=[],
        )
    from django.core.asgi import get_asgi_application

    return ConsentMiddleware(
        get_asgi_application(), config=config(os.environ["CONSENTKIT_STORAGE"])
    )


def _urlpatterns() -> list[Any]:
    from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
    from django.urls import path

    def home(request: HttpRequest) -> HttpResponse:
        response = HttpResponse(PAGE)
        response["ETag"] = '"page-v1"'
        return response

    def streamed(request: HttpRequest) -> StreamingHttpResponse:
        def parts() -> Iterator[str]:
            yield PAGE.split("</main>")[0]
            yield "</main></bo"
            yield "dy></html>"

        return StreamingHttpResponse(parts(), content_type="text/html; charset=utf-8")

    return [path("", home), path("streamed", streamed)]


def __getattr__(name: str) -> Any:
    if name == "application":
        return _django()
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)
