"""The consent log in one SQLite file: WAL, a writer thread, group commit."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from consentkit.log.base import DayStats, day_stats_query, fold_day_stats
from consentkit.log.chain import LogKey
from consentkit.log.record import ConsentRecord, categories_json
from consentkit.log.schema import SQLITE_MIGRATIONS
from consentkit.log.signing import SigningKey
from consentkit.log.writer import BatchWriterLog
from consentkit.storage import enable_wal

__all__ = ["SQLiteConsentLog", "connect", "migrate", "sqlite_day_stats"]

#: One record into the log table (tests and benchmarks fill logs with it; `_row` gives its values).
_INSERT = (
    "INSERT INTO consentkit_log (chain_id, seq, record_id, consent_id, ts, action, granted,"
    " denied, policy_version, declaration_hash, language, surface, path, ip, user_agent, gpc,"
    " key_id, prev_mac, mac, decision_id, site_host, expires_at, regime, region, region_source)"
    " VALUES (" + ",".join("?" * 25) + ")"
)
_BATCH_INSERT = (
    "INSERT INTO consentkit_log_batch (kind, chain_id, seq, record_id, consent_id, ts, action,"
    " granted, denied, policy_version, declaration_hash, language, surface, path, ip,"
    " user_agent, gpc, key_id, prev_mac, mac, decision_id, site_host, expires_at, root,"
    " signature, level, idx, regime, region, region_source) VALUES "
)
_BATCH_VALUES = "(" + ",".join("?" * 30) + ")"
#: The batch view's last three columns (schema step 6), empty in a row that is not a record.
_NO_REGIME = (None, None, None)


def _chain_row(chain_id: str, created_at: str, key_id: str) -> tuple[Any, ...]:
    return ("chain", chain_id, None, None, None, created_at, *(None,) * 11, key_id,
            *(None,) * 9, *_NO_REGIME)  # fmt: skip


def _head_row(
    chain_id: str, seq: int, root: str, mac: str, ts: str, key_id: str, signature: str
) -> tuple[Any, ...]:
    return ("head", chain_id, seq, None, None, ts, *(None,) * 11, key_id, None, mac,
            None, None, None, root, signature, None, None, *_NO_REGIME)  # fmt: skip


def _node_row(chain_id: str, level: int, idx: int, value: str) -> tuple[Any, ...]:
    return ("node", chain_id, *(None,) * 21, value, None, level, idx, *_NO_REGIME)


def connect(path: str, synchronous: str = "FULL", timeout: float = 10.0) -> sqlite3.Connection:
    """A connection to the log file with its pragmas set and its schema up to date."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        enable_wal(conn, timeout)
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    """Create or upgrade the schema; each step runs once, in its own transaction."""
    conn.execute("CREATE TABLE IF NOT EXISTS consentkit_meta (key TEXT PRIMARY KEY, value TEXT)")
    row = conn.execute("SELECT value FROM consentkit_meta WHERE key='schema_version'").fetchone()
    version = int(row[0]) if row else 0
    for number, statements in enumerate(SQLITE_MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute(
                "SELECT value FROM consentkit_meta WHERE key='schema_version'"
            ).fetchone()
            if (int(row[0]) if row else 0) >= number:
                conn.execute("ROLLBACK")
                continue
            for statement in statements:
                conn.execute(statement)
            conn.execute(
                "INSERT OR REPLACE INTO consentkit_meta (key, value) VALUES ('schema_version', ?)",
                (str(number),),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


class SQLiteConsentLog(BatchWriterLog):
    """A consent log in the SQLite file at ``path``.

    One thread owns the write connection. Decisions queue up while a
    transaction commits and go into the next one together (group commit);
    each caller is answered once its own transaction has committed.
    Several processes may write to one file: each keeps its own chain.
    """

    storage_errors = (sqlite3.Error, OSError)

    def __init__(
        self,
        path: str,
        key: LogKey,
        *,
        synchronous: str = "FULL",
        max_batch: int = 256,
        clock: Callable[[], float] = time.time,
        signer: SigningKey | None = None,
    ) -> None:
        super().__init__(key, max_batch=max_batch, clock=clock, signer=signer)
        self.path = path
        self._synchronous = synchronous

    async def stats(self, since: datetime | None = None) -> list[DayStats]:
        """Decisions per day and policy version, oldest day first."""
        return await asyncio.to_thread(self._stats, since)

    def _stats(self, since: datetime | None) -> list[DayStats]:
        conn = connect(self.path, self._synchronous)
        try:
            return sqlite_day_stats(conn, since)
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path, self._synchronous)

    def _close_connection(self, conn: sqlite3.Connection) -> None:
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    def _stored_decisions(
        self, conn: sqlite3.Connection, decision_ids: list[str]
    ) -> dict[str, ConsentRecord]:
        from consentkit.log.read import RECORD_COLUMNS, record_from_row

        marks = ",".join("?" * len(decision_ids))
        rows = conn.execute(
            f"SELECT {RECORD_COLUMNS} FROM consentkit_log WHERE decision_id IN ({marks})",
            decision_ids,
        ).fetchall()
        records = (record_from_row(row)[1] for row in rows)
        return {str(r.decision_id): r for r in records}

    def _read_head(self, conn: sqlite3.Connection, chain_id: str) -> tuple[int, str] | None:
        row = conn.execute(
            "SELECT seq, mac FROM consentkit_log WHERE chain_id = ? ORDER BY seq DESC LIMIT 1",
            (chain_id,),
        ).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def _commit(
        self,
        conn: sqlite3.Connection,
        records: list[ConsentRecord],
        declarations: dict[str, str],
        register_chain: bool,
        now: datetime,
    ) -> None:
        # New declarations are idempotent and may land on their own.
        if declarations:
            conn.executemany(
                "INSERT OR IGNORE INTO consentkit_declarations (hash, body, created_at)"
                " VALUES (?,?,?)",
                [(h, body, now.isoformat()) for h, body in declarations.items()],
            )
        # The chain's registration, the records, the signed head and the completed
        # Merkle nodes go in as one INSERT into the batch view (its trigger routes each
        # row): one statement, so one implicit transaction (the chain is never
        # registered without its records) and one trip out of the GIL, which the
        # writer thread shares with the event loop.
        params: list[Any] = []
        rows = 0
        if register_chain:
            params += _chain_row(self.chain.chain_id, now.isoformat(), self.chain.key.key_id)
            rows += 1
        for record in records:
            row = _row(record)
            # The batch view has the tree columns between expires_at and regime.
            params += ("record", *row[:22], None, None, None, None, *row[22:])
        rows += len(records)
        seal = self.chain.pending
        if seal is not None:
            head = seal.head
            params += _head_row(head.chain_id, head.seq, head.root, head.mac, head.timestamp,
                                head.key_id, head.signature)  # fmt: skip
            for level, idx, value in seal.nodes:
                params += _node_row(head.chain_id, level, idx, value.hex())
            rows += 1 + len(seal.nodes)
        self._committing()
        conn.execute(_BATCH_INSERT + ",".join([_BATCH_VALUES] * rows), params)


def _row(r: ConsentRecord) -> tuple[Any, ...]:
    return (
        r.chain_id, r.seq, r.record_id, r.consent_id, r.timestamp, r.action,
        categories_json(r.granted), categories_json(r.denied), r.policy_version,
        r.declaration_hash, r.language, r.surface, r.path, r.ip, r.user_agent, int(r.gpc),
        r.key_id, r.prev_mac, r.mac, r.decision_id, r.site_host, r.expires_at,
        r.regime, r.region, r.region_source,
    )  # fmt: skip


def sqlite_day_stats(
    conn: sqlite3.Connection, since: datetime | None, regimes: bool = True
) -> list[DayStats]:
    """`DayStats` from the log in ``conn``, aggregated by SQLite.

    ``regimes``: whether the log has the regime columns (a reader of an older log says no).
    """
    params: tuple[str, ...] = ()
    if since is not None:
        params = (since.astimezone(timezone.utc).isoformat(timespec="microseconds"),) * 2
    sql = day_stats_query("substr(ts, 1, 10)", "?" if params else None, regimes)
    return fold_day_stats(conn.execute(sql, params))
