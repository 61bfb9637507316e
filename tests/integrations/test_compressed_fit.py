"""GZip inside consentkit, served by uvicorn: every client that accepts gzip gets the banner."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import brotli
import httpx
import pytest

from tests.live import UvicornProcess, serve

from .compressed_sites import PAGE, SECRET, starlette_app

BROWSER = {"accept-encoding": "gzip, deflate, br"}
BANNER = b'id="consentkit-banner"'


def raw_get(base: str, path: str, headers: dict[str, str]) -> tuple[httpx.Response, bytes]:
    """The response and its body exactly as sent (not decoded)."""
    with httpx.Client(base_url=base) as client, client.stream("GET", path, headers=headers) as r:
        return r, b"".join(r.iter_raw())


def check_site(base: str) -> None:
    # Held (Content-Length): decoded, inserted, re-encoded, the length fixed.
    response, raw = raw_get(base, "/", BROWSER)
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert int(response.headers["content-length"]) == len(raw)
    text = gzip.decompress(raw)
    assert text.count(BANNER) == 1
    assert text.index(BANNER) < text.index(b"</body>")
    fragment = text[text.index(b"<script src=") : text.index(b"</body>")]
    assert text.replace(fragment, b"") == PAGE.encode()
    assert response.headers["etag"].startswith("W/")
    # Streamed: still chunked, still gzip, banner inserted across the split "</body>".
    response, raw = raw_get(base, "/streamed", BROWSER)
    assert response.headers["content-encoding"] == "gzip"
    assert "content-length" not in response.headers
    assert response.headers["transfer-encoding"] == "chunked"
    assert gzip.decompress(raw).count(BANNER) == 1
    # A client that accepts no compression gets plain HTML with the banner too.
    plain, raw = raw_get(base, "/", {"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and raw.count(BANNER) == 1


def test_starlette_gzip_inside_consentkit(tmp_path: Path) -> None:
    with serve(starlette_app(tmp_path / "consent.db")) as base:
        check_site(base)
        # The snippet's files, precompressed, as the browser asks.
        page = httpx.get(base + "/", headers=BROWSER).text
        js = page.split('src="', 1)[1].split('"', 1)[0]
        response, raw = raw_get(base, js, BROWSER)
        assert response.headers["content-encoding"] == "br"
        assert response.headers["vary"] == "Accept-Encoding"
        assert int(response.headers["content-length"]) == len(raw)
        plain = httpx.get(base + js, headers={"accept-encoding": "identity"})
        assert brotli.decompress(raw) == plain.content
        assert plain.headers["etag"] != response.headers["etag"]
        again = httpx.get(base + js, headers={**BROWSER, "if-none-match": response.headers["etag"]})
        assert again.status_code == 304


@pytest.fixture
def django_site(tmp_path: Path) -> Iterator[str]:
    root = Path(__file__).resolve().parents[2]
    server = UvicornProcess(
        "tests.integrations.compressed_sites:application",
        tmp_path / "uvicorn.log",
        env={
            "CONSENTKIT_STORAGE": f"sqlite:///{tmp_path}/consent.db",
            "CONSENTKIT_SECRET_KEYS": SECRET,
        },
        args=["--lifespan", "off"],
        cwd=root,
    )
    try:
        yield server.url
    finally:
        server.stop()


def test_django_gzip_middleware_under_asgi(django_site: str) -> None:
    check_site(django_site)


def test_a_stream_that_breaks_midway_is_broken_off_not_completed(tmp_path: Path) -> None:
    import zlib

    from consentkit import ConsentMiddleware

    from .compressed_sites import config

    obj = zlib.compressobj(6, zlib.DEFLATED, 31)
    first = obj.compress(PAGE.encode()[:500]) + obj.flush(zlib.Z_SYNC_FLUSH)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = [(b"content-type", b"text/html"), (b"content-encoding", b"gzip")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": first, "more_body": True})
        await send({"type": "http.response.body", "body": b"\xff" * 64, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    site = ConsentMiddleware(app, config=config(f"sqlite:///{tmp_path}/consent.db"))
    with (
        serve(site, lifespan="off") as base,
        httpx.Client(base_url=base) as client,
        pytest.raises(httpx.RemoteProtocolError),  # the chunked body never ends
        client.stream("GET", "/", headers=BROWSER) as response,
    ):
        assert response.status_code == 200
        b"".join(response.iter_raw())
