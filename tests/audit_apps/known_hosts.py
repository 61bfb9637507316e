"""Tags of hosts a category declares: left live (``app``) or blocked (``blocked``)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from consentkit import Category, ConsentMiddleware, Cookie

from ._common import db_dir, make_config, page

BODY = (
    "<h1>Video</h1>"
    "<iframe src='https://www.youtube.com/embed/abc' title='video'></iframe>"
    "<img src='https://i.ytimg.com/vi/abc/0.jpg' alt=''>"
    "<img src='https://images.example.org/photo.jpg' alt=''>"
    "<script src='https://tracker.example/t.js'></script>"
)
CATEGORIES = [
    Category(
        key="necessary",
        label="Strictly necessary",
        required=True,
        cookies=[Cookie(name="session", purpose="Keeps you signed in", duration="session")],
    ),
    Category(key="marketing", label="Video embeds", hosts=["www.youtube.com", "*.ytimg.com"]),
]


def create_app(directory: str, *, auto_block: bool) -> ConsentMiddleware:
    async def home(request: Request) -> HTMLResponse:
        return HTMLResponse(page(BODY))

    config = make_config(directory, categories=CATEGORIES, auto_block=auto_block)
    return ConsentMiddleware(Starlette(routes=[Route("/", home)]), config=config)


app = create_app(db_dir(), auto_block=False)
blocked = create_app(db_dir(), auto_block=True)
