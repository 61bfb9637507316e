"""Rollups in SQLite: one file (shared with the consent log), WAL, upserts."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Sequence
from datetime import date
from typing import Any

from consentkit.analytics import schema
from consentkit.analytics.rollup import Rollup
from consentkit.analytics.store import (
    DAILY_TABLE,
    META_TABLE,
    SCHEMA_VERSION,
    AnalyticsStore,
    DayTotals,
    PageTotals,
    day_totals_of,
    page_totals_of,
)
from consentkit.errors import StorageError, StorageUnavailable
from consentkit.storage import enable_wal, sqlite_read_only

__all__ = ["SQLiteStore"]

_BUSY_TIMEOUT_MS = 5000


class SQLiteStore(AnalyticsStore):
    """Daily rollups in a SQLite file. Use from one thread at a time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._has_table = False

    def open(self, create: bool = True) -> None:
        """Open the file (created with ``create``) and create or migrate the tables."""
        if self._conn is not None:
            return
        try:
            if create:
                conn = sqlite3.connect(
                    self.path,
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=_BUSY_TIMEOUT_MS / 1000,
                )
            else:
                if self.path != ":memory:" and not os.path.exists(self.path):
                    raise StorageError(f"no SQLite database at {self.path!r}")
                # Never writes: works on a file the reader cannot write.
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
            conn.execute(schema.META_DDL)
            row = conn.execute(
                f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'"
            ).fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"analytics schema version {version} is newer than this consentkit "
                    f"({SCHEMA_VERSION}); upgrade consentkit"
                )
            for steps in schema.migrations("TEXT")[version:]:
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

    def apply(self, rows: Sequence[Rollup]) -> None:
        """Upsert ``rows`` in one transaction."""
        if not rows:
            return
        conn = self._connection()
        params = [(row.day.isoformat(), row.section, row.path, *row.counts()) for row in rows]
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(schema.upsert("?"), params)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            self.close()
            raise StorageUnavailable(f"SQLite write failed: {exc}") from exc

    def purge(self, before: date) -> int:
        """Delete the rows of days before ``before``."""
        conn = self._connection()
        try:
            cursor = conn.execute(schema.purge("?"), (before.isoformat(),))
        except sqlite3.Error as exc:
            self.close()
            raise StorageUnavailable(f"SQLite purge failed: {exc}") from exc
        return cursor.rowcount

    def _query(self, sql_for: str, since: date, until: date, section: str | None) -> list[Any]:
        conn = self._connection()
        if not self._has_table:
            return []
        params: list[str] = [since.isoformat(), until.isoformat()]
        if section is not None:
            params.append(section)
        make = schema.select_days if sql_for == "days" else schema.select_pages
        try:
            return list(conn.execute(make("?", section is not None), params))
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"SQLite query failed: {exc}") from exc

    def day_totals(self, since: date, until: date, section: str | None) -> list[DayTotals]:
        """Per-day sums, oldest first."""
        return day_totals_of(self._query("days", since, until, section))

    def page_totals(self, since: date, until: date, section: str | None) -> list[PageTotals]:
        """Per-page sums."""
        return page_totals_of(self._query("pages", since, until, section))

    def close(self) -> None:
        """Close the connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
