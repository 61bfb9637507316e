"""Fixtures for the consent log tests: stores on SQLite and PostgreSQL, the CLI."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_DSN = os.environ.get("CONSENTKIT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
REPO = Path(__file__).resolve().parents[2]


def pg_unavailable(reason: str) -> None:
    """Skip, or fail when CI=true: the PostgreSQL tests must run in CI."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(f"PostgreSQL not reachable at CONSENTKIT_TEST_PG_DSN: {reason}")


def with_search_path(dsn: str, schema: str) -> str:
    """``dsn`` with its search_path set to ``schema``."""
    sep = "&" if "?" in dsn else "?"
    return f"{dsn}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A DSN whose search_path is a fresh schema, dropped after the test."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        pg_unavailable(str(exc).splitlines()[0])
    schema = f"ck_log_test_{secrets.token_hex(6)}"
    admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_search_path(PG_DSN, schema)
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A storage URL for an empty log, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'log.db'}"
    dsn: str = request.getfixturevalue("pg_dsn")
    return dsn
