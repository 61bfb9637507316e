"""The HMAC chain that makes the consent log tamper-evident."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from datetime import datetime, timezone

from consentkit.log.record import ConsentRecord, Decision, canonical_json, decision_fields

__all__ = ["Chain", "LogKey", "derive_log_key", "log_keys_from_env", "new_chain_id", "seal"]


class LogKey:
    """A key that signs consent log records, known by a short public id."""

    __slots__ = ("key_id", "secret")

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.key_id = hashlib.sha256(b"consentkit.log.key-id" + secret).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"LogKey(key_id={self.key_id!r})"

    def mac(self, record: ConsentRecord) -> str:
        """The MAC of ``record`` under this key."""
        return hmac.new(self.secret, record.canonical(), hashlib.sha256).hexdigest()


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


def new_chain_id() -> str:
    """A fresh writer (chain) id."""
    return secrets.token_hex(8)


def seal(
    decision: Decision, key: LogKey, chain_id: str, seq: int, prev_mac: str, now: datetime
) -> ConsentRecord:
    """The sealed record for ``decision`` as record ``seq`` of chain ``chain_id``."""
    fields: dict[str, object] = {
        "chain_id": chain_id,
        "seq": seq,
        "record_id": secrets.token_hex(16),
        "consent_id": decision.consent_id,
        "timestamp": now.astimezone(timezone.utc).isoformat(timespec="microseconds"),
        "action": decision.action,
        "granted": tuple(sorted(decision.granted)),
        "denied": tuple(sorted(decision.denied)),
        "policy_version": decision.policy_version,
        "declaration_hash": decision.declaration_hash,
        "language": decision.language,
        "surface": decision.surface,
        "path": decision.path,
        "ip": decision.ip,
        "user_agent": decision.user_agent,
        "gpc": decision.gpc,
        "key_id": key.key_id,
        "prev_mac": prev_mac,
    }
    fields.update(decision_fields(decision, now))
    mac = hmac.new(key.secret, canonical_json(fields), hashlib.sha256).hexdigest()
    return ConsentRecord(**fields, mac=mac)  # type: ignore[arg-type]


class Chain:
    """One writer's chain: its id, the next sequence number and the last MAC.

    Records are sealed tentatively and the chain moves on only once their
    transaction has committed, so a failed write leaves no gap.
    """

    def __init__(self, key: LogKey, chain_id: str | None = None) -> None:
        self.key = key
        self.chain_id = chain_id or new_chain_id()
        self.seq = 0
        self.last_mac = ""

    def seal_batch(self, decisions: list[Decision], now: datetime) -> list[ConsentRecord]:
        """Seal ``decisions`` in order, after the chain's current head, without moving it."""
        records = []
        seq, prev = self.seq, self.last_mac
        for decision in decisions:
            seq += 1
            record = seal(decision, self.key, self.chain_id, seq, prev, now)
            records.append(record)
            prev = record.mac
        return records

    def advance(self, records: list[ConsentRecord]) -> None:
        """Move the head past ``records``, which have been committed."""
        if records:
            self.seq = records[-1].seq
            self.last_mac = records[-1].mac
