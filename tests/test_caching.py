"""Per-visitor responses are kept out of shared caches (``consentkit.caching``).

The unit tests state the header rules; the end-to-end tests put a small shared
cache (it honours ``Cache-Control`` and ``Vary`` as RFC 9111 describes for a
shared cache, and stores responses without ``Cache-Control`` heuristically, as
CDNs told to "cache everything" do) in front of a site served by uvicorn.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from consentkit import Category, ConsentConfig, ConsentMiddleware, Cookie
from consentkit.caching import private_headers
from tests.live import serve

H = list[tuple[bytes, bytes]]


def headers_of(result: H) -> dict[bytes, list[bytes]]:
    out: dict[bytes, list[bytes]] = {}
    for name, value in result:
        out.setdefault(name.lower(), []).append(value)
    return out


@pytest.mark.parametrize(
    ("given", "cache_control"),
    [
        ([], b"private"),
        ([(b"cache-control", b"public, max-age=600")], b"private, max-age=600"),
        ([(b"Cache-Control", b"max-age=60, s-maxage=3600")], b"private, max-age=60"),
        ([(b"cache-control", b"public"), (b"cache-control", b"max-age=5")], b"private, max-age=5"),
        ([(b"cache-control", b"no-cache")], b"private, no-cache"),
        ([(b"cache-control", b"max-age=0, proxy-revalidate")], b"private, max-age=0"),
        ([(b"cache-control", b'private="set-cookie", max-age=9')], b"private, max-age=9"),
        ([(b"cache-control", b"public, private")], b"private"),
        # Left alone: already private, or never stored at all.
        ([(b"cache-control", b"private, max-age=60")], b"private, max-age=60"),
        ([(b"cache-control", b"no-store")], b"no-store"),
        ([(b"cache-control", b"public, no-store")], b"public, no-store"),
    ],
)
def test_cache_control_rules(given: H, cache_control: bytes) -> None:
    result = headers_of(private_headers([(b"content-type", b"text/html"), *given]))
    assert result[b"cache-control"] == [cache_control]
    assert result[b"content-type"] == [b"text/html"]


@pytest.mark.parametrize(
    ("given", "vary"),
    [
        ([], [b"Cookie"]),
        ([(b"vary", b"Accept-Encoding")], [b"Accept-Encoding, Cookie"]),
        ([(b"Vary", b"Accept-Encoding, ")], [b"Accept-Encoding, Cookie"]),
        (
            [(b"vary", b"Accept-Encoding"), (b"vary", b"Origin")],
            [b"Accept-Encoding, Cookie", b"Origin"],
        ),
        ([(b"vary", b"accept-encoding, COOKIE")], [b"accept-encoding, COOKIE"]),
        ([(b"vary", b"*")], [b"*"]),
    ],
)
def test_vary_cookie_is_merged_once(given: H, vary: list[bytes]) -> None:
    assert headers_of(private_headers(given))[b"vary"] == vary


@pytest.mark.parametrize(
    ("given", "vary"),
    [
        ([], [b"Cookie, cf-ipcountry, cf-region-code"]),
        (
            [(b"vary", b"Accept-Encoding")],
            [b"Accept-Encoding, Cookie, cf-ipcountry, cf-region-code"],
        ),
        ([(b"vary", b"CF-IPCountry, cookie")], [b"CF-IPCountry, cookie, cf-region-code"]),
        ([(b"vary", b", ")], [b"Cookie, cf-ipcountry, cf-region-code"]),
        ([(b"vary", b"*")], [b"*"]),
    ],
)
def test_region_headers_join_vary(given: H, vary: list[bytes]) -> None:
    tokens = (b"Cookie", b"cf-ipcountry", b"cf-region-code")
    assert headers_of(private_headers(given, tokens))[b"vary"] == vary


def test_input_is_not_changed() -> None:
    given = [(b"cache-control", b"public"), (b"vary", b"Origin")]
    private_headers(given)
    assert given == [(b"cache-control", b"public"), (b"vary", b"Origin")]


# --- a shared cache in front of a real server ----------------------------------------------


@dataclass
class Stored:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    vary: dict[str, str | None]
    expires: float


class SharedCache:
    """An ASGI reverse proxy with a shared HTTP cache, forwarding to ``origin`` over HTTP.

    Stores 200 answers to GET unless ``Cache-Control`` has ``private`` or
    ``no-store`` (or ``Vary: *``); freshness is ``s-maxage``, else ``max-age``,
    else (no ``Cache-Control``) a heuristic 300 s. A stored answer is reused
    only for a request whose ``Vary`` headers match, unless ``honour_vary`` is
    off (as on CDNs that ignore ``Vary``). Set-Cookie is stored and replayed.
    """

    def __init__(self, origin: str, *, honour_vary: bool = True) -> None:
        self.origin = origin
        self.honour_vary = honour_vary
        self.store: dict[str, list[Stored]] = {}
        self.hits = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        key = request.url.path + ("?" + request.url.query if request.url.query else "")
        now = time.monotonic()
        if request.method == "GET":
            for entry in self.store.get(key, []):
                if entry.expires > now and (
                    not self.honour_vary
                    or all(request.headers.get(h) == v for h, v in entry.vary.items())
                ):
                    self.hits += 1
                    await self._answer(
                        send, entry.status, [*entry.headers, ("x-cache", "HIT")], entry.body
                    )
                    return
        forwarded = {k: v for k, v in request.headers.items() if k != "content-length"}
        async with httpx.AsyncClient(base_url=self.origin) as client:
            answer = await client.request(
                request.method, key, headers=forwarded, content=await request.body()
            )
        headers = [
            (k, v)
            for k, v in answer.headers.multi_items()
            if k not in ("content-length", "content-encoding", "transfer-encoding")
        ]
        if request.method == "GET" and answer.status_code == 200:
            self._maybe_store(key, request, answer, headers, now)
        await self._answer(
            send, answer.status_code, [*headers, ("x-cache", "MISS")], answer.content
        )

    def _maybe_store(
        self,
        key: str,
        request: Request,
        answer: httpx.Response,
        headers: list[tuple[str, str]],
        now: float,
    ) -> None:
        control = answer.headers.get("cache-control")
        directives = {
            d.split("=", 1)[0].strip().lower(): d.partition("=")[2].strip()
            for d in (control or "").split(",")
            if d.strip()
        }
        if "private" in directives or "no-store" in directives:
            return
        vary = [
            h.strip().lower()
            for h in ",".join(answer.headers.get_list("vary")).split(",")
            if h.strip()
        ]
        if "*" in vary:
            return
        if "s-maxage" in directives:
            lifetime = float(directives["s-maxage"])
        elif "max-age" in directives:
            lifetime = float(directives["max-age"])
        elif control is None:
            lifetime = 300.0
        else:
            lifetime = 300.0 if "public" in directives else 0.0
        if lifetime <= 0 or "no-cache" in directives:
            return
        self.store.setdefault(key, []).insert(
            0,
            Stored(
                answer.status_code,
                headers,
                answer.content,
                {h: request.headers.get(h) for h in vary},
                now + lifetime,
            ),
        )

    @staticmethod
    async def _answer(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]
        raw.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})


PAGE = "<!doctype html><html><head><title>Report</title></head><body><h1>Report</h1></body></html>"
CACHING = {
    "/public": {"cache-control": "public, max-age=600"},
    "/edge": {"cache-control": "max-age=60, s-maxage=3600", "vary": "Accept-Encoding"},
    "/heuristic": {},
    "/no-store": {"cache-control": "no-store"},
}


def site(tmp_path: Path) -> ConsentMiddleware:
    async def page(request: Request) -> Response:
        response = HTMLResponse(PAGE, headers=CACHING[request.url.path])
        if request.query_params.get("cookie"):
            response.set_cookie("_ga", "GA1.1")
        return response

    async def data(request: Request) -> Response:
        return JSONResponse({"ok": True}, headers={"cache-control": "public, max-age=600"})

    app = Starlette(routes=[*(Route(path, page) for path in CACHING), Route("/data.json", data)])
    config = ConsentConfig(
        secret_keys=["shared-cache-test-secret-0123456789abcdef"],
        storage=f"sqlite:///{tmp_path}/consent.db",
        categories=[
            Category(key="necessary", label="Strictly necessary", required=True),
            Category(
                key="analytics",
                label="Analytics",
                cookies=[Cookie(name="_ga*", purpose="Counts visits", duration="13 months")],
            ),
        ],
    )
    return ConsentMiddleware(app, config=config)


@pytest.fixture(params=[True, False], ids=["honours-vary", "ignores-vary"])
def cached_site(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, SharedCache]]:
    with serve(site(tmp_path)) as origin:
        cache = SharedCache(origin, honour_vary=request.param)
        with serve(cache) as front:
            yield front, cache


@contextmanager
def decided_visitor(front: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=front) as client:
        answer = client.post("/consent", json={"action": "accept_all"}, headers={"origin": front})
        assert answer.status_code == 200
        yield client


@pytest.mark.parametrize("path", ["/public", "/edge", "/heuristic", "/public?cookie=1"])
def test_a_decided_page_is_never_served_to_an_undecided_visitor(
    cached_site: tuple[str, SharedCache], path: str
) -> None:
    front, cache = cached_site
    with decided_visitor(front) as decided:
        first = decided.get(path)
        assert 'data-decided="1"' in first.text and "analytics" in first.text
        assert "consentkit-banner" not in first.text
        assert first.headers["cache-control"].startswith("private")
        assert "s-maxage" not in first.headers["cache-control"]
        assert "public" not in first.headers["cache-control"]
        assert "Cookie" in first.headers["vary"]
        if "cookie" in path:
            assert "_ga" in first.cookies
    with httpx.Client(base_url=front) as undecided:
        second = undecided.get(path)
        assert second.headers["x-cache"] == "MISS"
        assert 'data-decided="0"' in second.text and "consentkit-banner" in second.text
        assert "_ga" not in second.cookies
    assert cache.hits == 0


def test_kept_headers_the_site_chose(cached_site: tuple[str, SharedCache]) -> None:
    front, _ = cached_site
    with httpx.Client(base_url=front) as visitor:
        edge = visitor.get("/edge")
        assert edge.headers["cache-control"] == "private, max-age=60"
        assert edge.headers["vary"] == "Accept-Encoding, Cookie"
        assert visitor.get("/no-store").headers["cache-control"] == "no-store"
        assert visitor.get("/heuristic").headers["cache-control"] == "private"


def test_responses_consentkit_did_not_change_stay_cacheable(
    cached_site: tuple[str, SharedCache],
) -> None:
    front, cache = cached_site
    with httpx.Client(base_url=front) as visitor:
        first = visitor.get("/data.json")
        assert first.headers["cache-control"] == "public, max-age=600"
        assert "vary" not in first.headers
        assert visitor.get("/data.json").headers["x-cache"] == "HIT"
    assert cache.hits == 1


def test_head_and_not_modified_carry_the_same_caching_headers(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    async def page(request: Request) -> Response:
        if request.headers.get("if-none-match") == '"v1"':
            return Response(
                status_code=304,
                headers={"etag": '"v1"', "cache-control": "public, max-age=60"},
                media_type="text/html",
            )
        return HTMLResponse(PAGE, headers={"etag": '"v1"', "cache-control": "public, max-age=60"})

    config = site(tmp_path).config
    app = ConsentMiddleware(
        Starlette(routes=[Route("/", page, methods=["GET", "HEAD"])]), config=config
    )
    with TestClient(app) as client:
        for response in (
            client.get("/"),
            client.head("/"),
            client.get("/", headers={"if-none-match": '"v1"'}),
        ):
            assert response.headers["cache-control"] == "private, max-age=60", response
            assert response.headers["vary"] == "Cookie"
        assert client.get("/", headers={"if-none-match": '"v1"'}).status_code == 304
