"""Config scripts as tags: live for a granted category (with the nonce), inert otherwise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from consentkit import (
    Category,
    ConsentConfig,
    ConsentMiddleware,
    Script,
    google_tag,
    google_tag_manager,
)
from consentkit.tags import ScriptTags, escape_inline
from tests.conftest import ORIGIN, categories, site

NONCE = b' nonce="n0nce"'


def scripted() -> list[Category]:
    necessary, analytics, marketing = categories()
    return [
        necessary.model_copy(update={"scripts": (Script(inline="window.ckNeeded=1"),)}),
        analytics.model_copy(
            update={
                "scripts": (
                    Script(src="https://stats.example.com/s.js", placement="head",
                           attrs={"async": True, "crossorigin": "anonymous", "defer": False}),
                    Script(inline="window.ckStats = '</script><b>x</b>';", placement="head"),
                )
            }
        ),
        marketing.model_copy(
            update={"scripts": (Script(src="/ads.js", attrs={"data-x": 'a"b<'}),)}
        ),
    ]  # fmt: skip


def tags(**options: Any) -> ScriptTags:
    return ScriptTags(scripted(), frozenset({"necessary"}), **options)


def test_granted_category_scripts_are_live_with_the_nonce() -> None:
    granted = frozenset({"necessary", "analytics"})
    head = tags().head(True, granted, NONCE)
    assert head == (
        b'<script nonce="n0nce" src="https://stats.example.com/s.js" async crossorigin="anonymous">'
        b"</script><script nonce=\"n0nce\">window.ckStats = '\\x3C/script><b>x</b>';</script>"
    )
    body = tags().body(True, granted, NONCE)
    assert body == (
        b'<script nonce="n0nce">window.ckNeeded=1</script>'
        b'<script type="text/plain" data-consent="marketing" src="/ads.js" data-x="a&quot;b&lt;">'
        b"</script>"
    )


def test_without_a_nonce_no_nonce_attribute() -> None:
    assert (
        tags()
        .body(True, frozenset({"necessary"}), b"")
        .startswith(b"<script>window.ckNeeded=1</script>")
    )


def test_refused_category_scripts_are_inert_and_never_get_a_nonce() -> None:
    head = tags().head(False, frozenset({"necessary"}), NONCE)
    assert head == (
        b'<script type="text/plain" data-consent="analytics" src="https://stats.example.com/s.js"'
        b' async crossorigin="anonymous"></script><script type="text/plain" '
        b"data-consent=\"analytics\">window.ckStats = '\\x3C/script><b>x</b>';</script>"
    )
    assert b"nonce" not in head


@pytest.mark.parametrize(
    ("code", "escaped"),
    [
        ("a='</script>'", "a='\\x3C/script>'"),
        ("a='</SCRIPT >'", "a='\\x3C/SCRIPT >'"),
        ("a='<script>'", "a='\\x3Cscript>'"),
        ("a='<!-- x'", "a='\\x3C!-- x'"),
        ("if (a < b && c </scrip/.test(d)) {}", "if (a < b && c </scrip/.test(d)) {}"),
        ("a = 1 <2", "a = 1 <2"),
    ],
)
def test_inline_code_cannot_close_its_tag(code: str, escaped: str) -> None:
    assert escape_inline(code) == escaped
    assert "</script" not in escape_inline(code).lower()


def test_each_granted_set_is_rendered_once() -> None:
    rendered = tags()
    granted = frozenset({"necessary", "marketing"})
    rendered.body(True, granted, NONCE)
    assert len(rendered._cache) == 1
    rendered.head(True, granted, b"")
    rendered.body(True, frozenset(granted), NONCE)
    assert len(rendered._cache) == 1


GCM = {"analytics": ("analytics_storage",), "marketing": ("ad_storage",)}


def test_consent_mode_default_and_update_come_before_the_first_live_tag() -> None:
    head = tags(google_consent_mode=GCM).head(True, frozenset({"necessary", "analytics"}), NONCE)
    assert head.startswith(
        b'<script nonce="n0nce">window.dataLayer=window.dataLayer||[];'
        b"function gtag(){dataLayer.push(arguments)}"
        b'gtag(\'consent\',\'default\',{"analytics_storage":"denied","ad_storage":"denied"});'
        b'gtag(\'consent\',\'update\',{"analytics_storage":"granted","ad_storage":"denied"});'
        b'</script><script nonce="n0nce" src="https://stats.example.com/s.js"'
    )
    body = tags(google_consent_mode=GCM).body(True, frozenset({"necessary", "analytics"}), NONCE)
    assert b"gtag(" not in body


def test_consent_mode_prelude_goes_to_the_body_when_no_live_tag_is_in_the_head() -> None:
    # Undecided: only the required category's inline script is live, at the end of the body.
    rendered = tags(google_consent_mode=GCM)
    assert b"gtag(" not in rendered.head(False, frozenset({"necessary"}), NONCE)
    body = rendered.body(False, frozenset({"necessary"}), NONCE)
    assert body.startswith(b'<script nonce="n0nce">window.dataLayer')
    assert b"'default'" in body and b"'update'" not in body
    assert body.index(b"gtag('consent'") < body.index(b"window.ckNeeded")


def test_no_consent_mode_prelude_without_live_tags() -> None:
    only_marketing = ScriptTags(scripted()[2:], frozenset({"necessary"}), GCM)
    assert b"gtag" not in only_marketing.body(True, frozenset({"necessary"}), NONCE)


def test_google_recipes() -> None:
    loader, config = google_tag("G-ABC1234")
    assert loader.src == "https://www.googletagmanager.com/gtag/js?id=G-ABC1234"
    assert loader.placement == config.placement == "head"
    assert loader.attrs == {"async": True}
    assert config.inline is not None and "gtag('config','G-ABC1234')" in config.inline
    start, container = google_tag_manager("GTM-AB12CD")
    assert start.inline is not None and "'gtm.start'" in start.inline
    assert container.src == "https://www.googletagmanager.com/gtm.js?id=GTM-AB12CD"
    assert google_tag("AW-123456", placement="body_end")[0].placement == "body_end"


@pytest.mark.parametrize("bad", ["", "UA-1234-1", "G-abc123", "G-1'));alert(1)//", "GTM-X"])
def test_google_recipes_refuse_malformed_ids(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a Google tag id"):
        google_tag(bad)
    with pytest.raises(ValueError, match="is not a container id"):
        google_tag_manager(bad)


# --- through the middleware ---------------------------------------------------------------


@pytest.fixture
def scripted_client(make_config: Callable[..., ConsentConfig]) -> Any:
    def make(**overrides: Any) -> TestClient:
        config = make_config(categories=scripted(), **overrides)
        return TestClient(ConsentMiddleware(site(), config=config))

    return make


def test_pages_get_scripts_in_head_and_body(scripted_client: Callable[..., TestClient]) -> None:
    with scripted_client() as client:
        first = client.get("/").text
        # The test site's page has no </head>: head scripts join the body end, first.
        assert first.index('data-consent="analytics" src="https://stats') < first.index(
            'data-consent="marketing"'
        )
        assert "<script>window.ckNeeded=1</script>" in first
        client.post("/consent", json={"action": "accept_all"}, headers=ORIGIN)
        page = client.get("/").text
        assert '<script src="https://stats.example.com/s.js" async' in page
        assert '<script src="/ads.js"' in page
        assert 'type="text/plain"' not in page
        client.post("/consent", json={"action": "withdraw"}, headers=ORIGIN)
        withdrawn = client.get("/").text
        assert 'type="text/plain" data-consent="analytics"' in withdrawn
        assert '<script src="/ads.js"' not in withdrawn


def test_privacy_page_names_the_hosts_scripts_load(
    scripted_client: Callable[..., TestClient],
) -> None:
    with scripted_client() as client:
        english = client.get("/privacy").text
        german = client.get("/privacy", headers={"accept-language": "de"}).text
        declaration = client.get("/consent").json()["declaration"]
    assert "<li>Loads stats.example.com</li>" in english
    assert "<li>Lädt stats.example.com</li>" in german
    # A path on the site itself is no other host; a category without scripts names none.
    loads = {c["key"]: c["loads"] for c in declaration["categories"]}
    assert loads == {"necessary": [], "analytics": ["stats.example.com"], "marketing": []}
