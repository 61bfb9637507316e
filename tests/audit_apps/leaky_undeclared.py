"""The home page is fine; /shop, one link away, sets an undeclared cookie.

A bare ASGI app wrapped in ConsentMiddleware (undeclared cookies allowed).
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

from consentkit import ConsentMiddleware

from ._common import db_dir, make_config, page


async def site(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"text/html; charset=utf-8")]
    if scope["path"] == "/shop":
        body = page("<h1>Shop</h1>")
        headers.append((b"set-cookie", b"visitor_id=42; Path=/; Max-Age=31536000"))
    else:
        body = page("<h1>Home</h1><a href='/shop'>Shop</a><a href='/consent'>c</a>")
        headers.append((b"set-cookie", b"session=s1; Path=/; HttpOnly"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body.encode()})


def create_app(directory: str) -> ConsentMiddleware:
    return ConsentMiddleware(site, config=make_config(directory))


app = create_app(db_dir())
