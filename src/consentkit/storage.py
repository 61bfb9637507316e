"""Storage URLs: ``sqlite:///relative.db``, ``sqlite:////absolute.db``, ``postgresql://...``."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from consentkit.errors import StorageError

__all__ = ["StorageURL", "enable_wal", "parse_storage_url", "redact"]


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
