"""Helpers for the consent log tests: raw SQL, the CLI in a subprocess, filling a log."""

from __future__ import annotations

import hashlib
import sqlite3
from typing import Any

SECRET = "s" * 32
DECLARATION = '{"categories": []}'
DECLARATION_HASH = hashlib.sha256(DECLARATION.encode()).hexdigest()


class Database:
    """Raw SQL on a store's database, to tamper with it as an attacker would."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = url.startswith("postgresql")

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Run one statement (``?`` placeholders) and return its rows."""
        if self.postgres:
            import psycopg

            with psycopg.connect(self.url, autocommit=True) as conn:
                cur = conn.execute(sql.replace("?", "%s"), params)
                return list(cur.fetchall()) if cur.description else []
        conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


def decision(i: int, consent_id: str | None = None, action: str = "accept_all") -> Any:
    """A plausible decision number ``i``."""
    from consentkit.log import Decision

    granted = ("analytics", "marketing", "necessary") if action == "accept_all" else ("necessary",)
    denied = () if action == "accept_all" else ("analytics", "marketing")
    return Decision(
        consent_id=consent_id or f"visitor-{i}",
        action=action,
        granted=granted,
        denied=denied,
        policy_version="2026-01",
        declaration_hash=DECLARATION_HASH,
        declaration_json=DECLARATION,
        language="en",
        surface="api",
        path="/reports",
        ip="203.0.113.0",
        user_agent="test-agent",
        gpc=False,
    )


async def fill(
    url: str,
    count: int,
    *,
    secret: str = SECRET,
    clock: Any = None,
    start: int = 0,
    actions: tuple[str, ...] = ("accept_all",),
    signed: bool = True,
) -> list[Any]:
    """Append ``count`` decisions as one writer (one chain); return the records.

    Signed with the key the middleware would derive from ``secret`` unless
    ``signed`` is false (a log as a consentkit before signed heads wrote it).
    """
    import time

    from consentkit.log import derive_log_key, open_consent_log
    from consentkit.log.signing import derive_signing_key

    key = derive_log_key(secret)
    signer = derive_signing_key(key.secret) if signed else None
    log = open_consent_log(url, key, clock=clock or time.time, signer=signer)
    await log.open()
    try:
        records = []
        for i in range(start, start + count):
            records.append(await log.append(decision(i, action=actions[i % len(actions)])))
        return records
    finally:
        await log.close()
