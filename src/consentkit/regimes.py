"""What each consent regime means for a request's `Consent`.

``opt_in``: nothing optional runs before the visitor chooses. ``us_opt_out``,
``notice`` and ``none``: every category runs until the visitor opts out (the
"Do Not Sell or Share" opt-out turns off the ``sale_or_share`` categories;
Global Privacy Control turns off those and the ``gpc_opt_out`` ones).
Required categories are granted in every regime.

A stored choice keeps the regime it was made under. Regimes are ordered
``none`` < ``notice`` < ``us_opt_out`` < ``opt_in`` (`STRICTNESS`): a choice
made under a regime at least as strict as the request's stands as it is,
grants and refusals alike; under a stricter one the visitor is asked again
(their consent id is carried over), because a grant made without an opt-in
(or without any question at all) is not consent where opt-in is the rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from consentkit.consent import Consent
from consentkit.regions import REGIMES, STRICTNESS, Jurisdiction

__all__ = ["RegimePolicy"]

#: Distinct jurisdictions whose undecided `Consent` is kept (regions are few).
_CACHE_SIZE = 1024


class RegimePolicy:
    """Builds the `Consent` a request runs under from its cookie and its `Jurisdiction`.

    Everything is precomputed per regime; a request costs a dict lookup and,
    for an undecided visitor in a region not met before, one `Consent`.
    """

    def __init__(
        self,
        required: frozenset[str],
        all_keys: frozenset[str],
        sale_or_share: Iterable[str],
    ) -> None:
        self.required = required
        #: The ``sale_or_share`` categories: what the one-click opt-out turns off.
        self.sale_or_share = frozenset(sale_or_share) - required
        #: What each regime grants before the visitor chooses.
        self.defaults: dict[str, frozenset[str]] = {
            regime: required if regime == "opt_in" else all_keys for regime in REGIMES
        }
        self._undecided: dict[Jurisdiction, Consent] = {}

    def undecided(self, jurisdiction: Jurisdiction) -> Consent:
        """The `Consent` of a visitor who has not chosen, where ``jurisdiction`` applies."""
        consent = self._undecided.get(jurisdiction)
        if consent is None:
            regime, region, source = jurisdiction
            consent = Consent(
                decided=False,
                granted=self.defaults[regime],
                regime=regime,
                region=region,
                region_source=source,
            )
            if len(self._undecided) >= _CACHE_SIZE:
                del self._undecided[next(iter(self._undecided))]
            self._undecided[jurisdiction] = consent
        return consent

    def effective(self, stored: Consent, jurisdiction: Jurisdiction) -> Consent:
        """The consent a request runs under, from its cookie's ``stored`` consent.

        A decided choice stands unless the request's regime is stricter than the
        one it was made under; then, as without a choice, the regime's defaults
        apply and the visitor is asked again.
        """
        if stored.decided and STRICTNESS[stored.regime] >= STRICTNESS[jurisdiction.regime]:
            return stored
        consent = self.undecided(jurisdiction)
        if stored.consent_id is not None:
            consent = replace(consent, consent_id=stored.consent_id)
        return consent
