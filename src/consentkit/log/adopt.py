"""Signing the chains a consentkit older than signed heads wrote, once, after checking them.

Such chains have records but no signed head, so public-key verification
reports them. ``consentkit log adopt`` checks each of them with the HMAC log
key (sequence, links, every MAC) and, only when it verifies completely from
seq 1, signs a head over it with the signing key. It is an operator's act
(the signature vouches for what the HMAC key vouched for) and is never done
automatically: an attacker who deletes a chain's signed heads must not get
the site to sign their records.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from consentkit.log.chain import NODE_LEVEL, LogKey, SignedHead, record_leaf
from consentkit.log.merkle import Frontier
from consentkit.log.read import LogReader
from consentkit.log.signing import SigningKey

__all__ = ["Adoption", "adopt_unsigned_chains"]


@dataclass(frozen=True, slots=True)
class Adoption:
    """What happened to one unsigned chain."""

    chain_id: str
    records: int
    signed: bool
    reason: str


def adopt_unsigned_chains(
    reader: LogReader, signer: SigningKey, keys: list[LogKey]
) -> list[Adoption]:
    """Sign a head for every chain that has records and no signed head, if it verifies."""
    by_id = {key.key_id: key for key in keys}
    heads = reader.signed_heads()
    results: list[Adoption] = []
    state: dict[str, tuple[Frontier, list[tuple[int, int, bytes]], int, str, str, str]] = {}
    broken: dict[str, str] = {}
    for _, record in reader.chain_records():
        chain_id = record.chain_id
        if chain_id in heads or chain_id in broken:
            continue
        frontier, nodes, seq, prev, _, _ = state.get(chain_id, (Frontier(), [], 0, "", "", ""))
        key = by_id.get(record.key_id)
        canonical = record.canonical()
        if record.seq != seq + 1:
            broken[chain_id] = f"record seq {seq + 1} is missing or out of place"
        elif record.prev_mac != prev:
            broken[chain_id] = f"record seq {record.seq} does not follow the one before"
        elif key is None:
            broken[chain_id] = f"record seq {record.seq} is sealed with an unknown log key"
        elif not hmac.compare_digest(key.mac(record, canonical), record.mac):
            broken[chain_id] = f"record seq {record.seq} does not match its MAC"
        if chain_id in broken:
            state.pop(chain_id, None)
            continue
        completed: list[tuple[int, int, bytes]] = []
        frontier.append(record_leaf(record, canonical), completed)
        nodes.extend(node for node in completed if node[0] >= NODE_LEVEL)
        state[chain_id] = (frontier, nodes, record.seq, record.mac, record.mac, record.timestamp)
    for chain_id, reason in sorted(broken.items()):
        results.append(Adoption(chain_id, 0, False, reason))
    for chain_id, (frontier, nodes, seq, _, mac, timestamp) in sorted(state.items()):
        head = SignedHead.make(signer, chain_id, seq, frontier.root(), mac, timestamp)
        reader.store_head(head, nodes)
        results.append(Adoption(chain_id, seq, True, "verified with the HMAC key and signed"))
    return results
