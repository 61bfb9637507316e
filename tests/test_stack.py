"""``consentkit.stack``: the layers outside ConsentMiddleware and who adds which cookie."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentkit import Category, ConsentConfig, ConsentMiddleware
from consentkit.stack import CookieTrace, Layer, outer_layers, sets_cookies_by_name


def config(tmp_path: Path) -> ConsentConfig:
    return ConsentConfig(
        secret_keys=["stack-test-secret-0123456789abcdefghijk"],
        storage=f"sqlite:///{tmp_path}/consent.db",
        categories=[Category(key="necessary", label="Strictly necessary", required=True)],
    )


async def page(scope: Scope, receive: Receive, send: Send) -> None:
    headers = [(b"content-type", b"text/plain"), (b"set-cookie", b"inner=1")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


class AddsCookie:
    def __init__(self, app: ASGIApp, name: bytes) -> None:
        self.app = app
        self.name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [*message["headers"], (b"set-cookie", self.name + b"=1")],
                }
            await send(message)

        await self.app(scope, receive, with_cookie)


class Plain:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def call(app: Any) -> set[str]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
    asyncio.run(app(scope, receive, send))
    return {v.split(b"=")[0].decode() for n, v in sent[0]["headers"] if n == b"set-cookie"}


def test_layers_and_who_added_each_cookie(tmp_path: Path) -> None:
    consent = ConsentMiddleware(page, config=config(tmp_path))
    middle = AddsCookie(consent, b"middle")
    app = AddsCookie(Plain(middle), b"outer")
    layers = outer_layers(app)
    assert layers is not None
    assert [layer.name for layer in layers] == ["AddsCookie", "Plain", "AddsCookie"]
    with CookieTrace(layers) as trace:
        got = call(app)
        assert got == {"inner", "middle", "outer"}
        assert trace.added(got) == {"outer": "AddsCookie", "middle": "AddsCookie"}
    # Put back as it was.
    assert app.app.app is middle and middle.app is consent


def test_not_reachable_through_app_attributes(tmp_path: Path) -> None:
    consent = ConsentMiddleware(page, config=config(tmp_path))
    mounted = Starlette(routes=[Mount("/shop", app=consent)])
    assert outer_layers(mounted) is None
    assert outer_layers(page) is None


def test_starlette_stack_is_built_and_walked(tmp_path: Path) -> None:
    app = Starlette()
    app.add_middleware(ConsentMiddleware, config=config(tmp_path))
    app.add_middleware(SessionMiddleware, secret_key="x")
    layers = outer_layers(app)
    assert layers is not None
    assert layers[0].attribute == "middleware_stack"
    assert "SessionMiddleware" in [layer.name for layer in layers]


def test_cookie_setter_names() -> None:
    def named(name: str) -> Layer:
        return Layer(type(name, (), {})(), "app")

    assert sets_cookies_by_name(named("SessionMiddleware"))
    assert sets_cookies_by_name(named("CSRFMiddleware"))
    assert sets_cookies_by_name(named("ABTestCookieMiddleware"))
    assert not sets_cookies_by_name(named("GZipMiddleware"))
    assert not sets_cookies_by_name(named("AuthenticationMiddleware"))
