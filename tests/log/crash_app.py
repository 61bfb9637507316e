"""A small site for the crash and concurrency tests: uvicorn serves ``crash_app:app``.

The consent log's storage URL comes from ``CONSENTKIT_TEST_STORAGE``.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from consentkit import Category, ConsentConfig, ConsentMiddleware

SECRET = "x" * 32


async def home(request: object) -> HTMLResponse:
    return HTMLResponse("<html><body><h1>Annual report</h1></body></html>")


config = ConsentConfig(
    secret_keys=[SECRET],
    categories=[
        Category(key="necessary", label="Strictly necessary", required=True),
        Category(key="analytics", label="Analytics"),
        Category(key="marketing", label="Marketing"),
    ],
    storage=os.environ["CONSENTKIT_TEST_STORAGE"],
)
app = ConsentMiddleware(Starlette(routes=[Route("/", home)]), config=config)
