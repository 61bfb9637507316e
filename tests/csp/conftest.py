"""Fixtures for the consent CSP tests: a site with hosts per category, behind the middleware."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from consentkit import Category, ConsentConfig, Cookie
from tests.conftest import KEY

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


@pytest.fixture
def csp_config(tmp_path: Path) -> Callable[..., ConsentConfig]:
    """``csp_config(**overrides)``: a report-only config with a SQLite file in tmp_path."""

    def make(**overrides: Any) -> ConsentConfig:
        options: dict[str, Any] = {
            "secret_keys": [KEY],
            "categories": csp_categories(),
            "storage": f"sqlite:///{tmp_path}/consent.db",
            "csp": "report-only",
            "csp_always_allow": ["fonts.example.org"],
        }
        options.update(overrides)
        return ConsentConfig(**options)

    return make


async def _page(request: Request) -> Response:
    return HTMLResponse("<html><body><p>page</p></body></html>")


async def _strict(request: Request) -> Response:
    return HTMLResponse(
        "<html><body><p>strict</p></body></html>", headers={"content-security-policy": SITE_CSP}
    )


async def _data(request: Request) -> Response:
    return JSONResponse({"ok": True})


def csp_site() -> Starlette:
    """``/`` an HTML page, ``/strict`` one with its own CSP, ``/data`` JSON."""
    return Starlette(routes=[Route("/", _page), Route("/strict", _strict), Route("/data", _data)])
