"""Texts in the visitor's language: locale files, config overrides, negotiation.

Negotiation follows the *lookup* scheme of RFC 4647 (section 3.4): the
``Accept-Language`` ranges are tried by quality, each from its most to its
least specific form (``de-AT-1996`` -> ``de-AT`` -> ``de``), and the first one
that names a configured language wins. A few fallbacks a browser's tags need
are added on top (``zh-CN`` -> ``zh-Hans``, ``no``/``nn`` -> ``nb``, ``iw`` -> ``he``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # config.py imports this module to validate languages.
    from consentkit.config import ConsentConfig

__all__ = [
    "RTL_LANGUAGES",
    "Translator",
    "check_texts",
    "language_candidates",
    "locale_texts",
    "shipped_languages",
]

#: Primary subtags of the right-to-left languages.
RTL_LANGUAGES = frozenset({"ar", "he", "fa", "ur", "yi", "ps", "sd", "ug", "dv", "ckb"})
#: Old or alternative primary tags browsers still send.
_ALIASES = {"iw": "he", "ji": "yi", "in": "id", "jw": "jv", "mo": "ro"}
#: Norwegian: ``no`` is the macrolanguage, ``nn`` Nynorsk; both fall back to Bokmål.
_NORWEGIAN = frozenset({"no", "nn"})
_HANT_REGIONS = frozenset({"tw", "hk", "mo"})
_SUBTAG = re.compile(r"^[a-z0-9]{1,8}$")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
#: Keys a site may add for its own categories, beyond those of ``en.json``.
_CATEGORY_KEY = re.compile(r"^category_[a-z][a-z0-9_-]{0,39}_(label|description)$")
#: A header longer than this is cut before parsing; one longer than ``_CACHEABLE`` is not cached.
_MAX_HEADER = 512
_CACHEABLE = 256
_MAX_RANGES = 32
_CACHE_SIZE = 1024


@cache
def shipped_languages() -> Mapping[str, str]:
    """The languages consentkit ships texts for, lowercased tag -> tag (``pt-br`` -> ``pt-BR``)."""
    folder = resources.files("consentkit").joinpath("locales")
    tags = sorted(
        entry.name[: -len(".json")] for entry in folder.iterdir() if entry.name.endswith(".json")
    )
    return MappingProxyType({tag.lower(): tag for tag in tags})


@cache
def locale_texts(lang: str) -> Mapping[str, str]:
    """The shipped texts of ``lang`` (a tag of `shipped_languages`); empty if none ship."""
    tag = shipped_languages().get(lang.lower())
    if tag is None:
        return MappingProxyType({})
    raw = resources.files("consentkit").joinpath(f"locales/{tag}.json").read_text("utf-8")
    data = json.loads(raw)
    return MappingProxyType({str(k): str(v) for k, v in data.items()})


def placeholders(text: str) -> frozenset[str]:
    """The ``{name}`` placeholders in a text."""
    return frozenset(_PLACEHOLDER.findall(text))


def check_texts(
    languages: Iterable[str], texts: Mapping[str, Mapping[str, str]]
) -> tuple[tuple[str, ...], dict[str, dict[str, str]]]:
    """Validate configured languages and text overrides; return them with canonical tags.

    A language is usable when consentkit ships its texts or ``texts`` gives
    every key of ``en.json``; anything else raises ``ValueError`` naming what is
    missing, so a site never shows English under another ``lang``. Override keys
    must be known keys (or ``category_<key>_label`` / ``_description``) and keep
    the placeholders of the English text.
    """
    shipped = shipped_languages()
    english = locale_texts("en")
    canonical: list[str] = []
    for lang in languages:
        tag = shipped.get(lang.lower(), lang)
        if not _valid_tag(tag):
            raise ValueError(f"language {lang!r} is not a language tag such as 'de' or 'pt-BR'")
        if tag in canonical:
            raise ValueError(f"language {tag!r} is listed twice in languages")
        canonical.append(tag)
    overrides: dict[str, dict[str, str]] = {}
    for lang, given in texts.items():
        tag = shipped.get(lang.lower(), lang)
        if tag not in canonical:
            raise ValueError(f"texts are given for {lang!r}, which is not in languages")
        for key, value in given.items():
            if key not in english and not _CATEGORY_KEY.match(key):
                raise ValueError(f"texts[{lang!r}] has an unknown key {key!r}")
            if key in english and placeholders(value) != placeholders(english[key]):
                wanted = ", ".join(sorted(f"{{{p}}}" for p in placeholders(english[key])))
                raise ValueError(
                    f"texts[{lang!r}][{key!r}] must use the placeholders {wanted or 'none'}"
                )
        overrides.setdefault(tag, {}).update(given)
    for tag in canonical:
        have = set(locale_texts(tag)) | set(overrides.get(tag, {}))
        missing = sorted(set(english) - have)
        if missing:
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise ValueError(
                f"language {tag!r} has no texts: consentkit ships "
                f"{', '.join(shipped.values())}; for another language give every text "
                f"in texts[{tag!r}] (missing: {shown})"
            )
    return tuple(canonical), overrides


def _valid_tag(tag: str) -> bool:
    parts = tag.lower().split("-")
    return parts[0].isalpha() and all(_SUBTAG.match(p) for p in parts)


def language_candidates(language_range: str) -> tuple[str, ...]:
    """The lowercased tags a language range is looked up as, most specific first.

    RFC 4647 lookup truncates from the end, dropping a single-letter subtag
    left dangling; Chinese goes by script (``zh-CN`` -> ``zh-hans``, ``zh-TW``
    -> ``zh-hant`` and never the Simplified ``zh``); ``no`` and ``nn`` end in
    ``nb``; deprecated tags (``iw``) name their current one (``he``).
    """
    subtags = language_range.strip().lower().replace("_", "-").split("-")
    if len(subtags) > 8 or not all(_SUBTAG.match(s) for s in subtags):
        return ()
    primary = _ALIASES.get(subtags[0], subtags[0])
    if not primary.isalpha() or primary == "x":
        return ()
    subtags[0] = primary
    out: list[str] = []
    while subtags:
        out.append("-".join(subtags))
        subtags.pop()
        if subtags and len(subtags[-1]) == 1:
            subtags.pop()
    if primary == "zh":
        rest = set(out[0].split("-")[1:])
        if "hant" in rest or (rest & _HANT_REGIONS and "hans" not in rest):
            out = [tag for tag in out if tag != "zh"]
            if "zh-hant" not in out:
                out.append("zh-hant")
        elif "zh-hans" not in out:
            out.append("zh-hans")
    elif primary in _NORWEGIAN:
        out.append("nb")
    return tuple(out)


class Translator:
    """Picks a language from ``Accept-Language`` and gives its texts.

    Built once per middleware: every configured language has its full texts
    (the shipped locale, then ``config.texts`` on top), and negotiation results
    are cached per distinct header value.
    """

    def __init__(self, config: ConsentConfig) -> None:
        languages, overrides = check_texts(config.languages, config.texts)
        self.languages: tuple[str, ...] = languages
        self.default: str = config.default_language
        self._texts: dict[str, Mapping[str, str]] = {
            lang: MappingProxyType({**locale_texts(lang), **overrides.get(lang, {})})
            for lang in languages
        }
        self._index = {lang.lower(): lang for lang in languages}
        self._negotiated: dict[str, str] = {}

    def texts(self, lang: str) -> Mapping[str, str]:
        """Every text of ``lang`` (a configured language)."""
        return self._texts[lang]

    @staticmethod
    def direction(lang: str) -> str:
        """``"rtl"`` for right-to-left languages, else ``"ltr"``."""
        primary = lang.split("-", 1)[0].lower()
        return "rtl" if _ALIASES.get(primary, primary) in RTL_LANGUAGES else "ltr"

    def negotiate(self, accept_language: str | None) -> str:
        """The best configured language for an ``Accept-Language`` header value."""
        if not accept_language:
            return self.default
        hit = self._negotiated.get(accept_language)
        if hit is not None:
            return hit
        lang = self._lookup(accept_language[:_MAX_HEADER])
        if len(accept_language) <= _CACHEABLE:
            if len(self._negotiated) >= _CACHE_SIZE:
                # Bounded: a flood of distinct headers costs a recompute, never memory.
                self._negotiated.clear()
            self._negotiated[accept_language] = lang
        return lang

    def _lookup(self, header: str) -> str:
        ranges: list[tuple[float, int, str]] = []
        for position, part in enumerate(header.split(",")[:_MAX_RANGES]):
            tag, _, params = part.partition(";")
            q = 1.0
            for param in params.split(";"):
                name, _, value = param.strip().partition("=")
                if name.lower() == "q":
                    try:
                        q = float(value)
                    except ValueError:
                        q = -1.0
            # q=0 means "not acceptable"; a malformed q drops the range.
            if 0 < q <= 1:
                ranges.append((-q, position, tag))
        ranges.sort()
        index = self._index
        for _, _, tag in ranges:
            for candidate in language_candidates(tag):
                found = index.get(candidate)
                if found is not None:
                    return found
        return self.default
