"""Litestar wrapped by consentkit, with an A/B-test cookie middleware wrapped around both."""

from __future__ import annotations

from litestar import Litestar, MediaType, get
from litestar.middleware import DefineMiddleware
from litestar.middleware.session.client_side import CookieBackendConfig
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentkit import Category, ConsentMiddleware, Cookie
from consentkit.integrations.litestar import wrap

from ._common import db_dir, make_config, page


@get("/", media_type=MediaType.HTML)
async def home() -> str:
    return page("<h1>Litestar</h1>")


class VariantMiddleware:
    """Puts every visitor in an A/B test group with a cookie."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"set-cookie", b"ab_group=b; Path=/")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


CATEGORIES = [
    Category(key="necessary", label="Strictly necessary", required=True),
    Category(
        key="marketing",
        label="Marketing",
        cookies=[Cookie(name="ab_group", purpose="A/B test group", duration="30 days")],
    ),
]
inner = wrap(Litestar(route_handlers=[home]), make_config(db_dir(), categories=CATEGORIES))
app = VariantMiddleware(inner)
ordered = wrap(VariantMiddleware(Litestar(route_handlers=[home])), inner.config)


# ConsentMiddleware in Litestar's own middleware list, after a cookie session.
listed = Litestar(
    route_handlers=[home],
    middleware=[
        CookieBackendConfig(secret=b"litestar-session-key-16+bytes!!!"[:32]).middleware,
        DefineMiddleware(ConsentMiddleware, config=inner.config),
    ],
)
