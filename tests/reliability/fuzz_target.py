"""A coverage-guided (atheris/libFuzzer) target for everything a visitor controls.

Run: ``python tests/reliability/fuzz_target.py [CORPUS_DIR] -max_total_time=10``.
The first byte of an input chooses what it feeds: the consent cookie codec
(unsigned and signed-but-hostile payloads), the Cookie header parser,
``safe_next``, the JSON and form decision parsers, the origin check, the body
reader, or a whole request through the middleware (with an in-memory consent
log, so accepted decisions run to the end). Any exception but a refusal
(`_Refused`, answered as a 4xx) is a crash.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import tempfile
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import atheris

with atheris.instrument_imports(include=["consentkit"]):
    from consentkit import ConsentConfig, ConsentMiddleware
    from consentkit.config import AnalyticsConfig, Category, Cookie
    from consentkit.cookies import parse_cookie_header
    from consentkit.endpoints import _read_body, _Refused, safe_next
    from consentkit.log.chain import Chain
    from consentkit.log.record import ConsentRecord, Decision

KEY = "fuzz-secret-key-0123456789abcdef-0123"


class MemoryLog:
    """A consent log in memory: seals records on the real chain, stores nothing."""

    def __init__(self, middleware: ConsentMiddleware) -> None:
        self.chain = Chain(middleware.log_key)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def append(self, decision: Decision) -> ConsentRecord:
        records = self.chain.seal_batch([decision], datetime.now(timezone.utc))
        self.chain.advance(records)
        return records[0]


async def _site(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = b"<html><body><p>page</p></body></html>"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"set-cookie", b"_ga_1=x; Path=/"),
                (b"set-cookie", b"ads=y"),
                (b"set-cookie", b"other=z"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


_folder = tempfile.mkdtemp(prefix="consentkit-fuzz-")
config = ConsentConfig(
    secret_keys=[KEY],
    categories=[
        Category(key="necessary", label="Necessary", required=True, cookies=[Cookie(name="sid")]),
        Category(key="analytics", label="Analytics", cookies=[Cookie(name="_ga*")]),
        Category(key="marketing", label="Marketing", cookies=[Cookie(name="ads")]),
    ],
    storage=f"sqlite:///{_folder}/never-opened.db",
    analytics=AnalyticsConfig(sections={"/reports": "Reports"}),
    cookie_domain="testserver",
    trusted_proxies=("10.0.0.0/8",),
)
mw = ConsentMiddleware(_site, config=config)
mw.log = MemoryLog(mw)  # type: ignore[assignment]
mw._started = True  # no storage thread, no analytics flush task: the queue is bounded anyway
codec = mw.codec
endpoints = mw.endpoints
loop = asyncio.new_event_loop()

PATHS = ["/", "/consent", "/privacy", "/reports/a", "/consent/consentkit.js", "/consent/x"]
METHODS = ["GET", "POST", "DELETE", "HEAD", "PUT"]
HEADERS = [
    b"cookie", b"origin", b"content-type", b"content-length", b"sec-fetch-site", b"sec-gpc",
    b"accept-language", b"accept", b"x-forwarded-for", b"x-forwarded-proto", b"referer",
    b"user-agent", b"if-none-match",
]  # fmt: skip


def _headers(fdp: atheris.FuzzedDataProvider) -> list[tuple[bytes, bytes]]:
    return [
        (HEADERS[fdp.ConsumeIntInRange(0, len(HEADERS) - 1)], fdp.ConsumeBytes(80))
        for _ in range(fdp.ConsumeIntInRange(0, 8))
    ]


def _check_next(value: str) -> None:
    result = safe_next(value)
    ok = result == "/" or (
        result.startswith("/")
        and not result.startswith(("//", "/\\"))
        and not any(ord(c) < 0x20 or ord(c) == 0x7F for c in result)
        and not urlsplit(result).scheme
        and not urlsplit(result).netloc
    )
    if not ok:
        raise AssertionError(f"safe_next({value!r}) = {result!r}")


async def _whole_request(fdp: atheris.FuzzedDataProvider) -> None:
    method = METHODS[fdp.ConsumeIntInRange(0, len(METHODS) - 1)]
    path = PATHS[fdp.ConsumeIntInRange(0, len(PATHS) - 1)]
    headers = _headers(fdp)
    if fdp.ConsumeBool():
        token = codec.encode(["analytics"], "fuzz-id", 1_900_000_000)
        headers.append((b"cookie", f"consentkit={token}".encode()))
    client = ("10.1.2.3", 1) if fdp.ConsumeBool() else ("203.0.113.9", 2)
    chunks = [
        fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 400)) for _ in range(fdp.ConsumeIntInRange(1, 4))
    ]
    scope = {
        "type": "http", "method": method, "path": path, "raw_path": path.encode(),
        "query_string": b"", "root_path": "", "headers": [(b"host", b"testserver"), *headers],
        "client": client, "server": ("testserver", 80), "scheme": "http", "http_version": "1.1",
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await mw(scope, receive, send)
    start = sent[0]
    if start["status"] >= 500:
        raise AssertionError(f"status {start['status']}")
    for name, value in start.get("headers", []):
        if b"\r" in value or b"\n" in value:
            raise AssertionError(f"CR/LF in header {name!r}: {value!r}")


def one_input(data: bytes) -> None:
    if not data:
        return
    mode, rest = data[0] % 9, data[1:]
    fdp = atheris.FuzzedDataProvider(rest)
    try:
        if mode == 0:
            codec.decode(rest.decode("latin-1"))
        elif mode == 1:
            payload = rest.decode("utf-8", "replace")
            signed = codec._signer.sign(base64.urlsafe_b64encode(payload.encode())).decode()
            consent = codec.decode(signed)
            if consent.decided and not consent.granted <= mw.all_keys:
                raise AssertionError(f"unknown category granted: {consent.granted}")
            codec._cache.clear()
        elif mode == 2:
            parse_cookie_header(rest.decode("latin-1"))
        elif mode == 3:
            _check_next(rest.decode("utf-8", "replace"))
        elif mode == 4:
            endpoints._parse_json(rest, _starlette_headers([]))
        elif mode == 5:
            endpoints._parse_form(rest)
        elif mode == 6:
            headers = _starlette_headers(_headers(fdp))
            endpoints._check_origin({"type": "http"}, headers, form=fdp.ConsumeBool())
        elif mode == 7:
            headers = _starlette_headers([(b"content-length", fdp.ConsumeBytes(30))])
            body = fdp.ConsumeBytes(20_000)

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            loop.run_until_complete(_read_body(headers, receive))
        else:
            loop.run_until_complete(_whole_request(fdp))
    except _Refused:
        pass


def _starlette_headers(raw: list[tuple[bytes, bytes]]) -> Any:
    from starlette.datastructures import Headers

    return Headers(raw=[(b"host", b"testserver"), *raw])


def seeds(folder: str) -> None:
    """Write a starting corpus: one meaningful input per mode."""
    token = codec.encode(["analytics"], "seed-id", 1_900_000_000)
    payload = json.dumps(["1", ["analytics"], "seed", 1_900_000_000])
    samples = [
        b"\x00" + token.encode(),
        b"\x01" + payload.encode(),
        b"\x02" + f'consentkit={token}; _ga=1; a="b"'.encode(),
        b"\x03/news/item?id=3#top",
        b"\x03/%2F%2Fevil.example",
        b'\x04{"action": "custom", "categories": {"analytics": true}, "surface": "banner"}',
        b"\x05action=custom&category=analytics&next=%2Freports&surface=form",
        b"\x06\x01origin http://testserver",
        b"\x0724" + b'{"action": "accept_all"}',
        b"\x08\x01\x01" + b'{"action": "accept_all"}',
    ]
    os.makedirs(folder, exist_ok=True)
    for n, sample in enumerate(samples):
        with open(os.path.join(folder, f"seed-{n}"), "wb") as file:
            file.write(sample)


def main() -> None:
    corpus = [a for a in sys.argv[1:] if not a.startswith("-")]
    if corpus:
        seeds(corpus[0])
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
