"""The IAB ``__gpp`` API under the ``us_opt_out`` regime, in a real Chromium."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from consentkit.gpp import decode
from tests.browser.conftest import NonceMiddleware
from tests.live import serve

pytestmark = pytest.mark.browser

# The page's own script sits after </body>: consentkit inserts its tags before </body>, so
# this script runs after the inline stub and before the deferred API script has loaded.
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>US page</title>
<script defer src="/ad.js"></script></head>
<body><main><h1>Annual report</h1><p>Our members worked in 34 countries.</p></main>
</body>
<script>
window.log = [];
window.stubPing = null;
__gpp('ping', function (data, ok) { window.stubPing = [data.cmpStatus, data.cmpId, ok]; });
__gpp('addEventListener', function (e, ok) {
  log.push([e.eventName, e.data, e.pingData.cmpStatus, e.pingData.signalStatus, ok]);
});
__gpp('getField', function (v, ok) { log.push(['getField', v, ok]); }, 'usnat.SaleOptOut');
window.queuedAtStub = __gpp.queue.length;
window.stubbed = !__gpp.consentkit;
</script>
</html>
"""

# An ad script deferred in <head>: it runs after the page is parsed, so after the stub.
AD_JS = """window.adSawStub = !__gpp.consentkit;
__gpp('getField', function (v, ok) { window.adField = [v, ok, __gpp.consentkit === true]; },
      'usnat.SaleOptOut');
"""

# A page whose own CMP defined __gpp first.
OTHER_CMP = """<!doctype html><html><head><title>Other CMP</title>
<script>window.__gpp = function () {}; window.__gpp.theirs = true;</script>
</head><body><p>Hi</p></body></html>"""


def _app(db: Path) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, Response
    from starlette.routing import Route

    from consentkit import Category, ConsentConfig, ConsentMiddleware
    from consentkit.regions import Region

    async def home(request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def ad(request: Request) -> Response:
        return Response(AD_JS, media_type="text/javascript")

    async def strict(request: Request) -> Response:
        nonce = request.state.csp_nonce
        csp = f"default-src 'self'; script-src 'nonce-{nonce}'; object-src 'none'"
        html = (
            "<!doctype html><html><head><title>Strict</title></head><body><p>Hi</p></body></html>"
        )
        return HTMLResponse(html, headers={"content-security-policy": csp})

    config = ConsentConfig(
        secret_keys=(secrets.token_urlsafe(32),),
        storage=f"sqlite:///{db}",
        categories=(
            Category(key="necessary", label="Strictly necessary", required=True),
            Category(key="advertising", label="Advertising", sale_or_share=True),
        ),
        regions=(Region(match=("*",), regime="us_opt_out"),),
    )

    async def other_cmp(request: Request) -> Response:
        return HTMLResponse(OTHER_CMP)

    routes = [
        Route("/", home),
        Route("/ad.js", ad),
        Route("/csp", strict),
        Route("/other-cmp", other_cmp),
    ]
    return NonceMiddleware(ConsentMiddleware(Starlette(routes=routes), config=config))


@pytest.fixture(scope="module")
def us_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(_app(tmp_path_factory.mktemp("gpp") / "consent.db")) as url:
        yield url


@pytest.fixture
def us_page(make_context: Callable[..., Any], us_server: str) -> Callable[..., Any]:
    def open_page(**options: Any) -> Any:
        page = make_context(base_url=us_server, **options).new_page()
        page.goto("/")
        page.wait_for_function("window.__gpp && window.__gpp.consentkit")
        return page

    return open_page


def call(page: Any, command: str, parameter: Any = None) -> list[Any]:
    """``[data, success]`` of one ``__gpp`` call."""
    result: list[Any] = page.evaluate(
        "([c, p]) => new Promise((resolve) => __gpp(c, (d, ok) => resolve([d, ok]), p))",
        [command, parameter],
    )
    return result


def server_gpp(page: Any) -> str:
    state: dict[str, Any] = page.evaluate(
        "fetch('/consent', {headers: {Accept: 'application/json'}}).then(r => r.json())"
    )
    gpp: str = state["gpp"]
    return gpp


def test_stub_answers_ping_and_queues_until_the_api_loads(us_page: Callable[..., Any]) -> None:
    page = us_page()
    assert page.evaluate("window.stubbed") is True
    assert page.evaluate("window.stubPing") == ["stub", 1, True]
    # addEventListener is answered by the stub at once; getField waits in the queue.
    assert page.evaluate("window.queuedAtStub") == 1
    assert page.evaluate("window.log") == [
        ["listenerRegistered", True, "stub", "not ready", True],
        ["cmpStatus", "loaded", "loaded", "ready", True],
        ["signalStatus", "ready", "loaded", "ready", True],
        ["getField", 2, True],
    ]


def test_a_deferred_ad_script_in_the_head_finds_the_stub(us_page: Callable[..., Any]) -> None:
    page = us_page()
    page.wait_for_function("window.adField !== undefined")
    assert page.evaluate("window.adSawStub") is True
    assert page.evaluate("window.adField") == [2, True, True]


def test_the_api_runs_under_a_strict_nonce_policy(
    make_context: Callable[..., Any], us_server: str
) -> None:
    page = make_context(base_url=us_server).new_page()
    violations: list[str] = []
    page.on(
        "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
    )
    page.goto("/csp")
    page.wait_for_function("window.__gpp && window.__gpp.consentkit")
    assert call(page, "getField", "usnat.SaleOptOut") == [2, True]
    assert violations == []


def test_another_cmps_gpp_is_left_in_charge(
    make_context: Callable[..., Any], us_server: str
) -> None:
    page = make_context(base_url=us_server).new_page()
    page.goto("/other-cmp")
    page.wait_for_function("document.readyState === 'complete'")
    assert page.evaluate("window.__gpp.theirs === true && !window.__gpp.consentkit")


def test_ping_fields(us_page: Callable[..., Any]) -> None:
    page = us_page()
    data, ok = call(page, "ping")
    gpp = server_gpp(page)
    assert ok is True
    banner = page.evaluate("!!document.getElementById('consentkit-banner')")
    assert data == {
        "gppVersion": "1.1",
        "cmpStatus": "loaded",
        "cmpDisplayStatus": "visible" if banner else "hidden",
        "signalStatus": "ready",
        "supportedAPIs": ["7:usnat"],
        "cmpId": 1,
        "sectionList": [7],
        "applicableSections": [7],
        "gppString": gpp,
        "parsedSections": {"usnat": decode(gpp).usnat.as_js()},  # type: ignore[union-attr]
    }


def test_sections_and_fields(us_page: Callable[..., Any]) -> None:
    page = us_page()
    assert call(page, "hasSection", "usnat") == [True, True]
    assert call(page, "hasSection", "tcfeuv2") == [False, True]
    section, ok = call(page, "getSection", "usnat")
    assert ok and section[1] == {"SubsectionType": 1, "Gpc": False}
    assert section[0]["Version"] == 2 and section[0]["SaleOptOutNotice"] == 1
    assert call(page, "getSection", "usca") == [None, True]
    assert call(page, "getField", "usnat.SharingOptOut") == [2, True]
    assert call(page, "getField", "usnat.KnownChildSensitiveDataConsents") == [[0, 0, 0], True]
    assert call(page, "getField", "usnat.Gpc") == [False, True]
    assert call(page, "getField", "usnat.NoSuchField") == [None, True]
    assert call(page, "noSuchCommand") == [None, False]
    # A caller cannot change what the next caller reads.
    page.evaluate("__gpp('getSection', (s) => { s[0].SaleOptOut = 9; }, 'usnat')")
    assert call(page, "getField", "usnat.SaleOptOut") == [2, True]


def test_a_decision_fires_events_and_updates_the_string(us_page: Callable[..., Any]) -> None:
    page = us_page()
    before = server_gpp(page)
    page.evaluate("window.log.length = 0")
    page.evaluate(
        "__gpp('addEventListener', (e) => { window.second = e.listenerId; }); "
        "__gpp('removeEventListener', (ok) => { window.removed = ok; }, window.second)"
    )
    assert page.evaluate("window.removed") is True
    # No banner under us_opt_out: the visitor refuses in the preferences (a site's own
    # "Cookie settings" link opens them the same way).
    page.evaluate("window.consentkit.open()")
    page.get_by_role("dialog").get_by_role("button", name="Reject all").click()
    page.wait_for_function("window.log.some((e) => e[0] === 'sectionChange')")
    page.wait_for_function("window.log[window.log.length - 1][0] === 'signalStatus'")
    events = [entry[:2] for entry in page.evaluate("window.log")]
    # No cmpDisplayStatus event: nothing consentkit shows changed (there was no banner).
    assert events == [
        ["signalStatus", "not ready"],
        ["sectionChange", "usnat"],
        ["signalStatus", "ready"],
    ]
    assert call(page, "ping")[0]["cmpDisplayStatus"] == "hidden"
    after = server_gpp(page)
    assert after != before
    assert call(page, "ping")[0]["gppString"] == after
    assert call(page, "getField", "usnat.SaleOptOut") == [1, True]
    assert call(page, "getField", "usnat.TargetedAdvertisingOptOut") == [1, True]
    # The next page starts from the new string.
    page.reload()
    page.wait_for_function("window.__gpp && window.__gpp.consentkit")
    assert call(page, "getField", "usnat.SaleOptOut") == [1, True]
    assert page.evaluate("window.log.find((e) => e[0] === 'getField')") == ["getField", 1, True]


def test_gpc_browser_is_opted_out(us_page: Callable[..., Any]) -> None:
    page = us_page(extra_http_headers={"Sec-GPC": "1"})
    assert call(page, "getField", "usnat.Gpc") == [True, True]
    assert call(page, "getField", "usnat.SaleOptOut") == [1, True]


def test_frames_reach_the_api_by_post_message(us_page: Callable[..., Any]) -> None:
    page = us_page()
    assert page.evaluate("!!window.frames.__gppLocator")
    answer = page.evaluate(
        """() => new Promise((resolve) => {
            addEventListener('message', (e) => {
                if (e.data.__gppReturn) resolve(e.data.__gppReturn);
            });
            const call = {command: 'getField', parameter: 'usnat.SaleOptOut', callId: 'c1'};
            postMessage({__gppCall: call}, '*');
        })"""
    )
    assert answer == {"returnValue": 2, "success": True, "callId": "c1"}
