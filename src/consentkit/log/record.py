"""Consent log records and their canonical form."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields

__all__ = ["ACTIONS", "RECORD_FIELDS", "ConsentRecord", "Decision"]

ACTIONS = ("accept_all", "reject_all", "custom", "withdraw", "gpc")


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


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """One sealed, stored record of the consent log.

    ``mac`` is an HMAC, under the log key ``key_id``, of the record's
    canonical form, which includes ``prev_mac``: the MAC of the record
    before it in the same chain (empty for a chain's first record).
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

    def canonical(self) -> bytes:
        """The bytes the MAC covers: every field but ``mac``, as sorted compact JSON."""
        return canonical_json({name: getattr(self, name) for name in _CANONICAL_FIELDS})

    def as_dict(self) -> dict[str, object]:
        """The record as plain JSON-ready data."""
        data: dict[str, object] = {name: getattr(self, name) for name in RECORD_FIELDS}
        data["granted"] = list(self.granted)
        data["denied"] = list(self.denied)
        return data


#: The names of a record's fields, in storage and export order.
RECORD_FIELDS = tuple(f.name for f in fields(ConsentRecord))
_CANONICAL_FIELDS = tuple(name for name in RECORD_FIELDS if name != "mac")
_canonical_encoder = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(fields: dict[str, object]) -> bytes:
    """The canonical bytes of a record's fields (all but ``mac``): sorted, compact JSON."""
    return _canonical_encoder.encode(fields).encode()
