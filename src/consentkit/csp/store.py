"""Where violation counts live: one row per day, blocked host, directive, page and consent state.

The same table in SQLite and PostgreSQL, created and migrated like the
analytics tables (a meta table holds the schema version). Rows only ever
grow by upserts; nothing about a visitor is stored. Stores block: call them
off the event loop.
"""

from __future__ import annotations

import abc
import contextlib
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple

from consentkit.errors import StorageError, StorageUnavailable
from consentkit.storage import enable_wal, parse_storage_url, redact, sqlite_read_only

__all__ = [
    "DAILY_TABLE",
    "META_TABLE",
    "CSPStore",
    "PostgresCSPStore",
    "SQLiteCSPStore",
    "ViolationCount",
    "ViolationKey",
    "open_csp_store",
]

DAILY_TABLE = "consentkit_csp_daily"
META_TABLE = "consentkit_csp_meta"
SCHEMA_VERSION = 1
_BUSY_TIMEOUT_MS = 5000
#: pg_advisory_xact_lock key for migrations ("ckcs" in ASCII).
_MIGRATION_LOCK = 0x636B6373


class ViolationKey(NamedTuple):
    """What one count is about."""

    day: date
    host: str
    directive: str
    path: str
    state: str


@dataclass(frozen=True, slots=True)
class ViolationCount:
    """How many reports one day brought for one host, directive, page and consent state."""

    day: date
    host: str
    directive: str
    path: str
    state: str
    reports: int


def migrations(day_type: str) -> list[list[str]]:
    """Statements of each schema version, in order; version N is ``migrations()[N-1]``."""
    return [
        [
            f"""CREATE TABLE IF NOT EXISTS {DAILY_TABLE} (
    day {day_type} NOT NULL,
    host TEXT NOT NULL,
    directive TEXT NOT NULL,
    path TEXT NOT NULL,
    state TEXT NOT NULL,
    reports BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, host, directive, path, state)
)""",
        ],
    ]


_META_DDL = f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


def _upsert(mark: str) -> str:
    return (
        f"INSERT INTO {DAILY_TABLE} (day, host, directive, path, state, reports) "
        f"VALUES ({', '.join([mark] * 6)}) ON CONFLICT (day, host, directive, path, state) "
        f"DO UPDATE SET reports = {DAILY_TABLE}.reports + excluded.reports"
    )


def _select(mark: str) -> str:
    return (
        f"SELECT day, host, directive, path, state, reports FROM {DAILY_TABLE} "
        f"WHERE day >= {mark} AND day <= {mark} ORDER BY day, host, directive, path, state"
    )


def _purge(mark: str) -> str:
    return f"DELETE FROM {DAILY_TABLE} WHERE day < {mark}"


def _counts_of(rows: Iterable[Sequence[Any]]) -> list[ViolationCount]:
    return [
        ViolationCount(
            row[0] if isinstance(row[0], date) else date.fromisoformat(str(row[0])),
            str(row[1]),
            str(row[2]),
            str(row[3]),
            str(row[4]),
            int(row[5]),
        )
        for row in rows
    ]


class CSPStore(abc.ABC):
    """Daily violation counts."""

    @abc.abstractmethod
    def open(self, create: bool = True) -> None:
        """Connect; with ``create``, create or migrate the table."""

    @abc.abstractmethod
    def add(self, counts: dict[ViolationKey, int]) -> None:
        """Add ``counts`` to the stored ones, in one transaction."""

    @abc.abstractmethod
    def counts(self, since: date, until: date) -> list[ViolationCount]:
        """Every row from ``since`` to ``until`` inclusive, oldest first."""

    @abc.abstractmethod
    def purge(self, before: date) -> int:
        """Delete the rows of days before ``before``; returns how many."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections; the store may be opened again."""


def open_csp_store(url: str) -> CSPStore:
    """An unopened store for a storage URL; raises `StorageError` when it is malformed."""
    parsed = parse_storage_url(url)
    if parsed.scheme == "sqlite":
        return SQLiteCSPStore(parsed.target)
    return PostgresCSPStore(parsed.target)


class SQLiteCSPStore(CSPStore):
    """Counts in a SQLite file (the one the consent log uses), WAL. One thread at a time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._has_table = False

    def open(self, create: bool = True) -> None:
        """Open the file (created with ``create``) and create or migrate the table."""
        if self._conn is not None:
            return
        try:
            if create:
                conn = sqlite3.connect(
                    self.path, isolation_level=None, check_same_thread=False, timeout=5
                )
            else:
                if not os.path.exists(self.path):
                    raise StorageError(f"no SQLite database at {self.path!r}")
                # Never writes: works on a copy or a file the reader cannot write.
                conn, _ = sqlite_read_only(self.path, _BUSY_TIMEOUT_MS / 1000)
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            if create:
                enable_wal(conn)
                conn.execute("PRAGMA synchronous = NORMAL")
                self._migrate(conn)
            self._has_table = (
                conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                    (DAILY_TABLE,),
                ).fetchone()
                is not None
            )
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"cannot open SQLite database {self.path!r}: {exc}") from exc
        self._conn = conn

    @staticmethod
    def _migrate(conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(_META_DDL)
            row = conn.execute(
                f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'"
            ).fetchone()
            version = _check_version(int(row[0]) if row else 0)
            for steps in migrations("TEXT")[version:]:
                for statement in steps:
                    conn.execute(statement)
            conn.execute(
                f"INSERT INTO {META_TABLE} (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.open()
        assert self._conn is not None
        return self._conn

    def add(self, counts: dict[ViolationKey, int]) -> None:
        """Upsert ``counts`` in one transaction."""
        if not counts:
            return
        conn = self._connection()
        params = [(k.day.isoformat(), *k[1:], n) for k, n in counts.items()]
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(_upsert("?"), params)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            self.close()
            raise StorageUnavailable(f"SQLite write failed: {exc}") from exc

    def counts(self, since: date, until: date) -> list[ViolationCount]:
        """Rows in the range, oldest first."""
        conn = self._connection()
        if not self._has_table:
            return []
        try:
            rows = conn.execute(_select("?"), (since.isoformat(), until.isoformat())).fetchall()
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"SQLite query failed: {exc}") from exc
        return _counts_of(rows)

    def purge(self, before: date) -> int:
        """Delete the rows of days before ``before``."""
        conn = self._connection()
        try:
            return conn.execute(_purge("?"), (before.isoformat(),)).rowcount
        except sqlite3.Error as exc:
            self.close()
            raise StorageUnavailable(f"SQLite purge failed: {exc}") from exc

    def close(self) -> None:
        """Close the connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()


class PostgresCSPStore(CSPStore):
    """Counts in PostgreSQL (``consentkit[postgres]``) over one connection.

    Several processes may add at once: upserts add to the counts, rows go in
    key order (no deadlocks) and migrations run under an advisory lock.
    """

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: Any = None
        self._has_table = False

    def open(self, create: bool = True) -> None:
        """Connect and, with ``create``, create or migrate the table."""
        if self._conn is not None:
            return
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise StorageError(
                "PostgreSQL storage needs psycopg: pip install 'consentkit[postgres]'"
            ) from exc
        try:
            conn = psycopg.connect(self._dsn, autocommit=False, connect_timeout=5)
        except psycopg.Error as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StorageUnavailable(
                f"cannot connect to PostgreSQL at {redact(self._dsn)}: {first}"
            ) from exc
        try:
            if create:
                with conn.transaction(), conn.cursor() as cur:
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                    cur.execute(_META_DDL)
                    cur.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'")
                    row = cur.fetchone()
                    version = _check_version(int(row[0]) if row else 0)
                    for steps in migrations("DATE")[version:]:
                        for statement in steps:
                            cur.execute(statement)
                    cur.execute(
                        f"INSERT INTO {META_TABLE} (key, value) VALUES ('schema_version', %s) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (str(SCHEMA_VERSION),),
                    )
            with conn.cursor() as cur:
                cur.execute("SELECT to_regclass(%s)", (DAILY_TABLE,))
                row = cur.fetchone()
                self._has_table = row is not None and row[0] is not None
            conn.commit()
        except psycopg.Error as exc:
            conn.close()
            raise StorageUnavailable(f"cannot prepare PostgreSQL tables: {exc}") from exc
        self._conn = conn

    def _run(self, work: Any) -> Any:
        import psycopg

        if self._conn is None or self._conn.closed:
            self._conn = None
            self.open()
        try:
            with self._conn.transaction(), self._conn.cursor() as cur:
                return work(cur)
        except psycopg.Error as exc:
            self.close()
            raise StorageUnavailable(
                f"PostgreSQL error: {type(exc).__name__}: {str(exc).strip()[:200]}"
            ) from exc

    def add(self, counts: dict[ViolationKey, int]) -> None:
        """Upsert ``counts`` in one transaction, in key order."""
        if not counts:
            return
        params = [(*key, n) for key, n in sorted(counts.items())]
        self._run(lambda cur: cur.executemany(_upsert("%s"), params))

    def counts(self, since: date, until: date) -> list[ViolationCount]:
        """Rows in the range, oldest first."""
        if self._conn is None:
            self.open()
        if not self._has_table:
            return []

        def work(cur: Any) -> list[Any]:
            cur.execute(_select("%s"), (since, until))
            return list(cur.fetchall())

        return _counts_of(self._run(work))

    def purge(self, before: date) -> int:
        """Delete the rows of days before ``before``."""

        def work(cur: Any) -> int:
            cur.execute(_purge("%s"), (before,))
            return int(cur.rowcount)

        return int(self._run(work))

    def close(self) -> None:
        """Close the connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


def _check_version(version: int) -> int:
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"CSP report schema version {version} is newer than this consentkit "
            f"({SCHEMA_VERSION}); upgrade consentkit"
        )
    return version
