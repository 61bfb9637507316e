"""FastAPI with the middleware order the docs used to show: a session outside consentkit.

``add_middleware(ConsentMiddleware)`` then ``add_middleware(SessionMiddleware)``:
the later one wraps the earlier, so the session cookie is never filtered.
``ordered`` is the same app built with `consentkit.integrations.starlette.install`.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request

from consentkit import Category, ConsentMiddleware, Cookie
from consentkit.integrations.starlette import install

from ._common import SECRET, db_dir, make_config, page

CATEGORIES = [
    Category(key="necessary", label="Strictly necessary", required=True),
    Category(
        key="personalization",
        label="Personalization",
        cookies=[Cookie(name="basket_session", purpose="Remembers the basket", duration="2 weeks")],
    ),
]


def _routes(app: FastAPI) -> None:
    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> str:
        request.session["visits"] = request.session.get("visits", 0) + 1
        return page("<h1>Shop</h1>")

    @app.get("/quiet", response_class=HTMLResponse)
    async def quiet() -> str:
        return page("<h1>No session here</h1>")


def create_app(directory: str, *, ordered: bool = False) -> FastAPI:
    app = FastAPI()
    _routes(app)
    config = make_config(directory, categories=CATEGORIES)
    if ordered:
        app.add_middleware(SessionMiddleware, secret_key=SECRET, session_cookie="basket_session")
        install(app, config)
        app.add_middleware(GZipMiddleware)
    else:
        app.add_middleware(ConsentMiddleware, config=config)
        app.add_middleware(SessionMiddleware, secret_key=SECRET, session_cookie="basket_session")
    return app


app = create_app(db_dir())
ordered = create_app(db_dir(), ordered=True)
