"""Texts in the visitor's language: locale files, config overrides, negotiation."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType

from consentkit.config import ConsentConfig

__all__ = ["RTL_LANGUAGES", "Translator"]

RTL_LANGUAGES = frozenset({"ar", "he", "fa", "ur"})
#: Old or alternative primary tags browsers still send.
_ALIASES = {"iw": "he", "ji": "yi", "in": "id"}


@cache
def _load_locale(lang: str) -> Mapping[str, str]:
    try:
        raw = resources.files("consentkit").joinpath(f"locales/{lang}.json").read_text("utf-8")
    except FileNotFoundError:
        return MappingProxyType({})
    data = json.loads(raw)
    return MappingProxyType({str(k): str(v) for k, v in data.items()})


class Translator:
    """Picks a language from ``Accept-Language`` and gives its texts.

    Texts fall back to English for keys a locale lacks; ``config.texts``
    overrides any of them per language.
    """

    def __init__(self, config: ConsentConfig) -> None:
        self.languages = config.languages
        self.default = config.default_language
        english = dict(_load_locale("en"))
        self._texts: dict[str, Mapping[str, str]] = {}
        for lang in self.languages:
            merged = {**english, **_load_locale(lang), **config.texts.get(lang, {})}
            self._texts[lang] = MappingProxyType(merged)
        self._negotiated: dict[str, str] = {}

    def texts(self, lang: str) -> Mapping[str, str]:
        """Every text of ``lang`` (a configured language)."""
        return self._texts[lang]

    @staticmethod
    def direction(lang: str) -> str:
        """``"rtl"`` for right-to-left languages, else ``"ltr"``."""
        return "rtl" if lang in RTL_LANGUAGES else "ltr"

    def negotiate(self, accept_language: str | None) -> str:
        """The best configured language for an ``Accept-Language`` header value."""
        if not accept_language:
            return self.default
        hit = self._negotiated.get(accept_language)
        if hit is not None:
            return hit
        lang = self._negotiate(accept_language[:512])
        if len(self._negotiated) < 1024 and len(accept_language) <= 256:
            self._negotiated[accept_language] = lang
        return lang

    def _negotiate(self, header: str) -> str:
        best, best_q = self.default, 0.0
        for position, part in enumerate(header.split(",")[:32]):
            tag, _, params = part.strip().partition(";")
            q = 1.0
            params = params.strip()
            if params.startswith("q="):
                try:
                    q = float(params[2:])
                except ValueError:
                    continue
            if not 0 < q <= 1:
                continue
            primary = tag.strip().lower().replace("_", "-").split("-")[0]
            primary = _ALIASES.get(primary, primary)
            # Earlier entries win ties, as the header lists them by preference.
            score = q - position * 1e-6
            if primary in self._texts and score > best_q:
                best, best_q = primary, score
        return best
