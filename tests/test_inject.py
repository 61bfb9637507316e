"""Inserting the snippet into HTML: one message or many, lengths fixed, the rest untouched."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable

import pytest
from starlette.responses import Response, StreamingResponse
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from consentkit import ConsentConfig, ConsentMiddleware
from consentkit.inject import HtmlInjector, find_body_end

PAGE = b"<html><head><title>t</title></head><body><p>hello</p></body></html>"


def body_app(messages: list[bytes], headers: list[tuple[bytes, bytes]], status: int = 200):
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        for index, chunk in enumerate(messages):
            await send(
                {
                    "type": "http.response.body",
                    "body": chunk,
                    "more_body": index < len(messages) - 1,
                }
            )

    return app


def html_headers(length: int | None, **extra: str) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", b"text/html; charset=utf-8")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    headers += [(k.replace("_", "-").encode(), v.encode()) for k, v in extra.items()]
    return headers


@pytest.fixture
def run(make_config: Callable[..., ConsentConfig]) -> Callable[..., Response]:
    def go(app, method: str = "GET"):  # type: ignore[no-untyped-def]
        # No lifespan: these raw apps answer HTTP only; the middleware starts lazily.
        return TestClient(ConsentMiddleware(app, config=make_config())).request(method, "/")

    return go


def split_everywhere() -> list[list[bytes]]:
    at = PAGE.index(b"</body>")
    return [[PAGE[:i], PAGE[i:]] for i in range(at - 2, at + 8)] + [
        [PAGE[i : i + 3] for i in range(0, len(PAGE), 3)]
    ]


@pytest.mark.parametrize("parts", [[PAGE], *split_everywhere()])
@pytest.mark.parametrize("with_length", [True, False])
def test_inserted_once_before_body_end(
    run: Callable[..., Response], parts: list[bytes], with_length: bool
) -> None:
    response = run(body_app(parts, html_headers(len(PAGE) if with_length else None)))
    body = response.content
    assert body.count(b'id="consentkit-banner"') == 1
    assert body.index(b"consentkit-banner") < body.index(b"</body>")
    assert body.startswith(PAGE[: PAGE.index(b"</body>")])
    assert body.endswith(b"</body></html>")
    if with_length:
        assert int(response.headers["content-length"]) == len(body)


def test_uppercase_body_tag(run: Callable[..., Response]) -> None:
    page = PAGE.replace(b"</body>", b"</BODY>")
    response = run(body_app([page], html_headers(len(page))))
    assert b"consentkit-banner" in response.content


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ([(b"content-type", b"application/json"), (b"content-length", b"2")], b"{}"),
        ([(b"content-type", b"text/plain")], PAGE),
        (html_headers(len(b"<p>no body end</p>")), b"<p>no body end</p>"),
    ],
)
def test_other_responses_untouched(
    run: Callable[..., Response], headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    response = run(body_app([body], headers))
    assert response.content == body


def test_gzip_body_without_body_end_bytes_identical(
    make_config: Callable[..., ConsentConfig],
) -> None:
    compressed = gzip.compress(b"<p>a fragment, no body end</p>")
    seen: list[bytes] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await body_app([compressed], html_headers(len(compressed), content_encoding="gzip"))(
            scope, receive, send
        )

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.body":
            seen.append(message["body"])

    mw = ConsentMiddleware(app, config=make_config())
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    asyncio.run(mw(scope, receive, capture))
    assert b"".join(seen) == compressed


def test_streaming_without_body_end_untouched(run: Callable[..., Response]) -> None:
    chunks = [b"<p>one</p>", b"<p>two</p>", b"<p>three</p>"]
    response = run(body_app(chunks, html_headers(None)))
    assert response.content == b"".join(chunks)


def test_starlette_streaming_response(make_config: Callable[..., ConsentConfig]) -> None:
    async def gen():  # type: ignore[no-untyped-def]
        yield "<html><body>"
        yield "<p>streamed</p></bo"
        yield "dy></html>"

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await StreamingResponse(gen(), media_type="text/html")(scope, receive, send)

    text = TestClient(ConsentMiddleware(app, config=make_config())).get("/").text
    assert text.startswith("<html><body><p>streamed</p>")
    assert text.endswith("</body></html>") and "consentkit-banner" in text


def test_head_and_empty_statuses_untouched(run: Callable[..., Response]) -> None:
    head = run(body_app([b""], html_headers(len(PAGE))), method="HEAD")
    assert head.headers["content-length"] == str(len(PAGE))
    no_content = run(body_app([b""], [(b"content-type", b"text/html")], status=204))
    assert no_content.content == b""


def test_large_declared_body_is_passed_through(run: Callable[..., Response]) -> None:
    from consentkit.inject import MAX_BUFFERED

    big = b"<html><body>" + b"x" * (MAX_BUFFERED + 1) + b"</body></html>"
    response = run(body_app([big], html_headers(len(big))))
    assert response.content == big


def test_find_body_end_takes_the_last() -> None:
    assert find_body_end(b"<script>'</body>'</script></body>") == 26
    assert find_body_end(b"</Body>") == 0
    assert find_body_end(b"nothing") == -1


def test_injector_passes_later_messages() -> None:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def go() -> None:
        injector = HtmlInjector(send, b"<X>")
        await injector.start({"type": "http.response.start", "status": 200, "headers": []}, None)
        await injector.send({"type": "http.response.body", "body": b"a</body>", "more_body": True})
        await injector.send({"type": "http.response.body", "body": b"</body>", "more_body": False})

    asyncio.run(go())
    assert b"".join(m.get("body", b"") for m in sent) == b"a<X></body></body>"


# --- a second insertion point before </head> (config scripts placed in the head) ----------

HEAD = b"<script>h()</script>"
BODY = b"<script>b()</script>"
HEADED = (
    b"<!doctype html><html><HEAD><title>t</title></Head ><body><header><p>x</p></header>"
    b"<p>hello</p></body></html>"
)
HEADED_OUT = HEADED.replace(b"</Head >", HEAD + b"</Head >").replace(b"</body>", BODY + b"</body>")


async def inject_direct(
    messages: list[bytes], streamed: bool, head: bytes = HEAD
) -> tuple[list[Message], bytes]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    injector = HtmlInjector(send, BODY, head)
    total = sum(map(len, messages))
    headers = html_headers(None if streamed else total)
    await injector.start(
        {"type": "http.response.start", "status": 200, "headers": headers},
        None if streamed else total,
    )
    for index, chunk in enumerate(messages):
        await injector.send(
            {"type": "http.response.body", "body": chunk, "more_body": index < len(messages) - 1}
        )
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent, body


def cuts(page: bytes) -> list[list[bytes]]:
    """``page`` cut in two at every offset, in three at every pair near the tags, in 1-byte bits."""
    parts = [[page[:i], page[i:]] for i in range(len(page) + 1)]
    head_at = page.lower().find(b"</head")
    if head_at >= 0:
        parts += [
            [page[:i], page[i:j], page[j:]]
            for i in range(head_at - 2, head_at + 9)
            for j in range(i, head_at + 10)
        ]
    return [*parts, [page[i : i + 1] for i in range(len(page))]]


@pytest.mark.parametrize("streamed", [True, False])
def test_head_and_body_fragments_at_every_cut(streamed: bool) -> None:
    for parts in cuts(HEADED):
        sent, body = asyncio.run(inject_direct(parts, streamed))
        assert body == HEADED_OUT, parts
        if not streamed:
            start = dict(sent[0]["headers"])
            assert int(start[b"content-length"]) == len(HEADED_OUT)


@pytest.mark.parametrize("streamed", [True, False])
def test_page_without_head_end_gets_head_fragment_at_body_end(streamed: bool) -> None:
    page = b"<html><header>x</header><p>hello</p></BODY></html>"
    for parts in cuts(page):
        _, body = asyncio.run(inject_direct(parts, streamed))
        assert body == page.replace(b"</BODY>", HEAD + BODY + b"</BODY>"), parts


@pytest.mark.parametrize("streamed", [True, False])
def test_page_without_body_end_gets_only_the_head_fragment(streamed: bool) -> None:
    page = b"<html><head><title>t</title></head><p>partial"
    for parts in cuts(page):
        _, body = asyncio.run(inject_direct(parts, streamed))
        assert body == page.replace(b"</head>", HEAD + b"</head>"), parts
    # With nothing for the head, a page without </body> stays as it was.
    _, body = asyncio.run(inject_direct([page[:9], page[9:]], streamed, head=b""))
    assert body == page


def test_only_the_first_head_end_before_body_end_counts() -> None:
    page = b"<head></head><body><pre>&lt;/head&gt; '</head>'</pre></body>"
    _, body = asyncio.run(inject_direct([page], False))
    assert body.count(HEAD) == 1
    assert body.startswith(b"<head>" + HEAD + b"</head>")
