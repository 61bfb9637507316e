"""The declaration: the categories, cookies and texts a visitor is shown.

It is built once per language at start-up. The consent log stores each
distinct declaration once, under the hash every record points at.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from consentkit.config import Category, ConsentConfig, Cookie
from consentkit.i18n import Translator

__all__ = ["Declaration", "effective_categories"]


def effective_categories(config: ConsentConfig) -> tuple[Category, ...]:
    """The declared categories plus the cookies consentkit itself sets.

    The consent cookie goes into the first required category (a "necessary"
    category is added when the site declares none); the analytics visitor
    cookie goes into the analytics category.
    """
    consent_cookie = Cookie(
        name=config.cookie_name,
        provider=None,
        purpose="consentkit:consent_cookie_purpose",
        duration=f"consentkit:duration_days:{config.consent_lifetime.days}",
    )
    categories = list(config.categories)
    required = [i for i, c in enumerate(categories) if c.required]
    if required:
        first = categories[required[0]]
        categories[required[0]] = first.model_copy(
            update={"cookies": (consent_cookie, *first.cookies)}
        )
    else:
        categories.insert(
            0,
            Category(
                key="necessary",
                label="consentkit:necessary_label",
                description="consentkit:necessary_description",
                required=True,
                cookies=(consent_cookie,),
            ),
        )
    analytics = config.analytics
    if analytics is not None:
        for i, category in enumerate(categories):
            if category.key == analytics.category and not any(
                cookie.matches(analytics.cookie_name) for cookie in category.cookies
            ):
                categories[i] = category.model_copy(
                    update={
                        "cookies": (
                            *category.cookies,
                            Cookie(
                                name=analytics.cookie_name,
                                purpose="consentkit:analytics_cookie_purpose",
                                duration=(
                                    f"consentkit:duration_days:{analytics.cookie_max_age.days}"
                                ),
                            ),
                        )
                    }
                )
    return tuple(categories)


class Declaration:
    """What is shown to a visitor in one language, as JSON-ready data and its hash."""

    def __init__(
        self,
        config: ConsentConfig,
        categories: tuple[Category, ...],
        translator: Translator,
        lang: str,
    ) -> None:
        texts = translator.texts(lang)
        self.lang = lang
        self.direction = translator.direction(lang)
        self.texts: Mapping[str, str] = texts
        self.data: dict[str, Any] = {
            "policy_version": config.policy_version,
            "language": lang,
            "direction": self.direction,
            "prefix": config.prefix,
            "privacy_path": config.privacy_path,
            "categories": [_category(c, texts) for c in categories],
            "texts": dict(texts),
        }
        self.json: str = json.dumps(self.data, sort_keys=True, separators=(",", ":"))
        self.hash: str = hashlib.sha256(self.json.encode()).hexdigest()


def _text(texts: Mapping[str, str], value: str) -> str:
    # What consentkit adds itself names a locale key ("consentkit:KEY" or
    # "consentkit:duration_days:N"), so it is shown in the visitor's language.
    if value.startswith("consentkit:"):
        key, _, days = value[len("consentkit:") :].partition(":")
        return texts.get(key, "").replace("{days}", days)
    return value


def _category(category: Category, texts: Mapping[str, str]) -> dict[str, Any]:
    return {
        "key": category.key,
        "label": texts.get(f"category_{category.key}_label", _text(texts, category.label)),
        "description": texts.get(
            f"category_{category.key}_description", _text(texts, category.description)
        ),
        "required": category.required,
        "gpc_opt_out": category.gpc_opt_out,
        "cookies": [
            {
                "name": cookie.name,
                "provider": cookie.provider,
                "purpose": _text(texts, cookie.purpose),
                "duration": _text(texts, cookie.duration),
            }
            for cookie in category.cookies
        ],
        # The hosts its scripts load from, for the privacy page ("Loads www.example.com").
        "loads": list(dict.fromkeys(s.host for s in category.scripts if s.host is not None)),
    }
