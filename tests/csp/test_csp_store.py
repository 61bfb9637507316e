"""Violation counts in SQLite and PostgreSQL, the ``csp report`` command and the dashboard panel."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from csp_helpers import csp_site
from starlette.testclient import TestClient
from tests.cli import run_cli

from consentkit import AnalyticsConfig, ConsentConfig, ConsentMiddleware
from consentkit.csp.store import SCHEMA_VERSION, ViolationKey, open_csp_store
from consentkit.errors import StorageError

PG_DSN = os.environ.get("CONSENTKIT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
TODAY = datetime.now(timezone.utc).date()
D1 = date(2026, 3, 1)
D2 = date(2026, 3, 2)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A DSN whose search_path is a fresh schema, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable at CONSENTKIT_TEST_PG_DSN: {exc}")
    schema = f"ck_csp_{secrets.token_hex(6)}"
    admin.execute(f"CREATE SCHEMA {schema}")
    try:
        sep = "&" if "?" in PG_DSN else "?"
        yield f"{PG_DSN}{sep}options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'consent.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def test_counts_add_up_and_purge(store_url: str) -> None:
    store = open_csp_store(store_url)
    store.open()
    store.open()  # idempotent
    a = ViolationKey(D1, "www.youtube.com", "frame-src", "/news", "none")
    b = ViolationKey(D2, "www.youtube.com", "frame-src", "/news", "none")
    c = ViolationKey(D2, "ads.example", "script-src-elem", "/", "undecided")
    store.add({a: 2, c: 1})
    store.add({a: 3, b: 1})
    store.add({})
    got = [(r.day, r.host, r.reports) for r in store.counts(D1, D2)]
    assert got == [(D1, "www.youtube.com", 5), (D2, "ads.example", 1), (D2, "www.youtube.com", 1)]
    assert [r.host for r in store.counts(D2, D2)] == ["ads.example", "www.youtube.com"]
    assert store.purge(D2) == 1
    assert store.counts(D1, D1) == []
    store.close()
    again = open_csp_store(store_url)
    again.open()  # migrating an up-to-date schema changes nothing
    assert len(again.counts(D1, D2)) == 2
    again.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'consent.db'}"
    store = open_csp_store(url)
    store.open()
    store.close()
    with sqlite3.connect(tmp_path / "consent.db") as conn:
        conn.execute(
            "UPDATE consentkit_csp_meta SET value = ? WHERE key = 'schema_version'",
            (str(SCHEMA_VERSION + 1),),
        )
    with pytest.raises(StorageError, match="newer than this consentkit"):
        open_csp_store(url).open()


def test_reading_a_missing_file_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no SQLite database"):
        open_csp_store(f"sqlite:///{tmp_path / 'nothing.db'}").open(create=False)


def _fill(url: str) -> None:
    store = open_csp_store(url)
    store.open()
    store.add(
        {
            ViolationKey(TODAY, "www.youtube.com", "frame-src", "/news", "none"): 7,
            ViolationKey(TODAY, "www.youtube.com", "frame-src", "/", "undecided"): 2,
            ViolationKey(TODAY - timedelta(days=1), "ads.example", "img-src", "/", "none"): 1,
            ViolationKey(TODAY - timedelta(days=90), "old.example", "img-src", "/", "none"): 4,
        }
    )
    store.close()


def test_cli_report_json_and_table(store_url: str) -> None:
    _fill(store_url)
    result = run_cli("csp", "report", "--storage", store_url, "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["reports"] == 10
    assert document["until"] == TODAY.isoformat()
    youtube, ads = document["hosts"]
    assert youtube == {
        "host": "www.youtube.com",
        "reports": 9,
        "directives": {"frame-src": 9},
        "states": {"none": 7, "undecided": 2},
        "pages": [{"path": "/news", "reports": 7}, {"path": "/", "reports": 2}],
    }
    assert ads["host"] == "ads.example"
    assert {r["host"] for r in document["rows"]} == {"www.youtube.com", "ads.example"}
    table = run_cli("csp", "report", "--storage", store_url, "--days", "365")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].endswith(": 14")
    assert lines[2].split()[:2] == ["host", "reports"]
    assert lines[3].split()[:2] == ["www.youtube.com", "9"]
    assert "old.example" in table.stdout


def test_cli_errors(tmp_path: Path) -> None:
    missing = run_cli("csp", "report", "--storage", f"sqlite:///{tmp_path / 'none.db'}")
    assert missing.returncode == 1
    assert "no SQLite database" in missing.stderr
    bad = run_cli("csp", "report", "--storage", "mysql://x/y")
    assert bad.returncode == 2
    assert "unknown storage scheme" in bad.stderr
    days = run_cli("csp", "report", "--storage", f"sqlite:///{tmp_path}/x.db", "--days", "0")
    assert days.returncode == 2
    empty_url = f"sqlite:///{tmp_path / 'empty.db'}"
    sqlite3.connect(tmp_path / "empty.db").close()
    empty = run_cli("csp", "report", "--storage", empty_url)
    assert empty.returncode == 0
    assert "Nothing was reported as blocked by consent." in empty.stdout


def test_dashboard_has_a_blocked_by_consent_panel(
    csp_config: Callable[..., ConsentConfig],
) -> None:
    config = csp_config(analytics=AnalyticsConfig(), dashboard_auth=("admin", "secret-password"))
    report = [
        {
            "type": "csp-violation",
            "url": "https://site.example/news",
            "body": {
                "blockedURL": "https://www.youtube.com/embed/<script>",
                "effectiveDirective": "frame-src",
                "documentURL": "https://site.example/news/<b>?q=1",
            },
        }
    ]
    with TestClient(ConsentMiddleware(csp_site(), config=config)) as client:
        empty = client.get("/consent/dashboard", auth=("admin", "secret-password"))
        assert "Blocked by consent" in empty.text
        assert "No browser reported a host blocked by consent" in empty.text
        answer = client.post(
            "/consent/csp-report?state=none",
            content=json.dumps(report),
            headers={"content-type": "application/reports+json"},
        )
        assert answer.status_code == 204
        page = client.get("/consent/dashboard", auth=("admin", "secret-password"))
    assert page.status_code == 200
    panel = page.text.split('<h2 id="blocked">Blocked by consent</h2>', 1)[1].split("<h2>")[0]
    assert "<td>www.youtube.com</td><td>1</td><td>frame-src</td><td>none 1</td>" in panel
    assert "/news/&lt;b&gt;" in panel
    assert "<b>" not in panel


def test_dashboard_without_csp_has_no_panel(csp_config: Callable[..., ConsentConfig]) -> None:
    config = csp_config(
        csp="off", analytics=AnalyticsConfig(), dashboard_auth=("admin", "secret-password")
    )
    with TestClient(ConsentMiddleware(csp_site(), config=config)) as client:
        page = client.get("/consent/dashboard", auth=("admin", "secret-password"))
    assert page.status_code == 200
    assert "Blocked by consent" not in page.text


def test_reports_reach_each_store_through_the_endpoint(
    csp_config: Callable[..., ConsentConfig], store_url: str
) -> None:
    report = {
        "csp-report": {
            "document-uri": "https://site.example/news?session=abc",
            "blocked-uri": "https://www.youtube.com/embed/1",
            "effective-directive": "frame-src",
        }
    }
    app = ConsentMiddleware(csp_site(), config=csp_config(storage=store_url))
    with TestClient(app) as client:
        for _ in range(3):
            answer = client.post(
                "/consent/csp-report?state=analytics",
                content=json.dumps(report),
                headers={"content-type": "application/csp-report"},
            )
            assert answer.status_code == 204
    store = open_csp_store(store_url)
    store.open(create=False)
    try:
        counts = store.counts(TODAY - timedelta(days=1), TODAY + timedelta(days=1))
    finally:
        store.close()
    assert [(c.host, c.directive, c.path, c.state, c.reports) for c in counts] == [
        ("www.youtube.com", "frame-src", "/news", "analytics", 3)
    ]
