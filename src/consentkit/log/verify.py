"""Verifying a stored consent log: every chain, record by record, and all that covers it.

A chain verifies when its records have the sequence numbers 1, 2, 3, ...
(or start right after a cut that a signed purge statement describes), are
stored in that order, each names the MAC of the record before it, the Merkle
root over its records is the one its writer signed for its last batch (Ed25519,
checked with a public key: no secret needed), and, when the HMAC log key is
given, each MAC is right. Declarations are re-hashed and every record's
declaration must exist. Checkpoints (the newest one stored in the log, and any
given, for example from the operator's sink) catch what nothing inside the
log can show: a deleted chain, a cut tail, rewritten history.

Verification does not stop at the first fault: it reports each one (up to a
limit) with the record, what is wrong and what it most likely means.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from consentkit.errors import ConsentKitError, IntegrityError
from consentkit.log.chain import LogKey, SignedHead, record_leaf
from consentkit.log.checkpoint import Checkpoint, parse_checkpoints
from consentkit.log.merkle import Frontier
from consentkit.log.purges import PurgeCut
from consentkit.log.read import Anchor, LogReader
from consentkit.log.record import ConsentRecord
from consentkit.log.signing import PublicKey

__all__ = [
    "DEFAULT_MAX_FAULTS",
    "Fault",
    "LogKeyError",
    "VerificationFailed",
    "VerifyReport",
    "parse_checkpoints",
    "verify_log",
]

#: How many faults `verify_log` describes before it only counts them.
DEFAULT_MAX_FAULTS = 100
_UNKNOWN_KEY = (
    "from the log alone a forgery is as likely as a missing key: add the public key (or log"
    " key) it names if you have it, and treat it as forged if nobody does"
)


class LogKeyError(ConsentKitError):
    """The keys given cannot verify this log (wrong key, or none)."""


@dataclass(slots=True)
class Fault:
    """One thing wrong with the log: where, what, and what it most likely means."""

    subject: str
    problem: str
    meaning: str = ""
    chain_id: str = ""
    seq: int | None = None
    record_id: str = ""

    def __str__(self) -> str:
        text = f"{self.subject}: {self.problem}"
        return f"{text}; most likely: {self.meaning}" if self.meaning else text


def _where(chain_id: str, seq: int | None = None, record_id: str = "") -> str:
    where = f"chain {chain_id}"
    if seq is not None:
        where += f" record seq {seq}"
    if record_id:
        where += f" (record_id {record_id})"
    return where


class VerificationFailed(IntegrityError):
    """The log does not verify; ``faults`` lists what is wrong, ``str()`` the first."""

    def __init__(self, faults: Sequence[Fault]) -> None:
        super().__init__(str(faults[0]) if faults else "the log does not verify")
        self.faults = list(faults)


@dataclass(slots=True)
class VerifyReport:
    """What a verification covered and every fault it found."""

    records: int = 0
    chains: int = 0
    first: str | None = None
    last: str | None = None
    purged_chains: int = 0
    key_ids: set[str] = field(default_factory=set)
    faults: list[Fault] = field(default_factory=list)
    #: faults found beyond the limit, counted but not described
    more_faults: int = 0
    max_faults: int = DEFAULT_MAX_FAULTS
    purges: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    signed_chains: int = 0
    declarations: int = 0
    checkpoints: int = 0

    @property
    def ok(self) -> bool:
        """Whether no fault was found."""
        return not self.faults

    def add(self, fault: Fault) -> None:
        """Record a fault (described up to the limit, counted after it)."""
        if len(self.faults) < self.max_faults:
            self.faults.append(fault)
        else:
            self.more_faults += 1

    def summary(self) -> str:
        """The first line for a person."""
        if not self.ok:
            total = len(self.faults) + self.more_faults
            return f"FAILED: {total} fault(s) in {self.records} records of {self.chains} chain(s)"
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

    def details(self) -> list[str]:
        """Further lines: purges, notes."""
        return [*self.purges, *self.notes]

    def raise_for_faults(self) -> None:
        """Raise `VerificationFailed` when a fault was found."""
        if self.faults:
            raise VerificationFailed(self.faults)


class _ChainState:
    """The verification of one chain, fed its records in order."""

    def __init__(
        self,
        chain_id: str,
        cut: PurgeCut | None,
        registered_key: str | None,
        hmac_keys: dict[str, LogKey] | None,
        head: SignedHead | None,
        watches: dict[int, list[tuple[str, SignedHead]]],
        declarations: set[str],
        missing_declarations: dict[str, Fault],
        report: VerifyReport,
    ) -> None:
        self.chain_id = chain_id
        self.cut = cut
        self.registered_key = registered_key
        self.hmac_keys = hmac_keys
        self.head = head
        self.watches = watches
        self.declarations = declarations
        self.missing_declarations = missing_declarations
        self.report = report
        self.start = cut.up_to_seq if cut else 0
        self.expected = self.start + 1
        self.prev_mac = cut.mac if cut else ""
        self.tree: Frontier | None = (
            (cut.frontier.copy() if cut.frontier is not None else None) if cut else Frontier()
        )
        self.last_id = -1
        self.last_seq = self.start
        self.key_reported = False
        #: mac -> (real seq, record_id) of recent records: where each really is
        #: in the chain by its links, to blame the right record when seq lie
        self.recent: OrderedDict[str, tuple[int, str]] = OrderedDict(
            {self.prev_mac: (self.start, "")}
        )
        #: prev_mac -> (seq, record_id, mac) of records whose predecessor is not seen yet
        self.unresolved: dict[str, tuple[int, str, str]] = {}
        self.roots: dict[int, tuple[str, str]] = {}

    def fault(self, seq: int | None, record_id: str, problem: str, meaning: str) -> None:
        self.report.add(
            Fault(
                _where(self.chain_id, seq, record_id),
                problem,
                meaning,
                self.chain_id,
                seq,
                record_id,
            )
        )

    def feed(self, row_id: int, record: ConsentRecord) -> None:
        """Check the next stored record of the chain."""
        seq, rid = record.seq, record.record_id
        expected = self.expected
        if seq < expected:
            self.fault(
                seq,
                rid,
                f"a second record with seq {seq}",
                "inserted, or its seq was changed (the chain already has a record there)",
            )
            return
        if seq > expected:
            what = (
                f"record seq {expected}"
                if seq == expected + 1
                else f"records seq {expected} to {seq - 1}"
            )
            self.fault(
                expected,
                "",
                f"missing: {what} (the chain jumps to seq {seq})",
                "deleted; a purge would have left a signed purge statement",
            )
            self.tree = None
            self.prev_mac = record.prev_mac
            self.recent[record.prev_mac] = (seq - 1, "")
        linked = record.prev_mac == self.prev_mac or self._placed(record)
        if linked and row_id < self.last_id:
            self.fault(
                seq,
                rid,
                f"stored before record seq {seq - 1}: reordered",
                "rows were moved or their contents exchanged",
            )
        canonical = record.canonical()
        hmac_keys = self.hmac_keys
        if hmac_keys is not None:
            key = hmac_keys.get(record.key_id)
            if key is None:
                self._unknown_key(record)
            elif not hmac.compare_digest(key.mac(record, canonical), record.mac):
                self.fault(seq, rid, "its content does not match its MAC", "altered or forged")
            elif self.registered_key is not None and record.key_id != self.registered_key:
                self.fault(seq, rid, "signed with another log key than its chain", "forged")
        if record.declaration_hash not in self.declarations:
            missing = self.missing_declarations.get(record.declaration_hash)
            if missing is None:
                missing = Fault(
                    _where(self.chain_id, seq, rid),
                    f"names declaration {record.declaration_hash}, which is not stored"
                    " (the first record that does; others are not repeated)",
                    "the declaration was deleted (or this record altered)",
                    self.chain_id,
                    seq,
                    rid,
                )
                self.missing_declarations[record.declaration_hash] = missing
                self.report.add(missing)
        recent = self.recent
        if record.mac not in recent:
            recent[record.mac] = (seq, rid)
        unresolved = self.unresolved.pop(record.mac, None)
        if unresolved is not None:
            useq, urid, umac = unresolved
            real = recent[record.mac][0] + 1
            recent[umac] = (real, urid)
            if real != useq:
                self.fault(
                    useq,
                    urid,
                    f"its seq is {useq} but it follows record_id {rid} (stored as seq {seq}),"
                    f" so it is really record {real}",
                    "its seq was changed (swapped with another record's, or renumbered)",
                )
        if len(recent) > 64:
            recent.popitem(last=False)
        if self.tree is not None:
            self.tree.append(record_leaf(record, canonical))
            if seq in self.watches or (self.head is not None and seq == self.head.seq):
                self.roots[seq] = (self.tree.root().hex(), record.mac)
        elif seq in self.watches:
            self.roots[seq] = ("", record.mac)
        report = self.report
        report.records += 1
        report.key_ids.add(record.key_id)
        timestamp = record.timestamp
        if report.first is None or timestamp < report.first:
            report.first = timestamp
        if report.last is None or timestamp > report.last:
            report.last = timestamp
        self.prev_mac = record.mac
        self.last_id = row_id
        self.last_seq = seq
        self.expected = seq + 1

    def _placed(self, record: ConsentRecord) -> bool:
        """Explain a record whose link does not match the one before it; True if it fits."""
        seq, rid = record.seq, record.record_id
        before = self.recent.get(record.prev_mac)
        if before is not None:
            real = before[0] + 1
            self.recent[record.mac] = (real, rid)
            if real == seq:
                return True  # its neighbour moved, and was blamed for it
            self.fault(
                seq,
                rid,
                f"its seq is {seq} but it follows record seq {before[0]}"
                + (f" (record_id {before[1]})" if before[1] else "")
                + f", so it is really record {real}",
                "its seq was changed (swapped with another record's, or renumbered)",
            )
            return False
        if len(self.unresolved) < 64:
            self.unresolved[record.prev_mac] = (seq, rid, record.mac)
            return False
        self.fault(
            seq,
            rid,
            f"does not follow record seq {seq - 1}",
            "the record before it was altered, replaced or deleted, or this one inserted",
        )
        return False

    def _unknown_key(self, record: ConsentRecord) -> None:
        if self.key_reported:
            return
        self.key_reported = True
        if record.key_id == self.registered_key:
            self.fault(
                record.seq,
                record.record_id,
                f"signed with log key id {record.key_id}, which none of the keys given has"
                " (its MACs were not checked)",
                _UNKNOWN_KEY,
            )
        else:
            self.fault(
                record.seq,
                record.record_id,
                f"names log key id {record.key_id!r}, which signed no chain",
                "forged",
            )

    def finish(self) -> None:
        """Check the chain's end against its signed head and whatever checkpoints say."""
        for useq, urid, _ in self.unresolved.values():
            self.fault(
                useq,
                urid,
                f"does not follow record seq {useq - 1}",
                "the record before it was altered, replaced or deleted, or this one inserted",
            )
        self.unresolved.clear()
        end = self.last_seq
        head = self.head
        if head is None or head.seq < self.start:
            if end > self.start:
                self.fault(
                    self.start + 1,
                    "",
                    f"records seq {self.start + 1} to {end} are covered by no signed head",
                    "written without the signing key (forged), or by a consentkit older than"
                    " signed heads",
                )
        else:
            self._check_head(head, end)
        for seq, sources in sorted(self.watches.items()):
            for label, entry in sources:
                self._check_watch(seq, label, entry, end)

    def _check_head(self, head: SignedHead, end: int) -> None:
        if head.seq > end:
            self.fault(
                end + 1,
                "",
                f"cut off the end: the log ends at seq {end} but the chain's signed head"
                f" has seq {head.seq}",
                "records were deleted from the end of the chain",
            )
            return
        if head.seq == self.start and self.cut is not None:
            got = (self.cut.frontier.root().hex() if self.cut.frontier else "", self.cut.mac)
        else:
            got = self.roots.get(head.seq, ("", ""))
        if got[0] and (got[0] != head.root or got[1] != head.mac):
            self.fault(
                head.seq,
                "",
                "the records up to here do not give the Merkle root their writer signed",
                "a record of this chain was altered, inserted or deleted and the chain"
                " re-sealed by someone without the signing key (an HMAC key is not enough)",
            )
        if end > head.seq:
            self.fault(
                head.seq + 1,
                "",
                f"records seq {head.seq + 1} to {end} are covered by no signed head",
                "added without the signing key: forged (a writer signs every batch it commits)",
            )

    def _check_watch(self, seq: int, label: str, entry: SignedHead, end: int) -> None:
        if seq <= self.start:
            if (
                seq == self.start
                and self.cut is not None
                and not hmac.compare_digest(self.cut.mac, entry.mac)
            ):
                self.fault(seq, "", f"the purge's cut differs from {label}", "a forged purge")
            return
        if seq > end:
            self.fault(
                end + 1,
                "",
                f"cut off the end: the log ends at seq {end} but {label} has the chain up to"
                f" seq {seq}",
                "records were deleted from the end of the chain",
            )
            return
        root, mac = self.roots.get(seq, ("", ""))
        if not hmac.compare_digest(mac, entry.mac) or (entry.root and root and root != entry.root):
            self.fault(
                seq,
                "",
                f"differs from {label}",
                "history was rewritten after that checkpoint was taken",
            )


def verify_log(
    reader: LogReader,
    keys: Iterable[LogKey] = (),
    checkpoints: Sequence[Checkpoint] | None = None,
    *,
    public_keys: Iterable[PublicKey] = (),
    max_faults: int = DEFAULT_MAX_FAULTS,
    use_stored_checkpoint: bool = True,
) -> VerifyReport:
    """Verify every chain in ``reader`` and return the report with every fault found.

    ``keys`` are HMAC log keys (optional when ``public_keys`` are given);
    ``public_keys`` check the Ed25519 signatures of heads, purges and
    checkpoints. Raises `LogKeyError` when neither is given, or when HMAC
    keys alone are given and none is the log's.
    """
    by_id = {key.key_id: key for key in keys}
    publics = {key.key_id: key for key in public_keys}
    if not by_id and not publics:
        raise LogKeyError(
            "no key: pass --public-key FILE (or a log key: --log-key, CONSENTKIT_LOG_KEY,"
            " CONSENTKIT_SECRET_KEYS, or --config MODULE:ATTR)"
        )
    report = VerifyReport(max_faults=max_faults)
    registered = reader.chains()
    registered_keys = set(registered.values())
    heads = reader.signed_heads()
    head_keys = {head.key_id for head in heads.values()}
    hmac_keys: dict[str, LogKey] | None = by_id or None
    public_wrong = bool(publics and head_keys and not head_keys & publics.keys())
    if by_id and registered_keys and not registered_keys & by_id.keys():
        message = (
            f"wrong log key: this log is signed with key id(s) {', '.join(sorted(registered_keys))}"
            f" but the key(s) given have id(s) {', '.join(sorted(by_id))}"
        )
        if not publics or public_wrong:
            raise LogKeyError(message)
        report.notes.append(f"MACs not checked ({message}); the public key decides")
        hmac_keys = None
    if public_wrong:
        raise LogKeyError(
            f"wrong public key: this log's heads are signed with key id(s)"
            f" {', '.join(sorted(head_keys))} but the public key(s) given have id(s)"
            f" {', '.join(sorted(publics))}"
        )
    if hmac_keys is None and not report.notes:
        report.notes.append("MACs not checked (no log key given); the public key decides")
    if not publics:
        report.notes.append(
            "signatures not checked: no public key given, so this proves nothing against"
            " whoever holds the log key"
        )

    cuts = _purges(reader, publics, report)
    declarations = _declarations(reader, report)
    checks = list(checkpoints or ())
    if use_stored_checkpoint:
        stored = reader.latest_checkpoint()
        if stored is not None:
            try:
                checks.extend(parse_checkpoints(stored))
            except ValueError as exc:
                report.add(Fault("the latest stored checkpoint", f"unreadable: {exc}", "altered"))
    watches = _checkpoints(checks, publics, declarations, reader, report)

    for head in heads.values():
        _check_head_signature(head, publics, report)
    anchors = reader.anchors()
    for chain_id, anchor in anchors.items():
        if chain_id not in cuts:
            _legacy_anchor(anchor, report)
            cuts[chain_id] = PurgeCut(chain_id, anchor.seq, None, anchor.mac, None)
    missing_declarations: dict[str, Fault] = {}
    seen: set[str] = set()

    def start(chain_id: str) -> _ChainState:
        seen.add(chain_id)
        report.chains += 1
        cut = cuts.get(chain_id)
        if cut is not None:
            report.purged_chains += 1
        if chain_id in heads:
            report.signed_chains += 1
        return _ChainState(
            chain_id,
            cut,
            registered.get(chain_id),
            hmac_keys,
            heads.get(chain_id),
            watches.get(chain_id, {}),
            declarations,
            missing_declarations,
            report,
        )

    state: _ChainState | None = None
    for row_id, record in reader.chain_records():
        if state is None or record.chain_id != state.chain_id:
            if state is not None:
                state.finish()
            state = start(record.chain_id)
        state.feed(row_id, record)
    if state is not None:
        state.finish()
    known = set(registered) | set(heads) | set(cuts) | set(watches)
    for chain_id in sorted(known - seen):
        if chain_id not in cuts:
            source = (
                "a checkpoint"
                if chain_id in watches
                else "its signed head"
                if chain_id in heads
                else "its registration"
            )
            report.add(
                Fault(
                    _where(chain_id, 1),
                    f"missing: the chain is known from {source} but all of its records are gone",
                    "the chain was deleted",
                    chain_id,
                    1,
                )
            )
            seen.add(chain_id)
            report.chains += 1
            continue
        start(chain_id).finish()
    return report


def _purges(
    reader: LogReader, publics: dict[str, PublicKey], report: VerifyReport
) -> dict[str, PurgeCut]:
    cuts: dict[str, PurgeCut] = {}
    prev = ""
    for number, statement in enumerate(reader.purge_statements(), start=1):
        subject = f"purge #{statement.seq}"
        try:
            data = statement.data()
            statement_cuts = statement.cuts()
        except ValueError as exc:
            report.add(Fault(subject, f"unreadable: {exc}", "altered"))
            continue
        key = publics.get(statement.key_id)
        if publics:
            if key is None:
                report.add(
                    Fault(
                        subject,
                        f"signed with key id {statement.key_id}, which none of the public keys"
                        " given has",
                        _UNKNOWN_KEY,
                    )
                )
                continue
            if not statement.verify(key):
                report.add(
                    Fault(subject, "its signature does not match", "a forged or altered purge")
                )
                continue
        if statement.seq != number or data.get("prev") != prev:
            report.add(
                Fault(
                    subject,
                    "does not follow the purge statement before it",
                    "a purge statement was deleted or inserted",
                )
            )
        prev = statement.digest
        for chain_id, cut in statement_cuts.items():
            before = cuts.get(chain_id)
            if (
                cut.count is not None
                and cut.frontier is not None
                and cut.count != cut.up_to_seq - (before.up_to_seq if before else 0)
            ):
                report.add(
                    Fault(
                        f"{subject}, {_where(chain_id)}",
                        f"deleted {cut.count} records up to seq {cut.up_to_seq}, but there should"
                        f" have been {cut.up_to_seq - (before.up_to_seq if before else 0)}",
                        "records were already missing when the purge ran",
                        chain_id,
                    )
                )
            cuts[chain_id] = cut
        report.purges.append(statement.describe())
    return cuts


def _legacy_anchor(anchor: Anchor, report: VerifyReport) -> None:
    report.add(
        Fault(
            _where(anchor.chain_id, anchor.seq + 1),
            f"the chain starts after an unsigned purge anchor (records up to seq {anchor.seq}"
            " gone)",
            "a forged purge (anyone can write that table), or a purge made by a consentkit"
            " older than signed purges: running 'consentkit log purge' with the signing key"
            " converts a genuine one",
            anchor.chain_id,
            anchor.seq + 1,
        )
    )


def _declarations(reader: LogReader, report: VerifyReport) -> set[str]:
    found: set[str] = set()
    for digest, body in reader.declarations():
        report.declarations += 1
        if hashlib.sha256(body.encode()).hexdigest() != digest:
            report.add(
                Fault(
                    f"declaration {digest}",
                    "its text does not match its hash",
                    "the texts shown to visitors were edited after the fact",
                )
            )
        found.add(digest)
    return found


def _check_head_signature(
    head: SignedHead, publics: dict[str, PublicKey], report: VerifyReport
) -> None:
    if not publics:
        return
    key = publics.get(head.key_id)
    subject = _where(head.chain_id, head.seq)
    if key is None:
        report.add(
            Fault(
                subject,
                f"its signed head names key id {head.key_id}, which none of the public keys"
                " given has",
                _UNKNOWN_KEY,
                head.chain_id,
                head.seq,
            )
        )
    elif not head.verify(key):
        report.add(
            Fault(
                subject,
                "its signed head's signature does not match",
                "a forged or altered head",
                head.chain_id,
                head.seq,
            )
        )


def _checkpoints(
    checks: Sequence[Checkpoint],
    publics: dict[str, PublicKey],
    declarations: set[str],
    reader: LogReader,
    report: VerifyReport,
) -> dict[str, dict[int, list[tuple[str, SignedHead]]]]:
    watches: dict[str, dict[int, list[tuple[str, SignedHead]]]] = {}
    statements = None
    for checkpoint in checks:
        label = f"the checkpoint of {checkpoint.created_at}"
        problems = checkpoint.problems(publics) if publics else []
        if problems:
            for problem in problems:
                report.add(Fault(label, problem, "a forged checkpoint"))
            continue
        report.checkpoints += 1
        for chain_id in checkpoint.chains:
            head = checkpoint.head(chain_id)
            if head is not None:
                watches.setdefault(chain_id, {}).setdefault(head.seq, []).append((label, head))
        for digest in checkpoint.declarations:
            if digest not in declarations:
                report.add(
                    Fault(
                        f"declaration {digest}",
                        f"in {label} but no longer stored",
                        "the declaration was deleted",
                    )
                )
        purges = checkpoint.statement.get("purges")
        if isinstance(purges, dict) and isinstance(purges.get("count"), int) and purges["count"]:
            if statements is None:
                statements = reader.purge_statements()
            count = purges["count"]
            if len(statements) < count or statements[count - 1].digest != purges.get("head"):
                report.add(
                    Fault(
                        f"purge #{count}",
                        f"differs from {label} or is gone",
                        "purge statements were deleted or rewritten",
                    )
                )
    return watches
