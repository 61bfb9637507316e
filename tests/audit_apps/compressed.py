"""A site compressing its pages inside consentkit, with gzip and with zstd.

gzip is decoded and the banner inserted; zstd cannot be, so the audit names
it. The zstd frames are real (raw blocks, written by hand: no zstd package
needed), sent only to a client that accepts zstd, as browsers do.
"""

from __future__ import annotations

import gzip
import struct

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consentkit import ConsentMiddleware

from ._common import db_dir, make_config, page


def zstd_frame(data: bytes) -> bytes:
    """``data`` as one zstd frame of one raw (stored) block; up to 65791 bytes."""
    assert 256 <= len(data) <= 65791
    header = b"\x28\xb5\x2f\xfd" + bytes([0x60]) + struct.pack("<H", len(data) - 256)
    block = (1 | (len(data) << 3)).to_bytes(3, "little")
    return header + block + data


class Compress:
    """Sends zstd to clients that accept it, else gzip."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        accept = dict(scope.get("headers", [])).get(b"accept-encoding", b"")
        coding = "zstd" if b"zstd" in accept else "gzip" if b"gzip" in accept else None
        if scope["type"] != "http" or coding is None:
            await self.app(scope, receive, send)
            return
        start: Message = {}

        async def wrapped(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            body = message["body"]
            packed = zstd_frame(body) if coding == "zstd" else gzip.compress(body)
            headers = MutableHeaders(raw=list(start["headers"]))
            headers["content-encoding"] = coding
            headers["content-length"] = str(len(packed))
            await send({**start, "headers": headers.raw})
            await send({"type": "http.response.body", "body": packed})

        await self.app(scope, receive, wrapped)


async def home(request: Request) -> HTMLResponse:
    response = HTMLResponse(page("<h1>Compressed</h1>" + "<p>Peace-building report.</p>" * 20))
    response.set_cookie("session", "abc")
    return response


def create_app(directory: str) -> Starlette:
    app = Starlette(routes=[Route("/", home)])
    app.add_middleware(Compress)
    app.add_middleware(ConsentMiddleware, config=make_config(directory))
    return app


app = create_app(db_dir())
