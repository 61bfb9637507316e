"""The consent log in PostgreSQL: one writer thread per instance, group commit.

Several application instances may share one database: each instance is a
writer with its own chain, and none waits on another (they only ever insert).
The schema is created and migrated by the package, under an advisory lock so
that instances starting together do not race.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from consentkit.errors import StorageError, StorageUnavailable
from consentkit.log.base import DayStats, day_stats_query, fold_day_stats
from consentkit.log.chain import LogKey
from consentkit.log.record import ConsentRecord, categories_json
from consentkit.log.schema import POSTGRES_MIGRATIONS
from consentkit.log.signing import SigningKey
from consentkit.log.writer import BatchWriterLog

psycopg: Any
try:
    import psycopg
except ImportError:  # pragma: no cover - the postgres extra is not installed
    psycopg = None

__all__ = [
    "PostgresConsentLog",
    "connect",
    "connect_read_only",
    "migrate",
    "postgres_day_stats",
    "stored_schema_version",
]

#: pg_advisory_xact_lock key serialising consent log migrations ("ckitlog1").
_MIGRATION_LOCK = 0x636B69746C6F6731

_COLUMNS = (
    "chain_id, seq, record_id, consent_id, ts, action, granted, denied, policy_version,"
    " declaration_hash, language, surface, path, ip, user_agent, gpc, key_id, prev_mac, mac,"
    " decision_id, site_host, expires_at, regime, region, region_source"
)
_TYPES = (
    "text", "bigint", "text", "text", "timestamptz", "text", "text", "text", "text",
    "text", "text", "text", "text", "text", "text", "boolean", "text", "text", "text",
    "text", "text", "timestamptz", "text", "text", "text",
)  # fmt: skip
# A whole batch is one statement: its new declarations, the chain's registration,
# the records, the signed head and the completed Merkle nodes, each passed as a
# JSON array (empty when there is none). One statement is one transaction without
# BEGIN and COMMIT, and one round trip; its SQL text is the same for every batch,
# so it is parsed and planned once; the records go in in their chain order.
_INSERT_BATCH = (
    "WITH declarations AS (INSERT INTO consentkit_declarations (hash, body, created_at)"
    " SELECT d->>0, d->>1, (d->>2)::timestamptz FROM jsonb_array_elements(%s::jsonb) AS d"
    " ON CONFLICT DO NOTHING),"
    " chain AS (INSERT INTO consentkit_chains (chain_id, created_at, key_id)"
    " SELECT c->>0, (c->>1)::timestamptz, c->>2 FROM jsonb_array_elements(%s::jsonb) AS c"
    " ON CONFLICT DO NOTHING),"
    " head AS (INSERT INTO consentkit_log_heads (chain_id, seq, root, mac, ts, key_id, signature)"
    " SELECT h->>0, (h->>1)::bigint, h->>2, h->>3, h->>4, h->>5, h->>6"
    " FROM jsonb_array_elements(%s::jsonb) AS h),"
    " nodes AS (INSERT INTO consentkit_log_nodes (chain_id, level, idx, hash)"
    " SELECT x->>0, (x->>1)::integer, (x->>2)::bigint, x->>3"
    " FROM jsonb_array_elements(%s::jsonb) AS x)"
    f" INSERT INTO consentkit_log ({_COLUMNS}) SELECT "
    + ", ".join(f"(r->>{i})::{t}" for i, t in enumerate(_TYPES))
    + " FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS batch(r, n) ORDER BY n"
)
_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _driver() -> Any:
    if psycopg is None:
        raise StorageError("PostgreSQL storage needs psycopg: pip install 'consentkit[postgres]'")
    return psycopg


def connect(dsn: str, *, create: bool = True, connect_timeout: int = 5) -> Any:
    """A psycopg connection to ``dsn`` with the consent log schema up to date.

    Raises `StorageUnavailable` when the server cannot be reached, with a
    message that never contains the password. With ``create=False`` a
    database without a consent log raises `StorageError` instead of getting one.
    """
    driver = _driver()
    try:
        conn = driver.connect(dsn, connect_timeout=connect_timeout, autocommit=True)
    except driver.Error as exc:
        raise StorageUnavailable(f"cannot connect to PostgreSQL: {_first_line(exc)}") from None
    try:
        if not create:
            with conn.cursor() as cur:
                cur.execute("SELECT to_regclass('consentkit_log')")
                row = cur.fetchone()
            conn.rollback()
            if row is None or row[0] is None:
                raise StorageError("there is no consent log in this PostgreSQL database")
        migrate(conn)
    except driver.Error as exc:
        conn.close()
        raise StorageUnavailable(f"PostgreSQL failed: {_first_line(exc)}") from None
    except BaseException:
        conn.close()
        raise
    return conn


def connect_read_only(dsn: str, *, connect_timeout: int = 5) -> Any:
    """A read-only session on the consent log at ``dsn``; never creates or migrates.

    A role with only SELECT on the consent log's tables is enough. Raises
    `StorageUnavailable` when the server cannot be reached and `StorageError`
    when there is no consent log there.
    """
    driver = _driver()
    try:
        conn = driver.connect(dsn, connect_timeout=connect_timeout, autocommit=True)
    except driver.Error as exc:
        raise StorageUnavailable(f"cannot connect to PostgreSQL: {_first_line(exc)}") from None
    try:
        conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        row = conn.execute("SELECT to_regclass('consentkit_log')").fetchone()
        if row is None or row[0] is None:
            raise StorageError("there is no consent log in this PostgreSQL database")
    except driver.Error as exc:
        conn.close()
        raise StorageUnavailable(f"PostgreSQL failed: {_first_line(exc)}") from None
    except BaseException:
        conn.close()
        raise
    return conn


def stored_schema_version(conn: Any) -> int:
    """The consent log's schema version as stored (1 when it was never recorded)."""
    driver = _driver()
    try:
        row = conn.execute(
            "SELECT value FROM consentkit_meta WHERE key = 'schema_version'"
        ).fetchone()
    except driver.errors.InsufficientPrivilege:
        raise StorageError(
            "this PostgreSQL role cannot read consentkit_meta: grant it SELECT on every"
            " consentkit_* table (GRANT SELECT ON consentkit_meta, consentkit_log,"
            " consentkit_chains, consentkit_declarations, consentkit_log_anchors TO role)"
        ) from None
    except driver.errors.UndefinedTable:
        return 1
    return int(row[0]) if row else 1


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def migrate(conn: Any) -> None:
    """Create or upgrade the schema in one transaction, under an advisory lock."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        cur.execute("CREATE TABLE IF NOT EXISTS consentkit_meta (key TEXT PRIMARY KEY, value TEXT)")
        cur.execute("SELECT value FROM consentkit_meta WHERE key = 'schema_version'")
        row = cur.fetchone()
        version = int(row[0]) if row else 0
        if version > len(POSTGRES_MIGRATIONS):
            raise StorageError(
                f"the consent log schema is at version {version}, newer than this "
                f"consentkit knows ({len(POSTGRES_MIGRATIONS)}); upgrade consentkit"
            )
        for statements in POSTGRES_MIGRATIONS[version:]:
            for statement in statements:
                cur.execute(statement)
        if version < len(POSTGRES_MIGRATIONS):
            cur.execute(
                "INSERT INTO consentkit_meta (key, value) VALUES ('schema_version', %s)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(len(POSTGRES_MIGRATIONS)),),
            )


def postgres_day_stats(conn: Any, since: datetime | None, regimes: bool = True) -> list[DayStats]:
    """`DayStats` from the log in ``conn``, aggregated by PostgreSQL (UTC days).

    ``regimes``: whether the log has the regime columns (a reader of an older log says no).
    """
    params: tuple[datetime, ...] = () if since is None else (since, since)
    sql = day_stats_query("(ts AT TIME ZONE 'UTC')::date", "%s" if params else None, regimes)
    with conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    conn.rollback()
    return fold_day_stats(rows)


class PostgresConsentLog(BatchWriterLog):
    """A consent log in the PostgreSQL database at ``dsn``.

    One thread per instance owns a connection and commits the decisions that
    queued up meanwhile in one transaction. When the database cannot be
    reached, ``append`` raises `StorageUnavailable`; the next decision tries
    a new connection, so the log recovers by itself when the database returns.
    """

    def __init__(
        self,
        dsn: str,
        key: LogKey,
        *,
        max_batch: int = 256,
        connect_timeout: int = 5,
        clock: Callable[[], float] = time.time,
        signer: SigningKey | None = None,
    ) -> None:
        super().__init__(key, max_batch=max_batch, clock=clock, signer=signer)
        self.dsn = dsn
        self._connect_timeout = connect_timeout
        driver = _driver()
        self.storage_errors = (driver.Error, StorageUnavailable, OSError)

    async def stats(self, since: datetime | None = None) -> list[DayStats]:
        """Decisions per day and policy version, oldest day first."""
        return await asyncio.to_thread(self._stats, since)

    def _stats(self, since: datetime | None) -> list[DayStats]:
        conn = connect(self.dsn, connect_timeout=self._connect_timeout)
        try:
            return postgres_day_stats(conn, since)
        except _driver().Error as exc:
            raise StorageUnavailable(f"PostgreSQL failed: {_first_line(exc)}") from None
        finally:
            conn.close()

    def _connect(self) -> Any:
        return connect(self.dsn, connect_timeout=self._connect_timeout)

    def _close_connection(self, conn: Any) -> None:
        with contextlib.suppress(Exception):
            conn.close()

    def _stored_decisions(self, conn: Any, decision_ids: list[str]) -> dict[str, ConsentRecord]:
        from consentkit.log.read import RECORD_COLUMNS, record_from_row

        with conn.cursor() as cur:
            cur.execute(
                f"SELECT {RECORD_COLUMNS} FROM consentkit_log WHERE decision_id = ANY(%s)",
                (decision_ids,),
            )
            rows = cur.fetchall()
        conn.rollback()
        records = (record_from_row(row)[1] for row in rows)
        return {str(r.decision_id): r for r in records}

    def _read_head(self, conn: Any, chain_id: str) -> tuple[int, str] | None:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT seq, mac FROM consentkit_log WHERE chain_id = %s ORDER BY seq DESC LIMIT 1",
                (chain_id,),
            )
            row = cur.fetchone()
        conn.rollback()
        return (int(row[0]), str(row[1])) if row else None

    def _commit(
        self,
        conn: Any,
        records: list[ConsentRecord],
        declarations: dict[str, str],
        register_chain: bool,
        now: datetime,
    ) -> None:
        # One statement (see _INSERT_BATCH): neither the chain, the signed head nor
        # the Merkle nodes land without the records.
        stamp = now.isoformat()
        chain = self.chain
        registration = [(chain.chain_id, stamp, chain.key.key_id)] if register_chain else []
        heads: list[tuple[Any, ...]] = []
        nodes: list[tuple[Any, ...]] = []
        if chain.pending is not None:
            head = chain.pending.head
            heads.append((head.chain_id, head.seq, head.root, head.mac, head.timestamp,
                          head.key_id, head.signature))  # fmt: skip
            nodes = [(head.chain_id, lvl, idx, h.hex()) for lvl, idx, h in chain.pending.nodes]
        params = (
            _json.encode([(h, body, stamp) for h, body in declarations.items()]),
            _json.encode(registration),
            _json.encode(heads),
            _json.encode(nodes),
            _json.encode([_row(record) for record in records]),
        )
        with conn.cursor() as cur:
            self._committing()
            cur.execute(_INSERT_BATCH, params)


def _row(r: ConsentRecord) -> tuple[Any, ...]:
    # Times as their ISO 8601 text: PostgreSQL reads it for a timestamptz column.
    return (
        r.chain_id, r.seq, r.record_id, r.consent_id, r.timestamp, r.action,
        categories_json(r.granted), categories_json(r.denied), r.policy_version,
        r.declaration_hash, r.language, r.surface, r.path, r.ip, r.user_agent, r.gpc,
        r.key_id, r.prev_mac, r.mac, r.decision_id, r.site_host, r.expires_at,
        r.regime, r.region, r.region_source,
    )  # fmt: skip
