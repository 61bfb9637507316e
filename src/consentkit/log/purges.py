"""Signed purge statements: retention that an auditor can tell from deletion.

A purge deletes a prefix of some chains. What it did is written down as a
statement signed with the log's Ed25519 key: who, when, the cut-off, and for
each chain up to which seq, how many records, the MAC of the last deleted
record and the Merkle frontier of the chain at the cut (so the chain's
remaining records still prove its signed root). Statements are numbered and
each names the SHA-256 of the one before it, so they form a chain of their
own that checkpoints cover. Someone who deletes records without the signing
key cannot write a statement that excuses it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from consentkit.log.merkle import Frontier
from consentkit.log.record import canonical_json
from consentkit.log.signing import PublicKey, SigningKey

__all__ = ["PURGE_TYPE", "PurgeCut", "PurgeStatement", "make_statement"]

#: The ``type`` member of a purge statement.
PURGE_TYPE = "consentkit-purge/1"


@dataclass(frozen=True, slots=True)
class PurgeCut:
    """One chain's part of a purge: records up to ``up_to_seq`` are gone."""

    chain_id: str
    up_to_seq: int
    count: int | None
    mac: str
    #: the chain's Merkle frontier after ``up_to_seq`` leaves; None for a chain
    #: purged before consentkit signed its log (an old anchor converted)
    frontier: Frontier | None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready (without the chain id, the key it is stored under)."""
        return {
            "up_to_seq": self.up_to_seq,
            "count": self.count,
            "mac": self.mac,
            "frontier": self.frontier.as_list() if self.frontier is not None else None,
        }


@dataclass(frozen=True, slots=True)
class PurgeStatement:
    """A stored, signed purge statement."""

    seq: int
    body: str
    key_id: str
    signature: str

    @property
    def digest(self) -> str:
        """SHA-256 of the body, hex: what the next statement and checkpoints name."""
        return hashlib.sha256(self.body.encode()).hexdigest()

    def data(self) -> dict[str, Any]:
        """The parsed body; ValueError when it is not a purge statement."""
        try:
            data = json.loads(self.body)
        except ValueError:
            raise ValueError("the body is not JSON") from None
        if not isinstance(data, dict) or data.get("type") != PURGE_TYPE:
            raise ValueError(f"the body is not a {PURGE_TYPE} statement")
        return data

    def cuts(self) -> dict[str, PurgeCut]:
        """chain id -> its cut; ValueError when malformed."""
        chains = self.data().get("chains")
        if not isinstance(chains, dict):
            raise ValueError("no 'chains' object")
        cuts = {}
        for chain_id, cut in chains.items():
            if not isinstance(cut, dict) or not isinstance(cut.get("up_to_seq"), int):
                raise ValueError(f"malformed entry for chain {chain_id!r}")
            frontier = cut.get("frontier")
            cuts[chain_id] = PurgeCut(
                chain_id,
                cut["up_to_seq"],
                cut.get("count") if isinstance(cut.get("count"), int) else None,
                str(cut.get("mac", "")),
                Frontier.from_list(cut["up_to_seq"], frontier) if frontier is not None else None,
            )
        return cuts

    def verify(self, key: PublicKey) -> bool:
        """Whether the signature is ``key``'s."""
        return key.key_id == self.key_id and key.verify(self.signature, self.body.encode())

    def describe(self) -> str:
        """One line for a person."""
        data = self.data()
        cuts = self.cuts()
        total = sum(c.count or 0 for c in cuts.values())
        return (
            f"purge #{self.seq} at {data.get('purged_at')} by {data.get('by')}: {total} record(s)"
            f" older than {data.get('older_than')} from {len(cuts)} chain(s)"
        )


def make_statement(
    signer: SigningKey,
    seq: int,
    prev: str,
    purged_at: str,
    by: str,
    older_than: str,
    cuts: list[PurgeCut],
) -> PurgeStatement:
    """A new statement, number ``seq``, after the statement whose digest is ``prev``."""
    body = canonical_json(
        {
            "type": PURGE_TYPE,
            "seq": seq,
            "prev": prev,
            "purged_at": purged_at,
            "by": by,
            "older_than": older_than,
            "key_id": signer.key_id,
            "chains": {cut.chain_id: cut.as_dict() for cut in cuts},
        }
    )
    return PurgeStatement(seq, body.decode(), signer.key_id, signer.sign(body))
