"""Datasette wrapped by consentkit, served by uvicorn.

Its JSON, CSV and streamed downloads come through byte for byte; its HTML pages
get the banner and are kept out of shared caches (its own ``max-age`` kept for the
browser, its ``Vary: Cookie, Authorization`` left as it is); the audit finds nothing.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from consentkit import Category, ConsentConfig, ConsentMiddleware
from consentkit.audit import audit_app
from tests.live import serve

datasette_app = pytest.importorskip("datasette.app")


def reports_db(directory: Path) -> Path:
    path = directory / "reports.db"
    with sqlite3.connect(path) as db:
        db.execute("create table sections (id integer primary key, name text, views integer)")
        db.executemany(
            "insert into sections (name, views) values (?, ?)",
            [(f"Section {i} «ü»", i * 7) for i in range(2500)],
        )
    return path


def datasette(db: Path) -> Any:
    return datasette_app.Datasette(immutables=[str(db)]).app()  # immutable: downloadable


def wrapped(db: Path, directory: Path) -> ConsentMiddleware:
    config = ConsentConfig(
        secret_keys=["datasette-fit-secret-0123456789abcdefghij"],
        storage=f"sqlite:///{directory}/consent.db",
        categories=[
            Category(key="necessary", label="Strictly necessary", required=True),
            Category(key="analytics", label="Analytics"),
        ],
    )
    return ConsentMiddleware(datasette(db), config=config)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    directory = tmp_path_factory.mktemp("datasette")
    db = reports_db(directory)
    with serve(datasette(db)) as plain, serve(wrapped(db, directory)) as consent:
        yield plain, consent


def without_timing(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key != "query_ms"}


@pytest.mark.parametrize(
    "path",
    [
        "/reports/sections.json?_size=max",
        "/reports/sections.json?_shape=array&_size=50",
        "/reports/sections.csv",
        "/reports/sections.csv?_stream=on&_dl=1",
        "/reports.db",
        "/-/versions.json",
    ],
)
def test_data_comes_through_byte_for_byte(servers: tuple[str, str], path: str) -> None:
    plain, consent = servers
    same_host = {"host": "reports.example.org"}  # Datasette writes absolute URLs
    expected = httpx.get(plain + path, headers=same_host, timeout=30)
    got = httpx.get(consent + path, headers=same_host, timeout=30)
    assert got.status_code == expected.status_code == 200
    if "query_ms" in expected.text:  # the time each query took differs between two runs
        assert len(got.content) > 10_000
        assert without_timing(got.json()) == without_timing(expected.json())
    else:
        assert got.content == expected.content
    for header in ("content-type", "cache-control", "content-disposition"):
        assert got.headers.get(header) == expected.headers.get(header), header
    assert "set-cookie" not in got.headers


def test_html_pages_get_the_banner_and_stay_private(servers: tuple[str, str]) -> None:
    _, consent = servers
    with httpx.Client(base_url=consent) as client:
        table = client.get("/reports/sections")
        assert table.status_code == 200
        assert "consentkit-banner" in table.text and "Section 3" in table.text
        assert table.headers["cache-control"] == "private, max-age=5"
        assert table.headers["vary"] == "Cookie, Authorization"
        client.post("/consent", json={"action": "reject_all"}, headers={"origin": consent})
        again = client.get("/reports/sections")
        assert "consentkit-banner" not in again.text and 'data-decided="1"' in again.text


def test_audit_of_datasette_finds_nothing(tmp_path: Path) -> None:
    app = wrapped(reports_db(tmp_path), tmp_path)
    report = asyncio.run(audit_app(app, paths=["/", "/reports", "/reports/sections"], crawl=5))
    assert report.ok, report.as_dict()
    assert report.outside == []
    assert report.errors == []
