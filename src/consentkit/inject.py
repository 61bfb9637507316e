"""Inserting the snippet and banner before ``</body>`` of an HTML response.

A response with a ``Content-Length`` is held until its body is complete
(it is usually one message), then sent once with the length fixed. A
streamed response (no length) is passed on as it comes, holding back only
the few bytes that could be the start of a ``</body>`` split across
messages. A body with no ``</body>`` is left as it was.
"""

from __future__ import annotations

from starlette.types import Message, Send

__all__ = ["MAX_BUFFERED", "HtmlInjector"]

#: Larger declared bodies are passed on untouched rather than held in memory.
MAX_BUFFERED = 4 * 1024 * 1024
_TAG = b"</body"
_HOLD = len(_TAG) - 1


def find_body_end(body: bytes) -> int:
    """The offset of the last ``</body`` (any case) in ``body``, or -1."""
    # Pages end with "</body></html>": look at the tail before the whole body.
    tail = max(0, len(body) - 256)
    index = body.rfind(b"</body", tail)
    if index < 0:
        index = body.lower().rfind(b"</body")
    return index


class HtmlInjector:
    """A send wrapper for one HTML response that inserts ``fragment``.

    Call `start` with the response-start message, then pass every later
    message to `send`.
    """

    __slots__ = ("_buffer", "_chunks", "_done", "_fragment", "_send", "_start", "_streaming")

    def __init__(self, send: Send, fragment: bytes) -> None:
        self._send = send
        self._fragment = fragment
        self._start: Message | None = None
        self._buffer = b""
        self._chunks: list[bytes] = []
        self._streaming = False
        self._done = False

    async def start(self, message: Message, content_length: int | None) -> None:
        """Take the response start; it is sent now (streaming) or with the body."""
        if content_length is None:
            self._streaming = True
            await self._send(message)
        else:
            self._start = message

    async def send(self, message: Message) -> None:
        """Take a body message (or anything after the start)."""
        if message["type"] != "http.response.body" or self._done:
            await self._send(message)
            return
        if self._streaming:
            await self._stream(message)
        else:
            await self._buffered(message)

    async def _buffered(self, message: Message) -> None:
        chunk: bytes = message.get("body", b"")
        if message.get("more_body", False):
            self._chunks.append(chunk)
            return
        assert self._start is not None
        body = b"".join((*self._chunks, chunk)) if self._chunks else chunk
        self._chunks = []
        self._done = True
        index = find_body_end(body)
        if index >= 0:
            view = memoryview(body)
            body = b"".join((view[:index], self._fragment, view[index:]))
            headers = [
                (name, str(len(body)).encode() if name.lower() == b"content-length" else value)
                for name, value in self._start.get("headers", ())
            ]
            self._start = {**self._start, "headers": headers}
        await self._send(self._start)
        await self._send({"type": "http.response.body", "body": body, "more_body": False})

    async def _stream(self, message: Message) -> None:
        chunk = self._buffer + message.get("body", b"")
        more = message.get("more_body", False)
        index = find_body_end(chunk)
        if index >= 0:
            self._buffer = b""
            self._done = True
            chunk = chunk[:index] + self._fragment + chunk[index:]
        elif more:
            # Hold back what could be the start of a "</body" cut in two.
            chunk, self._buffer = chunk[:-_HOLD], chunk[-_HOLD:]
        else:
            self._buffer = b""
        await self._send({"type": "http.response.body", "body": chunk, "more_body": more})
