"""Storage URLs: ``sqlite:///relative.db``, ``sqlite:////absolute.db``, ``postgresql://...``."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from urllib.parse import quote

from consentkit.errors import StorageError

__all__ = ["StorageURL", "enable_wal", "parse_storage_url", "redact", "sqlite_read_only"]


@dataclass(frozen=True, slots=True)
class StorageURL:
    """A parsed storage URL: ``scheme`` is ``sqlite`` or ``postgresql``."""

    scheme: str
    #: The SQLite file path (``:memory:`` allowed) or the PostgreSQL DSN.
    target: str

    def __str__(self) -> str:
        if self.scheme == "sqlite":
            return f"sqlite:///{self.target}"
        return redact(self.target)


def redact(dsn: str) -> str:
    """``dsn`` without its password, for messages and logs."""
    scheme, sep, rest = dsn.partition("://")
    creds, at, host = rest.rpartition("@")
    if at and ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}{sep}{creds}{at}{host}"


def parse_storage_url(url: str) -> StorageURL:
    """Parse a storage URL, raising `StorageError` with a clear message when it is wrong."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise StorageError(
            f"storage URL {url!r} has no scheme: use 'sqlite:///path.db' or 'postgresql://host/db'"
        )
    if scheme == "sqlite":
        if not rest.startswith("/") or rest == "/":
            raise StorageError(
                f"SQLite URL {url!r} must look like 'sqlite:///relative.db' "
                "or 'sqlite:////absolute/path.db'"
            )
        return StorageURL("sqlite", rest[1:])
    if scheme in ("postgresql", "postgres"):
        return StorageURL("postgresql", "postgresql://" + rest)
    raise StorageError(
        f"unknown storage scheme {scheme!r}: use 'sqlite:///path.db' or 'postgresql://host/db'"
    )


def enable_wal(conn: sqlite3.Connection, timeout: float = 10.0) -> None:
    """Put an SQLite database in WAL mode.

    The switch takes an exclusive lock that SQLite's busy handler does not
    wait for, so two connections opening a new file together may see
    "database is locked": wait that out, up to ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                return
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _open_uri(uri: str, timeout: float) -> sqlite3.Connection:
    conn = sqlite3.connect(
        uri, uri=True, isolation_level=None, timeout=timeout, check_same_thread=False
    )
    try:
        # Opening is lazy: the first read finds out whether the WAL can be used.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def sqlite_read_only(path: str, timeout: float = 10.0) -> tuple[sqlite3.Connection, str | None]:
    """A connection that only reads the SQLite file at ``path``, and a warning or None.

    ``mode=ro`` first: it reads everything, the write-ahead log included, when
    the ``-wal`` and ``-shm`` files exist or can be created. A WAL-mode file in
    a directory the reader cannot write (or owned by someone else) has neither:
    it is then opened with ``immutable=1``, which reads the main file alone,
    takes no locks and never writes. If a ``-wal`` file with content is there
    all the same (copied without its ``-shm``), what it holds is not read, and
    the warning says so. Raises `sqlite3.Error` when the file cannot be read.
    """
    uri = f"file:{quote(os.path.abspath(path))}"
    try:
        return _open_uri(uri + "?mode=ro", timeout), None
    except sqlite3.OperationalError:
        pass
    conn = _open_uri(uri + "?immutable=1", timeout)
    warning = None
    wal = path + "-wal"
    with contextlib.suppress(OSError):
        size = os.path.getsize(wal)
        if size:
            warning = (
                f"{path!r} is read without its write-ahead log ({wal!r}, {size} bytes):"
                " this reader cannot write the directory or the file, so SQLite can only"
                " read what has been checkpointed into the main file, and transactions"
                " committed since the last checkpoint are not read. For a complete read,"
                " copy the file with its -wal and -shm files to a directory the reader can"
                " write, or have the operator run PRAGMA wal_checkpoint(TRUNCATE) first."
            )
    return conn, warning
