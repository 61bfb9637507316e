"""Automatic blocking through ConsentMiddleware and its injectors, on real responses.

Plain, streamed at every offset, compressed (held and streamed), undecodable,
non-HTML; each consent state; Content-Length and ETag; the placeholder's form.
"""

from __future__ import annotations

import asyncio
import gzip
import re
import time
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from consentkit import Category, ConsentConfig, ConsentMiddleware, Cookie

PAGE = (
    b"<!doctype html><html><head><title>Video</title>"
    b'<script src="https://www.youtube.com/iframe_api" async></script></head><body>'
    b"<h1>Report</h1><p>Watch: <a href='https://www.youtube.com/watch?v=1'>link</a></p>"
    b'<iframe width="560" height="315" title="Convening" '
    b'src="https://www.youtube-nocookie.com/embed/abc" allowfullscreen></iframe>'
    b'<img src="https://i.ytimg.com/vi/abc/0.jpg" alt="cover">'
    b'<script src="https://stats.example.org/s.js"></script>'
    b"<script>document.title = '<img src=\"https://i.ytimg.com/x.jpg\">';</script>"
    b'<img src="/static/local.png" alt="">'
    b"</body></html>"
)


def hosted_categories() -> list[Category]:
    return [
        Category(key="necessary", label="Strictly necessary", required=True),
        Category(
            key="analytics",
            label="Analytics",
            hosts=["stats.example.org"],
            cookies=[Cookie(name="_ga*", purpose="Counts", duration="13 months")],
        ),
        Category(
            key="marketing",
            label="Marketing",
            hosts=["www.youtube.com", "www.youtube-nocookie.com", "*.ytimg.com"],
        ),
        Category(key="preferences", label="Preferences"),
    ]


@pytest.fixture
def blocking_config(make_config: Callable[..., ConsentConfig]) -> Callable[..., ConsentConfig]:
    def make(**overrides: Any) -> ConsentConfig:
        options: dict[str, Any] = {"categories": hosted_categories(), "auto_block": True}
        options.update(overrides)
        return make_config(**options)

    return make


def app_of(bodies: list[bytes], headers: list[tuple[bytes, bytes]]) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for index, chunk in enumerate(bodies):
            more = index < len(bodies) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    return app


def html(length: int | None = None, coding: bytes | None = None) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", b"text/html; charset=utf-8"), (b"etag", b'"v1"')]
    if coding is not None:
        headers.append((b"content-encoding", coding))
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return headers


def cookie_for(mw: ConsentMiddleware, granted: set[str] | None) -> list[tuple[bytes, bytes]]:
    if granted is None:
        return []
    token = mw.codec.encode(granted, "test-consent-id-000001", time.time())
    return [(b"cookie", f"{mw.config.cookie_name}={token}".encode())]


class Result:
    def __init__(self, messages: list[Message]) -> None:
        self.start = next(m for m in messages if m["type"] == "http.response.start")
        self.bodies = [m["body"] for m in messages if m["type"] == "http.response.body"]
        self.headers = {k.lower(): v for k, v in self.start["headers"]}

    @property
    def body(self) -> bytes:
        return b"".join(self.bodies)


def run(mw: ConsentMiddleware, granted: set[str] | None) -> Result:
    messages: list[Message] = []
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/video",
        "query_string": b"",
        "headers": [(b"accept-language", b"en"), *cookie_for(mw, granted)],
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        messages.append(message)

    asyncio.run(mw(scope, receive, send))
    return Result(messages)


def without_fragment(body: bytes) -> bytes:
    """The page less what the injector inserted before ``</body>``."""
    start = body.index(b'<script src="/consent/consentkit.')
    return body[:start] + body[body.rindex(b"</body>") :]


STATES: dict[str, set[str] | None] = {
    "undecided": None,
    "rejected": set(),
    "analytics": {"analytics"},
    "marketing": {"marketing"},
    "both": {"analytics", "marketing"},
}


def expected_gating(state: str, body: bytes) -> None:
    """Which tags are gated in ``body`` for a visitor in ``state``; the rest as it came."""
    granted = STATES[state] or set()
    video = "marketing" not in granted
    stats = "analytics" not in granted
    assert (b'<script type="text/plain" data-consent="marketing" src="https://www.youtube.com/'
            in body) is video  # fmt: skip
    assert (b'data-src="https://www.youtube-nocookie.com/embed/abc"' in body) is video
    assert (b'<img data-consent="marketing" data-src="https://i.ytimg.com/vi/abc/0.jpg"'
            in body) is video  # fmt: skip
    assert (b'class="ck ck-note ck-ph"' in body) is video
    assert (b'<script type="text/plain" data-consent="analytics" src="https://stats.example.org'
            in body) is stats  # fmt: skip
    # Never touched: a link, a script's text, a local image.
    assert b"<a href='https://www.youtube.com/watch?v=1'>link</a>" in body
    assert b"document.title = '<img src=\"https://i.ytimg.com/x.jpg\">';" in body
    assert b'<img src="/static/local.png" alt="">' in body


def strip_gating(body: bytes) -> bytes:
    """``body`` with the gating undone: what is left must be the page byte for byte."""
    body = re.sub(rb"<style[^>]*>[^<]*</style>|<link rel=\"stylesheet\"[^>]*>", b"", body)
    body = re.sub(rb'<div class="ck ck-note ck-ph".*?</div>', b"", body)
    body = body.replace(b' type="text/plain" data-consent="marketing"', b"")
    body = body.replace(b' type="text/plain" data-consent="analytics"', b"")
    body = body.replace(b' data-consent="marketing" hidden', b"")
    body = body.replace(b' data-consent="marketing"', b"")
    return body.replace(b"data-src=", b"src=")


@pytest.mark.parametrize("state", STATES)
def test_one_message_each_state(blocking_config: Callable[..., ConsentConfig], state: str) -> None:
    mw = ConsentMiddleware(app_of([PAGE], html(len(PAGE))), config=blocking_config())
    result = run(mw, STATES[state])
    page = without_fragment(result.body)
    expected_gating(state, page)
    assert strip_gating(page) == PAGE
    assert int(result.headers[b"content-length"]) == len(result.body)
    assert result.headers[b"etag"] == b'W/"v1"'
    assert (b'id="consentkit-banner"' in result.body) is (state == "undecided")


@pytest.mark.parametrize("state", STATES)
def test_streamed_split_at_every_offset(
    blocking_config: Callable[..., ConsentConfig], state: str
) -> None:
    parts: list[bytes] = [PAGE]
    messages: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": html()})
        for index, chunk in enumerate(parts):
            more = index < len(parts) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    mw = ConsentMiddleware(app, config=blocking_config())
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/video",
        "query_string": b"",
        "headers": [(b"accept-language", b"en"), *cookie_for(mw, STATES[state])],
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        messages.append(message)

    def body() -> bytes:
        got = b"".join(m.get("body", b"") for m in messages)
        messages.clear()
        return without_fragment(got)

    async def every_cut() -> None:
        await mw(dict(scope), receive, send)
        whole = body()
        expected_gating(state, whole)
        for cut in range(1, len(PAGE)):
            parts[:] = [PAGE[:cut], PAGE[cut:]]
            await mw(dict(scope), receive, send)
            assert body() == whole, f"cut at {cut}"
        await mw.shutdown()

    asyncio.run(every_cut())


def test_every_hosted_category_granted_leaves_the_page_alone(
    blocking_config: Callable[..., ConsentConfig],
) -> None:
    mw = ConsentMiddleware(app_of([PAGE], html(len(PAGE))), config=blocking_config())
    result = run(mw, {"analytics", "marketing"})
    assert without_fragment(result.body) == PAGE


def test_auto_block_off_leaves_the_page_alone(
    blocking_config: Callable[..., ConsentConfig],
) -> None:
    mw = ConsentMiddleware(
        app_of([PAGE], html(len(PAGE))), config=blocking_config(auto_block=False)
    )
    assert without_fragment(run(mw, None).body) == PAGE


def test_non_html_is_never_rewritten(blocking_config: Callable[..., ConsentConfig]) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(PAGE)).encode())]
    mw = ConsentMiddleware(app_of([PAGE], headers), config=blocking_config())
    assert run(mw, None).body == PAGE


@pytest.mark.parametrize("coding", [b"gzip", b"deflate"])
def test_compressed_held_and_streamed(
    blocking_config: Callable[..., ConsentConfig], coding: bytes
) -> None:
    config = blocking_config()
    compress: Callable[[bytes], bytes] = gzip.compress if coding == b"gzip" else zlib.compress
    decompress: Callable[[bytes], bytes] = gzip.decompress if coding == b"gzip" else zlib.decompress
    body = compress(PAGE)
    held = run(ConsentMiddleware(app_of([body], html(len(body), coding)), config=config), None)
    assert int(held.headers[b"content-length"]) == len(held.body)
    assert held.headers[b"content-encoding"] == coding
    page = without_fragment(decompress(held.body))
    expected_gating("undecided", page)
    assert strip_gating(page) == PAGE
    # Streamed: one compressed stream flushed in three messages.
    wbits = 31 if coding == b"gzip" else 15
    obj = zlib.compressobj(6, zlib.DEFLATED, wbits)
    thirds = [PAGE[:150], PAGE[150:400], PAGE[400:]]
    parts = [obj.compress(p) + obj.flush(zlib.Z_SYNC_FLUSH) for p in thirds]
    parts[-1] += obj.flush()
    streamed = run(ConsentMiddleware(app_of(parts, html(None, coding)), config=config), None)
    assert b"content-length" not in streamed.headers
    page = without_fragment(decompress(streamed.body))
    expected_gating("undecided", page)
    assert strip_gating(page) == PAGE


def test_a_body_that_does_not_decode_goes_as_it_came(
    blocking_config: Callable[..., ConsentConfig],
) -> None:
    broken = b"\x1f\x8b\x08\x00not really gzip at all"
    mw = ConsentMiddleware(app_of([broken], html(len(broken), b"gzip")), config=blocking_config())
    result = run(mw, None)
    assert result.body == broken
    assert result.headers[b"content-length"] == str(len(broken)).encode()


def test_an_unknown_coding_is_left_alone(blocking_config: Callable[..., ConsentConfig]) -> None:
    body = b"\x28\xb5\x2f\xfd zstd bytes"
    mw = ConsentMiddleware(app_of([body], html(len(body), b"zstd")), config=blocking_config())
    assert run(mw, None).body == body


def test_config_refuses_auto_block_with_nothing_to_block(
    make_config: Callable[..., ConsentConfig],
) -> None:
    with pytest.raises(ValueError, match="auto_block=True needs hosts to block"):
        make_config(auto_block=True)
    # Hosts of a required category are never blocked, so they do not count.
    required_only = [Category(key="necessary", label="N", required=True, hosts=["cdn.example"])]
    with pytest.raises(ValueError, match="auto_block=True needs hosts to block"):
        make_config(auto_block=True, categories=required_only)


def test_config_refuses_auto_block_without_insertion(
    blocking_config: Callable[..., ConsentConfig],
) -> None:
    with pytest.raises(ValueError, match="insert_snippet and insert_banner are both off"):
        blocking_config(insert_snippet=False, insert_banner=False)


def test_the_placeholder_form_grants_its_category_without_javascript(
    blocking_config: Callable[..., ConsentConfig],
) -> None:
    async def page(request: Any) -> HTMLResponse:
        return HTMLResponse(PAGE)

    config = blocking_config()
    app = ConsentMiddleware(Starlette(routes=[Route("/video", page)]), config=config)
    with TestClient(app, base_url="https://testserver") as client:
        # A visitor who allowed analytics only meets the video's placeholder.
        first = client.post(
            "/consent",
            data={"action": "custom", "category": "analytics", "surface": "form", "next": "/"},
            headers={"origin": "https://testserver"},
            follow_redirects=False,
        )
        assert first.status_code == 303
        html_page = client.get("/video").text
        assert 'class="ck ck-note ck-ph"' in html_page
        form = re.search(r'<div class="ck ck-note ck-ph".*?</form>', html_page, re.DOTALL)
        assert form is not None
        box = form.group(0)
        assert "<button" in box and 'href="/privacy"' in box and "Marketing" in box
        assert "www.youtube-nocookie.com" in box
        fields = re.findall(r'<input[^>]*name="([a-z]+)"[^>]*value="([^"]*)"', box)
        assert ("category", "analytics") in fields and ("category", "marketing") in fields
        assert ("surface", "embed") in fields and ("next", "/video") in fields
        posted = client.post(
            "/consent",
            content=urlencode([*fields, ("action", "custom")]),
            headers={
                "origin": "https://testserver",
                "content-type": "application/x-www-form-urlencoded",
            },
            follow_redirects=False,
        )
        assert posted.status_code == 303
        assert posted.headers["location"] == "/video"
        state = client.get("/consent").json()
        assert set(state["granted"]) >= {"analytics", "marketing"}
        # Now nothing is gated: the page is the app's, plus the snippet.
        after = client.get("/video").content
        assert without_fragment(after) == PAGE


TWO_FRAMES = (
    b"<html><body><iframe src='https://www.youtube.com/embed/1' title='a'></iframe>"
    b"<iframe src=\"https://www.youtube.com/embed/2?a=1&b=<2>\" title='b'></iframe></body></html>"
)


def run_with(
    mw: ConsentMiddleware, headers: list[tuple[bytes, bytes]], path: str = "/video"
) -> bytes:
    messages: list[Message] = []
    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"x=\"'<>",
             "headers": headers}  # fmt: skip

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        messages.append(message)

    asyncio.run(mw(scope, receive, send))
    return b"".join(m.get("body", b"") for m in messages)


def test_placeholder_styles_come_once_inline_with_the_nonce(
    blocking_config: Callable[..., ConsentConfig],
) -> None:
    config = blocking_config(csp_nonce=lambda scope: "n0nce")
    mw = ConsentMiddleware(app_of([TWO_FRAMES], html(len(TWO_FRAMES))), config=config)
    body = run_with(mw, [])
    assert body.count(b'class="ck ck-note ck-ph"') == 2
    # Each box's text has its own id, which its button points to.
    assert body.count(b'id="ck-ph-1"') == body.count(b'aria-describedby="ck-ph-1"') == 1
    assert body.count(b'id="ck-ph-2"') == body.count(b'aria-describedby="ck-ph-2"') == 1
    # One <style> for the boxes (the banner brings its own): before the first box only.
    first = body.index(b'class="ck ck-note ck-ph"')
    assert body[:first].count(b'<style nonce="n0nce">.ck{') == 1
    assert b".ck-ph{" in body[:first]
    # The query string of the page to come back to is escaped in the form.
    assert b'name="next" value="/video?x=&quot;&#x27;&lt;&gt;"' in body


def test_placeholder_styles_are_a_link_when_the_pages_csp_refuses_inline_styles(
    blocking_config: Callable[..., ConsentConfig],
) -> None:
    headers = [*html(len(TWO_FRAMES)), (b"content-security-policy", b"style-src 'self'")]
    mw = ConsentMiddleware(app_of([TWO_FRAMES], headers), config=blocking_config())
    body = run_with(mw, [])
    first = body.index(b'class="ck ck-note ck-ph"')
    # Right before the first box, and only there: the stylesheet instead of a <style>.
    assert re.search(
        rb'<link rel="stylesheet" href="/consent/consentkit\.[0-9a-f]+\.css"><div class="ck ck-n',
        body,
    )
    assert body.count(b'<link rel="stylesheet"') == 2  # the box's, and the banner's own
    assert b"<style" not in body[:first]


def test_placeholder_in_the_visitors_language_and_direction(
    blocking_config: Callable[..., ConsentConfig],
) -> None:
    mw = ConsentMiddleware(app_of([TWO_FRAMES], html(len(TWO_FRAMES))), config=blocking_config())
    body = run_with(mw, [(b"accept-language", b"he")]).decode()
    box = body[body.index('class="ck ck-note ck-ph"') :].split("</div>", 1)[0]
    assert 'lang="he" dir="rtl"' in box
    assert "www.youtube.com" in box
    assert "לאפשר ולהציג" in box  # embed_allow in Hebrew
