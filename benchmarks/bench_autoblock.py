"""What automatic blocking costs: a 20 KB page with 10 third-party tags, in one run.

Variants, each called in-process with a prepared scope and interleaved round by
round (as in bench_middleware.py) so machine noise hits them alike; the figure
is the median over rounds of the mean time per request:

- ``bare``: the Starlette app alone;
- ``insertion``: ConsentMiddleware with ``auto_block`` off (the snippet is inserted);
- ``auto_block``: the same with ``auto_block=True``, a visitor who rejected
  everything, so all 10 tags are rewritten (4 scripts, 3 iframes with their
  placeholders, 3 images);
- ``auto_block, all granted``: a visitor who granted every hosted category: the
  rewriter is never built (what it costs is the rules lookup).

Also timed alone (best of 5, ``timeit``): the rewriter on the page with its 10
tags, as a site serves it again and again (each tag looked up among those seen
before) and the first time its tags are seen (every one parsed and gated anew),
and on the same page with no blocked host in it. The in-process variants serve
the same page every request: they measure the first case.

Run: ``make bench`` (or ``python benchmarks/bench_autoblock.py [--rounds N] [--requests N]``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import timeit
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from consentkit import Category, ConsentConfig, ConsentMiddleware
from consentkit.autoblock import AutoBlocker, TagRewriter

SECRET = "benchmark-secret-key-0123456789abcdef"
TAGS = (
    '<script src="https://www.googletagmanager.com/gtag/js?id=G-1" async></script>',
    '<iframe width="560" height="315" title="Video" '
    'src="https://www.youtube.com/embed/abc" allowfullscreen></iframe>',
    '<img src="https://i.ytimg.com/vi/abc/hqdefault.jpg" alt="Cover" loading="lazy">',
    '<script src="https://connect.facebook.net/en_US/fbevents.js"></script>',
)
PARAGRAPH = (
    '<p class="lead">Peacebuilders <a href="/programs/dialogue">expanded</a> their '
    "influence across the region, with <em>34 countries</em> reporting.</p>\n"
)


def page_with_tags(count: int = 10) -> str:
    """About 20 KB of article markup with ``count`` third-party tags spread through it."""
    paragraphs = [PARAGRAPH] * 150
    step = len(paragraphs) // (count + 1)
    for index in range(count):
        paragraphs[(index + 1) * step] += TAGS[index % len(TAGS)] + "\n"
    head = (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Report</title>"
        '<link rel="stylesheet" href="/static/site.css"><script src="/static/site.js" defer>'
        "</script></head><body><main>\n"
    )
    return head + "".join(paragraphs) + "</main></body></html>"


PAGE = page_with_tags()


def config(storage: str, auto_block: bool) -> ConsentConfig:
    return ConsentConfig(
        secret_keys=[SECRET],
        storage=storage,
        auto_block=auto_block,
        categories=[
            Category(key="necessary", label="Necessary", required=True),
            Category(
                key="analytics",
                label="Analytics",
                hosts=["www.googletagmanager.com", "*.google-analytics.com"],
            ),
            Category(
                key="marketing",
                label="Marketing",
                hosts=["www.youtube.com", "*.ytimg.com", "connect.facebook.net"],
            ),
        ],
    )


async def page(request: Request) -> Response:
    return HTMLResponse(PAGE)


def bare() -> Starlette:
    return Starlette(routes=[Route("/page", page)])


def cookie(mw: ConsentMiddleware, granted: set[str]) -> str:
    token = mw.codec.encode(granted, "benchmark-consent-id-01", time.time())
    return f"{mw.config.cookie_name}={token}"


def variants(storage: str) -> dict[str, tuple[Any, str]]:
    insertion = ConsentMiddleware(bare(), config=config(storage, False))
    blocking = ConsentMiddleware(bare(), config=config(storage, True))
    blocking_granted = ConsentMiddleware(bare(), config=config(storage, True))
    return {
        "bare": (bare(), cookie(insertion, set())),
        "insertion": (insertion, cookie(insertion, set())),
        "auto_block": (blocking, cookie(blocking, set())),
        "auto_block, all granted": (
            blocking_granted,
            cookie(blocking_granted, {"analytics", "marketing"}),
        ),
    }


def scope_for(cookie_header: str) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/page", "raw_path": b"/page", "root_path": "",
        "query_string": b"", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"example.org"), (b"accept", b"text/html"),
                    (b"accept-language", b"en"), (b"cookie", cookie_header.encode())],
    }  # fmt: skip


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    return None


async def time_variant(app: Any, scope: dict[str, Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await app(dict(scope), _receive, _send)
    return (time.perf_counter() - start) / n


async def in_process(rounds: int, n: int, storage: str) -> dict[str, float]:
    apps = variants(storage)
    scopes = {name: scope_for(c) for name, (_, c) in apps.items()}
    samples: dict[str, list[float]] = {name: [] for name in apps}
    for name, (app, _) in apps.items():
        await time_variant(app, scopes[name], 100)
    for _ in range(rounds):
        for name, (app, _) in apps.items():
            samples[name].append(await time_variant(app, scopes[name], n))
    for app, _ in apps.values():
        if isinstance(app, ConsentMiddleware):
            await app.shutdown()
    return {name: statistics.median(values) for name, values in samples.items()}


def rewriter_alone(storage: str, number: int = 500) -> tuple[float, float, float]:
    """Seconds per page for the rewriter alone: with the 10 tags (seen before, and new),
    and with no blocked host."""
    rules = AutoBlocker(config(storage, True).categories).rules(frozenset())
    assert rules is not None
    body = PAGE.encode()
    clean = body  # the same page with no declared host in it
    for host, other in (
        (b"youtube.com", b"example.com"),
        (b"ytimg.com", b"imgex.com"),
        (b"facebook.net", b"example.net"),
        (b"googletagmanager", b"tagexample"),
    ):
        clean = clean.replace(host, other)  # fmt: skip

    def rewrite(data: bytes) -> bytes:
        rewriter = TagRewriter(rules, lambda key, host: b"<div>placeholder</div>")
        return rewriter.rewrite(data)

    assert rewrite(body).count(b"data-consent=") == 10
    assert rewrite(clean) == clean

    def rewrite_new(data: bytes) -> bytes:
        rules._gates.clear()  # the tags have never been seen
        return rewrite(data)

    tags = min(timeit.repeat(lambda: rewrite(body), number=number, repeat=5)) / number
    new = min(timeit.repeat(lambda: rewrite_new(body), number=number, repeat=5)) / number
    none = min(timeit.repeat(lambda: rewrite(clean), number=number, repeat=5)) / number
    return tags, new, none


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=500, help="requests per round")
    args = parser.parse_args(argv)
    storage = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    print(f"page: {len(PAGE.encode())} bytes, 10 third-party tags")
    medians = asyncio.run(in_process(args.rounds, args.requests, storage))
    base = medians["bare"]
    print(f"{'variant':<26}{'µs/request':>12}{'added µs':>10}")
    for name, value in medians.items():
        print(f"{name:<26}{value * 1e6:>12.2f}{(value - base) * 1e6:>10.2f}")
    insertion = medians["insertion"] - base
    blocking = medians["auto_block"] - medians["insertion"]
    if insertion > 0:
        print(
            f"auto_block adds {blocking * 1e6:.2f} µs on top of insertion: "
            f"{blocking / insertion:.2f}x what insertion adds (target: < 2x); "
            f"insertion + auto_block add {(medians['auto_block'] - base) / insertion:.2f}x "
            "what insertion alone adds"
        )
    tags, new, none = rewriter_alone(storage)
    print(
        f"rewriter alone (best of 5): {tags * 1e6:.2f} µs with the 10 tags "
        f"({new * 1e6:.2f} µs the first time they are seen), "
        f"{none * 1e6:.2f} µs with no blocked host on the page"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
