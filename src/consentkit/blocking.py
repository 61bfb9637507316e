"""The send-wrapper layer of automatic blocking, between the app and the snippet's injector.

`BlockingSend` takes one HTML response the middleware inserts into and runs
its body through a `TagRewriter` before handing it on (to the injector):

- a body with a ``Content-Length`` is held until complete (the injector holds
  it too), rewritten at once and passed on with its new length;
- a streamed body is rewritten as it comes, each message passed on at once
  less a tag cut at its end;
- a compressed body (a coding `consentkit.encoding.Codecs` handles) is decoded,
  rewritten and re-encoded in the same coding; one that does not decode, or
  decodes to more than `MAX_DECODED` bytes, is passed on as it came. A held
  body in which nothing was blocked is passed on as it came, not re-encoded.

A body that changed loses its strong ``ETag`` (it becomes weak), as in
`consentkit.inject.changed_headers`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

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
from consentkit.inject import changed_headers

__all__ = ["BlockingSend"]

#: ``start(message, content_length)`` of the layer below (the injector).
Start = Callable[[Message, int | None], Awaitable[None]]


class BlockingSend:
    """Gates blocked tags in one HTML response on its way to the injector.

    Call `start` with the response-start message and its ``Content-Length``
    (``None`` if streamed), then pass every later message to `send`.
    """

    __slots__ = (
        "_chunks",
        "_codec",
        "_codecs",
        "_decoder",
        "_encoder",
        "_inner_send",
        "_inner_start",
        "_length",
        "_passing",
        "_rewriter",
        "_start",
    )

    def __init__(
        self,
        inner_start: Start,
        inner_send: Send,
        rewriter: TagRewriter,
        codec: Codec | None,
        codecs: Codecs,
    ) -> None:
        self._inner_start = inner_start
        self._inner_send = inner_send
        self._rewriter = rewriter
        self._codec = codec
        self._codecs = codecs
        self._start: Message | None = None
        self._length: int | None = None
        self._chunks: list[bytes] = []
        self._passing = False
        self._decoder: Decoder | None = None
        self._encoder: Encoder | None = None

    async def start(self, message: Message, content_length: int | None) -> None:
        """Take the response start; a plain streamed one goes on now, others with the body."""
        self._length = content_length
        if content_length is None and self._codec is None:
            headers = changed_headers(message.get("headers", []), None)
            await self._inner_start({**message, "headers": headers}, None)
        else:
            self._start = message

    async def send(self, message: Message) -> None:
        """Take a body message (or anything after the start)."""
        if message["type"] != "http.response.body" or self._passing:
            await self._inner_send(message)
        elif self._length is not None:
            await self._held(message)
        elif self._codec is None:
            await self._stream_plain(message)
        else:
            await self._stream_encoded(message)

    async def _forward(self, start: Message, length: int | None, body: bytes) -> None:
        self._passing = True
        await self._inner_start(start, length)
        await self._inner_send({"type": "http.response.body", "body": body, "more_body": False})

    async def _held(self, message: Message) -> None:
        chunk: bytes = message.get("body", b"")
        if message.get("more_body", False):
            self._chunks.append(chunk)
            return
        start = self._start
        assert start is not None
        body = b"".join((*self._chunks, chunk)) if self._chunks else chunk
        self._chunks = []
        codec = self._codec
        rewriter = self._rewriter
        if codec is None:
            text = rewriter.rewrite(body)
            if not rewriter.blocked:
                await self._forward(start, self._length, body)
                return
            headers = changed_headers(start.get("headers", []), len(text))
            await self._forward({**start, "headers": headers}, len(text), text)
            return
        decoder = codec.decoder()
        try:
            decoded = decode_bounded(decoder, body)
            decoder.finish()
        except DecodeError as exc:
            self._codecs.corrupt(codec.name, exc)
            decoded = None
        except DecodedTooLarge:
            decoded = None
        if decoded is None:
            await self._forward(start, self._length, body)
            return
        text = rewriter.rewrite(decoded)
        if not rewriter.blocked:
            await self._forward(start, self._length, body)
            return
        encoder = decoder.encoder()
        encoded = encoder.encode(text) + encoder.finish()
        headers = changed_headers(start.get("headers", []), len(encoded))
        await self._forward({**start, "headers": headers}, len(encoded), encoded)

    async def _stream_plain(self, message: Message) -> None:
        more: bool = message.get("more_body", False)
        body = self._rewriter.feed(message.get("body", b""))
        if not more:
            body += self._rewriter.finish()
        await self._inner_send({"type": "http.response.body", "body": body, "more_body": more})

    async def _stream_encoded(self, message: Message) -> None:
        chunk: bytes = message.get("body", b"")
        more: bool = message.get("more_body", False)
        codec = self._codec
        assert codec is not None
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = codec.decoder()
            try:
                first = decode_bounded(decoder, chunk)
                if not more:
                    decoder.finish()
            except (DecodeError, DecodedTooLarge) as exc:
                if isinstance(exc, DecodeError):
                    self._codecs.corrupt(codec.name, exc)
                assert self._start is not None
                await self._forward_stream(self._start, message)
                return
            assert self._start is not None
            headers = changed_headers(self._start.get("headers", []), None)
            await self._inner_start({**self._start, "headers": headers}, None)
            pieces = [first]
        else:
            try:
                pieces = list(decoder.decode(chunk))
                if not more:
                    decoder.finish()
            except DecodeError as exc:
                # Part of the page is gone already: end the connection, not a broken page.
                self._codecs.corrupt(codec.name, exc)
                raise
        encoder = self._encoder
        if encoder is None:
            encoder = self._encoder = decoder.encoder()
        out = [encoder.encode(self._rewriter.feed(piece)) for piece in pieces if piece]
        if more:
            out.append(encoder.flush())
        else:
            out.append(encoder.encode(self._rewriter.finish()))
            out.append(encoder.finish())
        await self._inner_send(
            {"type": "http.response.body", "body": b"".join(out), "more_body": more}
        )

    async def _forward_stream(self, start: Message, message: Message) -> None:
        """Pass the start and ``message`` as they came, and everything after."""
        self._passing = True
        await self._inner_start(start, None)
        await self._inner_send(message)
