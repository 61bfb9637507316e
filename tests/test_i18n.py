"""Language negotiation, texts per language, and languages refused at start-up."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from starlette.testclient import TestClient

from consentkit import ConsentMiddleware
from consentkit.config import Category, ConsentConfig
from consentkit.declaration import Declaration, effective_categories
from consentkit.i18n import Translator, language_candidates, shipped_languages
from tests.conftest import site


def load(lang: str) -> dict[str, str]:
    raw = resources.files("consentkit").joinpath(f"locales/{lang}.json").read_text("utf-8")
    data: dict[str, str] = json.loads(raw)
    return data


def config(**overrides: object) -> ConsentConfig:
    base: dict[str, object] = {
        "secret_keys": ["k" * 32],
        "storage": "sqlite:///unused.db",
        "categories": [Category(key="necessary", label="Necessary", required=True)],
    }
    base.update(overrides)
    return ConsentConfig(**base)  # type: ignore[arg-type]


TRANSLATOR = Translator(config())
SHIPPED = tuple(shipped_languages().values())
#: Full texts for a language consentkit does not ship (Traditional Chinese).
HANT = {**load("zh-Hans"), "banner_title": "我們重視您的隱私", "accept_all": "全部接受"}


def test_default_languages_are_every_shipped_one() -> None:
    assert config().languages == SHIPPED
    assert len(SHIPPED) == 35 and "en" in SHIPPED


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("de-AT", "de"),
        ("de-CH-1996", "de"),
        ("fr-CA", "fr"),
        ("pt-BR", "pt-BR"),
        ("pt-PT", "pt"),
        ("pt", "pt"),
        ("pt-AO,en;q=0.5", "pt"),
        ("zh-CN", "zh-Hans"),
        ("zh-SG", "zh-Hans"),
        ("zh-Hans-HK", "zh-Hans"),
        ("zh", "zh-Hans"),
        ("zh-TW,ja;q=0.8", "ja"),
        ("zh-HK,zh-Hant;q=0.9,en;q=0.5", "en"),
        ("zh-Hant-CN,ko;q=0.1", "ko"),
        ("nb-NO", "nb"),
        ("no", "nb"),
        ("nn-NO,en;q=0.1", "nb"),
        ("he", "he"),
        ("iw-IL", "he"),
        ("ar-EG,ar;q=0.9", "ar"),
        ("es;q=0.5,de;q=0.6", "de"),
        ("ja,zh;q=0.9", "ja"),
        ("ga-IE,en-IE;q=0.8", "ga"),
        ("mt-MT", "mt"),
        ("sr-Latn-RS,hr;q=0.7", "hr"),
        ("de;q=0,fr", "fr"),
        ("en;q=abc,es", "es"),
        ("en;q=2,es;q=0.1", "es"),
        ("fr;level=1;q=0.2,it;q=0.1", "fr"),
        ("x" * 5000, "en"),
        ("x-klingon,sv;q=0.3", "sv"),
        ("de_AT", "de"),
        ("DE-at", "de"),
        ("ZH-hans-cn", "zh-Hans"),
        ("PT-br", "pt-BR"),
        ("*", "en"),
        ("*;q=0.9,it;q=0.8", "it"),
        (",,;;,=,q=", "en"),
        ("de-\u00e4,fr;q=0.2", "fr"),
    ],
)
def test_negotiate(header: str | None, expected: str) -> None:
    assert TRANSLATOR.negotiate(header) == expected


@pytest.mark.parametrize(
    ("language_range", "candidates"),
    [
        ("de-AT-1996", ("de-at-1996", "de-at", "de")),
        ("en-a-bbb-x-a-ccc", ("en-a-bbb-x-a-ccc", "en-a-bbb-x", "en-a-bbb", "en")),
        ("zh-Hant-TW", ("zh-hant-tw", "zh-hant")),
        ("zh-TW", ("zh-tw", "zh-hant")),
        ("zh-CN", ("zh-cn", "zh", "zh-hans")),
        ("nn", ("nn", "nb")),
        ("*", ()),
        ("x-private", ()),
        ("a-b-c-d-e-f-g-h-i", ()),
    ],
)
def test_language_candidates(language_range: str, candidates: tuple[str, ...]) -> None:
    assert language_candidates(language_range) == candidates


def test_traditional_chinese_only_when_configured() -> None:
    translator = Translator(config(languages=("en", "zh-Hans", "zh-Hant"), texts={"zh-Hant": HANT}))
    assert translator.negotiate("zh-TW") == "zh-Hant"
    assert translator.negotiate("zh-HK,en;q=0.5") == "zh-Hant"
    assert translator.negotiate("zh-CN") == "zh-Hans"
    assert translator.texts("zh-Hant")["banner_title"] == "我們重視您的隱私"


def test_negotiate_only_configured_languages() -> None:
    translator = Translator(config(languages=("en", "fr"), default_language="fr"))
    assert translator.negotiate("de") == "fr"
    assert translator.negotiate("en-GB") == "en"
    assert Translator(config(languages=("en", "pt"))).negotiate("pt-BR") == "pt"
    assert Translator(config(languages=("en", "pt-BR"))).negotiate("pt-PT") == "en"


def test_cache_is_bounded_and_agrees_with_lookup() -> None:
    translator = Translator(config())
    for i in range(5000):
        header = f"xx-{i},de;q=0.{i % 9 + 1}"
        assert translator.negotiate(header) == "de"
    assert 0 < len(translator._negotiated) <= 1024
    long_header = "fr," + "de;q=0.5," * 40
    assert translator.negotiate(long_header) == "fr"
    assert long_header not in translator._negotiated


@pytest.mark.parametrize("lang", SHIPPED)
def test_direction(lang: str) -> None:
    expected = "rtl" if lang in {"he", "ar"} else "ltr"
    assert Translator.direction(lang) == expected


# --- properties ---------------------------------------------------------------------------

SUBTAG = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=2, max_size=8)
Q = st.integers(min_value=1, max_value=1000).map(lambda n: n / 1000)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_any_header_gives_a_configured_language(header: str) -> None:
    assert TRANSLATOR.negotiate(header) in TRANSLATOR.languages


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SHIPPED), st.booleans())
def test_case_does_not_matter(lang: str, upper: bool) -> None:
    header = lang.upper() if upper else lang.swapcase()
    assert TRANSLATOR.negotiate(header) == lang


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([lang for lang in SHIPPED if "-" not in lang and lang != "zh"]), SUBTAG)
def test_a_region_falls_back_to_its_language(lang: str, region: str) -> None:
    tag = f"{lang}-{region}"
    expected = shipped_languages().get(tag.lower(), lang)
    if lang == "pt" and region == "br":
        expected = "pt-BR"
    assert TRANSLATOR.negotiate(tag) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(SHIPPED), min_size=2, max_size=5, unique=True), st.data())
def test_highest_quality_wins(langs: list[str], data: st.DataObject) -> None:
    qs = data.draw(st.lists(Q, min_size=len(langs), max_size=len(langs), unique=True))
    header = ", ".join(f"{lang};q={q}" for lang, q in zip(langs, qs, strict=True))
    best = max(zip(qs, langs, strict=True))[1]
    assert TRANSLATOR.negotiate(header) == best
    # The cached answer is the same answer.
    assert TRANSLATOR.negotiate(header) == best


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(SHIPPED), min_size=2, max_size=5, unique=True))
def test_equal_quality_keeps_the_header_order(langs: list[str]) -> None:
    assert TRANSLATOR.negotiate(",".join(langs)) == langs[0]


# --- texts and start-up checks ------------------------------------------------------------


def test_config_texts_override_a_language() -> None:
    translator = Translator(config(texts={"de": {"accept_all": "Ja, gerne"}}))
    assert translator.texts("de")["accept_all"] == "Ja, gerne"
    assert translator.texts("de")["reject_all"] == load("de")["reject_all"]
    assert translator.texts("en")["accept_all"] == "Accept all"


@pytest.mark.parametrize("lang", SHIPPED)
def test_texts_are_the_locale_file(lang: str) -> None:
    assert dict(TRANSLATOR.texts(lang)) == load(lang)


def test_tags_are_canonicalised() -> None:
    cfg = config(languages=("EN", "pt-br", "ZH-hans"), default_language="Pt-Br")
    assert cfg.languages == ("en", "pt-BR", "zh-Hans")
    assert cfg.default_language == "pt-BR"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"languages": ("en", "xx")}, "language 'xx' has no texts"),
        ({"languages": ("en", "zh-Hant")}, "language 'zh-Hant' has no texts"),
        (
            {"languages": ("en", "yue"), "texts": {"yue": {"banner_title": "私隱"}}},
            "language 'yue' has no texts",
        ),
        ({"languages": ("en", "de", "DE")}, "'de' is listed twice"),
        ({"languages": ("en", "not a tag")}, "is not a language tag"),
        ({"languages": ("en",), "texts": {"de": {"save": "Speichern"}}}, "not in languages"),
        ({"texts": {"de": {"acept_all": "Ja"}}}, "unknown key 'acept_all'"),
        ({"texts": {"de": {"duration_days": "Tage: {tage}"}}}, "placeholders {days}"),
        ({"texts": {"de": {"save": "Speichern {days}"}}}, "placeholders none"),
        ({"languages": ("de",)}, "default_language 'en' is not in languages"),
    ],
)
def test_bad_languages_are_refused_at_start_up(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("{", r"\{").replace("}", r"\}")):
        config(**overrides)


def test_a_language_with_full_texts_is_accepted() -> None:
    cfg = config(languages=("en", "yue"), texts={"yue": HANT})
    assert Translator(cfg).texts("yue")["banner_title"] == "我們重視您的隱私"


def test_category_text_keys_are_allowed() -> None:
    cfg = config(texts={"de": {"category_necessary_label": "Notwendig"}})
    categories = effective_categories(cfg)
    declaration = Declaration(cfg, categories, Translator(cfg), "de")
    assert declaration.data["categories"][0]["label"] == "Notwendig"


def test_what_consentkit_adds_is_translated() -> None:
    cfg = config(categories=[Category(key="analytics", label="Statistik")])
    categories = effective_categories(cfg)
    for lang in ("de", "pl", "ja"):
        declaration = Declaration(cfg, categories, Translator(cfg), lang)
        necessary = declaration.data["categories"][0]
        texts = load(lang)
        assert necessary["label"] == texts["necessary_label"]
        assert necessary["description"] == texts["necessary_description"]
        duration = necessary["cookies"][0]["duration"]
        assert duration == texts["duration_days"].replace("{days}", "182")
        assert "days" not in duration


# --- through the middleware ---------------------------------------------------------------


@pytest.fixture(scope="module")
def every_language_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    cfg = config(
        storage=f"sqlite:///{tmp_path_factory.mktemp('i18n')}/consent.db",
        categories=[Category(key="analytics", label="Analytics")],
    )
    with TestClient(ConsentMiddleware(site(), config=cfg)) as client:
        yield client


@pytest.mark.parametrize("lang", SHIPPED)
def test_every_language_is_served_in_that_language(
    every_language_client: TestClient, lang: str
) -> None:
    texts = load(lang)
    headers = {"accept-language": f"{lang.upper()};q=0.9,en;q=0.1"}
    page = every_language_client.get("/", headers=headers).text
    direction = "rtl" if lang in {"he", "ar"} else "ltr"
    assert f'lang="{lang}" dir="{direction}"' in page
    for key in ("banner_title", "accept_all", "reject_all", "customize", "necessary_label"):
        assert html.escape(texts[key]) in page, key
    privacy = every_language_client.get("/privacy", headers=headers)
    assert privacy.headers["content-language"] == lang
    assert f'<html lang="{lang}" dir="{direction}">' in privacy.text
    assert html.escape(texts["privacy_overview"]) in privacy.text
    assert html.escape(texts["duration_days"].replace("{days}", "182")) in privacy.text
    if lang != "en":
        for english in ("Accept all", "Reject all", "Strictly necessary", "182 days"):
            assert english not in page + privacy.text
