"""The snippet assets, the banner fragment and the privacy page (no browser)."""

from __future__ import annotations

import gzip
import json
import re
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import pytest

from consentkit.config import Category, ConsentConfig, Cookie
from consentkit.consent import Consent
from consentkit.declaration import Declaration, effective_categories
from consentkit.html import Assets, Renderer
from consentkit.i18n import Translator

KEY = "k" * 32


def make_config(**overrides: object) -> ConsentConfig:
    base: dict[str, object] = {
        "secret_keys": [KEY],
        "storage": "sqlite:///unused.db",
        "categories": [
            Category(
                key="necessary",
                label="Strictly necessary",
                required=True,
                description="Needed for the site to work.",
            ),
            Category(
                key="analytics",
                label="Analytics",
                description="Counts <visits> & sections",
                cookies=(
                    Cookie(
                        name="_ga*",
                        provider="Google",
                        purpose="Tells visitors apart",
                        duration="13 months",
                    ),
                ),
            ),
            Category(key="marketing", label="Marketing <b>x</b>", description="Ads"),
        ],
    }
    base.update(overrides)
    return ConsentConfig(**base)  # type: ignore[arg-type]


def make_renderer(config: ConsentConfig) -> tuple[Renderer, Assets]:
    translator = Translator(config)
    categories = effective_categories(config)
    declarations = {
        lang: Declaration(config, categories, translator, lang) for lang in config.languages
    }
    assets = Assets(config.prefix)
    return Renderer(config, declarations, assets), assets


UNDECIDED = Consent(decided=False, granted=frozenset({"necessary"}))
DECIDED = Consent(
    decided=True,
    granted=frozenset({"necessary", "analytics"}),
    consent_id="abc123",
    policy_version="1",
    decided_at=datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc),
)


@pytest.fixture
def renderer() -> Renderer:
    return make_renderer(make_config())[0]


# --- assets ------------------------------------------------------------------------------


def test_snippet_is_at_most_4_kb_gzipped() -> None:
    static = resources.files("consentkit").joinpath("static")
    js = static.joinpath("consentkit.js").read_bytes()
    css = static.joinpath("consentkit.css").read_bytes()
    size = len(gzip.compress(js, 9)) + len(gzip.compress(css, 9))
    assert size <= 4096, f"consentkit.js + .css are {size} bytes gzipped, over 4 KB"


def test_asset_urls_carry_the_content_hash() -> None:
    assets = Assets("/consent")
    assert re.fullmatch(r"/consent/consentkit\.[0-9a-f]{10}\.js", assets.js_url)
    assert re.fullmatch(r"/consent/consentkit\.[0-9a-f]{10}\.css", assets.css_url)
    assert Assets("/cc").js_url.startswith("/cc/consentkit.")


@pytest.mark.parametrize("ext", ["js", "css"])
def test_hashed_and_plain_assets(ext: str) -> None:
    assets = Assets("/consent")
    hashed = assets.js_url if ext == "js" else assets.css_url
    answer = assets.response(hashed, None)
    assert answer is not None
    status, headers, body = answer
    h = dict(headers)
    assert status == 200
    assert body and int(h[b"content-length"]) == len(body)
    assert h[b"content-type"].startswith(b"text/javascript" if ext == "js" else b"text/css")
    assert b"immutable" in h[b"cache-control"] and b"31536000" in h[b"cache-control"]
    plain = assets.response(f"/consent/consentkit.{ext}", None)
    assert plain is not None
    assert plain[2] == body
    assert b"immutable" not in dict(plain[1])[b"cache-control"]
    etag = h[b"etag"].decode()
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        not_modified = assets.response(hashed, header)
        assert not_modified is not None and not_modified[0] == 304 and not_modified[2] == b""
    changed = assets.response(hashed, '"nope"')
    assert changed is not None and changed[0] == 200


def test_non_asset_paths_are_none() -> None:
    assets = Assets("/consent")
    for path in ("/consent", "/consent/consentkit.deadbeef00.js", "/consentkit.js", "/x.css"):
        assert assets.response(path, None) is None


# --- fragment ------------------------------------------------------------------------------


def test_undecided_fragment_has_snippet_and_banner(renderer: Renderer) -> None:
    html = renderer.fragment(UNDECIDED, "en", "/reports?a=1", None).decode()
    assert "<link" not in html and html.index("<style>") < html.index('id="consentkit-banner"')
    assert re.search(r'<script src="/consent/consentkit\.[0-9a-f]{10}\.js" defer', html)
    assert 'data-prefix="/consent"' in html
    assert 'data-decided="0"' in html and 'data-granted="necessary"' in html
    assert "nonce=" not in html
    assert 'id="consentkit-banner"' in html
    assert 'lang="en"' in html and 'dir="ltr"' in html
    # Two forms (first layer, customize) posting to the prefix, each returning to the page.
    assert html.count('action="/consent"') == 2
    assert html.count('name="next" value="/reports?a=1"') == 2
    assert 'value="accept_all"' in html and 'value="reject_all"' in html
    assert 'value="custom"' in html


def test_accept_and_reject_have_equal_weight(renderer: Renderer) -> None:
    html = renderer.fragment(UNDECIDED, "en", "/", None).decode()
    reject = re.search(r'<button class="([^"]+)"[^>]*value="reject_all"', html)
    accept = re.search(r'<button class="([^"]+)"[^>]*value="accept_all"', html)
    assert reject and accept and reject.group(1) == accept.group(1)


def test_customize_has_one_unticked_checkbox_per_optional_category(renderer: Renderer) -> None:
    html = renderer.fragment(UNDECIDED, "en", "/", None).decode()
    boxes = re.findall(r"<input[^>]*name=\"category\"[^>]*>", html)
    by_key = {re.search(r'value="([^"]+)"', b).group(1): b for b in boxes}  # type: ignore[union-attr]
    assert set(by_key) == {"necessary", "analytics", "marketing"}
    for key in ("analytics", "marketing"):
        assert "checked" not in by_key[key] and "disabled" not in by_key[key]
    assert "checked" in by_key["necessary"] and "disabled" in by_key["necessary"]


def test_decided_fragment_has_no_banner(renderer: Renderer) -> None:
    html = renderer.fragment(DECIDED, "en", "/", "n0nce").decode()
    assert "consentkit-banner" not in html
    assert 'data-decided="1"' in html
    assert 'data-granted="analytics necessary"' in html
    assert 'nonce="n0nce"' in html


def test_insert_banner_off() -> None:
    renderer, _ = make_renderer(make_config(insert_banner=False))
    html = renderer.fragment(UNDECIDED, "en", "/", None).decode()
    assert "consentkit-banner" not in html and "<script" in html


def test_next_path_and_nonce_are_escaped(renderer: Renderer) -> None:
    html = renderer.fragment(UNDECIDED, "en", '/"><script>alert(1)</script>', '"x').decode()
    assert "<script>alert" not in html
    assert 'value="/&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html
    assert 'nonce="&quot;x"' in html


def test_config_text_is_escaped(renderer: Renderer) -> None:
    html = renderer.fragment(UNDECIDED, "en", "/", None).decode()
    assert "Marketing &lt;b&gt;x&lt;/b&gt;" in html
    assert "Counts &lt;visits&gt; &amp; sections" in html
    assert "<b>x</b>" not in html


@pytest.mark.parametrize(("lang", "direction"), [("he", "rtl"), ("ar", "rtl"), ("de", "ltr")])
def test_banner_language_and_direction(renderer: Renderer, lang: str, direction: str) -> None:
    html = renderer.fragment(UNDECIDED, lang, "/", None).decode()
    assert f'lang="{lang}" dir="{direction}"' in html
    texts = Translator(make_config()).texts(lang)
    assert texts["accept_all"] in html and texts["reject_all"] in html


def test_unknown_language_falls_back_to_default(renderer: Renderer) -> None:
    html = renderer.fragment(UNDECIDED, "xx", "/", None).decode()
    assert 'lang="en"' in html


def test_google_consent_mode_mapping_is_passed_to_the_script() -> None:
    gcm = {"analytics": ("analytics_storage",), "marketing": ("ad_storage", "ad_user_data")}
    renderer, _ = make_renderer(make_config(google_consent_mode=gcm))
    html = renderer.fragment(UNDECIDED, "en", "/", None).decode()
    raw = re.search(r'data-gcm="([^"]+)"', html)
    assert raw is not None
    mapping = json.loads(raw.group(1).replace("&quot;", '"'))
    assert mapping == {
        "analytics": ["analytics_storage"],
        "marketing": ["ad_storage", "ad_user_data"],
    }
    assert 'data-required="necessary"' in html
    plain = make_renderer(make_config())[0].fragment(UNDECIDED, "en", "/", None).decode()
    assert "data-gcm" not in plain


def test_fragment_is_fast(renderer: Renderer) -> None:
    import time

    start = time.perf_counter()
    for _ in range(2000):
        renderer.fragment(UNDECIDED, "en", "/some/page", "abc")
        renderer.fragment(DECIDED, "de", "/some/page", None)
    assert time.perf_counter() - start < 2.0


# --- privacy page -----------------------------------------------------------------------------


def test_privacy_page_for_undecided_visitor(renderer: Renderer) -> None:
    html = renderer.privacy_page(UNDECIDED, "en", "n1").decode()
    assert html.startswith("<!doctype html>")
    assert '<html lang="en" dir="ltr">' in html
    assert "This website uses cookies so that we can provide you with the best user" in html
    assert "You have not made a choice yet." in html
    assert 'value="withdraw"' not in html
    for label in ("Strictly necessary", "Analytics", "Marketing &lt;b&gt;x&lt;/b&gt;"):
        assert label in html
    # The cookie table: name, provider, purpose, duration.
    assert (
        "<code>_ga*</code></td><td>Google</td><td>Tells visitors apart</td><td>13 months</td>"
        in html
    )
    # The consent cookie is declared in the required category.
    assert "<code>consentkit</code>" in html
    assert 'nonce="n1"' in html
    assert 'name="next" value="/privacy"' in html


def test_privacy_page_for_decided_visitor(renderer: Renderer) -> None:
    html = renderer.privacy_page(DECIDED, "en", None).decode()
    assert "abc123" in html
    assert "Policy version" in html
    assert 'value="withdraw"' in html
    analytics = re.search(r'<input[^>]*id="ck-p-analytics"[^>]*>', html)
    marketing = re.search(r'<input[^>]*id="ck-p-marketing"[^>]*>', html)
    assert analytics and "checked" in analytics.group(0)
    assert marketing and "checked" not in marketing.group(0)
    assert "2026-01-02" in html


def test_privacy_page_in_arabic_is_rtl(renderer: Renderer) -> None:
    html = renderer.privacy_page(UNDECIDED, "ar", None).decode()
    assert '<html lang="ar" dir="rtl">' in html
    assert Translator(make_config()).texts("ar")["privacy_title"] in html


def test_privacy_template_can_be_overridden(tmp_path: Path) -> None:
    folder = tmp_path / "consentkit"
    folder.mkdir()
    (folder / "privacy.html").write_text(
        "<!doctype html><title>Ours</title>{{ t.privacy_title }}|{{ categories|length }}|"
        "{{ consent.decided }}|{{ '<i>' }}{{ snippet }}",
        encoding="utf-8",
    )
    renderer, _ = make_renderer(make_config(template_dirs=(str(tmp_path),)))
    html = renderer.privacy_page(UNDECIDED, "en", None).decode()
    assert html.startswith("<!doctype html><title>Ours</title>Privacy Overview|3|False|&lt;i&gt;")
    assert "<script src=" in html
    # The banner still comes from the package.
    assert "consentkit-banner" in renderer.fragment(UNDECIDED, "en", "/", None).decode()


def test_text_overrides_reach_banner_and_page() -> None:
    config = make_config(texts={"en": {"banner_title": "Cookies? <yes>"}})
    renderer, _ = make_renderer(config)
    assert "Cookies? &lt;yes&gt;" in renderer.fragment(UNDECIDED, "en", "/", None).decode()


# --- precompressed assets ------------------------------------------------------------------


@pytest.mark.parametrize("ext", ["js", "css"])
@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        (None, None),
        ("", None),
        ("gzip", "gzip"),
        ("gzip, deflate, br, zstd", "br"),
        ("br;q=0.5, gzip", "gzip"),
        ("br;q=0, gzip;q=0.1", "gzip"),
        ("br;q=0, gzip;q=0", None),
        ("GZIP;Q=1", "gzip"),
        ("*", "br"),
        ("*;q=0, identity", None),
        ("*;q=0", None),  # nothing acceptable: the file as it is, not an error
        ("identity;q=0, gzip;q=0.2", "gzip"),
        ("deflate", None),
        ("gzip;q=nonsense", None),
        ("x-gzip", "gzip"),
    ],
)
def test_assets_precompressed_by_accept_encoding(
    ext: str, accept: str | None, coding: str | None
) -> None:
    import brotli

    assets = Assets("/consent")
    url = assets.js_url if ext == "js" else assets.css_url
    plain = assets.response(url, None)
    assert plain is not None
    original = plain[2]
    answer = assets.response(url, None, accept)
    assert answer is not None
    status, headers, body = answer
    h = dict(headers)
    assert status == 200
    assert h[b"vary"] == b"Accept-Encoding"
    assert int(h[b"content-length"]) == len(body)
    assert h.get(b"content-encoding") == (coding.encode() if coding else None)
    if coding == "gzip":
        assert gzip.decompress(body) == original
        assert h[b"etag"].endswith(b'-gzip"')
    elif coding == "br":
        assert brotli.decompress(body) == original
        assert h[b"etag"].endswith(b'-br"')
    else:
        assert body == original
    if coding:
        assert len(body) < len(original) / 2


def test_asset_etags_differ_per_encoding_and_304_matches_each() -> None:
    assets = Assets("/consent")
    answers = {a: assets.response(assets.js_url, None, a) for a in ("identity", "gzip", "br")}
    etags = {a: dict(r[1])[b"etag"].decode() for a, r in answers.items() if r is not None}
    assert len(set(etags.values())) == 3
    for accept, etag in etags.items():
        hit = assets.response(assets.js_url, etag, accept)
        assert hit is not None and hit[0] == 304 and hit[2] == b""
        h = dict(hit[1])
        assert h[b"etag"].decode() == etag and h[b"vary"] == b"Accept-Encoding"
        assert b"content-encoding" not in h and b"content-length" not in h
        # Another encoding's ETag does not validate this one.
        for other, other_etag in etags.items():
            if other != accept:
                miss = assets.response(assets.js_url, other_etag, accept)
                assert miss is not None and miss[0] == 200


def test_assets_compressed_once_at_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    import consentkit.html

    calls: list[str] = []
    real = consentkit.html.compress

    def counting(data: bytes, coding: str) -> bytes | None:
        calls.append(coding)
        return real(data, coding)

    monkeypatch.setattr(consentkit.html, "compress", counting)
    assets = Assets("/consent")
    # The snippet's script and stylesheet, and the GPP API script.
    assert sorted(calls) == ["br", "br", "br", "gzip", "gzip", "gzip"]
    for _ in range(5):
        assets.response(assets.css_url, None, "gzip, br")
        assets.response(assets.gpp_url, None, "gzip, br")
    assert len(calls) == 6


def test_assets_without_brotli_offer_gzip(monkeypatch: pytest.MonkeyPatch) -> None:
    import consentkit.encoding

    monkeypatch.setattr(consentkit.encoding, "_brotli", None)
    assets = Assets("/consent")
    answer = assets.response(assets.js_url, None, "br, gzip;q=0.5")
    assert answer is not None
    assert dict(answer[1])[b"content-encoding"] == b"gzip"


# --- styles that never block the page ------------------------------------------------------


def test_banner_styles_are_inline_and_only_the_banners(renderer: Renderer) -> None:
    html = renderer.fragment(UNDECIDED, "en", "/", "n0nce").decode()
    first, last = re.fullmatch(
        r'<script [^>]+></script><style nonce="n0nce">([^<]+)</style>'
        r'<section id="consentkit-banner".*</section><style nonce="n0nce">([^<]+)</style>',
        html,
        re.DOTALL,
    ).groups()  # type: ignore[union-attr]
    # Transparent until parsed whole, so a frame painted halfway through cannot shift it.
    assert first.endswith("#consentkit-banner{opacity:0}")
    assert last == "#consentkit-banner{opacity:1}"
    css = first
    assert ".ck-banner{position: fixed;" in css and "@media (max-width: 30rem)" in css
    assert ".ck-sw:checked" in css  # the no-JavaScript Customize form
    assert ".ck-dialog{" not in css and ".ck-page" not in css and "/*" not in css
    # The script knows where the whole stylesheet is, for the preferences dialog.
    assets = Assets("/consent")
    assert f'data-css="{assets.css_url}"' in html


def test_decided_fragment_has_no_styles(renderer: Renderer) -> None:
    html = renderer.fragment(DECIDED, "en", "/", None, "default-src 'self'").decode()
    assert "<style" not in html and "<link" not in html
    assert renderer.snippet_tags(DECIDED, None).decode().startswith("<script ")


@pytest.mark.parametrize(
    ("csp", "nonce", "inline"),
    [
        (None, None, True),
        ("script-src 'self'; object-src 'none'", None, True),
        ("default-src 'self'", None, False),
        ("default-src 'self'", "N1", False),
        ("default-src 'self'; style-src 'self' 'nonce-N1'", "N1", True),
        ("style-src 'self' 'nonce-other'", "N1", False),
        ("style-src 'self' 'unsafe-inline'", None, True),
        ("STYLE-SRC 'self' 'UNSAFE-INLINE'", None, True),
        # 'unsafe-inline' does not count beside a nonce or a hash.
        ("style-src 'unsafe-inline' 'nonce-X'", None, False),
        ("style-src-elem 'unsafe-inline'; default-src 'none'", None, True),
        ("style-src-elem 'self'; style-src 'unsafe-inline'", None, False),
        # Two policies (two headers): both must allow it.
        ("style-src 'unsafe-inline', default-src 'self'", None, False),
        ("style-src 'unsafe-inline', script-src 'self'", None, True),
        ("style-src 'sha256-abc'", None, False),
        # The first of a repeated directive wins.
        ("style-src 'self'; style-src 'unsafe-inline'", None, False),
        # A directive with no sources allows nothing; empty policies allow everything.
        ("style-src", None, False),
        (" ; ,, ;", None, True),
    ],
)
def test_a_content_security_policy_that_refuses_inline_styles_gets_the_stylesheet(
    renderer: Renderer, csp: str | None, nonce: str | None, inline: bool
) -> None:
    html = renderer.fragment(UNDECIDED, "en", "/", nonce, csp).decode()
    assert ("<style" in html) is inline
    assert ('<link rel="stylesheet" href="/consent/consentkit.' in html) is not inline
    assert 'id="consentkit-banner"' in html


# --- the reopen button (issue #17) ----------------------------------------------------------


def test_reopen_button_after_a_decision_only(renderer: Renderer) -> None:
    assert "ck-reopen" not in renderer.fragment(UNDECIDED, "en", "/", None).decode()
    html = renderer.fragment(DECIDED, "en", "/", "n0nce").decode()
    assert html.endswith(
        '<a class="ck-reopen" href="/privacy" data-consentkit-open lang="en" dir="ltr">'
        "Cookie settings</a>"
    )
    style = re.search(r'<style nonce="n0nce">(.*?)</style>', html)
    assert style is not None
    # In the flow on narrow screens, fixed in the corner from 48em, never in print.
    assert ".ck-reopen{display:table;" in style.group(1)
    assert "@media (min-width:48em){.ck-reopen{position:fixed;" in style.group(1)
    assert "right:1rem" in style.group(1) and "left:" not in style.group(1)


@pytest.mark.parametrize(("lang", "direction"), [("de", "ltr"), ("ar", "rtl"), ("ja", "ltr")])
def test_reopen_button_label_in_the_visitors_language(lang: str, direction: str) -> None:
    renderer, _ = make_renderer(make_config())
    html = renderer.fragment(DECIDED, lang, "/", None).decode()
    label = Translator(make_config()).texts(lang)["reopen_button"]
    assert f'lang="{lang}" dir="{direction}">{label}</a>' in html


def test_reopen_button_position_label_and_off_switch() -> None:
    left, _ = make_renderer(
        make_config(reopen_position="bottom-left", texts={"en": {"reopen_button": "Privacy"}})
    )
    html = left.fragment(DECIDED, "en", "/", None).decode()
    assert "left:1rem" in html and "right:1rem" not in html and ">Privacy</a>" in html
    off, _ = make_renderer(make_config(reopen_button=False))
    assert "ck-reopen" not in off.fragment(DECIDED, "en", "/", None).decode()
    # A site that renders its own banner (insert_banner=False) renders its own button too.
    own, _ = make_renderer(make_config(insert_banner=False))
    assert "ck-reopen" not in own.fragment(DECIDED, "en", "/", None).decode()


def test_reopen_button_unstyled_where_the_csp_refuses_inline_styles(renderer: Renderer) -> None:
    html = renderer.fragment(DECIDED, "en", "/", "N1", "default-src 'self'").decode()
    assert "<style" not in html and '<a class="ck-reopen"' in html
    allowed = renderer.fragment(DECIDED, "en", "/", "N1", "style-src 'nonce-N1'").decode()
    assert '<style nonce="N1">.ck-reopen' in allowed


def test_inline_style_verdict_is_remembered_per_policy_not_per_nonce() -> None:
    renderer, _ = make_renderer(make_config())
    for nonce in ("N1aaaaaaaaaaaaaa", "N2bbbbbbbbbbbbbb", "N3cccccccccccccc"):
        csp = f"default-src 'self'; style-src 'self' 'nonce-{nonce}'"
        html = renderer.fragment(DECIDED, "en", "/", nonce, csp).decode()
        assert f'<style nonce="{nonce}">.ck-reopen' in html
    assert len(renderer._inline_style) == 1
    # The same policy naming another nonce than the request's refuses the <style>.
    csp = "default-src 'self'; style-src 'self' 'nonce-N1aaaaaaaaaaaaaa'"
    assert "<style" not in renderer.fragment(DECIDED, "en", "/", "N9", csp).decode()
    assert "<style" not in renderer.fragment(UNDECIDED, "en", "/", "N9", csp).decode()
