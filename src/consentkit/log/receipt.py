"""Receipts: a visitor's proof of what they decided, checkable offline by anyone.

A receipt holds the record, the declaration it names, the record's inclusion
proof in its chain's Merkle tree, the chain head's inclusion proof in a signed
checkpoint's tree, and that checkpoint's signed statement. With the site's
public key, anyone can check it without the site (docs/auditors.md gives the
format step by step).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from consentkit.errors import ConsentKitError
from consentkit.log.chain import NODE_LEVEL
from consentkit.log.checkpoint import (
    Checkpoint,
    chain_entry_leaf,
    make_checkpoint,
    parse_checkpoints,
)
from consentkit.log.merkle import (
    inclusion_path,
    leaf_hash,
    node_hash,
    root_from_path,
    split_point,
    tree_hash,
)
from consentkit.log.read import LogReader
from consentkit.log.record import OPTIONAL_FIELDS, ConsentRecord, canonical_json
from consentkit.log.signing import PublicKey, SigningKey

__all__ = [
    "RECEIPT_FORMAT",
    "ReceiptError",
    "ReceiptResult",
    "make_receipt",
    "verify_receipt",
    "visitor_receipt",
]

#: The ``format`` member of a receipt.
RECEIPT_FORMAT = "consentkit-receipt/1"


class ReceiptError(ConsentKitError):
    """A receipt cannot be made (no such record, no checkpoint covers it yet)."""


def _chain_path(reader: LogReader, chain_id: str, index: int, size: int) -> list[bytes]:
    """The inclusion path of leaf ``index`` in the chain's tree of ``size`` leaves.

    The stored subtree hashes the path needs are found first and read in one
    query; what is left comes from at most two blocks of records.
    """
    block = 1 << NODE_LEVEL
    wanted: set[tuple[int, int]] = set()

    def collect(start: int, end: int) -> bytes:
        width = end - start
        if width & (width - 1) == 0 and start % width == 0 and width >= block:
            level = width.bit_length() - 1
            wanted.add((level, start >> level))
        elif width > block:
            k = split_point(width)
            collect(start, start + k)
            collect(start + k, end)
        return b""

    inclusion_path(index, size, collect)
    nodes = reader.nodes(chain_id, sorted(wanted))
    leaves: dict[int, list[bytes]] = {}

    def leaf_block(start: int, end: int) -> list[bytes]:
        first = start - start % block
        if first not in leaves:
            leaves[first] = reader.leaf_hashes(chain_id, first, min(first + block, size))
        return leaves[first][start - first : end - first]

    def subtree(start: int, end: int) -> bytes:
        width = end - start
        if width & (width - 1) == 0 and start % width == 0:
            level = width.bit_length() - 1
            stored = nodes.get((level, start >> level))
            if stored is not None:
                return stored
        if width <= block:
            return tree_hash(leaf_block(start, end))
        k = split_point(width)
        return node_hash(subtree(start, start + k), subtree(start + k, end))

    return inclusion_path(index, size, subtree)


def make_receipt(
    reader: LogReader,
    consent_id: str,
    *,
    record_id: str | None = None,
    signer: SigningKey | None = None,
) -> dict[str, Any]:
    """The receipt of ``consent_id``'s latest decision (or of record ``record_id``).

    Uses the newest stored checkpoint; when it does not cover the record yet
    and ``signer`` is given, makes a new one. Raises `ReceiptError`.
    """
    found: ConsentRecord | None = None
    for record in reader.records(consent_id=consent_id):
        if record_id is None or record.record_id == record_id:
            found = record
    if found is None:
        raise ReceiptError(f"no record for consent id {consent_id!r}")
    record = found
    checkpoint = _latest(reader)
    entry = checkpoint.chains.get(record.chain_id) if checkpoint else None
    if checkpoint is None or entry is None or int(entry["seq"]) < record.seq:
        if signer is None:
            raise ReceiptError(
                "no checkpoint covers this record yet: run 'consentkit log checkpoint' (or wait"
                " for the scheduled one), or give the signing key"
            )
        checkpoint = make_checkpoint(reader, signer, now=datetime.now(timezone.utc))
        entry = checkpoint.chains.get(record.chain_id)
        if entry is None or int(entry["seq"]) < record.seq:
            raise ReceiptError("the record is not covered by a signed head of its chain")
    size = int(entry["seq"])
    chain_path = _chain_path(reader, record.chain_id, record.seq - 1, size)
    chain_ids = sorted(checkpoint.chains)
    entry_leaves = [chain_entry_leaf(c, checkpoint.chains[c]) for c in chain_ids]
    index = chain_ids.index(record.chain_id)
    log_path = inclusion_path(index, len(chain_ids), lambda a, b: tree_hash(entry_leaves[a:b]))
    return {
        "format": RECEIPT_FORMAT,
        "record": record.as_dict(),
        "declaration": reader.declaration(record.declaration_hash),
        "chain_head": {"chain_id": record.chain_id, **entry},
        "chain_proof": {
            "leaf_index": record.seq - 1,
            "tree_size": size,
            "path": [h.hex() for h in chain_path],
        },
        "checkpoint_proof": {
            "leaf_index": index,
            "tree_size": len(chain_ids),
            "path": [h.hex() for h in log_path],
        },
        "checkpoint": {
            "statement": checkpoint.statement,
            "signature": checkpoint.document["signature"],
        },
        "key_id": checkpoint.key_id,
    }


def visitor_receipt(storage: str, consent_id: str, signer: SigningKey) -> dict[str, Any]:
    """The receipt of ``consent_id``'s latest decision in the log at ``storage``.

    Raises `ReceiptError` when there is no record, `StorageError` when the log
    cannot be read.
    """
    from consentkit.log.read import open_reader

    with open_reader(storage, write=True) as reader:
        return make_receipt(reader, consent_id, signer=signer)


def _latest(reader: LogReader) -> Checkpoint | None:
    text = reader.latest_checkpoint()
    if text is None:
        return None
    try:
        found = parse_checkpoints(text)
    except ValueError:
        return None
    return found[-1] if found and found[-1].signed else None


@dataclass(slots=True)
class ReceiptResult:
    """What checking a receipt found."""

    problems: list[str] = field(default_factory=list)
    summary: str = ""

    @property
    def ok(self) -> bool:
        """Whether the receipt holds."""
        return not self.problems


def _proof(data: Any, name: str) -> tuple[int, int, list[bytes]]:
    proof = data.get(name)
    if not isinstance(proof, dict):
        raise ValueError(f"no {name!r} object")
    index, size, path = proof.get("leaf_index"), proof.get("tree_size"), proof.get("path")
    if not isinstance(index, int) or not isinstance(size, int) or not isinstance(path, list):
        raise ValueError(f"{name!r} needs leaf_index, tree_size and path")
    try:
        return index, size, [bytes.fromhex(str(h)) for h in path]
    except ValueError:
        raise ValueError(f"{name!r} has a path entry that is not hex") from None


def verify_receipt(receipt: Any, public_keys: Mapping[str, PublicKey]) -> ReceiptResult:
    """Check ``receipt`` (parsed JSON) against ``public_keys`` (key id -> key), offline."""
    result = ReceiptResult()
    problems = result.problems
    if not isinstance(receipt, dict) or receipt.get("format") != RECEIPT_FORMAT:
        problems.append(f"not a {RECEIPT_FORMAT} document")
        return result
    record, head, checkpoint = (
        receipt.get("record"),
        receipt.get("chain_head"),
        receipt.get("checkpoint"),
    )
    if not (isinstance(record, dict) and isinstance(head, dict) and isinstance(checkpoint, dict)):
        problems.append("record, chain_head and checkpoint must be objects")
        return result
    statement = checkpoint.get("statement")
    if not isinstance(statement, dict):
        problems.append("the checkpoint has no statement")
        return result
    try:
        chain_index, chain_size, chain_path = _proof(receipt, "chain_proof")
        cp_index, cp_size, cp_path = _proof(receipt, "checkpoint_proof")
        seq = int(record["seq"])
        chain_id = str(record["chain_id"])
        entry_leaf = chain_entry_leaf(str(head["chain_id"]), head)
    except (ValueError, KeyError, TypeError) as exc:
        problems.append(f"malformed: {exc}")
        return result
    key_id = str(statement.get("key_id", ""))
    key = public_keys.get(key_id)
    if key is None:
        problems.append(
            f"the checkpoint is signed with key id {key_id!r}, which none of the public keys"
            " given has: a forgery is as likely as a missing key"
        )
    elif not key.verify(str(checkpoint.get("signature", "")), canonical_json(statement)):
        problems.append("the checkpoint's signature does not match: forged or altered")
    if chain_id != head["chain_id"] or chain_index != seq - 1 or chain_size != head.get("seq"):
        problems.append("the record, its chain head and the proof do not belong together")
    # The MAC covers an optional field only when it has a value (older records lack them).
    fields = {
        name: value
        for name, value in record.items()
        if name != "mac" and not (name in OPTIONAL_FIELDS and value is None)
    }
    leaf = leaf_hash(canonical_json(fields) + str(record.get("mac", "")).encode())
    if root_from_path(chain_index, chain_size, leaf, chain_path) != _hex(head.get("root")):
        problems.append(
            "the record is not in its chain's signed Merkle tree: the record was altered,"
            " or it is not in the log"
        )
    if root_from_path(cp_index, cp_size, entry_leaf, cp_path) != _hex(statement.get("root")):
        problems.append("the chain head is not in the checkpoint's Merkle tree")
    if cp_size != statement.get("chains"):
        problems.append("the checkpoint proof's tree size is not the checkpoint's")
    declaration = receipt.get("declaration")
    if isinstance(declaration, str) and (
        hashlib.sha256(declaration.encode()).hexdigest() != record.get("declaration_hash")
    ):
        problems.append("the declaration text is not the one the record names")
    if not problems:
        result.summary = (
            f"OK: {record.get('action')} by {record.get('consent_id')} at"
            f" {record.get('timestamp')} (policy {record.get('policy_version')}), record seq"
            f" {seq} of chain {chain_id}, in the checkpoint of {statement.get('created_at')}"
            f" signed by key {key_id}"
        )
    return result


def _hex(value: object) -> bytes | None:
    try:
        return bytes.fromhex(str(value))
    except ValueError:
        return None
