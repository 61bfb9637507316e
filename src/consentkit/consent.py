"""The visitor's decision (`Consent`) and the signed cookie that carries it."""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from itsdangerous import BadData

from consentkit.regions import REGIMES
from consentkit.signer import CachedKeyTimestampSigner

__all__ = ["Consent", "ConsentCodec", "get_consent", "new_consent_id"]

#: Longer cookie values are refused unread: a real token is about 150 bytes.
MAX_TOKEN_LENGTH = 1024
# ``json.dumps`` with separators builds a new encoder on every call.
_compact = json.JSONEncoder(separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Consent:
    """What the visitor decided, as verified from their consent cookie.

    An undecided visitor (no cookie, or one that is tampered, expired, signed
    with an unknown key or made for an older policy) has ``decided=False`` and
    only the required categories granted (under ``opt_in``; the middleware
    grants more by default where a looser regime applies). ``consent_id`` may
    still be set then: it is the id of the visitor's earlier decision, carried
    over so the consent log links old and new decisions.

    ``regime``, ``region`` and ``region_source`` say which consent regime
    applied to a decided visitor's choice, and for an undecided visitor which
    applies now. A cookie made before consentkit knew regimes reads as ``opt_in``.
    """

    decided: bool
    granted: frozenset[str]
    consent_id: str | None = None
    policy_version: str | None = None
    decided_at: datetime | None = None
    gpc: bool = False
    #: Categories a GPC signal took away from an earlier grant.
    gpc_overridden: frozenset[str] = field(default=frozenset(), repr=False, compare=False)
    #: The IAB GPP string of this consent when the request falls under the ``us_opt_out``
    #: regime (``usnat`` section), else ``None``. See `consentkit.gpp`.
    gpp: str | None = field(default=None, compare=False)
    #: ``opt_in``, ``us_opt_out``, ``notice`` or ``none``.
    regime: str = "opt_in"
    #: The visitor's region (``DE``, ``US-CA``), or ``None`` when it is not known.
    region: str | None = None
    #: Where the region came from (``default``, ``header:<name>``, ``geoip``), if known.
    region_source: str | None = None

    def allows(self, key: str) -> bool:
        """Whether the visitor's choice lets category ``key`` run."""
        return key in self.granted

    def as_dict(self, all_keys: Iterable[str]) -> dict[str, Any]:
        """The state as the JSON API shows it, given every declared category key."""
        return {
            "decided": self.decided,
            "granted": sorted(self.granted),
            "denied": sorted(set(all_keys) - self.granted),
            "consent_id": self.consent_id,
            "policy_version": self.policy_version,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "gpc": self.gpc,
            **({"gpp": self.gpp} if self.gpp is not None else {}),
            "regime": self.regime,
            "region": self.region,
            "region_source": self.region_source,
        }


def new_consent_id() -> str:
    """A fresh random consent id: 128 bits, URL-safe."""
    return secrets.token_urlsafe(16)


def get_consent(request: Any) -> Consent:
    """The `Consent` of a Starlette ``Request``/``WebSocket`` or of an ASGI scope.

    Raises ``LookupError`` when the request did not pass through
    `ConsentMiddleware`.
    """
    scope = request if isinstance(request, dict) else request.scope
    try:
        consent: Consent = scope["state"]["consent"]
    except (KeyError, TypeError):
        raise LookupError(
            "no consent on this request: is ConsentMiddleware installed in front of the app?"
        ) from None
    return consent


class ConsentCodec:
    """Signs and verifies consent cookie values, caching verified tokens.

    ``secret_keys[0]`` signs; every key verifies. A value that fails in any
    way decodes to an undecided `Consent`; decoding never raises.
    """

    def __init__(
        self,
        secret_keys: Iterable[str],
        policy_version: str,
        required: frozenset[str],
        known: frozenset[str],
        max_age: int,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        keys = list(secret_keys)
        # itsdangerous signs with the last key and verifies with all of them.
        self._signer = CachedKeyTimestampSigner(
            list(reversed(keys)), salt="consentkit.consent", clock=clock
        )
        self._clock = clock
        self._policy_version = policy_version
        self._required = required
        self._known = known
        self._max_age = max_age
        self._cache: dict[str, tuple[Consent, float]] = {}
        self._cache_size = cache_size
        self.undecided = Consent(decided=False, granted=required)

    def encode(
        self,
        granted: Iterable[str],
        consent_id: str,
        decided_at: float,
        regime: str = "opt_in",
        region: str | None = None,
        region_source: str | None = None,
    ) -> str:
        """A signed cookie value for this decision, signed with the first key.

        The regime, region and region source that applied go in after the
        four fields of a version 0.1 cookie, which still decodes (as ``opt_in``).
        """
        payload = _compact.encode(
            [
                self._policy_version,
                sorted(set(granted) - self._required),
                consent_id,
                int(decided_at),
                regime,
                region,
                region_source,
            ]
        ).encode()
        return self._signer.sign(base64.urlsafe_b64encode(payload).rstrip(b"=")).decode()

    def decode(self, value: str | None) -> Consent:
        """The `Consent` a cookie value stands for; undecided when it is not valid."""
        if not value:
            return self.undecided
        hit = self._cache.get(value)
        if hit is not None:
            if self._clock() < hit[1]:
                return hit[0]
            del self._cache[value]
            return self.undecided
        consent, expires = self._verify(value)
        if consent.decided and self._cache_size:
            if len(self._cache) >= self._cache_size:
                # Drop the oldest entry (dicts keep insertion order).
                del self._cache[next(iter(self._cache))]
            self._cache[value] = (consent, expires)
        return consent

    def _verify(self, value: str) -> tuple[Consent, float]:
        if len(value) > MAX_TOKEN_LENGTH:
            return self.undecided, 0.0
        try:
            raw, signed_at = self._signer.unsign(
                value, max_age=self._max_age, return_timestamp=True
            )
            data = json.loads(base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4)))
            # A version 0.1 cookie has four fields and was made under opt_in.
            policy, granted, consent_id, decided_at, regime, region, source = (
                [*data, "opt_in", None, None] if len(data) == 4 else data
            )
            if not (
                isinstance(policy, str)
                and isinstance(granted, list)
                and all(isinstance(k, str) for k in granted)
                and isinstance(consent_id, str)
                and len(consent_id) <= 64
                and isinstance(decided_at, int)
                and regime in REGIMES
                and (region is None or (isinstance(region, str) and len(region) <= 16))
                and (source is None or (isinstance(source, str) and len(source) <= 64))
            ):
                return self.undecided, 0.0
            if policy != self._policy_version:
                carried = Consent(decided=False, granted=self._required, consent_id=consent_id)
                return carried, 0.0
            consent = Consent(
                decided=True,
                granted=self._required | (frozenset(granted) & self._known),
                consent_id=consent_id,
                policy_version=policy,
                decided_at=datetime.fromtimestamp(decided_at, timezone.utc),
                regime=regime,
                region=region,
                region_source=source,
            )
        except (BadData, ValueError, TypeError, OverflowError, OSError):
            return self.undecided, 0.0
        return consent, signed_at.timestamp() + self._max_age
