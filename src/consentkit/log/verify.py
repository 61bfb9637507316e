"""Verifying a stored consent log: every chain, record by record.

A chain verifies when its records have the sequence numbers 1, 2, 3, ...
(or start right after the anchor a purge left), are stored in that order,
each names the MAC of the record before it, and each MAC is right under the
key the record names. A checkpoint taken earlier also catches records cut
off the end of a chain, which nothing inside the log can show.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from consentkit.errors import ConsentKitError, IntegrityError
from consentkit.log.chain import LogKey
from consentkit.log.read import Anchor, Head, LogReader
from consentkit.log.record import ConsentRecord

__all__ = [
    "CHECKPOINT_FORMAT",
    "LogKeyError",
    "VerificationFailed",
    "VerifyReport",
    "checkpoint_document",
    "parse_checkpoint",
    "verify_log",
]

#: The ``format`` member of a checkpoint document.
CHECKPOINT_FORMAT = "consentkit-log-checkpoint/1"


class LogKeyError(ConsentKitError):
    """The keys given cannot verify this log (wrong key, or none)."""


class VerificationFailed(IntegrityError):
    """The log does not verify; ``str()`` names the first bad record and what is wrong."""

    def __init__(self, chain_id: str, seq: int | None, reason: str, record_id: str = "") -> None:
        where = f"chain {chain_id}"
        if seq is not None:
            where += f" record seq {seq}"
        if record_id:
            where += f" (record_id {record_id})"
        super().__init__(f"{where}: {reason}")
        self.chain_id = chain_id
        self.seq = seq
        self.record_id = record_id
        self.reason = reason


@dataclass(slots=True)
class VerifyReport:
    """What a successful verification covered."""

    records: int = 0
    chains: int = 0
    first: str | None = None
    last: str | None = None
    purged_chains: int = 0
    key_ids: set[str] = field(default_factory=set)

    def summary(self) -> str:
        """One line for a person."""
        if not self.records:
            text = f"OK: no records in {self.chains} chain(s)"
        else:
            text = (
                f"OK: {self.records} records in {self.chains} chain(s),"
                f" from {self.first} to {self.last}"
            )
        if self.purged_chains:
            text += f"; {self.purged_chains} chain(s) start after a purge"
        return text


def checkpoint_document(heads: Iterable[Head], created_at: str) -> dict[str, Any]:
    """The checkpoint an operator keeps outside the database."""
    return {
        "format": CHECKPOINT_FORMAT,
        "created_at": created_at,
        "chains": {head.chain_id: head.as_dict() for head in heads},
    }


def parse_checkpoint(text: str) -> dict[str, tuple[int, str]]:
    """chain id -> (seq, mac) from a checkpoint document; ValueError when malformed."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the checkpoint is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"the checkpoint is not a {CHECKPOINT_FORMAT} document")
    chains = data.get("chains")
    if not isinstance(chains, dict):
        raise ValueError("the checkpoint has no 'chains' object")
    heads: dict[str, tuple[int, str]] = {}
    for chain_id, head in chains.items():
        if (
            not isinstance(head, dict)
            or not isinstance(head.get("seq"), int)
            or not isinstance(head.get("mac"), str)
        ):
            raise ValueError(f"the checkpoint's entry for chain {chain_id!r} is malformed")
        heads[str(chain_id)] = (head["seq"], head["mac"])
    return heads


class _ChainState:
    """The verification of one chain, fed its records in order."""

    def __init__(
        self,
        chain_id: str,
        anchor: Anchor | None,
        registered_key: str | None,
        registered_keys: set[str],
        keys: dict[str, LogKey],
        watch: int | None,
    ) -> None:
        self.chain_id = chain_id
        self.anchor = anchor
        self.registered_key = registered_key
        self.registered_keys = registered_keys
        self.keys = keys
        self.expected = anchor.seq + 1 if anchor else 1
        self.prev_mac = anchor.mac if anchor else ""
        self.last_id = -1
        self.watch = watch
        self.watched_mac: str | None = None

    def feed(self, row_id: int, record: ConsentRecord, report: VerifyReport) -> None:
        """Check the next stored record of the chain."""
        chain_id, seq, rid = self.chain_id, record.seq, record.record_id
        expected = self.expected
        if seq < expected:
            raise VerificationFailed(
                chain_id, seq, f"a second record with seq {seq}: inserted or reordered", rid
            )
        if seq > expected:
            what = (
                f"record seq {expected}"
                if seq == expected + 1
                else f"records seq {expected} to {seq - 1}"
            )
            raise VerificationFailed(
                chain_id, expected, f"missing: {what} deleted (the chain jumps to seq {seq})"
            )
        if row_id < self.last_id:
            raise VerificationFailed(
                chain_id, seq, f"stored before record seq {seq - 1}: reordered", rid
            )
        key = self.keys.get(record.key_id)
        if key is None:
            if record.key_id == self.registered_key:
                raise LogKeyError(
                    f"chain {chain_id} is signed with key id {record.key_id}, which none of the"
                    " keys given has: add the key it was made with (before a rotation?)"
                )
            raise VerificationFailed(
                chain_id,
                seq,
                f"names key id {record.key_id!r}, which signed no chain: altered",
                rid,
            )
        if record.prev_mac != self.prev_mac:
            raise VerificationFailed(
                chain_id,
                seq,
                f"does not follow record seq {seq - 1}: a record before it was"
                " altered, deleted, inserted or reordered",
                rid,
            )
        if not hmac.compare_digest(key.mac(record), record.mac):
            raise VerificationFailed(
                chain_id, seq, "its content does not match its MAC: altered or forged", rid
            )
        if self.registered_key is not None and record.key_id != self.registered_key:
            raise VerificationFailed(
                chain_id, seq, "signed with another key than its chain: forged", rid
            )
        report.records += 1
        report.key_ids.add(record.key_id)
        if report.first is None or record.timestamp < report.first:
            report.first = record.timestamp
        if report.last is None or record.timestamp > report.last:
            report.last = record.timestamp
        if seq == self.watch:
            self.watched_mac = record.mac
        self.prev_mac = record.mac
        self.last_id = row_id
        self.expected += 1

    def finish(self, checkpoint: dict[str, tuple[int, str]] | None) -> None:
        """Compare the verified chain with its checkpointed head, if there is one."""
        if not checkpoint or self.chain_id not in checkpoint:
            return
        seq, mac = checkpoint[self.chain_id]
        end_seq = self.expected - 1
        if end_seq < seq:
            raise VerificationFailed(
                self.chain_id,
                end_seq + 1,
                f"cut off the end: the log ends at seq {end_seq}"
                f" but the checkpoint has the chain up to seq {seq}",
            )
        anchor = self.anchor
        if anchor is not None and anchor.seq >= seq:
            # The checkpointed head was purged since; only an anchor on it can be compared.
            if anchor.seq == seq and not hmac.compare_digest(anchor.mac, mac):
                raise VerificationFailed(
                    self.chain_id, seq, "the purge anchor differs from the checkpoint"
                )
            return
        if self.watched_mac is None or not hmac.compare_digest(self.watched_mac, mac):
            raise VerificationFailed(self.chain_id, seq, "differs from the checkpoint")


def verify_log(
    reader: LogReader,
    keys: Iterable[LogKey],
    checkpoint: dict[str, tuple[int, str]] | None = None,
) -> VerifyReport:
    """Verify every chain in ``reader``; raise `VerificationFailed` at the first fault.

    Raises `LogKeyError` when no key is given, or when records are signed by a
    key none of ``keys`` is (the message gives key ids only, never keys).
    """
    by_id = {key.key_id: key for key in keys}
    if not by_id:
        raise LogKeyError(
            "no log key: pass --log-key, set CONSENTKIT_LOG_KEY or CONSENTKIT_SECRET_KEYS,"
            " or name the site's configuration with --config MODULE:ATTR"
        )
    registered = reader.chains()
    anchors = reader.anchors()
    registered_keys = set(registered.values())
    if registered_keys and not registered_keys & by_id.keys():
        raise LogKeyError(
            f"wrong log key: this log is signed with key id(s) {', '.join(sorted(registered_keys))}"
            f" but the key(s) given have id(s) {', '.join(sorted(by_id))}"
        )
    report = VerifyReport()
    seen: set[str] = set()

    def start(chain_id: str) -> _ChainState:
        seen.add(chain_id)
        report.chains += 1
        anchor = anchors.get(chain_id)
        if anchor is not None:
            report.purged_chains += 1
        watch = checkpoint[chain_id][0] if checkpoint and chain_id in checkpoint else None
        return _ChainState(
            chain_id, anchor, registered.get(chain_id), registered_keys, by_id, watch
        )

    state: _ChainState | None = None
    for row_id, record in reader.chain_records():
        if state is None or record.chain_id != state.chain_id:
            if state is not None:
                state.finish(checkpoint)
            state = start(record.chain_id)
        state.feed(row_id, record, report)
    if state is not None:
        state.finish(checkpoint)
    for chain_id in sorted(set(registered) - seen):
        if chain_id not in anchors:
            raise VerificationFailed(
                chain_id, 1, "missing: the chain is registered but all of its records are gone"
            )
        start(chain_id).finish(checkpoint)
    for chain_id in sorted(set(checkpoint or ()) - seen):
        anchor = anchors.get(chain_id)
        if anchor is None:
            seq = checkpoint[chain_id][0] if checkpoint else None
            raise VerificationFailed(
                chain_id, seq, "missing: the chain is in the checkpoint but not in the log"
            )
        if chain_id not in registered:
            start(chain_id).finish(checkpoint)
    return report
