"""Hostile input, property-based: the codec, the Cookie parser, decision bodies, ``next``.

tests/test_properties.py throws random Cookie headers and bodies at the
TestClient. These go further: signed-but-hostile tokens, mutated tokens,
bodies split over many ASGI messages, hostile Content-Length, Origin and
Content-Type headers, redirects checked the way a browser resolves them,
and every per-request cache shown bounded under a flood of distinct input.
The holes this suite found are pinned by the tests at the end of the file.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode, urljoin, urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from consentkit import AnalyticsConfig, Consent, ConsentConfig, ConsentMiddleware
from consentkit.consent import ConsentCodec
from consentkit.cookies import MAX_COOKIE_HEADER, parse_cookie_header
from consentkit.endpoints import safe_next
from tests.conftest import KEY, categories, site
from tests.reliability.support import Answer, asgi_call

SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
KNOWN = frozenset({"necessary", "analytics", "marketing"})
REQUIRED = frozenset({"necessary"})
SITE = "http://testserver"


def codec(cache_size: int = 10_000) -> ConsentCodec:
    return ConsentCodec(
        [KEY], "1", required=REQUIRED, known=KNOWN, max_age=86_400 * 182, cache_size=cache_size
    )


def sign_raw(c: ConsentCodec, payload: Any) -> str:
    """A token signed with the right key around any JSON payload (what only a key holder makes)."""
    raw = json.dumps(payload).encode()
    return c._signer.sign(base64.urlsafe_b64encode(raw).rstrip(b"=")).decode()


class App:
    """The site behind the middleware, called in-process on one event loop."""

    def __init__(self, folder: Path, **options: Any) -> None:
        self.config = ConsentConfig(
            secret_keys=[KEY],
            categories=categories(),
            storage=f"sqlite:///{folder}/hostile.db",
            undeclared_cookies="warn",
            analytics=AnalyticsConfig(sections={"/reports": "Reports"}),
            **options,
        )
        self.mw = ConsentMiddleware(site(), config=self.config)
        self.loop = asyncio.new_event_loop()  # one loop for every call (the log's futures)
        self.loop.run_until_complete(self.mw.startup())

    def call(self, method: str, path: str, headers: list[tuple[bytes, bytes]], **kw: Any) -> Answer:
        return self.loop.run_until_complete(asgi_call(self.mw, method, path, headers, **kw))

    def close(self) -> None:
        self.loop.run_until_complete(self.mw.shutdown())
        self.loop.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    instance = App(tmp_path_factory.mktemp("hostile"))
    yield instance
    instance.close()


def assert_refusal_or_success(answer: Answer) -> None:
    assert answer.error is None, f"exception escaped: {answer.error!r}"
    assert answer.status < 500, answer.status
    if answer.status >= 400:
        assert set(json.loads(answer.body)) == {"error", "detail"}
        assert not answer.header_values(b"set-cookie")
    for value in answer.header_values(b"set-cookie") + answer.header_values(b"location"):
        assert b"\r" not in value and b"\n" not in value


# -- the cookie codec ----------------------------------------------------------------------

text_any = st.text(max_size=400)


@SETTINGS
@given(value=st.one_of(text_any, st.binary(max_size=300).map(lambda b: b.decode("latin-1"))))
def test_codec_decodes_anything_to_undecided(value: str) -> None:
    consent = codec().decode(value)
    assert isinstance(consent, Consent)
    assert not consent.decided and consent.granted == REQUIRED


@SETTINGS
@given(
    granted=st.lists(st.sampled_from(sorted(KNOWN)), unique=True),
    position=st.integers(min_value=0),
    replacement=st.characters(min_codepoint=0x21, max_codepoint=0x7E),
)
def test_codec_mutated_tokens_never_decide_otherwise(
    granted: list[str], position: int, replacement: str
) -> None:
    c = codec()
    token = c.encode(granted, "cid-1", 1_700_000_000)
    position %= len(token)
    mutated = token[:position] + replacement + token[position + 1 :]
    consent = c.decode(mutated)
    if mutated != token:
        # Any change to a signed token (payload, timestamp or signature) is refused,
        # except a change the base64 decoder ignores: then the decision is the same.
        assert not consent.decided or consent.granted == REQUIRED | set(granted)
    else:
        assert consent.decided


json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**31), max_value=2**31)
    | st.floats(allow_nan=True)
    | st.text(max_size=80)
)
json_any = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
payloads = st.one_of(
    json_any,
    st.tuples(
        st.sampled_from(["1", "2", ""]) | st.text(max_size=5),
        st.lists(st.text(max_size=12) | st.sampled_from(sorted(KNOWN)), max_size=6) | json_any,
        st.text(max_size=100) | json_any,
        st.integers(min_value=-(2**31), max_value=2**31) | json_any,
    ).map(list),
)


@SETTINGS
@given(payload=payloads)
def test_codec_signed_hostile_payloads(payload: Any) -> None:
    """Even a correctly signed token holding nonsense decodes without raising."""
    c = codec()
    consent = c.decode(sign_raw(c, payload))
    assert consent.granted >= REQUIRED
    if consent.decided:
        assert consent.granted <= KNOWN
        assert consent.consent_id is not None and len(consent.consent_id) <= 64


def test_codec_cache_is_bounded_by_configuration() -> None:
    c = codec(cache_size=100)
    for n in range(1000):
        assert c.decode(c.encode(["analytics"], f"cid-{n}", 1_700_000_000 + n)).decided
    assert len(c._cache) <= 100
    # Undecided values are never cached: garbage cannot fill the cache at all.
    for n in range(1000):
        c.decode(f"garbage-{n}")
    assert len(c._cache) <= 100


# -- the Cookie header parser ----------------------------------------------------------------


@SETTINGS
@given(header=st.text(max_size=2000))
@example(header='a=1; a=2; ;=; b; c==3; d="q"; ' + "x" * 100)
def test_cookie_parser_any_header(header: str) -> None:
    cookies = parse_cookie_header(header)
    assert isinstance(cookies, dict)
    for name, value in cookies.items():
        assert name and name == name.strip()
        assert ";" not in name and ";" not in value and "=" not in name
    assert sum(len(k) + len(v) for k, v in cookies.items()) <= min(len(header), MAX_COOKIE_HEADER)


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_-.", min_size=1, max_size=12)
values = st.text(
    alphabet=st.characters(exclude_characters=';"', min_codepoint=0x21, max_codepoint=0x7E),
    max_size=30,
)


@SETTINGS
@given(pairs=st.lists(st.tuples(names, values), max_size=20), junk=st.lists(st.text(max_size=10)))
def test_cookie_parser_keeps_well_formed_pairs_first_wins(
    pairs: list[tuple[str, str]], junk: list[str]
) -> None:
    header = "; ".join([f"{n}={v}" for n, v in pairs] + [j.replace("=", "") for j in junk])
    cookies = parse_cookie_header(header)
    expected: dict[str, str] = {}
    for name, value in pairs:
        expected.setdefault(name, value.strip())
    for name, value in expected.items():
        assert cookies[name] == value


def test_cookie_parser_reads_only_16_kib() -> None:
    header = "a=1; " + "b" * (MAX_COOKIE_HEADER * 4) + "=2; c=3"
    assert parse_cookie_header(header) == {"a": "1"}


# -- decision bodies and hostile headers through the whole ASGI app ---------------------------

decision_json = st.one_of(
    st.binary(max_size=300),
    json_any.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"action": st.sampled_from(["accept_all", "reject_all", "custom", "withdraw", None, 1])},
        optional={
            "categories": st.dictionaries(
                st.sampled_from(sorted(KNOWN)) | st.text(max_size=50),
                st.booleans() | json_leaf,
                max_size=5,
            )
            | json_any,
            "surface": st.sampled_from(["banner", "preferences", "privacy", "api", "form"])
            | st.text(max_size=10),
        },
    ).map(lambda v: json.dumps(v).encode()),
    # Nesting well past anything real, but under the interpreter's recursion limit
    # (deeper nesting is pinned by test_deeply_nested_json_is_a_400 below).
    st.integers(min_value=1, max_value=400).map(
        lambda n: b'{"action": ' + b"[" * n + b"]" * n + b"}"
    ),
)
form_field = st.sampled_from(["action", "category", "next", "surface", "x", "", "action[]"])
form_value = st.sampled_from(
    ["accept_all", "reject_all", "custom", "withdraw", "analytics", "marketing", "necessary",
     "/", "//evil", "/ok", "%ff", "\u00e9", ""]
) | st.text(max_size=30)  # fmt: skip
decision_form = st.one_of(
    st.binary(max_size=300),
    st.lists(st.tuples(form_field, form_value), max_size=12).map(lambda p: urlencode(p).encode()),
    st.lists(st.text(max_size=20), max_size=250).map(lambda p: "&".join(p).encode("utf-8")),
)
content_types = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON",
     "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=latin-1",
     "text/plain", "application/json, text/plain", "multipart/form-data", ""]
)  # fmt: skip
# Origin values a browser or an attacker sends (the bad-IPv6 Origin has its own test below).
origins = st.sampled_from(
    [None, SITE, "null", "http://evil.example", "http://testserver:80", "http://TESTSERVER",
     "http://testserver.evil.example", "file://", "http://user@testserver", "", "http://"]
)  # fmt: skip
fetch_sites = st.sampled_from(
    [None, "same-origin", "same-site", "none", "cross-site", "", "SAME-ORIGIN"]
)
lengths = st.sampled_from(
    [None, "declared", "0", "1", "16385", "99999999999999999999", "-1", "1.0", "abc", " 5"]
)


def split(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(body) + 1) for c in cuts})
    chunks, last = [], 0
    for point in points:
        chunks.append(body[last:point])
        last = point
    chunks.append(body[last:])
    return chunks


@SETTINGS
@given(
    body=st.one_of(decision_json, decision_form),
    content_type=content_types,
    origin=origins,
    fetch_site=fetch_sites,
    length=lengths,
    cuts=st.lists(st.integers(min_value=0), max_size=6),
    method=st.sampled_from(["POST", "POST", "DELETE", "PUT"]),
)
def test_any_decision_request_through_the_app(
    app: App,
    body: bytes,
    content_type: str,
    origin: str | None,
    fetch_site: str | None,
    length: str | None,
    cuts: list[int],
    method: str,
) -> None:
    headers = [(b"content-type", content_type.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if fetch_site is not None:
        headers.append((b"sec-fetch-site", fetch_site.encode()))
    if length == "declared":
        headers.append((b"content-length", str(len(body)).encode()))
    elif length is not None:
        headers.append((b"content-length", length.encode()))
    answer = app.call(method, "/consent", headers, body=split(body, cuts))
    assert_refusal_or_success(answer)
    if answer.status == 303:
        assert_same_site_location(answer.header_values(b"location")[0].decode("latin-1"))


@SETTINGS
@given(
    cookie=st.binary(max_size=600),
    path=st.sampled_from(["/", "/whoami", "/consent", "/privacy", "/reports/1", "/consent/x"]),
    gpc=st.sampled_from([None, b"1", b" 1 ", b"0", b"\xff"]),
    language=st.binary(max_size=60),
    forwarded=st.binary(max_size=60),
)
def test_any_page_request_through_the_app(
    app: App, cookie: bytes, path: str, gpc: bytes | None, language: bytes, forwarded: bytes
) -> None:
    headers = [
        (b"cookie", cookie),
        (b"accept-language", language),
        (b"x-forwarded-for", forwarded),
        (b"x-forwarded-proto", forwarded),
        (b"user-agent", b"Mozilla/5.0"),
    ]
    if gpc is not None:
        headers.append((b"sec-gpc", gpc))
    answer = app.call("GET", path, headers)
    assert answer.error is None, repr(answer.error)
    assert answer.status < 500


# -- next: never an open redirect ---------------------------------------------------------------


def assert_same_site_location(location: str) -> None:
    """``location`` resolved the way a browser does (WHATWG) stays on the site."""
    assert location == "/" or (
        location.startswith("/") and not location.startswith(("//", "/\\"))
    ), location
    assert not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in location), location
    parts = urlsplit(location)
    assert not parts.scheme and not parts.netloc, location
    # Browsers drop tab/CR/LF and read "\" as "/" in http(s) URLs before resolving.
    browser = location.replace("\t", "").replace("\r", "").replace("\n", "").replace("\\", "/")
    resolved = urlsplit(urljoin(SITE + "/", browser))
    assert (resolved.scheme, resolved.netloc) == ("http", "testserver"), location


redirect_pieces = st.sampled_from(
    ["/", "//", "\\", "/\\", "%2F", "%2f", "%5C", "%5c", "%252F", "%25252F", "%09", "%0d%0a",
     "\t", "\r\n", "\x00", "http:", "https://", "javascript:", "evil.example", "@", ":", "?",
     "#", ".", "..", "%2e", "\u3002", "\uff0f", "\u2215", " ", "%20", "a", "next"]
)  # fmt: skip
redirect_targets = st.one_of(
    st.text(max_size=60),
    st.lists(redirect_pieces, max_size=8).map("".join),
    st.lists(redirect_pieces, max_size=8).map(lambda p: quote("".join(p), safe="/%")),
)


@SETTINGS
@given(target=redirect_targets)
@example(target="/%2F%2Fevil.example")
@example(target="/%5C%5Cevil.example")
@example(target="/\t/evil.example")
@example(target="/%0D%0ALocation:%20http://evil.example")
def test_safe_next_is_always_a_same_site_path(target: str) -> None:
    result = safe_next(target)
    assert_same_site_location(result)
    # Decoded as a server would (once, twice), it still does not start a network path.
    for decoded in (unquote(result), unquote(unquote(result))):
        assert not decoded.startswith(("//", "/\\")), (target, result)


@SETTINGS
@given(target=redirect_targets)
def test_form_next_redirects_on_site_only(app: App, target: str) -> None:
    body = urlencode({"action": "reject_all", "next": target}).encode()
    headers = [
        (b"content-type", b"application/x-www-form-urlencoded"),
        (b"origin", SITE.encode()),
    ]
    answer = app.call("POST", "/consent", headers, body=body)
    assert answer.status == 303, (answer.status, answer.body)
    assert_same_site_location(answer.header_values(b"location")[0].decode("latin-1"))


# -- memory: every per-request cache is bounded -------------------------------------------------


def test_caches_bounded_under_a_flood_of_distinct_input(app: App) -> None:
    mw = app.mw
    for n in range(12_000):
        mw._read_cookies(f"k{n}=v{n}; consentkit=garbage{n}".encode())
        mw.cookies.category_of(f"_undeclared_{n}")
        mw.cookies.allows(f"warned_{n}", frozenset())
    assert len(mw._parsed) <= app.config.token_cache_size
    assert len(mw.cookies._cache) <= 4096
    assert len(mw.cookies._warned) <= 1000
    tracker = mw.tracker
    assert tracker is not None
    scope: dict[str, Any] = {"method": "GET", "headers": [(b"user-agent", b"")]}
    decided = Consent(decided=True, granted=KNOWN, consent_id="x")
    for n in range(12_000):
        scope["path"] = f"/reports/{n}"
        scope["headers"] = [(b"user-agent", f"Mozilla/5.0 ({n})".encode())]
        tracker.on_response(scope, decided, 200, True, None)
    assert len(tracker._paths) <= 10_000
    assert len(tracker._agents) <= 2_000


def test_gpc_memory_is_bounded(tmp_path: Path) -> None:
    app = App(tmp_path, token_cache_size=20)
    for n in range(40):
        token = app.mw.codec.encode(KNOWN, f"gpc-{n}", 1_900_000_000 - n)
        answer = app.call(
            "GET", "/whoami", [(b"cookie", f"consentkit={token}".encode()), (b"sec-gpc", b"1")]
        )
        assert answer.status == 200
    assert len(app.mw.endpoints._gpc_done) <= 20
    app.close()


def test_memory_flat_under_hostile_requests(tmp_path: Path) -> None:
    app = App(tmp_path, token_cache_size=4096)

    def flood(start: int, count: int, decide: bool = True) -> None:
        for n in range(start, start + count):
            cookie = f'consentkit={"A" * (n % 900)}.{n}; junk{n}="{n}"; _ga_{n}=1'.encode()
            app.call("GET", "/", [(b"cookie", cookie), (b"user-agent", b"Mozilla/5.0")])
            if decide:
                app.call(
                    "POST",
                    "/consent",
                    [(b"content-type", b"application/json"), (b"origin", SITE.encode())],
                    body=b'{"action": "custom", "categories": {"k%d": true}}' % n,
                )

    tracemalloc.start()  # before the warm-up, so evicted entries are traced too
    try:
        # Fills every bounded cache (4096 parsed Cookie headers, 4096 verified tokens) and
        # churns it past the one-time compaction of a dict whose oldest entries are evicted.
        flood(0, 8400, decide=False)
        flood(50_000, 4200)
        before = tracemalloc.take_snapshot()
        flood(100_000, 2000)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    stats = after.compare_to(before, "lineno")
    growth = sum(s.size_diff for s in stats)
    top = "\n".join(str(s) for s in stats[:5])
    app.close()
    assert growth < 512 * 1024, f"grew {growth} bytes over 2000 hostile visits:\n{top}"


def test_memory_flat_for_a_stream_of_new_decided_visitors(tmp_path: Path) -> None:
    """Legitimate visitors, each new: verified-token cache, parsed headers, analytics, GPC."""
    site_app = App(tmp_path, token_cache_size=200)
    codec_ = site_app.mw.codec
    # The visitor-cookie cache holds 10 000 (not configurable): shrink it so it fills in warm-up.
    site_app.mw.tracker._cookies._cache_size = 200  # type: ignore[union-attr]

    def visit(start: int, count: int) -> None:
        for n in range(start, start + count):
            token = codec_.encode(["analytics", "marketing"], f"visitor-{n}", 1_900_000_000 - n)
            headers = [(b"cookie", f"consentkit={token}; _ga_1=x".encode()),
                       (b"user-agent", b"Mozilla/5.0")]  # fmt: skip
            if n % 20 == 0:
                headers.append((b"sec-gpc", b"1"))  # an override: logged, then remembered
            assert site_app.call("GET", "/", headers).status == 200

    try:
        tracemalloc.start()
        try:
            visit(0, 4300)  # fills every bounded cache (4096 parsed Cookie headers)
            site_app.loop.run_until_complete(site_app.mw.tracker.flush())  # type: ignore[union-attr]
            before = tracemalloc.take_snapshot()
            visit(100_000, 2000)
            site_app.loop.run_until_complete(site_app.mw.tracker.flush())  # type: ignore[union-attr]
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
    finally:
        site_app.close()
    stats = after.compare_to(before, "lineno")
    growth = sum(s.size_diff for s in stats)
    top = "\n".join(str(s) for s in stats[:5])
    assert len(site_app.mw.codec._cache) <= 200
    assert len(site_app.mw.endpoints._gpc_done) <= 200
    assert len(site_app.mw.tracker._cookies._cache) <= 200  # type: ignore[union-attr]
    assert growth < 512 * 1024, f"grew {growth} bytes over 2000 new visitors:\n{top}"


# -- holes found by this suite, now closed ------------------------------------------------------


def test_deeply_nested_json_is_a_400(app: App) -> None:
    body = b'{"action": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    answer = app.call(
        "POST",
        "/consent",
        [(b"content-type", b"application/json"), (b"origin", SITE.encode())],
        body=body,
    )
    assert answer.error is None and answer.status == 400


@pytest.mark.parametrize("origin", [b"http://[::1", b"http://[evil", b"https://]x["])
def test_malformed_origin_is_a_403(app: App, origin: bytes) -> None:
    answer = app.call(
        "POST",
        "/consent",
        [(b"content-type", b"application/json"), (b"origin", origin)],
        body=b'{"action": "accept_all"}',
    )
    assert answer.error is None and answer.status == 403


@pytest.mark.parametrize("length", ["\u00b2".encode("latin-1"), b"0" * 5000])
def test_odd_content_length_is_a_400(app: App, length: bytes) -> None:
    answer = app.call(
        "POST",
        "/consent",
        [(b"content-type", b"application/json"), (b"origin", SITE.encode()),
         (b"content-length", length)],
        body=b'{"action": "accept_all"}',
    )  # fmt: skip
    assert answer.error is None and answer.status in (400, 413)


@pytest.mark.parametrize("decided_at", [10**18, -(10**15)])
def test_signed_token_with_out_of_range_time_is_undecided(decided_at: int) -> None:
    c = codec()
    consent = c.decode(sign_raw(c, ["1", ["analytics"], "cid", decided_at]))
    assert not consent.decided


def _bytes_of(cache: dict[Any, Any]) -> int:
    total = 0
    for key, value in cache.items():
        total += len(key)
        cookies = getattr(value, "cookies", value)
        if isinstance(cookies, dict):
            total += sum(len(k) + len(v) for k, v in cookies.items())
    return total


def _flood_parsed(mw: ConsentMiddleware, big: str) -> int:
    for n in range(4200):
        mw._read_cookies(f"k{n}=1; {big}".encode())
    return _bytes_of(mw._parsed)


def _flood_cookie_names(mw: ConsentMiddleware, big: str) -> int:
    for n in range(4200):
        mw.cookies.category_of(f"_ga{n}{big}")
    return _bytes_of(mw.cookies._cache)


def _flood_agents(mw: ConsentMiddleware, big: str) -> int:
    tracker = mw.tracker
    assert tracker is not None
    for n in range(1999):  # the cache is cleared at 2 000: the worst case is just before
        tracker._is_bot(f"Mozilla/5.0 {n} {big}".encode())
    return _bytes_of(tracker._agents)


def _flood_paths(mw: ConsentMiddleware, big: str) -> int:
    tracker = mw.tracker
    assert tracker is not None
    for n in range(9_000):
        tracker._classify(f"/reports/{n}/{big}")
    return _bytes_of(tracker._paths)


def _flood_languages(mw: ConsentMiddleware, big: str) -> int:
    for n in range(1100):
        mw.translator.negotiate(f"de;q=0.{n % 9}, {n}{big}")
    return _bytes_of(mw.translator._negotiated)


@pytest.mark.parametrize(
    "flood",
    [_flood_parsed, _flood_cookie_names, _flood_agents, _flood_paths, _flood_languages],
    ids=["cookie-headers", "cookie-names", "user-agents", "paths", "accept-language"],
)
def test_caches_bounded_in_bytes_too(tmp_path: Path, flood: Any) -> None:
    """Values of 8 KiB each (uvicorn accepts request heads of over 30 KB): at most 4 MiB kept."""
    config = ConsentConfig(
        secret_keys=[KEY],
        categories=categories(),
        storage=f"sqlite:///{tmp_path}/never-opened.db",
        analytics=AnalyticsConfig(),
    )
    mw = ConsentMiddleware(site(), config=config)  # not started: no storage, no tasks
    big = "x" * 8192
    assert flood(mw, big) < 4 * 1024 * 1024
