"""The shipped locale files: complete, same placeholders as en.json, translated, short enough."""

from __future__ import annotations

import json
import re
import unicodedata
from importlib import resources

import pytest

from consentkit.i18n import placeholders, shipped_languages

#: The 24 official languages of the European Union, then the others issue 14 asks for.
EU = ("bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "ga", "hr", "hu", "it", "lt",
      "lv", "mt", "nl", "pl", "pt", "ro", "sk", "sl", "sv")  # fmt: skip
OTHERS = ("nb", "is", "tr", "uk", "ru", "ja", "zh-Hans", "ko", "pt-BR", "he", "ar")
LANGUAGES = EU + OTHERS
TRANSLATED = tuple(lang for lang in LANGUAGES if lang != "en")

#: Keys whose English word is also the word in that language.
SAME_AS_ENGLISH = {
    "cookie_name": {"de", "nl", "da", "fr", "es", "it", "pt", "pt-BR", "ro", "el", "mt"},
    "cookies_of": {"de", "nl", "da", "fr", "es", "pt", "pt-BR", "el", "mt"},
}
#: Words that are English and no shipped language's (so "website", "browser", "team",
#: "privacy", "site", "accept", "time" or "we", which other languages use too, are not here).
ENGLISH_WORDS = frozenset(
    {
        *("the", "your", "you", "with", "which", "would", "our", "and", "this", "when", "only"),
        *("reject", "save", "close", "always", "choice", "choices", "consent", "settings"),
        *("preferences", "withdraw", "purpose", "provider", "allowed", "refused", "return"),
        *("every", "strictly", "necessary", "recognise", "recognize", "understand", "useful"),
        *("interesting", "stored"),
    }
)
#: The longest text, in character widths (an East Asian wide character counts 2), per slot.
#: A button label must fit one line of a button on a 360 px wide phone: the banner is the
#: full width there, a button has about 270 px for its text, about 28 widths at 15 px.
BUTTONS = ("accept_all", "reject_all", "save", "customize", "close", "opt_out_button", "dismiss")
LABELS = (
    *("always_on", "status_allowed", "status_refused", "cookie_name", "cookie_provider"),
    *("cookie_purpose", "cookie_duration", "decided_at", "consent_id", "policy_version"),
    *("your_choices", "cookies_of", "provider_first_party", "necessary_label", "privacy_link"),
    "duration_days",
)
SENTENCES = (
    *("not_decided", "consent_cookie_purpose", "analytics_cookie_purpose", "preferences_text"),
    *("withdraw_text", "no_cookies", "gpc_notice", "necessary_description", "receipt_text"),
    *("opt_out_text", "opt_out_done", "notice_text", "embed_blocked"),
)
LIMITS = {
    **dict.fromkeys(BUTTONS, 26),
    "withdraw": 32,
    #: A link on the privacy page, on a line of its own.
    "receipt_download": 60,
    #: The "Do Not Sell or Share" link (on every page under us_opt_out) and page title.
    "do_not_sell": 72,
    #: A line on the opt-out page.
    "gpc_honored": 60,
    #: The button of a blocked embed's placeholder: the box is as wide as the embed was.
    "embed_allow": 30,
    "banner_title": 44,
    **dict.fromkeys(("preferences_title", "privacy_title", "categories_title"), 48),
    **dict.fromkeys(LABELS, 40),
    "banner_text": 340,
    "privacy_overview": 480,
    **dict.fromkeys(SENTENCES, 200),
    #: The reopen button: a pill that may wrap to two lines on a phone.
    "reopen_button": 40,
    #: A line under a category on the privacy page, before the host name.
    "script_loads": 40,
}


def load(lang: str) -> dict[str, str]:
    raw = resources.files("consentkit").joinpath(f"locales/{lang}.json").read_text("utf-8")
    data: dict[str, str] = json.loads(raw)
    return data


def width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def sentences(text: str) -> int:
    return len(re.findall(r"[.!?](?=\s|$)|[\u3002\uff01\uff1f]", text))


def test_every_language_of_the_issue_ships_and_nothing_else() -> None:
    assert sorted(shipped_languages().values()) == sorted(LANGUAGES)


def test_every_key_has_a_length_limit() -> None:
    assert set(LIMITS) == set(load("en"))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_same_keys_as_english(lang: str) -> None:
    english, texts = load("en"), load(lang)
    assert not set(english) - set(texts), f"{lang} lacks {sorted(set(english) - set(texts))}"
    assert not set(texts) - set(english), f"{lang} has extra {sorted(set(texts) - set(english))}"
    assert list(texts) == list(english), f"{lang}: keep the order of en.json"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_placeholders_and_form(lang: str) -> None:
    english, texts = load("en"), load(lang)
    for key, value in texts.items():
        assert isinstance(value, str) and value.strip() == value and value, f"{lang}.{key}"
        assert placeholders(value) == placeholders(english[key]), f"{lang}.{key}: placeholders"
        assert value.count("{") == value.count("}") == len(placeholders(value)), f"{lang}.{key}"
        assert not re.search(r"[<>]|&\w+;|\s{2}", value), f"{lang}.{key}: markup or double space"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_texts_fit_their_slot(lang: str) -> None:
    too_long = {
        key: width(value) for key, value in load(lang).items() if width(value) > LIMITS[key]
    }
    assert not too_long, f"{lang}: over the limit {LIMITS}: {too_long}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_no_english_left(lang: str) -> None:
    english, texts = load("en"), load(lang)
    for key, value in texts.items():
        if value == english[key]:
            assert lang in SAME_AS_ENGLISH.get(key, ()), f"{lang}.{key} is still English"
        # "Global Privacy Control" is the signal's name, kept as is.
        words = set(re.findall(r"[a-z]+", value.replace("Global Privacy Control", "").lower()))
        assert not words & ENGLISH_WORDS, f"{lang}.{key} has English: {words & ENGLISH_WORDS}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_privacy_overview_is_translated_in_full(lang: str) -> None:
    english, texts = load("en"), load(lang)
    # The seed's notice has two sentences: recognising returning visitors, learning what is read.
    assert sentences(texts["privacy_overview"]) == sentences(english["privacy_overview"]) == 2
    assert width(texts["privacy_overview"]) > 0.55 * width(english["privacy_overview"])


@pytest.mark.parametrize("lang", TRANSLATED)
def test_reject_and_accept_are_distinct_and_equally_plain(lang: str) -> None:
    texts = load(lang)
    assert texts["accept_all"] != texts["reject_all"]
    # Equal weight: neither label is more than twice as long as the other.
    a, r = width(texts["accept_all"]), width(texts["reject_all"])
    assert max(a, r) <= 2 * min(a, r)
