"""The cost of inserting the snippet into a compressed 20 KB page, against plain insertion.

In process, interleaved round by round like ``bench_middleware.py``. Each
compressed variant's app returns the page already compressed (so the figure
is consentkit's decode, insert and re-encode, nothing of the app's own
compression); the last two put Starlette's ``GZipMiddleware`` outside
consentkit (the recommended order) and inside it (decoded and re-encoded).
Every consentkit variant is an undecided visitor: snippet and banner. The
figure is CPU time of the process per request (``time.process_time``, all
threads: Starlette's ``GZipMiddleware`` compresses in a worker thread),
median over rounds: the work is all CPU, and CPU time is less disturbed than
wall time by other processes on a shared machine.

Run: ``make bench`` (or ``python benchmarks/bench_compression.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import random
import statistics
import tempfile
import time
import zlib
from typing import Any

from bench_middleware import _receive, _send, config, scope_for
from starlette.middleware.gzip import GZipMiddleware

from consentkit import ConsentMiddleware

_VOCABULARY = (
    "peace building alliance members worked across countries report regional dialogue "
    "conflict prevention women youth mediation local partners funding policy learning "
    "communities violence resilience programme evaluation network annual progress"
)
_WORDS = _VOCABULARY.split()


def _page(size: int = 20 * 1024) -> bytes:
    """A 20 KB article of varied text: it compresses about as much as a real one (~3x)."""
    rng = random.Random(20251201)
    parts = ["<!doctype html><html><head><title>Annual report</title></head><body><main>"]
    length = len(parts[0])
    while length < size - 30:
        sentence = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 20)))
        paragraph = f"<p>{sentence.capitalize()}, in {rng.randint(2000, 2025)}.</p>\n"
        parts.append(paragraph)
        length += len(paragraph)
    parts.append("</main></body></html>")
    return "".join(parts).encode()


PAGE = _page()


def compressed(coding: str) -> bytes:
    if coding == "gzip":
        return gzip.compress(PAGE, 6)
    if coding == "deflate":
        return zlib.compress(PAGE, 6)
    if coding == "br":
        import brotli

        out: bytes = brotli.compress(PAGE, quality=5)
        return out
    return PAGE


def page_app(coding: str) -> Any:
    """A raw ASGI app answering with the 20 KB page, compressed with ``coding`` (or not)."""
    body = compressed(coding)
    headers = [(b"content-type", b"text/html; charset=utf-8")]
    if coding != "identity":
        headers.append((b"content-encoding", coding.encode()))
    headers.append((b"content-length", str(len(body)).encode()))

    async def app(scope: Any, receive: Any, send: Any) -> None:
        # Fresh messages each time: GZipMiddleware edits them in place.
        await send({"type": "http.response.start", "status": 200, "headers": list(headers)})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return app


async def time_variant(app: Any, scope: dict[str, Any], n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        await app(dict(scope), _receive, _send)
    return (time.process_time() - start) / n


def variants(storage: str) -> dict[str, tuple[Any, Any]]:
    """name -> (app, the bare app it is compared with)."""
    found: dict[str, tuple[Any, Any]] = {}
    codings = ["identity", "gzip", "deflate"]
    try:
        import brotli  # noqa: F401

        codings.append("br")
    except ImportError:
        print("(brotli is not installed: no br figures; pip install 'consentkit[brotli]')")
    for coding in codings:
        bare = page_app(coding)
        found[f"{coding}: bare"] = (bare, bare)
        found[f"{coding}: consentkit"] = (
            ConsentMiddleware(bare, config=config(storage)),
            bare,
        )
    gzip_bare = GZipMiddleware(page_app("identity"))
    found["GZipMiddleware: bare"] = (gzip_bare, gzip_bare)
    found["GZip outside consentkit"] = (
        GZipMiddleware(ConsentMiddleware(page_app("identity"), config=config(storage))),
        gzip_bare,
    )
    found["GZip inside consentkit"] = (
        ConsentMiddleware(GZipMiddleware(page_app("identity")), config=config(storage)),
        gzip_bare,
    )
    return found


async def run(rounds: int, n: int, storage: str) -> dict[str, tuple[float, float]]:
    apps = variants(storage)
    scope = scope_for("/", "")
    scope["headers"] = [*scope["headers"], (b"accept-encoding", b"gzip, deflate, br")]
    samples: dict[str, list[float]] = {name: [] for name in apps}
    for app, _ in apps.values():
        await time_variant(app, scope, 100)
    for _ in range(rounds):
        for name, (app, _) in apps.items():
            samples[name].append(await time_variant(app, scope, n))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    result = {}
    for name, (app, bare) in apps.items():
        base = next(medians[other] for other, (a, _) in apps.items() if a is bare)
        result[name] = (medians[name], medians[name] - base)
        if isinstance(app, ConsentMiddleware):
            await app.shutdown()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=300, help="requests per round")
    args = parser.parse_args(argv)
    storage = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    figures = asyncio.run(run(args.rounds, args.requests, storage))
    print("\nIn process, a 20 KB HTML page, undecided visitor (snippet and banner):")
    print(f"{'variant':<28}{'CPU µs/request':>15}{'added µs':>10}")
    for name, (value, added) in figures.items():
        print(f"{name:<28}{value * 1e6:>15.2f}{added * 1e6:>10.2f}")
    plain = figures["identity: consentkit"][1]
    for name in ("gzip: consentkit", "deflate: consentkit", "br: consentkit"):
        if name in figures:
            ratio = figures[name][1] / plain
            print(f"{name.split(':')[0]} insertion costs {ratio:.1f}x plain insertion")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
