"""Locale files and language negotiation."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from consentkit.config import Category, ConsentConfig
from consentkit.i18n import Translator

LANGUAGES = ("en", "de", "fr", "es", "he", "ar")


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


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_locale_has_exactly_the_english_keys(lang: str) -> None:
    english, texts = load("en"), load(lang)
    assert set(texts) == set(english)
    for key, value in texts.items():
        assert isinstance(value, str) and value.strip(), f"{lang}.{key} is empty"
        assert "<" not in value, f"{lang}.{key} contains markup"


@pytest.mark.parametrize("lang", ("de", "fr", "es", "he", "ar"))
def test_locales_are_translated(lang: str) -> None:
    english, texts = load("en"), load(lang)
    for key in ("banner_title", "accept_all", "reject_all", "privacy_overview", "save"):
        assert texts[key] != english[key], f"{lang}.{key} is still English"


def test_english_keeps_the_seed_wording() -> None:
    assert load("en")["privacy_overview"].startswith(
        "This website uses cookies so that we can provide you with the best user experience"
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("fr-CA", "fr"),
        ("he", "he"),
        ("ar-EG,ar;q=0.9", "ar"),
        ("es;q=0.5,de;q=0.6", "de"),
        ("ja,zh;q=0.9", "en"),
        ("de;q=0,fr", "fr"),
        ("en;q=abc,es", "es"),
        ("x" * 5000, "en"),
        ("iw-IL", "he"),
        ("de_AT", "de"),
        ("*", "en"),
    ],
)
def test_negotiate(header: str | None, expected: str) -> None:
    assert Translator(config()).negotiate(header) == expected


def test_negotiate_only_configured_languages() -> None:
    translator = Translator(config(languages=("en", "fr"), default_language="fr"))
    assert translator.negotiate("de") == "fr"
    assert translator.negotiate("en-GB") == "en"


@pytest.mark.parametrize(
    ("lang", "direction"), [("he", "rtl"), ("ar", "rtl"), ("en", "ltr"), ("de", "ltr")]
)
def test_direction(lang: str, direction: str) -> None:
    assert Translator.direction(lang) == direction


def test_config_texts_override_a_language() -> None:
    translator = Translator(config(texts={"de": {"accept_all": "Ja, gerne"}}))
    assert translator.texts("de")["accept_all"] == "Ja, gerne"
    assert translator.texts("de")["reject_all"] == load("de")["reject_all"]
    assert translator.texts("en")["accept_all"] == "Accept all"
