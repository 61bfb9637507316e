"""Inserting the snippet and banner before ``</body>`` of an HTML response.

An injector may also carry a ``head`` fragment (the scripts a site placed in
``"head"``): it goes before the first ``</head>``, or, on a page without one,
just before the body fragment at ``</body>``.

A response with a ``Content-Length`` is held until its body is complete
(it is usually one message), then sent once with the length fixed. A
streamed response (no length) is passed on as it comes, holding back only
the few bytes that could be the start of a ``</body>`` split across
messages. A body with no ``</body>`` is left as it was.

A compressed response (gzip, deflate, br) goes through `EncodedHtmlInjector`:
decoded, given the fragment and re-encoded in the same coding, held or
streamed the same way; see docs/compression.md. A body that changes loses a
strong ``ETag`` (it becomes weak).

With automatic blocking, both injectors also run the (decoded) body through
a `consentkit.autoblock.TagRewriter` before inserting: a held body is
rewritten at once, a streamed one as it comes, so a compressed page is
decoded and re-encoded once for both.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from starlette.types import Message, Send

from consentkit.autoblock import TagRewriter
from consentkit.encoding import (
    Codec,
    Codecs,
    DecodedTooLarge,
    DecodeError,
    Decoder,
    Encoder,
    decode_bounded,
)

__all__ = ["MAX_BUFFERED", "EncodedHtmlInjector", "HtmlInjector"]

#: Larger declared bodies are passed on untouched rather than held in memory.
MAX_BUFFERED = 4 * 1024 * 1024
_TAG = b"</body"
_HOLD = len(_TAG) - 1
#: ``</head`` ending its name (so not ``</header>``).
_HEAD_END = re.compile(rb"</head[\s/>]", re.IGNORECASE)
#: What could be a ``</head`` whose next byte has not come yet (covers a cut ``</body`` too).
_HEAD_HOLD = len(b"</head")


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


def find_head_end(body: bytes, end: int) -> int:
    """The offset of the first ``</head>`` (any case) in ``body[:end]``, or -1."""
    match = _HEAD_END.search(body, 0, end)
    return -1 if match is None else match.start()


Pieces = list[bytes | memoryview]


def insert(body: bytes, head: bytes, fragment: bytes) -> Pieces | None:
    """``body`` in pieces with ``head`` before ``</head>`` and ``fragment`` before ``</body>``.

    ``None`` when there is nowhere to insert. Without ``</head>``, ``head`` goes
    just before ``fragment``; without ``</body>``, only ``head`` is inserted
    (as a streamed page would get it).
    """
    body_end = find_body_end(body)
    head_end = find_head_end(body, len(body) if body_end < 0 else body_end) if head else -1
    view = memoryview(body)
    if head_end >= 0:
        if body_end < 0:
            return [view[:head_end], head, view[head_end:]]
        return [view[:head_end], head, view[head_end:body_end], fragment, view[body_end:]]
    if body_end < 0:
        return None
    return [view[:body_end], head, fragment, view[body_end:]]


class _Splicer:
    """Inserts the fragments into a stream of parts, holding back only a possible cut tag."""

    __slots__ = ("_fragment", "_head", "_held", "_in_head", "done")

    def __init__(self, head: bytes, fragment: bytes) -> None:
        self._head = head
        self._fragment = fragment
        self._held = b""
        #: Still looking for ``</head>`` (only when there is something to put there).
        self._in_head = bool(head)
        #: Both fragments are in: the rest passes as it comes.
        self.done = False

    def feed(self, chunk: bytes, more: bool) -> bytes:
        """The part of the stream that can go now; with ``more=False``, all the rest."""
        chunk = self._held + chunk if self._held else chunk
        self._held = b""
        out: list[bytes] = []
        if self._in_head:
            body_end = find_body_end(chunk)
            head_end = find_head_end(chunk, len(chunk) if body_end < 0 else body_end)
            if head_end >= 0:
                self._in_head = False
                out += (chunk[:head_end], self._head)
                chunk = chunk[head_end:]
            elif body_end >= 0:
                self._in_head = False
                self.done = True
                return b"".join((chunk[:body_end], self._head, self._fragment, chunk[body_end:]))
            elif more:
                self._held = chunk[-_HEAD_HOLD:]
                return chunk[:-_HEAD_HOLD]
            else:
                return chunk
        index = find_body_end(chunk)
        if index >= 0:
            self.done = True
            out += (chunk[:index], self._fragment, chunk[index:])
        elif more:
            # Hold back what could be the start of a "</body" cut in two.
            out.append(chunk[:-_HOLD])
            self._held = chunk[-_HOLD:]
        else:
            out.append(chunk)
        return b"".join(out) if len(out) > 1 else out[0]

    def rest(self) -> bytes:
        """What is still held back, at the end of the stream."""
        held, self._held = self._held, b""
        return held


class HtmlInjector:
    """A send wrapper for one HTML response that inserts ``fragment`` (and ``head``).

    Call `start` with the response-start message, then pass every later
    message to `send`.
    """

    __slots__ = (
        "_chunks",
        "_done",
        "_fragment",
        "_head",
        "_rewriter",
        "_send",
        "_splicer",
        "_start",
    )

    def __init__(
        self,
        send: Send,
        fragment: bytes,
        head: bytes = b"",
        rewriter: TagRewriter | None = None,
    ) -> None:
        self._send = send
        self._fragment = fragment
        self._head = head
        self._rewriter = rewriter
        self._start: Message | None = None
        self._chunks: list[bytes] = []
        self._splicer: _Splicer | None = None
        self._done = False

    async def start(self, message: Message, content_length: int | None) -> None:
        """Take the response start; it is sent now (streaming) or with the body."""
        if content_length is None:
            self._splicer = _Splicer(self._head, self._fragment)
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
        if self._splicer is not None:
            await self._stream(message, self._splicer)
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
        rewriter = self._rewriter
        if rewriter is not None:
            body = rewriter.rewrite(body)
        pieces = insert(body, self._head, self._fragment)
        if pieces is not None:
            body = b"".join(pieces)
        if pieces is not None or (rewriter is not None and rewriter.blocked):
            headers = changed_headers(self._start.get("headers", []), len(body))
            self._start = {**self._start, "headers": headers}
        await self._send(self._start)
        await self._send({"type": "http.response.body", "body": body, "more_body": False})

    async def _stream(self, message: Message, splicer: _Splicer) -> None:
        more = message.get("more_body", False)
        chunk: bytes = message.get("body", b"")
        rewriter = self._rewriter
        if rewriter is None:
            chunk = splicer.feed(chunk, more)
            self._done = splicer.done
        else:
            chunk = rewriter.feed(chunk)
            if not more:
                chunk += rewriter.finish()
            if not splicer.done:
                chunk = splicer.feed(chunk, more)
        await self._send({"type": "http.response.body", "body": chunk, "more_body": more})


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
        "_head",
        "_passing",
        "_rewriter",
        "_send",
        "_splicer",
        "_start",
        "_streaming",
    )

    def __init__(
        self,
        send: Send,
        fragment: bytes,
        codec: Codec,
        codecs: Codecs,
        head: bytes = b"",
        rewriter: TagRewriter | None = None,
    ) -> None:
        self._send = send
        self._rewriter = rewriter
        self._fragment = fragment
        self._head = head
        self._codec = codec
        self._codecs = codecs
        self._start: Message | None = None
        self._chunks: list[bytes] = []
        self._streaming = False
        self._passing = False
        self._decoder: Decoder | None = None
        self._encoder: Encoder | None = None
        self._splicer = _Splicer(head, fragment)

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
            text = decode_bounded(decoder, body)
            decoder.finish()
        except DecodeError as exc:
            self._codecs.corrupt(self._codec.name, exc)
            text = None
        except DecodedTooLarge:
            text = None
        if text is None:
            await self._pass({"type": "http.response.body", "body": body, "more_body": False})
            return
        rewriter = self._rewriter
        if rewriter is not None:
            text = rewriter.rewrite(text)
        pieces = insert(text, self._head, self._fragment)
        if pieces is None:
            if rewriter is None or not rewriter.blocked:
                await self._pass({"type": "http.response.body", "body": body, "more_body": False})
                return
            pieces = [text]
        encoder = decoder.encoder()
        encoded = b"".join((*(encoder.encode(bytes(piece)) for piece in pieces), encoder.finish()))
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
                first = decode_bounded(decoder, chunk)
                if not more:
                    decoder.finish()
            except DecodeError as exc:
                self._codecs.corrupt(self._codec.name, exc)
                await self._pass(message)
                return
            except DecodedTooLarge:
                await self._pass(message)
                return
            assert self._start is not None
            headers = changed_headers(self._start.get("headers", []), None)
            await self._send({**self._start, "headers": headers})
            pieces: list[bytes] | Iterator[bytes] = [first] if first else []
        else:
            pieces = decoder.decode(chunk)
        encoder = self._encoder
        splicer = self._splicer
        rewriter = self._rewriter
        out: list[bytes] = []
        try:
            for piece in pieces:
                if encoder is None:
                    # Made once the decoder has seen the stream (raw or zlib-wrapped deflate).
                    encoder = self._encoder = decoder.encoder()
                if rewriter is not None:
                    piece = rewriter.feed(piece)
                out.append(encoder.encode(piece if splicer.done else splicer.feed(piece, True)))
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
            if rewriter is not None:
                rest = rewriter.finish()
                out.append(encoder.encode(rest if splicer.done else splicer.feed(rest, True)))
            out.append(encoder.encode(splicer.rest()))
            out.append(encoder.finish())
        await self._send({"type": "http.response.body", "body": b"".join(out), "more_body": more})
