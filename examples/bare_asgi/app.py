"""consentkit around a bare ASGI callable: ``uvicorn examples.bare_asgi.app:app``.

Set ``CONSENTKIT_SECRET_KEYS`` (at least 32 random bytes) before starting it.
"""

from __future__ import annotations

from typing import Any

from consentkit import Category, ConsentConfig, ConsentMiddleware, Cookie, get_consent

PAGE = b"<!doctype html><html><head><title>Bare</title></head><body><h1>Hi</h1></body></html>"


async def site(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":  # startup, then shutdown: nothing to set up here
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    consent = get_consent(scope)  # the visitor's verified choice, on every request
    headers = [(b"content-type", b"text/html; charset=utf-8")]
    # Offered on every page; the middleware drops it unless "marketing" was accepted.
    headers.append((b"set-cookie", b"ad_id=7; Path=/; HttpOnly"))
    body = PAGE.replace(
        b"Hi", b"Hi, marketing is " + (b"on" if consent.allows("marketing") else b"off")
    )
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


app = ConsentMiddleware(
    site,
    config=ConsentConfig(
        storage="sqlite:///bare-consent.db",
        categories=[
            Category(key="necessary", label="Strictly necessary", required=True),
            Category(key="marketing", label="Marketing", cookies=[Cookie(name="ad_id")]),
        ],
    ),
)
