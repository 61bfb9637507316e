"""The consent log in one SQLite file: WAL, a writer thread, group commit."""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import datetime, timezone
from typing import Any

from consentkit.errors import StorageUnavailable
from consentkit.log.base import ConsentLog, DayStats
from consentkit.log.chain import Chain, LogKey
from consentkit.log.record import ConsentRecord, Decision
from consentkit.log.schema import SQLITE_MIGRATIONS

__all__ = ["SQLiteConsentLog", "connect"]

logger = logging.getLogger("consentkit.log")

_INSERT = (
    "INSERT INTO consentkit_log (chain_id, seq, record_id, consent_id, ts, action, granted,"
    " denied, policy_version, declaration_hash, language, surface, path, ip, user_agent, gpc,"
    " key_id, prev_mac, mac) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)

_Item = tuple[Decision, "Future[ConsentRecord]"]


def connect(path: str, synchronous: str = "FULL", timeout: float = 10.0) -> sqlite3.Connection:
    """A connection to the log file with its pragmas set and its schema up to date."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
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


class SQLiteConsentLog(ConsentLog):
    """A consent log in the SQLite file at ``path``.

    One thread owns the write connection. Decisions queue up while a
    transaction commits and go into the next one together (group commit);
    each caller is answered once its own transaction has committed.
    """

    def __init__(
        self,
        path: str,
        key: LogKey,
        *,
        synchronous: str = "FULL",
        max_batch: int = 256,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.chain = Chain(key)
        self._synchronous = synchronous
        self._max_batch = max_batch
        self._clock = clock
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._known_declarations: set[str] = set()
        self._chain_stored = False
        self._lock = threading.Lock()

    async def open(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name=f"consentkit-log-{self.chain.chain_id}", daemon=True
            )
            self._thread.start()

    async def append(self, decision: Decision) -> ConsentRecord:
        if self._thread is None:
            await self.open()
        future: Future[ConsentRecord] = Future()
        self._queue.put((decision, future))
        return await asyncio.wrap_future(future)

    async def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            await asyncio.to_thread(thread.join)

    async def stats(self, since: datetime | None = None) -> list[DayStats]:
        return await asyncio.to_thread(self._stats, since)

    def _stats(self, since: datetime | None) -> list[DayStats]:
        conn = connect(self.path, self._synchronous)
        try:
            return day_stats(_rows(conn, since))
        finally:
            conn.close()

    # The writer thread.

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._write(batch)
                    self._disconnect()
                    return
                batch.append(more)
            self._write(batch)
        self._disconnect()

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _write(self, batch: list[_Item]) -> None:
        decisions = [decision for decision, _ in batch]
        now = datetime.fromtimestamp(self._clock(), timezone.utc)
        records = self.chain.seal_batch(decisions, now)
        try:
            if self._conn is None:
                self._conn = connect(self.path, self._synchronous)
            self._commit(self._conn, decisions, records, now)
        except (sqlite3.Error, OSError) as exc:
            logger.error("consent log write failed: %s", exc.__class__.__name__)
            self._disconnect()
            error = StorageUnavailable("the consent log could not be written")
            for _, future in batch:
                future.set_exception(error)
            return
        self.chain.advance(records)
        for (_, future), record in zip(batch, records):
            future.set_result(record)

    def _commit(
        self,
        conn: sqlite3.Connection,
        decisions: list[Decision],
        records: list[ConsentRecord],
        now: datetime,
    ) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not self._chain_stored:
                conn.execute(
                    "INSERT OR IGNORE INTO consentkit_chains (chain_id, created_at, key_id)"
                    " VALUES (?,?,?)",
                    (self.chain.chain_id, now.isoformat(), self.chain.key.key_id),
                )
            new_declarations = {
                d.declaration_hash: d.declaration_json
                for d in decisions
                if d.declaration_hash not in self._known_declarations
            }
            conn.executemany(
                "INSERT OR IGNORE INTO consentkit_declarations (hash, body, created_at)"
                " VALUES (?,?,?)",
                [(h, body, now.isoformat()) for h, body in new_declarations.items()],
            )
            conn.executemany(_INSERT, [_row(r) for r in records])
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._chain_stored = True
        self._known_declarations.update(new_declarations)


def _row(r: ConsentRecord) -> tuple[Any, ...]:
    return (
        r.chain_id, r.seq, r.record_id, r.consent_id, r.timestamp, r.action,
        json.dumps(list(r.granted)), json.dumps(list(r.denied)), r.policy_version,
        r.declaration_hash, r.language, r.surface, r.path, r.ip, r.user_agent, int(r.gpc),
        r.key_id, r.prev_mac, r.mac,
    )  # fmt: skip


def _rows(conn: sqlite3.Connection, since: datetime | None) -> Iterator[tuple[str, str, str, str]]:
    sql = "SELECT ts, policy_version, action, granted FROM consentkit_log"
    params: tuple[str, ...] = ()
    if since is not None:
        sql += " WHERE ts >= ?"
        params = (since.astimezone(timezone.utc).isoformat(timespec="microseconds"),)
    yield from conn.execute(sql + " ORDER BY ts", params)


def day_stats(rows: Iterator[tuple[str, str, str, str]]) -> list[DayStats]:
    """Fold (timestamp, policy version, action, granted JSON) rows into `DayStats`."""
    days: dict[tuple[str, str], DayStats] = {}
    for ts, policy, action, granted in rows:
        key = (ts[:10], policy)
        stats = days.get(key)
        if stats is None:
            stats = days[key] = DayStats(
                day=datetime.fromisoformat(ts).date(), policy_version=policy, decisions=0
            )
        stats.decisions += 1
        stats.actions[action] = stats.actions.get(action, 0) + 1
        for category in json.loads(granted):
            stats.granted[category] = stats.granted.get(category, 0) + 1
    return [days[k] for k in sorted(days)]
