"""Helpers for the consent CSP tests: categories with hosts, a small site."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from consentkit import Category, Cookie

SITE_CSP = "default-src 'self'; script-src 'nonce-abc' 'strict-dynamic'; object-src 'none'"


def csp_categories() -> list[Category]:
    """Necessary (a CDN), analytics and marketing, each with hosts."""
    return [
        Category(
            key="necessary",
            label="Strictly necessary",
            required=True,
            cookies=[Cookie(name="session")],
            hosts=["cdn.example.net"],
        ),
        Category(
            key="analytics",
            label="Analytics",
            cookies=[Cookie(name="_ga*")],
            hosts=["www.googletagmanager.com", "*.google-analytics.com"],
        ),
        Category(
            key="marketing",
            label="Marketing",
            cookies=[Cookie(name="VISITOR_INFO1_LIVE", provider="YouTube")],
            hosts=["www.youtube.com", "*.ytimg.com", "*.googlevideo.com"],
        ),
    ]


async def _page(request: Request) -> Response:
    return HTMLResponse("<html><body><p>page</p></body></html>")


async def _strict(request: Request) -> Response:
    return HTMLResponse(
        "<html><body><p>strict</p></body></html>", headers={"content-security-policy": SITE_CSP}
    )


async def _own_endpoints(request: Request) -> Response:
    return HTMLResponse(
        "<html><body><p>own</p></body></html>",
        headers={"reporting-endpoints": 'site="https://reports.example/csp"'},
    )


async def _data(request: Request) -> Response:
    return JSONResponse({"ok": True})


def csp_site() -> Starlette:
    """``/`` an HTML page, ``/strict`` one with its own CSP, ``/data`` JSON."""
    return Starlette(
        routes=[
            Route("/", _page),
            Route("/strict", _strict),
            Route("/data", _data),
            Route("/own-endpoints", _own_endpoints),
        ]
    )
