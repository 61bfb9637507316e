"""Declares a cookie nobody sets and a category without cookies: warnings, exit 0."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from consentkit import Category, ConsentMiddleware, Cookie

from ._common import db_dir, make_config, page


async def home(request: Request) -> HTMLResponse:
    return HTMLResponse(page("<h1>Home</h1><script>document.cookie = 'x=1'</script>"))


def create_app(directory: str) -> ConsentMiddleware:
    config = make_config(
        directory,
        categories=[
            Category(key="necessary", label="Necessary", required=True),
            Category(
                key="analytics",
                label="Analytics",
                cookies=[Cookie(name="old_tracker", purpose="Gone since 2023")],
            ),
            Category(key="marketing", label="Marketing"),
        ],
    )
    return ConsentMiddleware(Starlette(routes=[Route("/", home)]), config=config)


app = create_app(db_dir())
