"""The per-request cost of ConsentMiddleware against a bare app and SessionMiddleware.

In-process: each variant's ASGI app is called directly with a prepared
scope, interleaved round by round so machine noise hits every variant
alike; the figure is the median over rounds of the mean time per request.

Over HTTP (``--http``): each variant is served by uvicorn on loopback and
loaded with wrk, interleaved; the figure is requests per second.

Run: ``make bench`` (or ``python benchmarks/bench_middleware.py [--http]``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from typing import Any

import itsdangerous
from starlette.applications import Starlette
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from consentkit import (
    Category,
    CloudflareHeaders,
    ConsentConfig,
    ConsentMiddleware,
    Cookie,
    Region,
    Script,
    google_tag,
)

SECRET = "benchmark-secret-key-0123456789abcdef"
PAGE_20K = (
    "<!doctype html><html><head><title>Report</title></head><body>"
    + "<p>Peacebuilders expanded their influence across the region.</p>" * 330
    + "</body></html>"
)


async def text(request: Request) -> Response:
    return PlainTextResponse("hello, world")


async def page(request: Request) -> Response:
    return HTMLResponse(PAGE_20K)


def bare() -> Starlette:
    return Starlette(routes=[Route("/", text), Route("/page", page)])


def config(storage: str, **overrides: Any) -> ConsentConfig:
    options: dict[str, Any] = dict(
        secret_keys=[SECRET],
        categories=[
            Category(
                key="necessary", label="Necessary", required=True, cookies=[Cookie(name="session")]
            ),
            Category(
                key="analytics",
                label="Analytics",
                cookies=[Cookie(name="_ga*")],
                hosts=["www.googletagmanager.com", "*.google-analytics.com"],
            ),
            Category(
                key="marketing",
                label="Marketing",
                hosts=["www.youtube.com", "*.ytimg.com", "*.googlevideo.com"],
            ),
        ],
        storage=storage,
    )
    return ConsentConfig(**{**options, **overrides})


def regional(storage: str) -> ConsentConfig:
    """``config`` with regional regimes, the region from Cloudflare's headers."""
    return config(
        storage,
        regions=[
            Region(match=["EU", "EEA", "GB", "CH"], regime="opt_in"),
            Region(match=["US-CA", "US-CO", "US-CT", "US-VA", "US-UT"], regime="us_opt_out"),
            Region(match=["*"], regime="opt_in"),
        ],
        region_source=CloudflareHeaders(),
        trusted_proxies=["127.0.0.1", "10.0.0.0/8"],
    )


def session_cookie() -> str:
    data = base64.b64encode(json.dumps({"user": "alice", "cart": [1, 2]}).encode())
    signed = itsdangerous.TimestampSigner(SECRET).sign(data).decode()
    return f"session={signed}"


def consent_cookie(mw: ConsentMiddleware) -> str:
    token = mw.codec.encode({"analytics"}, "benchmark-consent-id-01", time.time())
    return f"{mw.config.cookie_name}={token}"


def variants(storage: str) -> dict[str, tuple[Any, str]]:
    """name -> (ASGI app, Cookie header).

    Every decided variant gets the same request: a browser that holds both a
    session and a consent cookie, as a visitor of a real site does.
    """
    consent = ConsentMiddleware(bare(), config=config(storage))
    undecided = ConsentMiddleware(bare(), config=config(storage))
    csp = ConsentMiddleware(bare(), config=config(storage, csp="enforce"))
    regions = ConsentMiddleware(bare(), config=regional(storage))
    # Config scripts: Google's tag in the head (live: analytics is granted), an inert one at
    # the end of the body, so both insertion points are used.
    scripted = config(storage)
    categories = list(scripted.categories)
    categories[1] = categories[1].model_copy(update={"scripts": google_tag("G-BENCH123")})
    categories[2] = categories[2].model_copy(
        update={"scripts": (Script(src="https://www.youtube.com/iframe_api"),)}
    )
    scripts = ConsentMiddleware(bare(), config=config(storage, categories=categories))
    both = f"{session_cookie()}; {consent_cookie(consent)}"
    return {
        "bare": (bare(), both),
        "session": (SessionMiddleware(bare(), secret_key=SECRET), both),
        "consentkit": (consent, both),
        "consentkit-undecided": (undecided, session_cookie()),
        "consentkit-csp": (csp, both),
        "consentkit-regions": (regions, both),
        "consentkit-scripts": (scripts, both),
    }


def scope_for(path: str, cookie: str) -> dict[str, Any]:
    headers = [
        (b"host", b"example.org"),
        (b"user-agent", b"bench/1.0"),
        (b"accept", b"text/html"),
        (b"accept-language", b"en-GB,en;q=0.9"),
        # Behind Cloudflare every request has these; only the regions variant reads them.
        (b"cf-ipcountry", b"DE"),
        (b"cf-region-code", b"BY"),
    ]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "headers": headers, "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
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


async def in_process(path: str, rounds: int, n: int, storage: str) -> dict[str, float]:
    apps = variants(storage)
    scopes = {name: scope_for(path, cookie) for name, (_, cookie) in apps.items()}
    samples: dict[str, list[float]] = {name: [] for name in apps}
    for name, (app, _) in apps.items():  # warm up: caches, lazy start-up
        await time_variant(app, scopes[name], 200)
    for _ in range(rounds):
        for name, (app, _) in apps.items():
            samples[name].append(await time_variant(app, scopes[name], n))
    for app, _ in apps.values():
        if isinstance(app, ConsentMiddleware):
            await app.shutdown()
    return {name: statistics.median(values) for name, values in samples.items()}


def report_in_process(title: str, medians: dict[str, float], target: bool = True) -> None:
    base = medians["bare"]
    session_added = medians["session"] - base
    print(f"\n{title}")
    print(f"{'variant':<22}{'µs/request':>12}{'added µs':>10}{'ratio':>8}")
    for name, value in medians.items():
        print(f"{name:<22}{value * 1e6:>12.2f}{(value - base) * 1e6:>10.2f}{value / base:>8.3f}")
    if session_added > 0:
        share = (medians["consentkit"] - base) / session_added
        goal = " (target: < 33%)" if target else ""
        print(f"consentkit adds {share:.0%} of what SessionMiddleware adds{goal}")
        csp_share = (medians["consentkit-csp"] - base) / session_added
        print(
            f"consentkit with csp='enforce' adds {csp_share:.0%}{goal}; the policy header "
            f"adds {(medians['consentkit-csp'] - medians['consentkit']) * 1e6:.2f} µs"
        )
        regions_share = (medians["consentkit-regions"] - base) / session_added
        print(
            f"consentkit with regions (Cloudflare headers) adds {regions_share:.0%}{goal}; "
            f"resolving the region adds "
            f"{(medians['consentkit-regions'] - medians['consentkit']) * 1e6:.2f} µs"
        )


def region_cost(storage: str, number: int = 200_000) -> tuple[float, float, float]:
    """Seconds ``RegionResolver.resolve`` takes per request: with regions and Cloudflare's
    headers, without regions, and, for scale, a bare loop over the same request's headers.
    Timed in isolation (best of 5), from a trusted proxy."""
    scope = scope_for("/", "")
    with_regions = ConsentMiddleware(bare(), config=regional(storage)).regions.resolve
    without = ConsentMiddleware(bare(), config=config(storage)).regions.resolve
    assert with_regions(scope).region == "DE-BY"

    def scan() -> None:
        for _name, _value in scope["headers"]:
            pass

    def best(func: Any) -> float:
        return min(timeit.repeat(func, number=number, repeat=5)) / number

    return best(lambda: with_regions(scope)), best(lambda: without(scope)), best(scan)


def csp_append_cost(storage: str, number: int = 200_000) -> float:
    """Seconds the consent CSP adds to one HTML response: the lookup and the header append.

    Timed in isolation (best of 5) because it is far below the noise of a whole request.
    """
    mw = ConsentMiddleware(bare(), config=config(storage, csp="enforce"))
    consent = mw.codec.decode(consent_cookie(mw).split("=", 1)[1])
    scope = scope_for("/page", "")
    headers = [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", b"20000")]
    policy = mw.csp
    assert policy is not None

    def with_policy() -> list[tuple[bytes, bytes]]:
        return [*headers, *policy.headers(consent, mw.is_https(scope))]

    def without() -> list[tuple[bytes, bytes]]:
        return headers

    added = min(timeit.repeat(with_policy, number=number, repeat=5))
    base = min(timeit.repeat(without, number=number, repeat=5))
    return (added - base) / number


# Over HTTP.

APP_MODULE = """
import os, sys
sys.path.insert(0, {bench_dir!r})
from bench_middleware import bare, config, variants
from starlette.middleware.sessions import SessionMiddleware
from consentkit import ConsentMiddleware
name = os.environ["BENCH_VARIANT"]
app = variants({storage!r})[name][0]
"""


def wrk(url: str, cookie: str, seconds: int, connections: int) -> float:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} failed responses at {url}")
    assert match, output
    return float(match.group(1))


def over_http(rounds: int, seconds: int, storage: str, path: str) -> dict[str, float]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    bench_dir = os.path.dirname(os.path.abspath(__file__))
    workdir = tempfile.mkdtemp()
    with open(os.path.join(workdir, "bench_app.py"), "w") as handle:
        handle.write(APP_MODULE.format(bench_dir=bench_dir, storage=storage))
    cookies = {name: cookie for name, (_, cookie) in variants(storage).items()}
    samples: dict[str, list[float]] = {name: [] for name in cookies}
    ports = dict(zip(cookies, range(18301, 18301 + len(cookies)), strict=True))
    servers = []
    try:
        for name, port in ports.items():
            env = {**os.environ, "BENCH_VARIANT": name, "PYTHONPATH": workdir}
            servers.append(subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "bench_app:app", "--port", str(port),
                 "--host", "127.0.0.1", "--log-level", "warning", "--no-access-log"],
                env=env,
            ))  # fmt: skip
        time.sleep(2)
        for name, port in ports.items():  # warm-up
            wrk(f"http://127.0.0.1:{port}{path}", cookies[name], 1, 16)
        for _ in range(rounds):  # interleaved, so noise hits every variant alike
            for name, port in ports.items():
                url = f"http://127.0.0.1:{port}{path}"
                samples[name].append(wrk(url, cookies[name], seconds, 16))
    finally:
        for server in servers:
            server.terminate()
            server.wait()
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--http", action="store_true", help="also measure over HTTP with wrk")
    parser.add_argument("--seconds", type=int, default=3, help="wrk run length")
    parser.add_argument("--http-rounds", type=int, default=5)
    args = parser.parse_args(argv)
    storage = f"sqlite:///{tempfile.mkdtemp()}/bench.db"

    text_medians = asyncio.run(in_process("/", args.rounds, args.requests, storage))
    report_in_process("In process, a plain-text response (the per-request path):", text_medians)
    page_medians = asyncio.run(in_process("/page", args.rounds, args.requests // 4, storage))
    report_in_process(
        "In process, a 20 KB HTML page (insertion; banner when undecided):",
        page_medians,
        target=False,
    )
    print(
        f"\nThe consent CSP on an HTML response (lookup and header append, in isolation): "
        f"{csp_append_cost(storage) * 1e6:.2f} µs"
    )
    resolved, plain, scan = region_cost(storage)
    print(
        f"RegionResolver.resolve, in isolation: {resolved * 1e6:.2f} µs with regions and "
        f"Cloudflare headers, {plain * 1e6:.3f} µs without regions; a bare loop over the "
        f"request's {len(scope_for('/', 'x')['headers'])} headers: {scan * 1e6:.2f} µs"
    )
    if args.http:
        rps = over_http(args.http_rounds, args.seconds, storage, "/")
        print("\nOver HTTP (uvicorn, one worker, wrk -c16, loopback), plain text:")
        for name, value in rps.items():
            print(f"{name:<22}{value:>10.0f} req/s{value / rps['bare']:>8.1%} of bare")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
