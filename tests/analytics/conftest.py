"""Fixtures for the analytics tests: a controllable clock, configs, a PostgreSQL schema."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from analytics_helpers import PG_DSN, Clock, make_config, pg_unreachable

from consentkit.config import ConsentConfig


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path}/analytics.db"


@pytest.fixture
def config_factory(sqlite_url: str) -> Callable[..., ConsentConfig]:
    def factory(**analytics: Any) -> ConsentConfig:
        return make_config(sqlite_url, **analytics)

    return factory


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL storage URL whose search_path is a fresh schema, dropped afterwards."""
    problem = pg_unreachable()
    if problem is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(problem + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(problem)
    import psycopg

    schema = f"ck_analytics_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in PG_DSN else "?"
    url = f"{PG_DSN}{sep}options={quote(f'-csearch_path={schema}')}"
    try:
        yield url
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
