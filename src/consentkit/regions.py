"""Regions and the consent regime that applies in each.

A site lists ``Region(match=[...], regime=...)`` rules; the most specific
rule matching the visitor's region (``US-CA`` before ``US`` before ``*``)
gives the regime. The region comes from a `RegionSource` (CDN headers from
trusted proxies, a GeoIP database), resolved once per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict
from starlette.types import Scope

__all__ = [
    "OPT_IN",
    "REGIMES",
    "STRICTNESS",
    "Jurisdiction",
    "Regime",
    "Region",
    "RegionResolver",
]

#: ``opt_in``: nothing optional before consent; ``us_opt_out``: sale/share categories on
#: until the visitor opts out; ``notice``: an informational notice; ``none``: nothing shown.
Regime = Literal["opt_in", "us_opt_out", "notice", "none"]
#: Every regime, loosest first.
REGIMES: tuple[Regime, ...] = ("none", "notice", "us_opt_out", "opt_in")
#: How strict each regime is: a visitor whose regime becomes stricter than the one
#: their choice was made under is asked again; a looser one keeps the choice.
STRICTNESS: dict[str, int] = {regime: rank for rank, regime in enumerate(REGIMES)}


class Region(BaseModel):
    """A rule: visitors from any of ``match`` (ISO codes, ``EU``, ``EEA``, ``*``) get ``regime``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    match: tuple[str, ...]
    regime: Regime


class Jurisdiction(NamedTuple):
    """What applies to one request: the regime, the visitor's region and where it came from."""

    regime: Regime
    #: ISO 3166 code (``DE``, ``US-CA``), or ``None`` when unknown.
    region: str | None
    #: ``default``, ``header:<name>`` or ``geoip``.
    source: str


OPT_IN = Jurisdiction("opt_in", None, "default")


class RegionResolver:
    """Finds the `Jurisdiction` of a request from the configured rules."""

    def __init__(self, regions: Sequence[Region]) -> None:
        self._default = OPT_IN
        for rule in regions:
            if "*" in rule.match:
                self._default = Jurisdiction(rule.regime, None, "default")

    def resolve(self, scope: Scope) -> Jurisdiction:
        """The jurisdiction of the request ``scope``."""
        return self._default
