"""Google Consent Mode v2: the commands the snippet pushes before any Google tag.

The defaults come from the same region table as the banner: one
``gtag('consent', 'default', {...})`` for the default rule, then one per
regime that rules name, with ``region: [...]`` listing its ISO 3166 codes
(a group's countries one by one, without those a more specific rule gives
another regime). Google applies the most specific region's default, so
``US-CA`` beats ``US``, which beats the command without a region. Then come
``gtag('set', 'ads_data_redaction', true)`` and ``gtag('set',
'url_passthrough', true)`` when configured. The list is the same for every
page, rendered once into the snippet's tag (``data-gcmd``); the snippet
pushes it as it is, then the visitor's choice (``update``) once decided.

What a regime grants before a decision: under ``opt_in`` only the required
categories; under ``us_opt_out``, ``notice`` and ``none`` every category (an
opt-out then refuses the ``sale_or_share`` ones, and the configuration
makes sure the advertising types are mapped from those only).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from consentkit.regions import Regime, Region, regime_table

__all__ = ["default_commands", "granted_before_decision"]


def granted_before_decision(
    regime: Regime, categories: Collection[str], required: Collection[str]
) -> Collection[str]:
    """The categories on before the visitor decides, under ``regime``."""
    return required if regime == "opt_in" else categories


def _types(mapping: Mapping[str, Sequence[str]], granted: Collection[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, types in sorted(mapping.items()):
        for kind in types:
            if out.get(kind) != "granted":
                out[kind] = "granted" if key in granted else "denied"
    return out


def default_commands(
    mapping: Mapping[str, Sequence[str]],
    regions: Sequence[Region],
    required: Collection[str],
    *,
    ads_data_redaction: bool = False,
    url_passthrough: bool = False,
) -> list[list[Any]]:
    """The ``gtag`` commands, as argument lists, that set Consent Mode's defaults.

    ``mapping`` is ``ConsentConfig.google_consent_mode`` (category key to
    consent types), ``required`` the keys of the required categories.
    """
    keys = list(mapping)
    table, default = regime_table(regions)
    by_regime: dict[Regime, list[str]] = {}
    for code, regime in sorted(table.items()):
        by_regime.setdefault(regime, []).append(code)
    commands: list[list[Any]] = [
        ["consent", "default", _types(mapping, granted_before_decision(default, keys, required))]
    ]
    for regime, codes in sorted(by_regime.items()):
        types = _types(mapping, granted_before_decision(regime, keys, required))
        commands.append(["consent", "default", {**types, "region": codes}])
    if ads_data_redaction:
        commands.append(["set", "ads_data_redaction", True])
    if url_passthrough:
        commands.append(["set", "url_passthrough", True])
    return commands
