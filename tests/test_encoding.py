"""Content codings: decoders in bounded pieces, re-encoders, ``Accept-Encoding`` negotiation."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest

from consentkit.encoding import PIECE, Codecs, DecodeError, compress, negotiate

TEXT = b"<html><body>" + b"<p>consent</p>" * 5000 + b"</body></html>"


def raw_deflate(data: bytes) -> bytes:
    obj = zlib.compressobj(6, zlib.DEFLATED, -15)
    return obj.compress(data) + obj.flush()


CASES = {
    "gzip": (b"gzip", gzip.compress, gzip.decompress),
    "x-gzip": (b"x-gzip", gzip.compress, gzip.decompress),
    "deflate": (b"deflate", zlib.compress, zlib.decompress),
    "deflate-raw": (b"deflate", raw_deflate, lambda d: zlib.decompress(d, -15)),
    "br": (b"br", brotli.compress, brotli.decompress),
}


@pytest.mark.parametrize("case", list(CASES))
def test_round_trip_in_bounded_pieces_and_same_variant(case: str) -> None:
    value, encode, decode = CASES[case]
    codec = Codecs().get(value)
    assert codec is not None
    decoder = codec.decoder()
    data = encode(TEXT)
    pieces = [
        piece for i in range(0, len(data), 100) for piece in decoder.decode(data[i : i + 100])
    ]
    decoder.finish()
    assert b"".join(pieces) == TEXT
    # brotli's output limit is a soft one: it stops growing its buffer once past it.
    assert max(len(p) for p in pieces) <= (2 * PIECE if case == "br" else PIECE)
    encoder = decoder.encoder()
    # Re-encoded in the same coding and variant: the standard library reads it back.
    again = encoder.encode(TEXT[:100]) + encoder.flush() + encoder.encode(TEXT[100:])
    assert decode(again + encoder.finish()) == TEXT


@pytest.mark.parametrize("case", list(CASES))
def test_truncated_and_garbage_raise(case: str) -> None:
    value, encode, _ = CASES[case]
    codec = Codecs().get(value)
    assert codec is not None
    decoder = codec.decoder()
    list(decoder.decode(encode(TEXT)[:-30]))
    with pytest.raises(DecodeError):
        decoder.finish()
    with pytest.raises(DecodeError):
        list(codec.decoder().decode(b"\xff\xfe garbage that is no compressed stream" * 3))


def test_compress_is_deterministic() -> None:
    assert compress(TEXT, "gzip") == compress(TEXT, "gzip")
    assert gzip.decompress(compress(TEXT, "gzip") or b"") == TEXT
    assert brotli.decompress(compress(TEXT, "br") or b"") == TEXT
    assert compress(TEXT, "zstd") is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "identity"),
        ("gzip, deflate, br, zstd", "br"),
        ("gzip", "gzip"),
        ("br;q=0.4, gzip;q=0.8", "gzip"),
        ("br;q=0", "identity"),
        ("identity;q=1, gzip;q=0.5", "identity"),
        ("gzip;q=0.5, identity;q=0.5", "gzip"),
        ("*;q=0.1", "br"),
        ("*;q=0, gzip", "gzip"),
        ("*;q=0", "identity"),
        ("gzip;q=2", "identity"),  # out of range: ignored
        (" , ;q=1, gzip ; q=0.3 ", "gzip"),
    ],
)
def test_negotiate(header: str | None, expected: str) -> None:
    assert negotiate(header, ["br", "gzip"]) == expected
