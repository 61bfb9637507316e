"""A shop whose cookies are set only on POST (a login and an add-to-basket).

A GET-only audit never sees them; ``--post`` does.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from consentkit import Category, ConsentMiddleware, Cookie

from ._common import db_dir, make_config, page

CATEGORIES = [
    Category(
        key="necessary",
        label="Strictly necessary",
        required=True,
        cookies=[Cookie(name="session", purpose="Keeps you signed in", duration="session")],
    ),
    Category(
        key="marketing",
        label="Marketing",
        cookies=[Cookie(name="basket_ad", purpose="Retargeting", duration="30 days")],
    ),
]


async def home(request: Request) -> HTMLResponse:
    who = request.cookies.get("session", "nobody")
    return HTMLResponse(page(f"<h1>Hello {who}</h1>"))


async def login(request: Request) -> Response:
    form = await request.form()
    if form.get("password") != "right":
        return HTMLResponse(page("<p>Wrong password</p>"), status_code=403)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie("session", str(form.get("username")))
    return response


async def basket(request: Request) -> Response:
    response = RedirectResponse("/", status_code=303)
    response.set_cookie("basket_ad", "shoes")
    return response


def create_app(directory: str) -> ConsentMiddleware:
    site = Starlette(
        routes=[
            Route("/", home),
            Route("/login", login, methods=["POST"]),
            Route("/basket", basket, methods=["POST"]),
        ]
    )
    return ConsentMiddleware(site, config=make_config(directory, categories=CATEGORIES))


app = create_app(db_dir())


class FormTokenMiddleware:
    """Outside consentkit: adds a cookie to answers to POST only (here a 303 redirect)."""

    def __init__(self, app: ConsentMiddleware) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and scope.get("method") == "POST":
                headers = [*message.get("headers", []), (b"set-cookie", b"form_token=1; Path=/")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


leaky = FormTokenMiddleware(create_app(db_dir()))
