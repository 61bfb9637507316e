"""Third-party script and frame that load before consent; everything else is fine."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from consentkit import ConsentMiddleware

from ._common import db_dir, make_config, page

BODY = (
    "<h1>News</h1>"
    "<script src='https://tracker.example/t.js'></script>"
    "<script src='https://cdn.example.net/jquery.js'></script>"
    "<iframe src='https://www.youtube.com/embed/abc'></iframe>"
    "<script type='text/plain' data-consent='marketing' src='https://ads.example/a.js'></script>"
    "<script src='/static/site.js'></script>"
    "<script src='https://static.localhost/x.js'></script>"
)


def create_app(directory: str) -> FastAPI:
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    async def home() -> HTMLResponse:
        response = HTMLResponse(page(BODY))
        response.set_cookie("session", "abc")
        return response

    app.add_middleware(ConsentMiddleware, config=make_config(directory))
    return app


app = create_app(db_dir())
