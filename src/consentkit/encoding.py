"""Content codings: decoding and re-encoding compressed HTML, choosing one for a client.

`Codecs` knows the codings one middleware can take apart and put back
together: ``gzip`` (and ``x-gzip``), ``deflate`` (zlib-wrapped or raw, as
browsers accept both) and ``br`` when the ``brotli`` package is installed
(the ``consentkit[brotli]`` extra). Decoding yields bounded pieces, so a
small body that expands enormously never sits in memory at once.

A coding that cannot be handled is noted once per middleware: a warning in
the log naming the coding and the fix, and an entry in `Codecs.unhandled`
that ``consentkit audit`` reports.

`negotiate` picks the coding of a precompressed file from ``Accept-Encoding``.
"""

from __future__ import annotations

import importlib
import logging
import zlib
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Protocol

from consentkit.errors import ConsentKitError

__all__ = [
    "MAX_DECODED",
    "Codec",
    "Codecs",
    "DecodeError",
    "Decoder",
    "Encoder",
    "compress",
    "negotiate",
]

logger = logging.getLogger("consentkit")

#: Decoded bodies larger than this are passed on as they came, without the banner.
MAX_DECODED = 4 * 1024 * 1024
#: Decoding yields pieces of at most about this size.
PIECE = 64 * 1024
#: Level of re-encoded gzip and deflate: within 3% of level 6's size, about a third cheaper.
ZLIB_LEVEL = 5
#: Quality of re-encoded brotli (fast enough for every request).
BROTLI_QUALITY = 5
# Bounds what odd header values can make a middleware remember.
_MAX_NOTED = 32
_MAX_NAME = 40


def _load_brotli() -> ModuleType | None:
    try:
        return importlib.import_module("brotli")
    except ImportError:
        return None


_brotli = _load_brotli()


class DecodeError(ConsentKitError):
    """A compressed body is corrupt or truncated."""


class DecodedTooLarge(Exception):
    """A compressed body decodes to more than `MAX_DECODED` bytes (a bomb, or just huge)."""


class Decoder(Protocol):
    """Decodes one compressed stream, fed in as many parts as it arrives in."""

    def decode(self, data: bytes) -> Iterator[bytes]:
        """The decoded bytes of ``data``, in pieces; raises `DecodeError`."""

    def finish(self) -> None:
        """Raise `DecodeError` unless the stream ended properly."""

    def encoder(self) -> Encoder:
        """An encoder of the same coding (and the same variant of it)."""


class Encoder(Protocol):
    """Encodes one stream."""

    def encode(self, data: bytes) -> bytes:
        """Compressed bytes for ``data`` (may be empty until more comes)."""

    def flush(self) -> bytes:
        """Everything given so far, decodable now; the stream goes on."""

    def finish(self) -> bytes:
        """The end of the stream."""


class _ZlibEncoder:
    __slots__ = ("_obj",)

    def __init__(self, wbits: int) -> None:
        self._obj = zlib.compressobj(ZLIB_LEVEL, zlib.DEFLATED, wbits)

    def encode(self, data: bytes) -> bytes:
        return self._obj.compress(data)

    def flush(self) -> bytes:
        return self._obj.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._obj.flush(zlib.Z_FINISH)


_GZIP = 16 + zlib.MAX_WBITS
_ZLIB = zlib.MAX_WBITS
_RAW = -zlib.MAX_WBITS


class _ZlibDecoder:
    """gzip (any number of members) or deflate (zlib-wrapped or raw, told by its first bytes)."""

    __slots__ = ("_ended", "_head", "_obj", "_wbits")

    def __init__(self, wbits: int | None) -> None:
        self._wbits = wbits
        self._obj = zlib.decompressobj(wbits) if wbits is not None else None
        self._head = b""
        self._ended = False

    def decode(self, data: bytes) -> Iterator[bytes]:
        obj = self._obj
        if obj is None:
            # deflate: a zlib header is two bytes whose value is a multiple of 31.
            data = self._head + data
            if len(data) < 2:
                self._head = data
                return
            self._head = b""
            zlib_wrapped = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._wbits = _ZLIB if zlib_wrapped else _RAW
            obj = self._obj = zlib.decompressobj(self._wbits)
        if self._ended:
            return
        try:
            while True:
                out = obj.decompress(data, PIECE)
                if out:
                    yield out
                data = obj.unconsumed_tail
                if obj.eof:
                    rest = obj.unused_data
                    if self._wbits == _GZIP and rest:
                        obj = self._obj = zlib.decompressobj(_GZIP)
                        data = rest
                        continue
                    self._ended = True
                    return
                if not data and len(out) < PIECE:
                    return
        except zlib.error as exc:
            raise DecodeError(str(exc)) from None

    def finish(self) -> None:
        if not self._ended:
            raise DecodeError("the compressed stream is truncated")

    def encoder(self) -> Encoder:
        return _ZlibEncoder(self._wbits if self._wbits is not None else _ZLIB)


class _BrotliEncoder:
    __slots__ = ("_obj",)

    def __init__(self, brotli: ModuleType) -> None:
        self._obj = brotli.Compressor(quality=BROTLI_QUALITY)

    def encode(self, data: bytes) -> bytes:
        out: bytes = self._obj.process(data)
        return out

    def flush(self) -> bytes:
        out: bytes = self._obj.flush()
        return out

    def finish(self) -> bytes:
        out: bytes = self._obj.finish()
        return out


class _BrotliDecoder:
    __slots__ = ("_brotli", "_obj")

    def __init__(self, brotli: ModuleType) -> None:
        self._brotli = brotli
        self._obj = brotli.Decompressor()

    def decode(self, data: bytes) -> Iterator[bytes]:
        obj = self._obj
        try:
            out: bytes = obj.process(data, output_buffer_limit=PIECE)
            if out:
                yield out
            while not obj.can_accept_more_data():
                out = obj.process(b"", output_buffer_limit=PIECE)
                if out:
                    yield out
        except self._brotli.error as exc:
            raise DecodeError(str(exc)) from None

    def finish(self) -> None:
        if not self._obj.is_finished():
            raise DecodeError("the compressed stream is truncated")

    def encoder(self) -> Encoder:
        return _BrotliEncoder(self._brotli)


class Codec:
    """One content coding consentkit can decode and re-encode."""

    __slots__ = ("_brotli", "_wbits", "name")

    def __init__(
        self, name: str, wbits: int | None = None, brotli: ModuleType | None = None
    ) -> None:
        #: The coding's name as sent in ``Content-Encoding``.
        self.name = name
        self._wbits = wbits
        self._brotli = brotli

    def decoder(self) -> Decoder:
        """A decoder for one body."""
        if self._brotli is not None:
            return _BrotliDecoder(self._brotli)
        return _ZlibDecoder(self._wbits)


_FIX_OUTSIDE = "put the compressing middleware outside ConsentMiddleware"


class Codecs:
    """The codings one middleware handles, and the ones it met but could not handle."""

    def __init__(self, brotli: ModuleType | None = _brotli) -> None:
        gzip = Codec("gzip", _GZIP)
        self._known: dict[str, Codec] = {
            "gzip": gzip,
            "x-gzip": gzip,
            "deflate": Codec("deflate"),
        }
        if brotli is not None:
            self._known["br"] = Codec("br", brotli=brotli)
        self._by_value: dict[bytes, Codec] = {
            name.encode(): codec for name, codec in self._known.items()
        }
        #: Coding -> why HTML sent with it got no banner, and the fix (said once each).
        self.unhandled: dict[str, str] = {}

    def get(self, value: bytes) -> Codec | None:
        """The codec for a ``Content-Encoding`` value, or ``None`` (noted once) if unhandled."""
        codec = self._by_value.get(value)
        if codec is not None:
            return codec
        name = value.decode("latin-1").strip().lower()
        codec = self._known.get(name)
        if codec is not None:
            return codec
        if name == "br":
            self.note(
                name,
                "the brotli package is not installed: install the consentkit[brotli] extra "
                f"(pip install 'consentkit[brotli]') or {_FIX_OUTSIDE}",
            )
        else:
            self.note(name, f"consentkit cannot decode it: {_FIX_OUTSIDE}")
        return None

    def note(self, coding: str, reason: str) -> None:
        """Say once, in the log and in `unhandled`, that HTML in ``coding`` got no banner."""
        coding = coding[:_MAX_NAME]
        if coding in self.unhandled or len(self.unhandled) >= _MAX_NOTED:
            return
        self.unhandled[coding] = reason
        logger.warning(
            "consentkit: HTML sent with Content-Encoding: %s is passed on without the "
            "snippet and banner: %s (said once per coding)",
            coding,
            reason,
        )

    def corrupt(self, coding: str, error: DecodeError) -> None:
        """Note a body in ``coding`` that did not decode."""
        self.note(
            coding,
            f"a body did not decode ({error}): check the middleware that compresses it",
        )


def compress(data: bytes, coding: str) -> bytes | None:
    """``data`` compressed with ``coding`` at the best level, or ``None`` if unavailable.

    Used once at start-up for the snippet's files; the result is the same on
    every run (no timestamp in the gzip header).
    """
    if coding == "gzip":
        obj = zlib.compressobj(9, zlib.DEFLATED, _GZIP)
        return obj.compress(data) + obj.flush()
    if coding == "br" and _brotli is not None:
        out: bytes = _brotli.compress(data, quality=11)
        return out
    return None


def negotiate(accept_encoding: str | None, available: Sequence[str]) -> str:
    """The coding of ``available`` (best first) to send, or ``"identity"``.

    The highest ``q`` wins; a tie goes to the earlier of ``available``, and a
    coding to ``identity``, which counts only when named (or by ``*``).
    ``q=0`` refuses a coding; ``*`` covers the ones not named; an element
    with a malformed ``q`` is ignored. A client that refuses everything still
    gets ``identity``.
    """
    if not accept_encoding:
        return "identity"
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, params = item.partition(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = -1.0
        if 0.0 <= q <= 1.0:
            weights[name] = q
    star = weights.get("*")
    best = "identity"
    # Unnamed, identity is acceptable but loses to any coding the client accepts.
    best_q = weights.get("identity", star if star is not None else 0.0)
    for coding in reversed(available):
        q = weights.get(coding, star if star is not None else 0.0)
        if coding == "gzip" and "gzip" not in weights:
            q = weights.get("x-gzip", q)
        if q > 0 and q >= best_q:
            best, best_q = coding, q
    return best


def decode_bounded(decoder: Decoder, body: bytes) -> bytes:
    """``body`` through ``decoder``; `DecodedTooLarge` past `MAX_DECODED` decoded bytes."""
    pieces: list[bytes] = []
    size = 0
    for piece in decoder.decode(body):
        size += len(piece)
        if size > MAX_DECODED:
            raise DecodedTooLarge
        pieces.append(piece)
    return b"".join(pieces)
