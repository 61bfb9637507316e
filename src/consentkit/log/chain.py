"""The HMAC chain that makes the consent log tamper-evident."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from json.encoder import encode_basestring

from consentkit.log.merkle import Frontier, leaf_hash
from consentkit.log.record import ConsentRecord, Decision, canonical_json, expires_at
from consentkit.log.signing import PublicKey, SigningKey

__all__ = [
    "HEAD_TYPE",
    "NODE_LEVEL",
    "BatchSeal",
    "Chain",
    "LogKey",
    "SignedHead",
    "derive_log_key",
    "log_keys_from_env",
    "new_chain_id",
    "record_leaf",
    "seal",
]

#: The ``type`` of a signed chain head statement.
HEAD_TYPE = "consentkit-chain-head/1"
#: Subtrees of 2**NODE_LEVEL leaves and more are stored when complete, so an
#: inclusion proof reads at most two blocks of that many records.
NODE_LEVEL = 6


class LogKey:
    """A key that signs consent log records, known by a short public id."""

    __slots__ = ("_hmac", "key_id", "secret")

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.key_id = hashlib.sha256(b"consentkit.log.key-id" + secret).hexdigest()[:16]
        # Keyed once: each MAC copies it instead of hashing the key again.
        self._hmac = hmac.new(secret, digestmod=hashlib.sha256)

    def __repr__(self) -> str:
        return f"LogKey(key_id={self.key_id!r})"

    def mac(self, record: ConsentRecord, canonical: bytes | None = None) -> str:
        """The MAC of ``record`` under this key (``canonical``: its canonical form, if at hand)."""
        return self.mac_of(canonical if canonical is not None else record.canonical())

    def mac_of(self, data: bytes) -> str:
        """The MAC of a record whose canonical form is ``data``."""
        mac = self._hmac.copy()
        mac.update(data)
        return mac.hexdigest()


def derive_log_key(secret: str) -> LogKey:
    """The log key for ``secret`` (a ``log_key``, ``CONSENTKIT_LOG_KEY`` or a secret key).

    The secret is never used directly: it is run through HMAC with a fixed
    label, so a cookie signing key and the log key can never be confused.
    """
    return LogKey(hmac.new(secret.encode(), b"consentkit.log.v1", hashlib.sha256).digest())


def log_keys_from_env(explicit: str | None = None) -> list[LogKey]:
    """Log keys the way the middleware and the command line agree on.

    ``explicit`` (``--log-key`` or ``ConsentConfig.log_key``), else
    ``CONSENTKIT_LOG_KEY``, else every key of ``CONSENTKIT_SECRET_KEYS``
    (each derived), so records signed before a rotation still verify.
    """
    if explicit:
        return [derive_log_key(explicit)]
    env_key = os.environ.get("CONSENTKIT_LOG_KEY")
    if env_key:
        return [derive_log_key(env_key)]
    secrets_ = [k.strip() for k in os.environ.get("CONSENTKIT_SECRET_KEYS", "").split(",")]
    return [derive_log_key(k) for k in secrets_ if k]


def record_leaf(record: ConsentRecord, canonical: bytes | None = None) -> bytes:
    """The Merkle leaf hash of ``record``.

    Its data is the record's canonical form (every field but ``mac``, the
    bytes the MAC covers) followed by the MAC's hex digits; ``canonical`` may
    pass that form when it is at hand already.
    """
    return leaf_hash((canonical or record.canonical()) + record.mac.encode())


@dataclass(frozen=True, slots=True)
class SignedHead:
    """A writer's signed statement: chain ``chain_id`` has ``seq`` records, Merkle root ``root``."""

    chain_id: str
    seq: int
    root: str
    mac: str
    timestamp: str
    key_id: str
    signature: str = ""

    def statement(self) -> bytes:
        """The bytes signed: sorted compact JSON of every field but the signature, and a type."""
        return canonical_json(
            {
                "type": HEAD_TYPE,
                "chain_id": self.chain_id,
                "seq": self.seq,
                "root": self.root,
                "mac": self.mac,
                "timestamp": self.timestamp,
                "key_id": self.key_id,
            }
        )

    def verify(self, key: PublicKey) -> bool:
        """Whether the signature is ``key``'s."""
        return key.key_id == self.key_id and key.verify(self.signature, self.statement())

    @classmethod
    def make(
        cls, signer: SigningKey, chain_id: str, seq: int, root: bytes, mac: str, timestamp: str
    ) -> SignedHead:
        """The head, signed by ``signer``."""
        head = cls(chain_id, seq, root.hex(), mac, timestamp, signer.key_id)
        signature = signer.sign(head.statement())
        return cls(chain_id, seq, head.root, mac, timestamp, signer.key_id, signature)


@dataclass(frozen=True, slots=True)
class BatchSeal:
    """What a batch adds besides its records: the signed head and the completed tree nodes."""

    head: SignedHead
    #: (level, index, hash) of every stored subtree the batch completed
    nodes: list[tuple[int, int, bytes]]
    tree: Frontier
    last_seq: int


def new_chain_id() -> str:
    """A fresh writer (chain) id."""
    return secrets.token_hex(8)


def seal(
    decision: Decision, key: LogKey, chain_id: str, seq: int, prev_mac: str, now: datetime
) -> ConsentRecord:
    """The sealed record for ``decision`` as record ``seq`` of chain ``chain_id``."""
    record_id = secrets.token_hex(16)
    return _seal(decision, key, chain_id, seq, prev_mac, now, _stamp(now), {}, record_id)[0]


def _stamp(now: datetime) -> str:
    return now.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _seal(
    decision: Decision,
    key: LogKey,
    chain_id: str,
    seq: int,
    prev_mac: str,
    now: datetime,
    stamp: str,
    expiries: dict[int, str],
    record_id: str,
) -> tuple[ConsentRecord, bytes]:
    # The record and its Merkle leaf, from one canonical encoding written out
    # directly: the bytes `ConsentRecord.canonical` gives (keys sorted, compact
    # JSON, UTF-8, optional fields left out when None) at a third of json's cost.
    # A value that is not a string where one belongs raises TypeError instead of
    # being encoded otherwise. ``stamp`` and ``expiries`` are computed once per
    # batch: its records share ``now``.
    d = decision
    s = encode_basestring
    granted = tuple(sorted(d.granted))
    denied = tuple(sorted(d.denied))
    gpc = bool(d.gpc)
    expires = expires_at(d, now, expiries)
    ip = "null" if d.ip is None else s(d.ip)
    data = (
        f'{{"action":{s(d.action)},"chain_id":{s(chain_id)},"consent_id":{s(d.consent_id)}'
        f'{_field("decision_id", d.decision_id)},"declaration_hash":{s(d.declaration_hash)}'
        f',"denied":{_strings(denied)}{_field("expires_at", expires)}'
        f',"gpc":{"true" if gpc else "false"},"granted":{_strings(granted)},"ip":{ip}'
        f',"key_id":{s(key.key_id)},"language":{s(d.language)},"path":{s(d.path)}'
        f',"policy_version":{s(d.policy_version)},"prev_mac":{s(prev_mac)}'
        f',"record_id":{s(record_id)}{_field("regime", d.regime)}{_field("region", d.region)}'
        f'{_field("region_source", d.region_source)},"seq":{seq:d}'
        f'{_field("site_host", d.site_host)},"surface":{s(d.surface)},"timestamp":{s(stamp)}'
        f',"user_agent":{s(d.user_agent)}}}'
    ).encode()
    mac = key.mac_of(data)
    record = ConsentRecord(
        chain_id=chain_id,
        seq=seq,
        record_id=record_id,
        consent_id=d.consent_id,
        timestamp=stamp,
        action=d.action,
        granted=granted,
        denied=denied,
        policy_version=d.policy_version,
        declaration_hash=d.declaration_hash,
        language=d.language,
        surface=d.surface,
        path=d.path,
        ip=d.ip,
        user_agent=d.user_agent,
        gpc=gpc,
        key_id=key.key_id,
        prev_mac=prev_mac,
        mac=mac,
        decision_id=d.decision_id,
        site_host=d.site_host,
        expires_at=expires,
        regime=d.regime,
        region=d.region,
        region_source=d.region_source,
    )
    return record, leaf_hash(data + mac.encode())


def _field(name: str, value: str | None) -> str:
    # An optional field as it follows the one before it, or nothing when it is None.
    return "" if value is None else f',"{name}":{encode_basestring(value)}'


def _strings(values: tuple[str, ...]) -> str:
    return "[" + ",".join(map(encode_basestring, values)) + "]"


class Chain:
    """One writer's chain: its id, the next sequence number and the last MAC.

    Records are sealed tentatively and the chain moves on only once their
    transaction has committed, so a failed write leaves no gap.
    """

    def __init__(
        self, key: LogKey, chain_id: str | None = None, signer: SigningKey | None = None
    ) -> None:
        self.key = key
        self.chain_id = chain_id or new_chain_id()
        self.seq = 0
        self.last_mac = ""
        self.signer = signer
        self.tree = Frontier()
        #: the seal of the batch being written, adopted once it has committed
        self.pending: BatchSeal | None = None

    def seal_batch(self, decisions: list[Decision], now: datetime) -> list[ConsentRecord]:
        """Seal ``decisions`` in order, after the chain's current head, without moving it."""
        records = []
        leaves = []
        seq, prev = self.seq, self.last_mac
        stamp = _stamp(now)
        expiries: dict[int, str] = {}
        # One read of the system's random source for the batch's record ids.
        ids = secrets.token_hex(16 * len(decisions))
        for index, decision in enumerate(decisions):
            seq += 1
            record_id = ids[32 * index : 32 * index + 32]
            record, leaf = _seal(
                decision, self.key, self.chain_id, seq, prev, now, stamp, expiries, record_id
            )
            records.append(record)
            leaves.append(leaf)
            prev = record.mac
        self.pending = None
        if self.signer is not None and records:
            tree = self.tree.copy()
            completed: list[tuple[int, int, bytes]] = []
            for leaf in leaves:
                tree.append(leaf, completed)
            last = records[-1]
            head = SignedHead.make(
                self.signer, self.chain_id, last.seq, tree.root(), last.mac, last.timestamp
            )
            nodes = [node for node in completed if node[0] >= NODE_LEVEL]
            self.pending = BatchSeal(head, nodes, tree, last.seq)
        return records

    def advance(self, records: list[ConsentRecord]) -> None:
        """Move the head past ``records``, which have been committed."""
        if records:
            self.seq = records[-1].seq
            self.last_mac = records[-1].mac
            if self.pending is not None and self.pending.last_seq == self.seq:
                self.tree = self.pending.tree
        self.pending = None

    def resync(self, seq: int, mac: str) -> bool:
        """Take the stored head (``seq``, ``mac``) as the chain's; False if it cannot be followed.

        Without a signer the chain simply continues after it. A signing chain
        must also know its Merkle tree: that is known for its own head and for
        a batch it sent whose answer was lost, and for nothing else.
        """
        if (seq, mac) == (self.seq, self.last_mac):
            return True
        if self.signer is None:
            self.seq, self.last_mac = seq, mac
            return True
        pending = self.pending
        if pending is not None and (pending.last_seq, pending.head.mac) == (seq, mac):
            self.seq, self.last_mac, self.tree = seq, mac, pending.tree
            self.pending = None
            return True
        return False
