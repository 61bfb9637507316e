"""Consent log records and their canonical form."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone

__all__ = [
    "ACTIONS",
    "CHOICES",
    "OPTIONAL_FIELDS",
    "RECORD_FIELDS",
    "ConsentRecord",
    "Decision",
    "categories_json",
    "expires_at",
]

#: ``opt_out`` is the one-click "Do Not Sell or Share" opt-out (``us_opt_out``); ``dismiss``
#: closes the informational notice (``notice``).
ACTIONS = ("accept_all", "reject_all", "custom", "withdraw", "gpc", "opt_out", "dismiss")
#: The actions that are a visitor's choice (what acceptance rates count).
CHOICES = ("accept_all", "reject_all", "custom", "opt_out")


@dataclass(frozen=True, slots=True)
class Decision:
    """A decision as the middleware hands it to the log, before it is sealed."""

    consent_id: str
    action: str
    granted: tuple[str, ...]
    denied: tuple[str, ...]
    policy_version: str
    declaration_hash: str
    declaration_json: str
    language: str
    surface: str
    path: str
    ip: str | None
    user_agent: str
    gpc: bool
    #: The client's id for this decision (idempotency key), if it sent one.
    decision_id: str | None = None
    #: The site the decision was made on (the request's validated Host).
    site_host: str | None = None
    #: How long the choice stands, in seconds, from the decision time.
    lifetime: int | None = None
    #: The consent regime that applied (``opt_in``, ``us_opt_out``, ``notice``, ``none``).
    regime: str | None = None
    #: The visitor's region (``DE``, ``US-CA``), when known.
    region: str | None = None
    #: Where the region came from (``default``, ``header:<name>``, ``geoip``).
    region_source: str | None = None


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """One sealed, stored record of the consent log.

    ``mac`` is an HMAC, under the log key ``key_id``, of the record's
    canonical form, which includes ``prev_mac``: the MAC of the record
    before it in the same chain (empty for a chain's first record).

    ``decision_id``, ``site_host`` and ``expires_at`` came with schema
    version 3: a record made before has them ``None``, and a field that is
    ``None`` is left out of the canonical form, so older records keep the
    canonical bytes (and MACs) they were sealed with. ``regime``, ``region``
    and ``region_source`` came with schema version 6 in the same way.
    """

    chain_id: str
    seq: int
    record_id: str
    consent_id: str
    timestamp: str
    action: str
    granted: tuple[str, ...]
    denied: tuple[str, ...]
    policy_version: str
    declaration_hash: str
    language: str
    surface: str
    path: str
    ip: str | None
    user_agent: str
    gpc: bool
    key_id: str
    prev_mac: str
    mac: str = ""
    decision_id: str | None = None
    site_host: str | None = None
    #: When the choice stops counting (ISO 8601 UTC): the decision time plus
    #: the consent lifetime; a withdrawal leaves nothing standing, so its own time.
    expires_at: str | None = None
    #: The consent regime that applied to the decision (schema version 6).
    regime: str | None = None
    #: The visitor's region (ISO 3166 code), when it was known.
    region: str | None = None
    #: Where the region came from: ``default``, ``header:<name>`` or ``geoip``.
    region_source: str | None = None

    def canonical(self) -> bytes:
        """The bytes the MAC covers: every field but ``mac``, as sorted compact JSON.

        An optional field (`OPTIONAL_FIELDS`) that is ``None`` is left out.
        """
        data = {name: getattr(self, name) for name in _CANONICAL_FIELDS}
        for name in OPTIONAL_FIELDS:
            if data[name] is None:
                del data[name]
        return canonical_json(data)

    def as_dict(self) -> dict[str, object]:
        """The record as plain JSON-ready data."""
        data: dict[str, object] = {name: getattr(self, name) for name in RECORD_FIELDS}
        data["granted"] = list(self.granted)
        data["denied"] = list(self.denied)
        return data


#: The names of a record's fields, in storage and export order.
RECORD_FIELDS = tuple(f.name for f in fields(ConsentRecord))
_CANONICAL_FIELDS = tuple(name for name in RECORD_FIELDS if name != "mac")
#: Fields added after the first schema: left out of the canonical form when ``None``.
OPTIONAL_FIELDS = (
    "decision_id", "site_host", "expires_at", "regime", "region", "region_source"
)  # fmt: skip
_canonical_encoder = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(fields: dict[str, object]) -> bytes:
    """The canonical bytes of a record's fields (all but ``mac``): sorted, compact JSON."""
    return _canonical_encoder.encode(fields).encode()


@functools.lru_cache(maxsize=1024)
def categories_json(categories: tuple[str, ...]) -> str:
    """``granted`` or ``denied`` as the stores keep it, a JSON list (encoded once per set)."""
    return json.dumps(list(categories))


def expires_at(decision: Decision, now: datetime, expiries: dict[int, str]) -> str | None:
    """When the choice ``decision`` stands for stops counting, if it says: ``now`` plus its
    lifetime (a withdrawal leaves nothing standing: ``now``), ISO 8601 UTC.

    ``expiries`` (lifetime -> the answer) is shared by the records of one batch,
    which all have the same ``now``.
    """
    if decision.lifetime is None:
        return None
    lifetime = 0 if decision.action == "withdraw" else decision.lifetime
    expires = expiries.get(lifetime)
    if expires is None:
        moment = now.astimezone(timezone.utc) + timedelta(seconds=lifetime)
        expires = expiries[lifetime] = moment.isoformat(timespec="microseconds")
    return expires
