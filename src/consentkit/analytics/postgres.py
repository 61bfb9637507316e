"""Rollups in PostgreSQL (``consentkit[postgres]``): the same tables, for sites on many machines.

Several processes may flush at once: upserts add to the counts, rows are
written in key order (no deadlocks), and migrations run under an advisory lock.
"""

from __future__ import annotations

import contextlib
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
from consentkit.storage import redact

__all__ = ["PostgresStore"]

#: pg_advisory_xact_lock key for migrations ("ckan" in ASCII).
_MIGRATION_LOCK = 0x636B616E
_CONNECT_TIMEOUT = 5


class PostgresStore(AnalyticsStore):
    """Daily rollups in PostgreSQL over one connection, reopened after a failure."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: Any = None
        self._has_table = False

    def _describe(self) -> str:
        return redact(self._dsn)

    def open(self, create: bool = True) -> None:
        """Connect and, with ``create``, create or migrate the tables."""
        if self._conn is not None:
            return
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise StorageError(
                "PostgreSQL storage needs psycopg: pip install 'consentkit[postgres]'"
            ) from exc
        try:
            conn = psycopg.connect(self._dsn, autocommit=False, connect_timeout=_CONNECT_TIMEOUT)
        except psycopg.Error as exc:
            raise StorageUnavailable(
                f"cannot connect to PostgreSQL at {self._describe()}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}"
            ) from exc
        try:
            if create:
                self._migrate(conn)
            with conn.cursor() as cur:
                cur.execute("SELECT to_regclass(%s)", (DAILY_TABLE,))
                row = cur.fetchone()
                self._has_table = row is not None and row[0] is not None
            conn.commit()
        except psycopg.Error as exc:
            conn.close()
            raise StorageUnavailable(f"cannot prepare PostgreSQL tables: {exc}") from exc
        self._conn = conn

    @staticmethod
    def _migrate(conn: Any) -> None:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            cur.execute(schema.META_DDL)
            cur.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'")
            row = cur.fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"analytics schema version {version} is newer than this consentkit "
                    f"({SCHEMA_VERSION}); upgrade consentkit"
                )
            for steps in schema.migrations("DATE")[version:]:
                for statement in steps:
                    cur.execute(statement)
            cur.execute(
                f"INSERT INTO {META_TABLE} (key, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(SCHEMA_VERSION),),
            )

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = None
            self.open()
        return self._conn

    def _run(self, work: Any) -> Any:
        import psycopg

        conn = self._connection()
        try:
            with conn.transaction(), conn.cursor() as cur:
                return work(cur)
        except psycopg.Error as exc:
            self.close()
            raise StorageUnavailable(
                f"PostgreSQL error: {type(exc).__name__}: {str(exc).strip()[:200]}"
            ) from exc

    def apply(self, rows: Sequence[Rollup]) -> None:
        """Upsert ``rows`` in one transaction."""
        if not rows:
            return
        params = [(row.day, row.section, row.path, *row.counts()) for row in rows]
        self._run(lambda cur: cur.executemany(schema.upsert("%s"), params))

    def purge(self, before: date) -> int:
        """Delete the rows of days before ``before``."""

        def work(cur: Any) -> int:
            cur.execute(schema.purge("%s"), (before,))
            return int(cur.rowcount)

        return int(self._run(work))

    def _query(self, kind: str, since: date, until: date, section: str | None) -> list[Any]:
        self._connection()
        if not self._has_table:
            return []
        params: list[Any] = [since, until]
        if section is not None:
            params.append(section)
        make = schema.select_days if kind == "days" else schema.select_pages

        def work(cur: Any) -> list[Any]:
            cur.execute(make("%s", section is not None), params)
            return list(cur.fetchall())

        result: list[Any] = self._run(work)
        return result

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
            with contextlib.suppress(Exception):
                conn.close()
