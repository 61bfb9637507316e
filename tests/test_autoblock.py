"""consentkit.autoblock: the streaming tag rewriter, host matching, rules per granted set."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consentkit import autoblock
from consentkit.autoblock import MAX_TAG, AutoBlocker, BlockRules, TagRewriter, url_host
from consentkit.config import Category

CATEGORIES = [
    Category(key="necessary", label="Necessary", required=True, hosts=["cdn.example.net"]),
    Category(key="marketing", label="Marketing", hosts=["www.youtube.com", "*.ytimg.com"]),
    Category(key="analytics", label="Analytics", hosts=["stats.example.com:8443"]),
    Category(key="prefs", label="Preferences"),
]


def placeholder(key: str, host: str) -> bytes:
    return f"[{key}@{host}]".encode()


def rewrite(page: bytes, granted: frozenset[str] = frozenset(), *cuts: int) -> bytes:
    rules = AutoBlocker(CATEGORIES).rules(granted)
    assert rules is not None
    rewriter = TagRewriter(rules, placeholder)
    out, last = [], 0
    for cut in (*cuts, len(page)):
        out.append(rewriter.feed(page[last:cut]))
        last = cut
    out.append(rewriter.finish())
    return b"".join(out)


NOT_BUILT = "consentkit._scan is not built here (no C compiler at install)"


@pytest.fixture(params=["compiled", "python"])
def scan(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``TagRewriter.rewrite`` with the compiled scan, then with the pure-Python one."""
    if request.param == "python":
        monkeypatch.setattr(autoblock, "_compiled_scan", None)
    elif autoblock._compiled_scan is None:
        request.applymarker(pytest.mark.compiled)
        pytest.skip(NOT_BUILT)
    return str(request.param)


PAGE = (
    b"<!doctype html><html><head><meta charset=utf-8>"
    b'<script src="https://www.youtube.com/iframe_api" async></script>\n'
    b'<script type="module" src="//STATS.example.com:8443/a.js"></script>'
    b'<title>a <img src="https://i.ytimg.com/t.jpg"></title>'
    b'<style>a>b{background:url("https://i.ytimg.com/s.jpg")}</style>'
    b'<script src="https://cdn.example.net/lib.js"></script>'
    b"<script>var s = '<iframe src=\"https://www.youtube.com/embed/js\">';</script>"
    b'</head><body><!-- <iframe src="https://www.youtube.com/embed/c"> --><!--><!--->'
    b"<p data-x='a>b' title=\"<img src=https://i.ytimg.com/q.jpg>\">h\xc3\xa9 &amp; <b>x</b></p>"
    b'<IFRAME width=560 title="v" SRC="https://WWW.YouTube.com/embed/abc?x=1&amp;y" '
    b"allowfullscreen></IFRAME>\n"
    b'<img alt=don\'t src=https://i.ytimg.com/vi/1.jpg><img src="https://ok.example.org/x.png">'
    b'<img src="/local.png" srcset="https://i.ytimg.com/2x.jpg 2x, /l.png 1x"/>'
    b'<script type="text/plain" data-consent="marketing" src="https://www.youtube.com/x"></script>'
    b'<iframe data-consent="marketing" src="https://www.youtube.com/embed/keep"></iframe>'
    b'<script type="application/ld+json" src="https://www.youtube.com/data.json"></script>'
    b'<textarea><script src="https://www.youtube.com/t"></script></textarea>'
    b'<img src="https://stats.example.com/other-port.gif">'
    b"<iframe hidden src=https://a.ytimg.com/hidden></iframe>"
    b"</body></html>"
)

EXPECTED_NONE_GRANTED = (
    b"<!doctype html><html><head><meta charset=utf-8>"
    b'<script type="text/plain" data-consent="marketing" src="https://www.youtube.com/iframe_api"'
    b" async></script>\n"
    b'<script type="text/plain" data-consent="analytics" data-type="module"  '
    b'src="//STATS.example.com:8443/a.js"></script>'
    b'<title>a <img src="https://i.ytimg.com/t.jpg"></title>'
    b'<style>a>b{background:url("https://i.ytimg.com/s.jpg")}</style>'
    b'<script src="https://cdn.example.net/lib.js"></script>'
    b"<script>var s = '<iframe src=\"https://www.youtube.com/embed/js\">';</script>"
    b'</head><body><!-- <iframe src="https://www.youtube.com/embed/c"> --><!--><!--->'
    b"<p data-x='a>b' title=\"<img src=https://i.ytimg.com/q.jpg>\">h\xc3\xa9 &amp; <b>x</b></p>"
    b"[marketing@www.youtube.com]"
    b'<IFRAME data-consent="marketing" hidden width=560 title="v" '
    b'data-SRC="https://WWW.YouTube.com/embed/abc?x=1&amp;y" allowfullscreen></IFRAME>\n'
    b'<img data-consent="marketing" alt=don\'t data-src=https://i.ytimg.com/vi/1.jpg>'
    b'<img src="https://ok.example.org/x.png">'
    b'<img data-consent="marketing" data-src="/local.png" '
    b'data-srcset="https://i.ytimg.com/2x.jpg 2x, /l.png 1x"/>'
    b'<script type="text/plain" data-consent="marketing" src="https://www.youtube.com/x"></script>'
    b'<iframe data-consent="marketing" src="https://www.youtube.com/embed/keep"></iframe>'
    b'<script type="application/ld+json" src="https://www.youtube.com/data.json"></script>'
    b'<textarea><script src="https://www.youtube.com/t"></script></textarea>'
    b'<img src="https://stats.example.com/other-port.gif">'
    b'<iframe data-consent="marketing" hidden data-src=https://a.ytimg.com/hidden></iframe>'
    b"</body></html>"
)


def test_gates_only_the_blocked_hosts_tags_and_leaves_the_rest_byte_for_byte() -> None:
    assert rewrite(PAGE) == EXPECTED_NONE_GRANTED


def test_a_granted_category_is_left_alone() -> None:
    out = rewrite(PAGE, frozenset({"marketing"}))
    assert b'data-consent="analytics"' in out
    # Only the analytics script changed: the marketing tags are as they came.
    expected = PAGE.replace(
        b'<script type="module" src="//STATS',
        b'<script type="text/plain" data-consent="analytics" data-type="module"  src="//STATS',
    )
    assert out == expected


STATES = [frozenset(), frozenset({"marketing"}), frozenset({"analytics"})]


@pytest.mark.parametrize("granted", STATES, ids=["none", "marketing", "analytics"])
def test_every_single_cut_gives_the_same_bytes(granted: frozenset[str]) -> None:
    whole = rewrite(PAGE, granted)
    for cut in range(len(PAGE) + 1):
        assert rewrite(PAGE, granted, cut) == whole, f"cut at {cut}"


@pytest.mark.parametrize("granted", STATES, ids=["none", "marketing", "analytics"])
def test_one_byte_at_a_time_and_pairs_of_cuts(granted: frozenset[str]) -> None:
    whole = rewrite(PAGE, granted)
    assert rewrite(PAGE, granted, *range(1, len(PAGE))) == whole
    # Two cuts in the densest part (the iframe and its neighbours), every pair.
    start = PAGE.index(b"<p data-x")
    end = PAGE.index(b'<img src="https://ok')
    for a, b in itertools.combinations(range(start, end, 3), 2):
        assert rewrite(PAGE, granted, a, b) == whole, (a, b)


def test_every_hosted_category_granted_means_no_rules() -> None:
    blocker = AutoBlocker(CATEGORIES)
    assert blocker.rules(frozenset({"marketing", "analytics"})) is None
    assert blocker.rules(frozenset({"marketing", "analytics", "prefs"})) is None
    # The rules of one denied set are built once.
    assert blocker.rules(frozenset({"prefs"})) is blocker.rules(frozenset())
    assert not AutoBlocker([CATEGORIES[0], CATEGORIES[3]]).active


def test_nothing_held_back_past_what_could_be_a_cut_tag() -> None:
    rules = AutoBlocker(CATEGORIES).rules(frozenset())
    assert rules is not None
    rewriter = TagRewriter(rules, placeholder)
    assert rewriter.feed(b"<p>plain text, no tags to hold</p>") == (
        b"<p>plain text, no tags to hold</p>"
    )
    assert rewriter.feed(b"a <scr") == b"a "
    assert rewriter.feed(b"ipt src='https://www.youtube.com/a'") == b""
    assert rewriter.feed(b"></script>") == (
        b'<script type="text/plain" data-consent="marketing" src=\'https://www.youtube.com/a\'>'
        b"</script>"
    )
    assert rewriter.blocked == 1
    # Inside a script only as many bytes as "</script" has, less one, wait.
    assert rewriter.feed(b"<script>let a = 1 </scr") == b"<script>let a = "
    assert rewriter.finish() == b"1 </scr"


def test_a_tag_longer_than_the_limit_passes_untouched() -> None:
    huge = b'<img alt="' + b"x" * MAX_TAG + b'>" src="https://i.ytimg.com/a.jpg"><p>after</p>'
    page = huge + b'<img src="https://i.ytimg.com/b.jpg">'
    rules = AutoBlocker(CATEGORIES).rules(frozenset())
    assert rules is not None
    rewriter = TagRewriter(rules, placeholder)
    step = 4096
    out = b"".join(rewriter.feed(page[i : i + step]) for i in range(0, len(page), step))
    out += rewriter.finish()
    assert out == huge + b'<img data-consent="marketing" data-src="https://i.ytimg.com/b.jpg">'


def test_a_body_cut_off_inside_a_tag_ends_as_it_came() -> None:
    assert rewrite(b'<p>x</p><iframe src="https://www.youtube.com/e') == (
        b'<p>x</p><iframe src="https://www.youtube.com/e'
    )
    assert rewrite(b"<p>x</p><!-- open comment <img src=//i.ytimg.com/a>") == (
        b"<p>x</p><!-- open comment <img src=//i.ytimg.com/a>"
    )


@pytest.mark.parametrize(
    ("url", "found"),
    [
        ("https://www.youtube.com/embed/x", ("www.youtube.com", None)),
        ("HTTP://WWW.YOUTUBE.COM:8080/x", ("www.youtube.com", 8080)),
        ("//user:pw@a.b.example:443?x", ("a.b.example", 443)),
        ("  https://example.com.  ", ("example.com", None)),
        ("https://example.com#x", ("example.com", None)),
        ("/relative/path.js", None),
        ("relative.js", None),
        ("javascript:alert(1)", None),
        ("data:image/png;base64,xx", None),
        ("https://[::1]/x", None),
        ("https:///nohost", None),
        ("", None),
    ],
)
def test_url_host(url: str, found: tuple[str, int | None] | None) -> None:
    assert url_host(url) == found


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://www.youtube.com/x", "marketing"),
        ("https://youtube.com/x", None),  # the entry is www.youtube.com only
        ("https://i.ytimg.com/x", "marketing"),
        ("https://a.b.ytimg.com/x", "marketing"),
        ("https://ytimg.com/x", None),  # "*." is subdomains only, as in CSP
        ("https://evilytimg.com/x", None),
        ("https://stats.example.com:8443/x", "analytics"),
        ("https://stats.example.com/x", None),  # the entry names port 8443
        ("https://cdn.example.net/x", None),  # a required category is never blocked
    ],
)
def test_host_matching(url: str, key: str | None) -> None:
    rules = BlockRules(c for c in CATEGORIES if not c.required)
    assert rules.category_of(url) == key


@pytest.mark.parametrize("granted", STATES, ids=["none", "marketing", "analytics"])
def test_rewrite_in_one_call_is_feed_and_finish(granted: frozenset[str], scan: str) -> None:
    rules = AutoBlocker(CATEGORIES).rules(granted)
    assert rules is not None
    assert TagRewriter(rules, placeholder).rewrite(PAGE) == rewrite(PAGE, granted)


def test_a_body_without_a_blocked_host_is_returned_as_it_is(scan: str) -> None:
    rules = AutoBlocker(CATEGORIES).rules(frozenset())
    assert rules is not None
    body = b'<p>no third parties <img src="/a.png"><script src="/b.js"></script></p>'
    rewriter = TagRewriter(rules, placeholder)
    assert rewriter.rewrite(body) is body
    assert rewriter.blocked == 0


def test_a_script_that_loads_nothing_is_not_counted_as_blocked(scan: str) -> None:
    rules = AutoBlocker(CATEGORIES).rules(frozenset())
    assert rules is not None
    body = b'<script type="application/ld+json" src="https://www.youtube.com/d.json"></script>'
    rewriter = TagRewriter(rules, placeholder)
    # Left as it is, so the layer in the middleware passes the body on untouched.
    assert rewriter.rewrite(body) == body
    assert rewriter.blocked == 0


def test_a_page_served_again_gives_the_same_bytes_from_the_kept_tags(scan: str) -> None:
    blocker = AutoBlocker(CATEGORIES)
    rules = blocker.rules(frozenset())
    assert rules is not None
    first = TagRewriter(rules, placeholder)
    again = TagRewriter(rules, placeholder)
    assert first.rewrite(PAGE) == again.rewrite(PAGE) == EXPECTED_NONE_GRANTED
    assert first.blocked == again.blocked == 6
    # Another granted set has its own rules, so its own gated tags.
    assert rewrite(PAGE, frozenset({"marketing"})).count(b"data-consent=") == 3


def test_the_kept_tags_are_bounded(scan: str) -> None:
    rules = AutoBlocker(CATEGORIES).rules(frozenset())
    assert rules is not None
    page = b"".join(b'<img src="https://i.ytimg.com/%d.jpg">' % i for i in range(1000))
    long_tag = b'<img alt="' + b"x" * 2000 + b'" src="https://i.ytimg.com/long.jpg">'
    rewriter = TagRewriter(rules, placeholder)
    out = rewriter.rewrite(page + long_tag)
    assert rewriter.blocked == 1001
    assert out.count(b"data-src=") == 1001
    kept = rules._gates
    assert len(kept) <= 256
    assert long_tag not in kept  # too long to keep: gated anew each time


def test_a_tag_with_a_quoted_gt_is_gated_the_same_when_seen_again(scan: str) -> None:
    rules = AutoBlocker(CATEGORIES).rules(frozenset())
    assert rules is not None
    page = (
        b'<img alt="a>b" src="https://i.ytimg.com/x.jpg">'
        b'<img alt="a>b" src="https://i.ytimg.com/x.jpg" title="other">'
    )
    expected = (
        b'<img data-consent="marketing" alt="a>b" data-src="https://i.ytimg.com/x.jpg">'
        b'<img data-consent="marketing" alt="a>b" data-src="https://i.ytimg.com/x.jpg"'
        b' title="other">'
    )
    for _ in range(3):  # the first time parsed, then looked up
        assert TagRewriter(rules, placeholder).rewrite(page) == expected


def test_only_script_iframe_and_img_start_tags_are_gated(scan: str) -> None:
    page = (
        b'<style src="https://www.youtube.com/s.css"></style>'
        b'<title data-src="https://www.youtube.com/t">t</title>'
        b'<video src="https://www.youtube.com/v.mp4"></video>'
        b'<a href="https://www.youtube.com/watch">w</a>'
    )
    rules = AutoBlocker(CATEGORIES).rules(frozenset())
    assert rules is not None
    rewriter = TagRewriter(rules, placeholder)
    assert rewriter.rewrite(page) is page
    assert rewriter.blocked == 0


def test_tags_without_a_blocked_host_are_not_kept(scan: str) -> None:
    rules = AutoBlocker(CATEGORIES).rules(frozenset())
    assert rules is not None
    page = b"".join(
        b'<img src="/local/%d.png"><script src="/%d.js"></script>' % (i, i) for i in range(300)
    )
    page += b'<img src="https://i.ytimg.com/a.jpg">'
    TagRewriter(rules, placeholder).rewrite(page)
    assert list(rules._gates) == [b'<img src="https://i.ytimg.com/a.jpg">']


def test_blocked_tags_among_many_local_ones_are_all_gated(scan: str) -> None:
    # Host names are looked for ahead of a tag, a window at a time: blocked tags near and far.
    local = b'<img src="/local/%d.png" alt="photo">'
    blocked = b'<img src="https://i.ytimg.com/%d.jpg">'
    gated = b'<img data-consent="marketing" data-src="https://i.ytimg.com/%d.jpg">'
    spots = {0, 1, 7, 8, 40, 41, 99}
    page = b"".join((blocked if i in spots else local) % i for i in range(100))
    expected = b"".join((gated if i in spots else local) % i for i in range(100))
    rules = AutoBlocker(CATEGORIES).rules(frozenset())
    assert rules is not None
    for _ in range(2):  # parsed, then looked up
        rewriter = TagRewriter(rules, placeholder)
        assert rewriter.rewrite(page) == expected
        assert rewriter.blocked == len(spots)
    assert rewrite(page, frozenset(), 1000, 2000, 3001) == expected


def test_the_compiled_scan_is_built() -> None:
    if autoblock._compiled_scan is None:
        pytest.skip(NOT_BUILT)


test_the_compiled_scan_is_built = pytest.mark.compiled(test_the_compiled_scan_is_built)


# Pieces of markup that change how the scan reads what follows: comments, the elements whose
# text is skipped, quotes, a "<" or ">" in a value, tags cut off, names that only start alike.
PIECES = [
    b'<img src="https://i.ytimg.com/a.jpg">', b'<IMG SRC=https://I.YTIMG.COM/b.jpg>',
    b'<iframe src="https://www.youtube.com/e">', b'</iframe>',
    b'<iframe hidden src=//www.youtube.com/h>', b'<script src="https://www.youtube.com/s.js">',
    b'<script type="module" src=//stats.example.com:8443/m.js>', b'</script>', b'<script>',
    b'<SCRIPT>', b'<style>', b'</style>', b'<textarea>', b'</textarea>', b'<title>', b'</TITLE>',
    b'<!--', b'-->', b'<!-->', b'<!--->', b'--', b'<p title="', b"<p title='", b'"', b"'", b'>',
    b'<', b'=', b'/', b' ', b'x', b'<b>', b'</p>', b'<scripts>',
    b'<imgx src=https://i.ytimg.com/>', b'<img alt="<b>" src="https://i.ytimg.com/q.jpg">',
    b'<img alt="a>b" src="https://i.ytimg.com/g.jpg">',
    b'<img data-consent="marketing" src="https://i.ytimg.com/k.jpg">', b'<img src="/local.png" ',
    b'srcset="https://i.ytimg.com/2x.jpg 2x"', b' src=https://www.youtube.com/v ', b'<img',
    b'<iframe', b'https://i.ytimg.com/', b'www.youtube.com',
    b'<script type="application/ld+json" src="https://www.youtube.com/j">',
    b'<img src="https://cdn.example.net/n.png">', b'<img src="https://stats.example.com/p.gif">',
]  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(PIECES), max_size=40).map(b"".join), st.sampled_from(STATES))
def test_the_compiled_scan_gives_what_the_python_scan_gives(
    page: bytes, granted: frozenset[str]
) -> None:
    if autoblock._compiled_scan is None:
        pytest.skip(NOT_BUILT)
    rules = AutoBlocker(CATEGORIES).rules(granted)
    assert rules is not None
    compiled = TagRewriter(rules, placeholder)
    out = compiled.rewrite(page)
    python = TagRewriter(rules, placeholder)
    assert out == python.feed(page) + python.finish()  # feed() always scans in Python
    assert compiled.blocked == python.blocked
    # And cut in two, held back and scanned again, it comes out the same.
    assert rewrite(page, granted, len(page) // 2) == out


test_the_compiled_scan_gives_what_the_python_scan_gives = pytest.mark.compiled(
    test_the_compiled_scan_gives_what_the_python_scan_gives
)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((b"<p>", (b"x",)), "scan(body: bytes"),
        (("<p>", (b"x",), 16), "scan(body: bytes"),
        ((b"<p>", [b"x"], 16), "scan(body: bytes"),
        ((b"<p>", (b"",), 16), "needles must be non-empty bytes"),
        ((b"<p>", ("x",), 16), "needles must be non-empty bytes"),
    ],
)
def test_the_compiled_scan_refuses_bad_arguments(args: tuple[object, ...], error: str) -> None:
    scan = autoblock._compiled_scan
    if scan is None:
        pytest.skip(NOT_BUILT)
    with pytest.raises(TypeError, match=error.replace("(", r"\(")):
        scan(*args)  # type: ignore[arg-type]
