"""Storage URLs.

`enable_wal` is shown by tests/log/test_stores.py::test_two_writers_keep_their_own_chains,
which failed about two runs in three with "database is locked" before it.
"""

from __future__ import annotations

import pytest

from consentkit.errors import StorageError
from consentkit.storage import parse_storage_url


def test_parse_sqlite_and_postgres_urls() -> None:
    assert parse_storage_url("sqlite:///consent.db").target == "consent.db"
    assert parse_storage_url("sqlite:////var/lib/c.db").target == "/var/lib/c.db"
    pg = parse_storage_url("postgres://u:secret@db/consent")
    assert pg.scheme == "postgresql" and pg.target == "postgresql://u:secret@db/consent"
    assert "secret" not in str(pg) and str(pg) == "postgresql://u:***@db/consent"


@pytest.mark.parametrize(
    ("url", "message"),
    [("consent.db", "has no scheme"), ("sqlite://c.db", "must look like"),
     ("sqlite:///", "must look like"), ("mysql://db/x", "unknown storage scheme 'mysql'")],
)  # fmt: skip
def test_bad_urls_are_clear_errors(url: str, message: str) -> None:
    with pytest.raises(StorageError, match=message):
        parse_storage_url(url)
