"""Inserting into compressed HTML: gzip, deflate (zlib and raw), br; held, streamed, refused."""

from __future__ import annotations

import asyncio
import gzip
import logging
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import brotli
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.types import Message, Receive, Scope, Send

from consentkit import ConsentConfig, ConsentMiddleware
from consentkit.caching import private_headers
from consentkit.encoding import MAX_DECODED, Codecs, DecodeError
from consentkit.inject import EncodedHtmlInjector
from tests.conftest import categories

PAGE = b"<html><head><title>t</title></head><body><p>hello</p>" + b"<p>text</p>" * 200
PAGE += b"</body></html>"
BANNER = b'id="consentkit-banner"'
SCRIPT = b'id="consentkit-js"'


def raw_deflate(data: bytes) -> bytes:
    obj = zlib.compressobj(6, zlib.DEFLATED, -15)
    return obj.compress(data) + obj.flush()


ENCODE: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "deflate-raw": raw_deflate,
    "br": brotli.compress,
}
CODINGS = list(ENCODE)


def header_value(coding: str) -> bytes:
    return b"deflate" if coding == "deflate-raw" else coding.encode()


def decode(coding: str, data: bytes) -> bytes:
    """Decoded with the standard libraries, independently of consentkit."""
    if coding in ("gzip", "x-gzip"):
        return gzip.decompress(data)
    if coding == "deflate":
        return zlib.decompress(data)
    if coding == "deflate-raw":
        return zlib.decompress(data, -15)
    out: bytes = brotli.decompress(data)
    return out


def stream_encode(coding: str, parts: list[bytes]) -> list[bytes]:
    """``parts`` as one compressed stream, flushed after each so each message decodes at once."""
    if coding == "br":
        comp = brotli.Compressor()
        out = [comp.process(p) + comp.flush() for p in parts]
        out[-1] += comp.finish()
        return out
    wbits = {"gzip": 31, "x-gzip": 31, "deflate": 15, "deflate-raw": -15}[coding]
    obj = zlib.compressobj(6, zlib.DEFLATED, wbits)
    out = [obj.compress(p) + obj.flush(zlib.Z_SYNC_FLUSH) for p in parts]
    out[-1] += obj.flush()
    return out


def html_headers(coding: bytes | None, length: int | None, *extra: tuple[bytes, bytes]) -> Any:
    headers = [(b"content-type", b"text/html; charset=utf-8")]
    if coding is not None:
        headers.append((b"content-encoding", coding))
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return [*headers, *extra]


class Recorder:
    """Calls a middleware once, recording every message it sends and when."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Message]] = []

    @property
    def start(self) -> Message:
        return next(m for kind, m in self.events if kind == "sent" and "status" in m)

    @property
    def bodies(self) -> list[bytes]:
        return [m["body"] for kind, m in self.events if kind == "sent" and "body" in m]

    @property
    def headers(self) -> dict[bytes, bytes]:
        return {k.lower(): v for k, v in self.start["headers"]}

    def body(self) -> bytes:
        return b"".join(self.bodies)


def call(
    middleware: ConsentMiddleware,
    recorder: Recorder,
    method: str = "GET",
) -> None:
    scope = {
        "type": "http",
        "method": method,
        "path": "/",
        "headers": [(b"accept-encoding", b"gzip, deflate, br")],
        "query_string": b"",
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        recorder.events.append(("sent", message))

    asyncio.run(middleware(scope, receive, send))


def app_of(
    bodies: list[bytes], headers: Any, status: int = 200, recorder: Recorder | None = None
) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        for index, chunk in enumerate(bodies):
            if recorder is not None:
                recorder.events.append(("app", {"index": index}))
            more = index < len(bodies) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    return app


@pytest.fixture
def serve(make_config: Callable[..., ConsentConfig]) -> Callable[..., Recorder]:
    def go(app: Any, method: str = "GET", codecs: Codecs | None = None) -> Recorder:
        middleware = ConsentMiddleware(app, config=make_config())
        if codecs is not None:
            middleware.codecs = codecs
        recorder = Recorder()
        call(middleware, recorder, method)
        return recorder

    return go


def assert_inserted(text: bytes) -> None:
    """The fragment is in ``text`` once, before ``</body>``, and the page is otherwise intact."""
    assert text.count(BANNER) == 1
    assert text.count(SCRIPT) == 1
    start = text.index(b"<script src=")  # the fragment starts with the snippet's script tag
    end = text.rindex(b"</body>")
    assert start < text.index(BANNER) < end
    assert text[:start] + text[end:] == PAGE


@pytest.mark.parametrize("coding", CODINGS)
def test_one_message_with_length(serve: Callable[..., Recorder], coding: str) -> None:
    body = ENCODE[coding](PAGE)
    headers = html_headers(header_value(coding), len(body), (b"etag", b'"v1"'))
    result = serve(app_of([body], headers))
    sent = result.body()
    assert_inserted(decode(coding, sent))
    assert result.headers[b"content-encoding"] == header_value(coding)
    assert int(result.headers[b"content-length"]) == len(sent)
    # The body changed: the ETag no longer claims the original bytes.
    assert result.headers[b"etag"] == b'W/"v1"'


@pytest.mark.parametrize("coding", CODINGS)
def test_many_messages_with_length_held_then_sent_once(
    serve: Callable[..., Recorder], coding: str
) -> None:
    body = ENCODE[coding](PAGE)
    parts = [body[i : i + 7] for i in range(0, len(body), 7)]
    result = serve(app_of(parts, html_headers(header_value(coding), len(body))))
    assert len(result.bodies) == 1
    assert_inserted(decode(coding, result.body()))
    assert int(result.headers[b"content-length"]) == len(result.body())


@pytest.mark.parametrize("coding", CODINGS)
@pytest.mark.parametrize("cut", range(-3, 10))
def test_streamed_body_end_split_across_compressed_messages(
    serve: Callable[..., Recorder], coding: str, cut: int
) -> None:
    at = PAGE.rindex(b"</body>") + cut
    parts = [PAGE[:100], PAGE[100:at], PAGE[at:]]
    result = serve(app_of(stream_encode(coding, parts), html_headers(header_value(coding), None)))
    assert b"content-length" not in result.headers
    assert result.headers[b"content-encoding"] == header_value(coding)
    assert_inserted(decode(coding, result.body()))


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br"])
def test_streamed_compressed_bytes_cut_anywhere(
    serve: Callable[..., Recorder], coding: str
) -> None:
    body = ENCODE[coding](PAGE)
    parts = [body[i : i + 5] for i in range(0, len(body), 5)]
    result = serve(app_of(parts, html_headers(header_value(coding), None)))
    assert_inserted(decode(coding, result.body()))


@pytest.mark.parametrize("coding", CODINGS)
def test_a_stream_stays_streamed(serve: Callable[..., Recorder], coding: str) -> None:
    parts = [b"<html><body><p>first</p>", b"<p>second</p>", b"<p>third</p></body></html>"]
    result = serve(app_of(stream_encode(coding, parts), html_headers(header_value(coding), None)))
    # One message out for each message in, each decodable at once.
    assert len(result.bodies) == 3
    if coding == "br":
        first = brotli.Decompressor().process(result.bodies[0])
    else:
        wbits = {"gzip": 31, "x-gzip": 31, "deflate": 15, "deflate-raw": -15}[coding]
        first = zlib.decompressobj(wbits).decompress(result.bodies[0])
    assert first == b"<html><body><p>first</p>"[:-5]  # "</p>" could start "</body": held back
    assert_fragment_once(decode(coding, result.body()))


def assert_fragment_once(text: bytes) -> None:
    assert text.count(BANNER) == 1
    assert text.index(BANNER) < text.rindex(b"</body>")


def test_stream_messages_leave_before_the_app_sends_the_next(
    make_config: Callable[..., ConsentConfig],
) -> None:
    parts = stream_encode("gzip", [b"<html><body><p>first</p>", b"<p>2</p>", b"</body></html>"])
    log: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": html_headers(b"gzip", None)}
        )
        for index, chunk in enumerate(parts):
            log.append(f"app {index}")
            more = index < len(parts) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    middleware = ConsentMiddleware(app, config=make_config())
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        log.append("start" if "status" in message else "body")

    asyncio.run(middleware(scope, receive, send))
    assert log == ["app 0", "start", "body", "app 1", "body", "app 2", "body"]


def test_many_gzip_members_decode_as_one_body(serve: Callable[..., Recorder]) -> None:
    at = PAGE.index(b"<p>text")
    body = gzip.compress(PAGE[:at]) + gzip.compress(PAGE[at:])
    result = serve(app_of([body], html_headers(b"gzip", len(body))))
    assert_inserted(gzip.decompress(result.body()))


@pytest.mark.parametrize("with_length", [True, False])
def test_no_body_end_passes_on_as_it_came(
    serve: Callable[..., Recorder], with_length: bool
) -> None:
    body = gzip.compress(b"<p>a fragment</p>")
    headers = html_headers(b"gzip", len(body) if with_length else None, (b"etag", b'"v1"'))
    result = serve(app_of([body], headers))
    assert gzip.decompress(result.body()) == b"<p>a fragment</p>"
    if with_length:
        assert result.body() == body
        assert result.headers[b"etag"] == b'"v1"'


@pytest.mark.parametrize("with_length", [True, False])
@pytest.mark.parametrize(
    "body",
    [
        b"\x1f\x8b\x08\x00 not really gzip at all",
        gzip.compress(PAGE)[:-20],  # truncated
        b"<html><body>plain text sent as gzip</body></html>",
    ],
    ids=["garbage", "truncated", "not-compressed"],
)
def test_corrupt_gzip_passes_on_unchanged_and_is_said_once(
    serve: Callable[..., Recorder],
    make_config: Callable[..., ConsentConfig],
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    with_length: bool,
) -> None:
    headers = html_headers(b"gzip", len(body) if with_length else None)
    middleware = ConsentMiddleware(app_of([body], headers), config=make_config())
    with caplog.at_level(logging.WARNING, logger="consentkit"):
        for _ in range(3):
            recorder = Recorder()
            call(middleware, recorder)
            assert recorder.body() == body
            assert recorder.start["headers"] == private_headers(headers)
    warnings = [r for r in caplog.records if "Content-Encoding: gzip" in r.getMessage()]
    assert len(warnings) == 1
    assert "did not decode" in warnings[0].getMessage()
    assert "gzip" in middleware.codecs.unhandled


@pytest.mark.parametrize("broken", ["garbage", "truncated"])
def test_stream_that_breaks_later_is_broken_off(
    serve: Callable[..., Recorder], broken: str
) -> None:
    # Found after the start left: the response is broken off (the server ends
    # the connection) rather than completed as if the page were whole.
    parts = stream_encode("gzip", [b"<html><body><p>first</p>", b"<p>2</p></body></html>"])
    parts[1] = b"\xff" * 40 if broken == "garbage" else parts[1][:-8]
    with pytest.raises(DecodeError):
        serve(app_of(parts, html_headers(b"gzip", None)))


def bomb() -> bytes:
    obj = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [obj.compress(b"<html><body>")]
    zeros = b"\0" * (1024 * 1024)
    out += [obj.compress(zeros) for _ in range(64)]
    out.append(obj.compress(b"</body></html>"))
    out.append(obj.flush())
    return b"".join(out)


BOMB = bomb()


@pytest.mark.parametrize("with_length", [True, False])
def test_bomb_passes_on_unchanged_in_bounded_memory(
    serve: Callable[..., Recorder], with_length: bool
) -> None:
    assert len(BOMB) < 100_000  # 64 MiB decoded
    headers = html_headers(b"gzip", len(BOMB) if with_length else None)
    tracemalloc.start()
    try:
        result = serve(app_of([BOMB], headers))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.body() == BOMB
    assert result.start["headers"] == private_headers(headers)
    assert peak < 3 * MAX_DECODED


def test_bomb_later_in_a_stream_is_reencoded_in_bounded_memory(
    serve: Callable[..., Recorder],
) -> None:
    parts = [BOMB[i : i + 4096] for i in range(0, len(BOMB), 4096)]
    tracemalloc.start()
    try:
        result = serve(app_of(parts, html_headers(b"gzip", None)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 3 * MAX_DECODED
    text = gzip.decompress(result.body())
    assert len(text) > 64 * 1024 * 1024
    assert_fragment_once(text[-100_000:])


@pytest.mark.parametrize(
    ("coding", "fix"),
    [
        (b"zstd", "outside ConsentMiddleware"),
        (b"compress", "outside ConsentMiddleware"),
        (b"gzip, br", "outside ConsentMiddleware"),
    ],
)
def test_unknown_coding_passes_on_and_is_said_once(
    make_config: Callable[..., ConsentConfig],
    caplog: pytest.LogCaptureFixture,
    coding: bytes,
    fix: str,
) -> None:
    body = b"\x28\xb5\x2f\xfd some zstd bytes"
    headers = html_headers(coding, len(body))
    middleware = ConsentMiddleware(app_of([body], headers), config=make_config())
    with caplog.at_level(logging.WARNING, logger="consentkit"):
        for _ in range(3):
            recorder = Recorder()
            call(middleware, recorder)
            assert recorder.body() == body
            assert recorder.start["headers"] == private_headers(headers)
    messages = [r.getMessage() for r in caplog.records if r.name == "consentkit"]
    assert len(messages) == 1
    assert f"Content-Encoding: {coding.decode()}" in messages[0]
    assert fix in messages[0]
    assert list(middleware.codecs.unhandled) == [coding.decode()]


def test_br_without_brotli_names_the_extra(
    make_config: Callable[..., ConsentConfig], caplog: pytest.LogCaptureFixture
) -> None:
    body = brotli.compress(PAGE)
    headers = html_headers(b"br", len(body))
    middleware = ConsentMiddleware(app_of([body], headers), config=make_config())
    middleware.codecs = Codecs(brotli=None)
    with caplog.at_level(logging.WARNING, logger="consentkit"):
        for _ in range(2):
            recorder = Recorder()
            call(middleware, recorder)
            assert recorder.body() == body
    messages = [r.getMessage() for r in caplog.records if r.name == "consentkit"]
    assert len(messages) == 1
    assert "consentkit[brotli]" in messages[0]
    assert "brotli" in middleware.codecs.unhandled["br"]


@pytest.mark.parametrize(
    ("method", "status"),
    [("HEAD", 200), ("GET", 204), ("GET", 304), ("GET", 206)],
    ids=["head", "204", "304", "206"],
)
def test_head_204_304_untouched(serve: Callable[..., Recorder], method: str, status: int) -> None:
    compressed = gzip.compress(PAGE)
    body = {200: compressed, 206: compressed[10:40]}.get(status, b"")
    headers = html_headers(b"gzip", len(compressed), (b"etag", b'"v1"'))
    result = serve(app_of([body], headers, status=status), method=method)
    assert result.start["headers"] == private_headers(headers)
    assert result.body() == body


def test_a_range_of_a_plain_page_untouched(serve: Callable[..., Recorder]) -> None:
    part = PAGE[-40:]
    headers = html_headers(
        None,
        len(part),
        (b"content-range", f"bytes {len(PAGE) - 40}-{len(PAGE) - 1}/{len(PAGE)}".encode()),
    )
    result = serve(app_of([part], headers, status=206))
    assert result.body() == part and result.start["headers"] == private_headers(headers)


def test_identity_is_plain(serve: Callable[..., Recorder]) -> None:
    result = serve(app_of([PAGE], html_headers(b"identity", len(PAGE))))
    assert_inserted(result.body())


def test_plain_changed_body_gets_weak_etag(serve: Callable[..., Recorder]) -> None:
    held = serve(app_of([PAGE], html_headers(None, len(PAGE), (b"etag", b'"v1"'))))
    assert held.headers[b"etag"] == b'W/"v1"'
    streamed = serve(app_of([PAGE], html_headers(None, None, (b"etag", b'"v1"'))))
    assert streamed.headers[b"etag"] == b'W/"v1"'
    weak = serve(app_of([PAGE], html_headers(None, len(PAGE), (b"etag", b'W/"v1"'))))
    assert weak.headers[b"etag"] == b'W/"v1"'


def test_unhandled_codings_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    codecs = Codecs()
    with caplog.at_level(logging.WARNING, logger="consentkit"):
        for index in range(100):
            assert codecs.get(f"x-{index}-{'y' * 100}".encode()) is None
    assert len(codecs.unhandled) == 32
    assert all(len(name) <= 40 for name in codecs.unhandled)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> ConsentMiddleware:
    """One middleware for every generated example; its app is swapped per example."""
    config = ConsentConfig(
        secret_keys=["property-secret-key-0123456789abcdef"],
        storage=f"sqlite:///{tmp_path_factory.mktemp('prop')}/consent.db",
        categories=categories(),
    )
    return ConsentMiddleware(app_of([], []), config=config)


def _direct(middleware: ConsentMiddleware, app: Any) -> Recorder:
    middleware.app = app
    recorder = Recorder()
    call(middleware, recorder)
    return recorder


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    page=st.binary(max_size=3000).map(lambda b: b.replace(b"</", b"<")),
    where=st.floats(0, 1),
    coding=st.sampled_from(CODINGS),
    cuts=st.lists(st.integers(1, 400), max_size=8),
    with_length=st.booleans(),
)
def test_any_page_any_cut(
    shared: ConsentMiddleware,
    page: bytes,
    where: float,
    coding: str,
    cuts: list[int],
    with_length: bool,
) -> None:
    """Whatever the page and however its compressed bytes are cut, the result decodes to
    the page with the fragment once before its last ``</body>``."""
    at = int(len(page) * where)
    page = page[:at] + b"</body>" + page[at:]
    body = ENCODE[coding](page)
    parts, start = [], 0
    for cut in cuts:
        parts.append(body[start : start + cut])
        start += cut
    parts.append(body[start:])
    headers = html_headers(header_value(coding), len(body) if with_length else None)
    result = _direct(shared, app_of(parts, headers))
    text = decode(coding, result.body())
    start_at = text.index(b"<script src=")
    end = text.rindex(b"</body>")
    assert text[:start_at] + text[end:] == page
    assert text[start_at:end].count(BANNER) == 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=500), coding=st.sampled_from([b"gzip", b"deflate", b"br"]))
def test_garbage_with_a_length_always_passes_unchanged(
    shared: ConsentMiddleware, body: bytes, coding: bytes
) -> None:
    headers = html_headers(coding, len(body))
    result = _direct(shared, app_of([body], headers))
    # Either it decoded to a page with a body end (and got the fragment) or it is untouched.
    if result.body() != body:
        assert result.headers[b"content-encoding"] == coding
        assert int(result.headers[b"content-length"]) == len(result.body())


@pytest.mark.parametrize("coding", ["deflate", "deflate-raw"])
def test_deflate_variant_kept_when_the_stream_starts_with_one_byte(
    serve: Callable[..., Recorder], coding: str
) -> None:
    body = ENCODE[coding](PAGE)
    result = serve(app_of([body[:1], b"", body[1:]], html_headers(b"deflate", None)))
    # Decoded as the same variant it came in: raw stays raw, zlib stays zlib.
    assert_inserted(decode(coding, result.body()))


# --- the head insertion point, compressed -------------------------------------------------

HEAD_FRAGMENT = b"<script>h()</script>"
BODY_FRAGMENT = b"<script>b()</script>"
HEADED = b"<html><head><title>t</title></HEAD><body><header>x</header><p>hello</p></body></html>"
HEADED_OUT = HEADED.replace(b"</HEAD>", HEAD_FRAGMENT + b"</HEAD>").replace(
    b"</body>", BODY_FRAGMENT + b"</body>"
)


async def inject_encoded(coding: str, messages: list[bytes], streamed: bool) -> bytes:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    codecs = Codecs()
    codec = codecs.get(header_value(coding))
    assert codec is not None
    injector = EncodedHtmlInjector(send, BODY_FRAGMENT, codec, codecs, HEAD_FRAGMENT)
    total = sum(map(len, messages))
    length = None if streamed else total
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": html_headers(header_value(coding), length),
    }
    await injector.start(start, length)
    for index, chunk in enumerate(messages):
        await injector.send(
            {"type": "http.response.body", "body": chunk, "more_body": index < len(messages) - 1}
        )
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@pytest.mark.parametrize("coding", ["gzip", "deflate-raw", "br"])
def test_head_fragment_at_every_cut_of_the_decoded_page(coding: str) -> None:
    # Streamed: each message a flushed piece of one compressed stream, cut at every offset.
    for i in range(len(HEADED) + 1):
        parts = stream_encode(coding, [HEADED[:i], HEADED[i:]])
        assert decode(coding, asyncio.run(inject_encoded(coding, parts, True))) == HEADED_OUT, i
    pieces = stream_encode(coding, [HEADED[i : i + 1] for i in range(len(HEADED))])
    assert decode(coding, asyncio.run(inject_encoded(coding, pieces, True))) == HEADED_OUT
    # Held: the compressed bytes cut anywhere.
    whole = ENCODE[coding](HEADED)
    for i in range(len(whole) + 1):
        body = asyncio.run(inject_encoded(coding, [whole[:i], whole[i:]], False))
        assert decode(coding, body) == HEADED_OUT, i


@pytest.mark.parametrize("streamed", [True, False])
def test_compressed_page_without_head_end_gets_it_at_body_end(streamed: bool) -> None:
    page = b"<html><p>hello</p></body></html>"
    parts = stream_encode("gzip", [page[:10], page[10:]]) if streamed else [gzip.compress(page)]
    body = decode("gzip", asyncio.run(inject_encoded("gzip", parts, streamed)))
    assert body == page.replace(b"</body>", HEAD_FRAGMENT + BODY_FRAGMENT + b"</body>")


@pytest.mark.parametrize("coding", ["gzip", "br"])
def test_streamed_head_fragment_with_compressed_bytes_cut_anywhere(coding: str) -> None:
    whole = ENCODE[coding](HEADED)
    for i in range(len(whole) + 1):
        body = asyncio.run(inject_encoded(coding, [whole[:i], whole[i:]], True))
        assert decode(coding, body) == HEADED_OUT, i
