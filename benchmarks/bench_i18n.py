"""What languages cost: negotiation per request, and start-up per configured language.

- Negotiation: ``Translator.negotiate`` for typical ``Accept-Language`` headers, answered
  from the per-header cache (what a request pays) and computed afresh (what the first
  request with a new header pays), against an undecided HTML request through the
  middleware (where the language is needed) for scale.
- Start-up: building a ``ConsentMiddleware`` (validated texts, one declaration and its
  hash, one pre-rendered banner per language) with the six languages of 0.1 against
  every shipped language.

Run: ``python benchmarks/bench_i18n.py`` (about 20 s).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentkit import Category, ConsentConfig, ConsentMiddleware, Cookie
from consentkit.i18n import Translator, shipped_languages

SECRET = "benchmark-secret-key-0123456789abcdef"
HEADERS = (
    "en-US,en;q=0.9",
    "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7",
    "pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7",
    "zh-CN,zh;q=0.9",
    "fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5",
    "nn-NO,nb;q=0.9,no;q=0.8,en;q=0.5",
)
SIX = ("en", "de", "fr", "es", "he", "ar")


def config(storage: str, languages: tuple[str, ...] | None = None) -> ConsentConfig:
    extra: dict[str, Any] = {} if languages is None else {"languages": languages}
    return ConsentConfig(
        secret_keys=[SECRET],
        storage=storage,
        categories=[
            Category(
                key="necessary", label="Necessary", required=True, cookies=[Cookie(name="session")]
            ),
            Category(key="analytics", label="Analytics", cookies=[Cookie(name="_ga*")]),
            Category(key="marketing", label="Marketing"),
        ],
        **extra,
    )


def per_call(fn: Any, n: int, rounds: int) -> float:
    """Median over rounds of the mean µs per call."""
    results = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        results.append((time.perf_counter() - start) / n * 1e6)
    return statistics.median(results)


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    return None


def negotiation(storage: str, n: int, rounds: int) -> None:
    translator = Translator(config(storage))
    cached = {h: per_call(lambda h=h: translator.negotiate(h), n, rounds) for h in HEADERS}

    def fresh(header: str) -> None:
        translator._negotiated.clear()
        translator.negotiate(header)

    uncached = {h: per_call(lambda h=h: fresh(h), n // 10, rounds) for h in HEADERS}

    async def page(request: Any) -> Response:
        return HTMLResponse("<!doctype html><html><body><p>Report</p></body></html>")

    mw = ConsentMiddleware(Starlette(routes=[Route("/", page)]), config=config(storage))

    async def request() -> None:
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/",
            "raw_path": b"/",
            "root_path": "",
            "scheme": "http",
            "query_string": b"",
            "headers": [(b"host", b"example.org"), (b"accept-language", HEADERS[1].encode())],
            "client": ("127.0.0.1", 5000),
            "server": ("example.org", 80),
            "http_version": "1.1",
        }
        await mw(scope, _receive, _send)

    async def timed() -> float:
        await request()
        results = []
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(n // 10):
                await request()
            results.append((time.perf_counter() - start) / (n // 10) * 1e6)
        return statistics.median(results)

    page_us = asyncio.run(timed())
    print("| Accept-Language | cached µs | first time µs | language |")
    print("|---|---:|---:|---|")
    for h in HEADERS:
        lang = translator.negotiate(h)
        print(f"| `{h}` | {cached[h]:.3f} | {uncached[h]:.2f} | {lang} |")
    print(f"\nAn undecided HTML request through the middleware (banner inserted): {page_us:.1f} µs")


def startup(storage: str, rounds: int) -> None:
    print("\n| languages | start-up ms (median) | memory retained (MB) |")
    print("|---|---:|---:|")
    for name, languages in (("6 (0.1 default)", SIX), ("35 (every shipped one)", None)):
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            ConsentMiddleware(Starlette(), config=config(storage, languages))
            times.append((time.perf_counter() - start) * 1000)
        tracemalloc.start()
        mw = ConsentMiddleware(Starlette(), config=config(storage, languages))
        size = tracemalloc.get_traced_memory()[0] / 1e6
        tracemalloc.stop()
        del mw
        print(f"| {name} | {statistics.median(times):.1f} | {size:.2f} |")
    print(f"\nshipped: {', '.join(shipped_languages().values())}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{Path(tmp) / 'bench.db'}"
        negotiation(storage, args.n, args.rounds)
        startup(storage, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
