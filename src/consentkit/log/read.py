"""Reading a stored consent log, for the auditor's commands (SQLite and PostgreSQL).

Records are streamed: an iterating cursor on SQLite, a server-side cursor on
PostgreSQL, so memory stays flat however long the log is.

A reader opened for reading (the default) never writes: it never creates,
migrates or changes the log, and it works on a copy the auditor cannot
write. SQLite: read-only (``mode=ro``) first; when that cannot work (a
WAL-mode file in a directory the reader cannot write, or a file owned by
someone else) the file is opened ``immutable=1``, which reads only what has
been checkpointed into the main file: transactions still in the ``-wal``
file are not seen, and a warning says so. PostgreSQL: a read-only session,
so a role with only SELECT is enough. A log with an older schema is read as
far as it goes (fields it does not have yet are ``None``); one with a newer
schema is refused with what to do.
"""

from __future__ import annotations

import abc
import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType
from typing import Any
from urllib.parse import quote

from consentkit.errors import StorageError, StorageUnavailable
from consentkit.log.base import DayStats
from consentkit.log.chain import NODE_LEVEL, SignedHead, record_leaf
from consentkit.log.merkle import Frontier
from consentkit.log.purges import PurgeCut, PurgeStatement, make_statement
from consentkit.log.record import OPTIONAL_FIELDS, RECORD_FIELDS, ConsentRecord
from consentkit.log.schema import SQLITE_MIGRATIONS
from consentkit.log.signing import SigningKey
from consentkit.storage import parse_storage_url, sqlite_read_only

__all__ = [
    "RECORD_COLUMNS",
    "Anchor",
    "LogReader",
    "PurgeResult",
    "open_reader",
    "record_from_row",
]

_BASE_COLUMNS = (
    "id, chain_id, seq, record_id, consent_id, ts, action, granted, denied, policy_version,"
    " declaration_hash, language, surface, path, ip, user_agent, gpc, key_id, prev_mac, mac"
)
#: The columns `record_from_row` reads, in order (schema version 6 and later).
RECORD_COLUMNS = _BASE_COLUMNS + ", " + ", ".join(OPTIONAL_FIELDS)
#: The schema version this consentkit writes (both backends have as many steps).
SCHEMA_VERSION = len(SQLITE_MIGRATIONS)
_BATCH = 2000


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where a purge cut a chain: record ``seq`` (MAC ``mac``) and all before it are gone."""

    chain_id: str
    seq: int
    mac: str
    timestamp: str


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What a purge removed, and the signed statement that says so (None if nothing was)."""

    deleted: int
    chains: int
    remaining: int
    statement: PurgeStatement | None = None


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat(timespec="microseconds")
    return str(value)


def _categories(stored: Any) -> tuple[str, ...]:
    # A value that is not a JSON list of keys was altered in storage: keep it
    # visibly, so the record's MAC fails to match and verify names it.
    try:
        keys = json.loads(stored)
    except (TypeError, ValueError):
        return (f"<unreadable {str(stored)[:40]!r}>",)
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return (f"<unreadable {str(stored)[:40]!r}>",)
    return tuple(keys)


def record_from_row(row: Any) -> tuple[int, ConsentRecord]:
    """(storage id, record) from a row of `RECORD_COLUMNS`."""
    return int(row[0]), ConsentRecord(
        chain_id=row[1],
        seq=int(row[2]),
        record_id=row[3],
        consent_id=row[4],
        timestamp=_iso(row[5]),
        action=row[6],
        granted=_categories(row[7]),
        denied=_categories(row[8]),
        policy_version=row[9],
        declaration_hash=row[10],
        language=row[11],
        surface=row[12],
        path=row[13],
        ip=row[14],
        user_agent=row[15],
        gpc=bool(row[16]),
        key_id=row[17],
        prev_mac=row[18],
        mac=row[19],
        decision_id=row[20],
        site_host=row[21],
        expires_at=None if row[22] is None else _iso(row[22]),
        regime=row[23],
        region=row[24],
        region_source=row[25],
    )


class LogReader(abc.ABC):
    """Read access to one stored consent log; use as a context manager."""

    #: The placeholder of the driver's parameter style.
    mark = "?"
    #: The stored schema version, read when the reader opens.
    schema_version = SCHEMA_VERSION
    #: The SELECT list of a record for this log's schema version.
    _columns = RECORD_COLUMNS
    #: Whether the log has a purge anchor table (schema version 2 and later).
    _has_anchors = True
    #: Whether the log has the regime and region columns (schema version 6 and later).
    _has_regimes = True
    #: Why what is read may be incomplete (for the command to print), or None.
    warning: str | None = None

    def _check_schema(self, version: int, where: str) -> None:
        """Refuse a newer schema; fit the queries to an older one (never migrate).

        What an older log lacks is found by looking, not by version number:
        a missing optional column reads as NULL, a missing anchor table as no
        anchors.
        """
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"the consent log in {where} has schema version {version}, newer than this"
                f" consentkit reads ({SCHEMA_VERSION}): upgrade consentkit to read it"
            )
        self.schema_version = version
        if version == SCHEMA_VERSION:
            return
        present = self._column_names("consentkit_log")
        optional = [name if name in present else "NULL" for name in OPTIONAL_FIELDS]
        self._columns = _BASE_COLUMNS + ", " + ", ".join(optional)
        self._has_regimes = "regime" in present
        self._has_anchors = bool(self._column_names("consentkit_log_anchors"))

    @abc.abstractmethod
    def _column_names(self, table: str) -> set[str]:
        """The columns of ``table`` (empty when there is no such table)."""

    def __enter__(self) -> LogReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection."""

    @abc.abstractmethod
    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """All rows of a small query."""

    @abc.abstractmethod
    def _stream(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[Any]:
        """The rows of a large query, a batch at a time."""

    @abc.abstractmethod
    def _ts_param(self, when: datetime) -> Any:
        """``when`` as the driver compares it with the ``ts`` column."""

    @abc.abstractmethod
    def stats(self, since: datetime | None = None) -> list[DayStats]:
        """Decisions per day and policy version, oldest day first."""

    @abc.abstractmethod
    def _write_transaction(self) -> contextlib.AbstractContextManager[None]:
        """A write transaction (serialised with the writers)."""

    @abc.abstractmethod
    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """Run one writing statement; its row count."""

    @abc.abstractmethod
    def _execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """Run one writing statement per row."""

    @property
    def _ignore(self) -> str:
        return " ON CONFLICT DO NOTHING"

    def records(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        consent_id: str | None = None,
    ) -> Iterator[ConsentRecord]:
        """Records in time order (then storage order), filtered."""
        sql, params = self._records_query(since, until, consent_id)
        for row in self._stream(sql, params):
            yield record_from_row(row)[1]

    def _records_query(
        self, since: datetime | None, until: datetime | None, consent_id: str | None
    ) -> tuple[str, tuple[Any, ...]]:
        where, params = [], []
        if since is not None:
            where.append(f"ts >= {self.mark}")
            params.append(self._ts_param(since))
        if until is not None:
            where.append(f"ts < {self.mark}")
            params.append(self._ts_param(until))
        if consent_id is not None:
            where.append(f"consent_id = {self.mark}")
            params.append(consent_id)
        sql = f"SELECT {self._columns} FROM consentkit_log"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return sql + " ORDER BY ts, id", tuple(params)

    def record_dicts(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        consent_id: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """What `records` yields, each as `ConsentRecord.as_dict` would give it.

        The export's path: plain dicts straight from the rows, without a
        record object per row, and each distinct stored category list parsed
        once.
        """
        sql, params = self._records_query(since, until, consent_id)
        # Category lists repeat: parse each distinct stored text once.
        categories: dict[Any, list[str]] = {}

        def keys(stored: Any) -> list[str]:
            found = categories.get(stored)
            if found is None:
                found = list(_categories(stored))
                if len(categories) < 4096:
                    categories[stored] = found
            return found

        names = RECORD_FIELDS
        convert_times = self.mark != "?"  # PostgreSQL gives datetimes, SQLite text
        for row in self._stream(sql, params):
            data = dict(zip(names, row[1:], strict=True))
            granted, denied = categories.get(row[7]), categories.get(row[8])
            data["granted"] = keys(row[7]) if granted is None else granted
            data["denied"] = keys(row[8]) if denied is None else denied
            data["gpc"] = bool(row[16])
            if convert_times:
                data["timestamp"] = _iso(row[5])
                if row[22] is not None:
                    data["expires_at"] = _iso(row[22])
            yield data

    def chain_records(self) -> Iterator[tuple[int, ConsentRecord]]:
        """(storage id, record) of every record, chain by chain, in sequence order."""
        sql = f"SELECT {self._columns} FROM consentkit_log ORDER BY chain_id, seq, id"
        for row in self._stream(sql):
            yield record_from_row(row)

    def declaration(self, declaration_hash: str) -> str | None:
        """The stored body of the declaration with this exact hash, or None."""
        rows = self._query(
            f"SELECT body FROM consentkit_declarations WHERE hash = {self.mark}",
            (declaration_hash,),
        )
        return str(rows[0][0]) if rows else None

    def declaration_hashes(self, prefix: str, limit: int = 10) -> list[str]:
        """Stored declaration hashes that start with ``prefix`` (at most ``limit``)."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._query(
            "SELECT hash FROM consentkit_declarations"
            f" WHERE hash LIKE {self.mark} ESCAPE '\\' ORDER BY hash LIMIT {int(limit)}",
            (escaped + "%",),
        )
        return [str(row[0]) for row in rows]

    def chains(self) -> dict[str, str]:
        """Registered chains: chain id -> id of the key it was created with."""
        return {
            str(c): str(k) for c, k in self._query("SELECT chain_id, key_id FROM consentkit_chains")
        }

    def anchors(self) -> dict[str, Anchor]:
        """Chains cut by a purge: chain id -> where verification starts."""
        if not self._has_anchors:
            return {}
        rows = self._query("SELECT chain_id, seq, mac, ts FROM consentkit_log_anchors")
        return {str(r[0]): Anchor(str(r[0]), int(r[1]), str(r[2]), _iso(r[3])) for r in rows}

    def signed_heads(self) -> dict[str, SignedHead]:
        """The latest signed head of every chain that has one."""
        rows = self._query(
            "SELECT h.chain_id, h.seq, h.root, h.mac, h.ts, h.key_id, h.signature"
            " FROM consentkit_log_heads h JOIN (SELECT chain_id, max(seq) AS seq"
            " FROM consentkit_log_heads GROUP BY chain_id) m"
            " ON h.chain_id = m.chain_id AND h.seq = m.seq"
        )
        return {
            str(r[0]): SignedHead(
                str(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), str(r[6])
            )
            for r in rows
        }

    def purge_statements(self) -> list[PurgeStatement]:
        """Every signed purge statement, in order."""
        rows = self._query(
            "SELECT seq, body, key_id, signature FROM consentkit_log_purges ORDER BY seq"
        )
        return [PurgeStatement(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    def declarations(self) -> Iterator[tuple[str, str]]:
        """(hash, body) of every stored declaration, streamed."""
        for row in self._stream("SELECT hash, body FROM consentkit_declarations ORDER BY hash"):
            yield str(row[0]), str(row[1])

    def latest_checkpoint(self) -> str | None:
        """The body of the newest stored checkpoint, if any."""
        rows = self._query("SELECT body FROM consentkit_log_checkpoints ORDER BY id DESC LIMIT 1")
        return str(rows[0][0]) if rows else None

    def store_checkpoint(self, created_at: str, body: str, keep: int = 10) -> None:
        """Keep a signed checkpoint in the database, and only the ``keep`` newest.

        The database's copies are a convenience (``verify`` uses the newest,
        receipts cite one); the history that matters is the sink's.
        """
        with self._write_transaction():
            self._execute(
                "INSERT INTO consentkit_log_checkpoints (created_at, body)"
                f" VALUES ({self.mark}, {self.mark})",
                (created_at, body),
            )
            self._execute(
                "DELETE FROM consentkit_log_checkpoints WHERE id <="
                f" (SELECT max(id) FROM consentkit_log_checkpoints) - {self.mark}",
                (keep,),
            )

    def store_head(self, head: SignedHead, nodes: list[tuple[int, int, bytes]]) -> None:
        """Store a signed head and its chain's completed subtrees (``consentkit log adopt``)."""
        m = self.mark
        with self._write_transaction():
            self._execute(
                "INSERT INTO consentkit_log_heads (chain_id, seq, root, mac, ts, key_id, signature)"
                f" VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m})",
                (head.chain_id, head.seq, head.root, head.mac, head.timestamp, head.key_id,
                 head.signature),
            )  # fmt: skip
            if nodes:
                self._execute_many(
                    "INSERT INTO consentkit_log_nodes (chain_id, level, idx, hash)"
                    f" VALUES ({m}, {m}, {m}, {m})" + self._ignore,
                    [(head.chain_id, level, idx, value.hex()) for level, idx, value in nodes],
                )

    def nodes(self, chain_id: str, wanted: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored Merkle subtree hashes of ``chain_id`` among ``wanted`` (level, index)."""
        if not wanted:
            return {}
        m = self.mark
        where = " OR ".join([f"(level = {m} AND idx = {m})"] * len(wanted))
        params: list[Any] = [chain_id]
        for level, index in wanted:
            params.extend((level, index))
        rows = self._query(
            f"SELECT level, idx, hash FROM consentkit_log_nodes WHERE chain_id = {m} AND ({where})",
            tuple(params),
        )
        return {(int(r[0]), int(r[1])): bytes.fromhex(str(r[2])) for r in rows}

    def leaf_hashes(self, chain_id: str, start: int, end: int) -> list[bytes]:
        """Leaf hashes ``start`` to ``end - 1`` of a chain (records seq start+1 .. end).

        Purged leaves come from the hashes the purge kept; raises
        `StorageError` when a leaf is neither stored nor kept.
        """
        m = self.mark
        found: dict[int, bytes] = {}
        for row in self._query(
            f"SELECT {self._columns} FROM consentkit_log WHERE chain_id = {m} AND seq > {m}"
            f" AND seq <= {m} ORDER BY seq, id",
            (chain_id, start, end),
        ):
            record = record_from_row(row)[1]
            found.setdefault(record.seq - 1, record_leaf(record))
        if len(found) < end - start:
            for idx, digest in self._query(
                f"SELECT idx, hash FROM consentkit_log_nodes WHERE chain_id = {m} AND level = 0"
                f" AND idx >= {m} AND idx < {m}",
                (chain_id, start, end),
            ):
                found.setdefault(int(idx), bytes.fromhex(str(digest)))
        missing = [i + 1 for i in range(start, end) if i not in found]
        if missing:
            raise StorageError(f"chain {chain_id}: record seq {missing[0]} is missing from the log")
        return [found[i] for i in range(start, end)]

    def purge(self, before: datetime, now: datetime, signer: SigningKey, by: str) -> PurgeResult:
        """Delete records older than ``before`` and sign a statement of what went.

        Anchors an older consentkit left are converted into the statement too
        (marked as such: their Merkle frontier is unknown), and removed.
        """
        with self._write_transaction():
            statements = self.purge_statements()
            previous: dict[str, PurgeCut] = {}
            for statement in statements:
                previous.update(statement.cuts())
            cuts: list[PurgeCut] = []
            legacy = [a for c, a in self.anchors().items() if c not in previous]
            for anchor in legacy:
                cut = PurgeCut(anchor.chain_id, anchor.seq, None, anchor.mac, None)
                cuts.append(cut)
                previous[anchor.chain_id] = cut
            kept: list[tuple[str, int, int, str]] = []
            deleted = 0
            plan = self._purge_plan(before)
            for chain_id, seq, mac, _ in plan:
                cut, leaves = self._cut(chain_id, seq, mac, previous.get(chain_id))
                cuts.append(cut)
                kept.extend((chain_id, 0, idx, digest.hex()) for idx, digest in leaves)
            if not cuts:
                remaining = int(self._query("SELECT count(*) FROM consentkit_log")[0][0])
                return PurgeResult(0, 0, remaining)
            statement = make_statement(
                signer,
                len(statements) + 1,
                statements[-1].digest if statements else "",
                now.astimezone(timezone.utc).isoformat(timespec="seconds"),
                by,
                before.astimezone(timezone.utc).isoformat(timespec="seconds"),
                cuts,
            )
            m = self.mark
            self._execute(
                "INSERT INTO consentkit_log_purges (seq, body, key_id, signature)"
                f" VALUES ({m}, {m}, {m}, {m})",
                (statement.seq, statement.body, statement.key_id, statement.signature),
            )
            if kept:
                self._execute_many(
                    "INSERT INTO consentkit_log_nodes (chain_id, level, idx, hash)"
                    f" VALUES ({m}, {m}, {m}, {m})" + self._ignore,
                    kept,
                )
            for chain_id, seq, _, _ in plan:
                deleted += self._execute(
                    f"DELETE FROM consentkit_log WHERE chain_id = {m} AND seq <= {m}",
                    (chain_id, seq),
                )
            for anchor in legacy:
                self._execute(
                    f"DELETE FROM consentkit_log_anchors WHERE chain_id = {m}", (anchor.chain_id,)
                )
            remaining = int(self._query("SELECT count(*) FROM consentkit_log")[0][0])
        return PurgeResult(deleted, len(plan), remaining, statement)

    def _cut(
        self, chain_id: str, seq: int, mac: str, previous: PurgeCut | None
    ) -> tuple[PurgeCut, list[tuple[int, bytes]]]:
        # The frontier at the cut, from the previous cut's, and the leaf
        # hashes of the cut's partial block (inclusion proofs of the records
        # that stay need them).
        start = previous.up_to_seq if previous else 0
        frontier: Frontier | None = Frontier()
        if previous is not None:
            frontier = previous.frontier.copy() if previous.frontier is not None else None
        block = (seq >> NODE_LEVEL) << NODE_LEVEL
        leaves: list[tuple[int, bytes]] = []
        count = 0
        m = self.mark
        for row in self._stream(
            f"SELECT {self._columns} FROM consentkit_log WHERE chain_id = {m} AND seq > {m}"
            f" AND seq <= {m} ORDER BY seq, id",
            (chain_id, start, seq),
        ):
            record = record_from_row(row)[1]
            count += 1
            digest = record_leaf(record)
            if frontier is not None:
                if frontier.size != record.seq - 1:
                    frontier = None  # records were already missing: say so, do not cover it
                else:
                    frontier.append(digest)
            if record.seq - 1 >= block:
                leaves.append((record.seq - 1, digest))
        if frontier is not None and frontier.size != seq:
            frontier = None
        return PurgeCut(chain_id, seq, count, mac, frontier), leaves

    def _purge_plan(self, before: datetime) -> list[tuple[str, int, str, Any]]:
        # Per chain, the last record older than the cut: it and all before it go.
        return [
            (str(r[0]), int(r[1]), str(r[2]), r[3])
            for r in self._query(
                "SELECT l.chain_id, l.seq, l.mac, l.ts FROM consentkit_log l JOIN"
                " (SELECT chain_id, max(seq) AS seq FROM consentkit_log"
                f" WHERE ts < {self.mark} GROUP BY chain_id) c"
                " ON l.chain_id = c.chain_id AND l.seq = c.seq",
                (self._ts_param(before),),
            )
        ]


class SQLiteLogReader(LogReader):
    """A consent log in a SQLite file.

    With ``write=False`` (the default) the file is opened read-only and never
    changed; ``warning`` then says when what is read may be incomplete.
    ``write=True`` (purge, checkpoint, adopt) opens it for writing and brings the schema
    up to date first.
    """

    def __init__(self, path: str, *, write: bool = False) -> None:
        from consentkit.log.sqlite import migrate

        self.warning = None
        if path == ":memory:" or not os.path.isfile(path):
            raise StorageUnavailable(f"there is no SQLite database at {path!r}")
        try:
            if write:
                self._conn = sqlite3.connect(
                    f"file:{quote(os.path.abspath(path))}?mode=rw",
                    uri=True,
                    isolation_level=None,
                    timeout=10.0,
                    check_same_thread=False,
                )
            else:
                self._conn, self.warning = sqlite_read_only(path)
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"cannot open SQLite database {path!r}: {exc}") from None
        try:
            row = self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name='consentkit_log'"
            ).fetchone()
            if row is None:
                raise StorageError(f"there is no consent log in the SQLite database {path!r}")
            if write:
                migrate(self._conn)
            self._check_schema(self._stored_version(), repr(path))
        except sqlite3.Error as exc:
            self._conn.close()
            raise StorageUnavailable(f"cannot read SQLite database {path!r}: {exc}") from None
        except BaseException:
            self._conn.close()
            raise

    def _column_names(self, table: str) -> set[str]:
        return {str(row[1]) for row in self._conn.execute(f"PRAGMA table_info({table})")}

    def _stored_version(self) -> int:
        try:
            row = self._conn.execute(
                "SELECT value FROM consentkit_meta WHERE key='schema_version'"
            ).fetchone()
        except sqlite3.OperationalError:  # no meta table: the very first schema
            return 1
        return int(row[0]) if row else 1

    def close(self) -> None:
        self._conn.close()

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self._conn.execute(sql, params).fetchall()

    def _stream(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[Any]:
        cursor = self._conn.execute(sql, params)
        try:
            while rows := cursor.fetchmany(_BATCH):
                yield from rows
        finally:
            with contextlib.suppress(sqlite3.Error):
                cursor.close()

    def _ts_param(self, when: datetime) -> Any:
        return when.astimezone(timezone.utc).isoformat(timespec="microseconds")

    def stats(self, since: datetime | None = None) -> list[DayStats]:
        from consentkit.log.sqlite import sqlite_day_stats

        return sqlite_day_stats(self._conn, since, self._has_regimes)

    @contextlib.contextmanager
    def _write_transaction(self) -> Iterator[None]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return int(self._conn.execute(sql, params).rowcount)

    def _execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self._conn.executemany(sql, rows)


class PostgresLogReader(LogReader):
    """A consent log in a PostgreSQL database.

    With ``write=False`` (the default) the session is read-only: a role with
    only SELECT on the consent log's tables can read it, and nothing is ever
    created or migrated. ``write=True`` (purge, checkpoint, adopt) migrates first.
    """

    mark = "%s"

    def __init__(self, dsn: str, *, write: bool = False) -> None:
        from consentkit.log.postgres import connect, connect_read_only

        self.warning = None
        self._conn = connect(dsn, create=False) if write else connect_read_only(dsn)
        self._cursors = 0
        try:
            self._check_schema(self._stored_version(), "this PostgreSQL database")
        except BaseException:
            self.close()
            raise

    def _column_names(self, table: str) -> set[str]:
        rows = self._query(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s)"
            " AND attnum > 0 AND NOT attisdropped",
            (table,),
        )
        return {str(row[0]) for row in rows}

    def _stored_version(self) -> int:
        from consentkit.log.postgres import stored_schema_version

        return stored_schema_version(self._conn)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    def _stream(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[Any]:
        self._cursors += 1
        with self._conn.transaction(), self._conn.cursor(name=f"ck_{self._cursors}") as cur:
            cur.itersize = _BATCH
            cur.execute(sql, params)
            yield from cur

    def _ts_param(self, when: datetime) -> Any:
        return when

    def stats(self, since: datetime | None = None) -> list[DayStats]:
        from consentkit.log.postgres import postgres_day_stats

        return postgres_day_stats(self._conn, since, self._has_regimes)

    @contextlib.contextmanager
    def _write_transaction(self) -> Iterator[None]:
        with self._conn.transaction():
            yield

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        with self._conn.cursor() as cur:
            cur.execute(sql, params)
            return int(cur.rowcount)

    def _execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self._conn.cursor() as cur:
            cur.executemany(sql, rows)


def open_reader(url: str, *, write: bool = False) -> LogReader:
    """A reader of the consent log at storage ``url``.

    Read-only unless ``write`` (purges, checkpoints, adopting chains): it never creates,
    migrates or changes the log. Raises `StorageError` for a malformed URL, a
    database without a consent log or with a newer schema, and
    `StorageUnavailable` when the database cannot be reached.
    """
    parsed = parse_storage_url(url)
    if parsed.scheme == "postgresql":
        return PostgresLogReader(parsed.target, write=write)
    return SQLiteLogReader(parsed.target, write=write)
