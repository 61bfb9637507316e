"""A tracking middleware outside ConsentMiddleware sets a declared analytics cookie.

The consent middleware never sees that Set-Cookie, so it leaks before consent
and after rejection.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentkit import ConsentMiddleware

from ._common import db_dir, make_config, page


async def site(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/html; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": page("<h1>Home</h1>").encode()})


class TrackingMiddleware:
    """Adds a Google Analytics cookie to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"set-cookie", b"_ga=GA1.2.3; Path=/")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def create_app(directory: str) -> TrackingMiddleware:
    return TrackingMiddleware(ConsentMiddleware(site, config=make_config(directory)))


app = create_app(db_dir())
