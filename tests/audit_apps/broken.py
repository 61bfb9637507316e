"""Apps the audit must refuse (exit 2)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def home(request: object) -> PlainTextResponse:
    return PlainTextResponse("no consent here")


#: No ConsentMiddleware anywhere.
app = Starlette(routes=[Route("/", home)])

#: Not an app at all.
not_an_app = 42
