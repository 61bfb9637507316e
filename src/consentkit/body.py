"""Reading a request body within a size limit, for the surfaces that take one."""

from __future__ import annotations

from starlette.types import Receive

from consentkit.errors import ConsentKitError

__all__ = ["BodyError", "read_body"]


class BodyError(ConsentKitError):
    """A body refused before it was read whole: ``status``, an ``error`` code and a detail."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail


async def read_body(receive: Receive, content_length: str | None, limit: int) -> bytes:
    """The whole body, or `BodyError`: a bad or too large ``Content-Length`` is refused
    before anything is read, a body that grows past ``limit`` as soon as it does."""
    if content_length is not None:
        if not (content_length.isascii() and content_length.isdigit()):
            raise BodyError(400, "invalid_content_length", content_length[:40])
        if len(content_length) > 12 or int(content_length) > limit:
            raise BodyError(413, "body_too_large", f"at most {limit} bytes")
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BodyError(400, "client_disconnected", "")
        body += message.get("body", b"")
        if len(body) > limit:
            raise BodyError(413, "body_too_large", f"at most {limit} bytes")
        if not message.get("more_body", False):
            return bytes(body)
