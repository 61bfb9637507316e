"""Inserting the snippet and banner before ``</body>`` of an HTML response.

A response with a ``Content-Length`` is held until its body is complete
(it is usually one message), then sent once with the length fixed. A
streamed response (no length) is passed on as it comes, holding back only
the few bytes that could be the start of a ``</body>`` split across
messages. A body with no ``</body>`` is left as it was.

A compressed response (gzip, deflate, br) goes through `EncodedHtmlInjector`:
decoded, given the fragment and re-encoded in the same coding, held or
streamed the same way; see docs/compression.md. A body that changes loses a
strong ``ETag`` (it becomes weak).
"""

from __future__ import annotations

from collections.abc import Iterator

from starlette.types import Message, Send

from consentkit.encoding import MAX_DECODED, Codec, Codecs, DecodeError, Decoder, Encoder

__all__ = ["MAX_BUFFERED", "EncodedHtmlInjector", "HtmlInjector"]

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


Headers = list[tuple[bytes, bytes]]


def changed_headers(headers: Headers, length: int | None) -> Headers:
    """``headers`` of a body that changed: its new ``Content-Length`` (or none), a weak ETag."""
    fixed: Headers = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-length":
            if length is None:
                continue
            value = str(length).encode()
        elif lowered == b"etag" and not value.startswith(b"W/"):
            value = b"W/" + value
        fixed.append((name, value))
    return fixed


def _splice(held: bytes, chunk: bytes, more: bool, fragment: bytes) -> tuple[bytes, bytes, bool]:
    """One part of a stream: ``(to send, to hold back, fragment inserted)``."""
    chunk = held + chunk
    index = find_body_end(chunk)
    if index >= 0:
        return chunk[:index] + fragment + chunk[index:], b"", True
    if more:
        # Hold back what could be the start of a "</body" cut in two.
        return chunk[:-_HOLD], chunk[-_HOLD:], False
    return chunk, b"", False


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
            # The body may change on the way: the ETag may no longer claim identical bytes.
            await self._send(
                {**message, "headers": changed_headers(message.get("headers", []), None)}
            )
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
            headers = changed_headers(self._start.get("headers", []), len(body))
            self._start = {**self._start, "headers": headers}
        await self._send(self._start)
        await self._send({"type": "http.response.body", "body": body, "more_body": False})

    async def _stream(self, message: Message) -> None:
        more = message.get("more_body", False)
        chunk, self._buffer, self._done = _splice(
            self._buffer, message.get("body", b""), more, self._fragment
        )
        await self._send({"type": "http.response.body", "body": chunk, "more_body": more})


class _TooLarge(Exception):
    pass


class EncodedHtmlInjector:
    """`HtmlInjector` for a compressed body: decode, insert, re-encode in the same coding.

    With a ``Content-Length`` the body is held (bounded like a plain one),
    decoded up to `MAX_DECODED` bytes and sent once, re-encoded, with its new
    length; a body that does not decode, decodes to more than the bound or
    has no ``</body>`` is sent exactly as it came. A streamed body keeps
    streaming: each message is decoded in bounded pieces and re-encoded
    (flushed, so the client can show it at once). Its start waits for the
    first body message; if that does not decode, the whole response is
    passed on as it came. A stream that breaks later cannot be undone: the
    error is raised, which ends the connection rather than complete a
    broken page.
    """

    __slots__ = (
        "_chunks",
        "_codec",
        "_codecs",
        "_decoder",
        "_encoder",
        "_fragment",
        "_held",
        "_inserted",
        "_passing",
        "_send",
        "_start",
        "_streaming",
    )

    def __init__(self, send: Send, fragment: bytes, codec: Codec, codecs: Codecs) -> None:
        self._send = send
        self._fragment = fragment
        self._codec = codec
        self._codecs = codecs
        self._start: Message | None = None
        self._chunks: list[bytes] = []
        self._streaming = False
        self._passing = False
        self._decoder: Decoder | None = None
        self._encoder: Encoder | None = None
        self._held = b""
        self._inserted = False

    async def start(self, message: Message, content_length: int | None) -> None:
        """Take the response start; it is sent with the first body message."""
        self._start = message
        self._streaming = content_length is None

    async def send(self, message: Message) -> None:
        """Take a body message (or anything after the start)."""
        if message["type"] != "http.response.body" or self._passing:
            await self._send(message)
        elif self._streaming:
            await self._stream(message)
        else:
            await self._buffered(message)

    def _decode_all(self, decoder: Decoder, body: bytes) -> bytes:
        pieces: list[bytes] = []
        size = 0
        for piece in decoder.decode(body):
            size += len(piece)
            if size > MAX_DECODED:
                raise _TooLarge
            pieces.append(piece)
        return b"".join(pieces)

    async def _pass(self, message: Message) -> None:
        """Send the start and ``message`` as they came, and everything after."""
        assert self._start is not None
        self._passing = True
        await self._send(self._start)
        await self._send(message)

    async def _buffered(self, message: Message) -> None:
        chunk: bytes = message.get("body", b"")
        if message.get("more_body", False):
            self._chunks.append(chunk)
            return
        assert self._start is not None
        body = b"".join((*self._chunks, chunk)) if self._chunks else chunk
        self._chunks = []
        decoder = self._codec.decoder()
        try:
            text = self._decode_all(decoder, body)
            decoder.finish()
        except DecodeError as exc:
            self._codecs.corrupt(self._codec.name, exc)
            text = None
        except _TooLarge:
            text = None
        index = find_body_end(text) if text is not None else -1
        if text is None or index < 0:
            await self._pass({"type": "http.response.body", "body": body, "more_body": False})
            return
        encoder = decoder.encoder()
        encoded = b"".join(
            (
                encoder.encode(text[:index]),
                encoder.encode(self._fragment),
                encoder.encode(text[index:]),
                encoder.finish(),
            )
        )
        headers = changed_headers(self._start.get("headers", []), len(encoded))
        self._passing = True
        await self._send({**self._start, "headers": headers})
        await self._send({"type": "http.response.body", "body": encoded, "more_body": False})

    async def _stream(self, message: Message) -> None:
        chunk: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = self._codec.decoder()
            try:
                first = self._decode_all(decoder, chunk)
                if not more:
                    decoder.finish()
            except DecodeError as exc:
                self._codecs.corrupt(self._codec.name, exc)
                await self._pass(message)
                return
            except _TooLarge:
                await self._pass(message)
                return
            assert self._start is not None
            headers = changed_headers(self._start.get("headers", []), None)
            await self._send({**self._start, "headers": headers})
            pieces: list[bytes] | Iterator[bytes] = [first] if first else []
        else:
            pieces = decoder.decode(chunk)
        encoder = self._encoder
        out: list[bytes] = []
        try:
            for piece in pieces:
                if encoder is None:
                    # Made once the decoder has seen the stream (raw or zlib-wrapped deflate).
                    encoder = self._encoder = decoder.encoder()
                if self._inserted:
                    out.append(encoder.encode(piece))
                    continue
                text, self._held, self._inserted = _splice(self._held, piece, True, self._fragment)
                out.append(encoder.encode(text))
            if not more:
                decoder.finish()
        except DecodeError as exc:
            self._codecs.corrupt(self._codec.name, exc)
            raise
        if encoder is None:
            if more:
                await self._send({"type": "http.response.body", "body": b"", "more_body": True})
                return
            encoder = self._encoder = decoder.encoder()
        if more:
            out.append(encoder.flush())
        else:
            out.append(encoder.encode(self._held))
            self._held = b""
            out.append(encoder.finish())
        await self._send({"type": "http.response.body", "body": b"".join(out), "more_body": more})
