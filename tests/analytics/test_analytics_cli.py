"""``python -m consentkit.analytics.cli report``: formats, ranges and bad input, via subprocess."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
from datetime import date
from typing import Any

import pytest
from analytics_helpers import Clock, make_config, simulate

from consentkit.analytics import AnalyticsTracker

RANGE = ["--since", "2026-03-01", "--until", "2026-03-31"]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "consentkit.analytics.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def populate(url: str) -> dict[str, Any]:
    clock = Clock()

    async def scenario() -> dict[str, Any]:
        tracker = AnalyticsTracker(make_config(url, count_without_consent=True), clock=clock)
        await tracker.start()
        simulate(tracker, clock)
        await tracker.flush()
        report = await tracker.report(date(2026, 3, 1), date(2026, 3, 31))
        await tracker.stop()
        return report

    return asyncio.run(scenario())


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('cli')}/a.db"
    return url, populate(url)


def test_json_matches_the_tracker_report(populated: tuple[str, dict[str, Any]]) -> None:
    url, expected = populated
    result = cli("report", "--storage", url, *RANGE, "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data == expected
    assert set(data) == {"days", "sections", "consent_share", "range"}
    assert set(data["days"][0]) == {
        "day",
        "views",
        "visitors",
        "new",
        "returning",
        "consented_views",
        "anonymous_views",
    }
    assert set(data["sections"][0]) == {"section", "views", "visitors", "pages"}
    assert set(data["sections"][0]["pages"][0]) == {"path", "views", "visitors"}
    assert isinstance(data["consent_share"], float)
    assert data["range"] == {"since": "2026-03-01", "until": "2026-03-31"}


def test_section_and_days_filters(populated: tuple[str, dict[str, Any]]) -> None:
    url, _ = populated
    result = cli(
        "report",
        "--storage",
        url,
        "--section",
        "News",
        "--days",
        "3",
        "--until",
        "2026-03-04",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["range"] == {"since": "2026-03-02", "until": "2026-03-04"}
    assert [s["section"] for s in data["sections"]] == ["News"]
    assert [d["day"] for d in data["days"]] == ["2026-03-02", "2026-03-03", "2026-03-04"]


def test_table_and_csv(populated: tuple[str, dict[str, Any]]) -> None:
    url, expected = populated
    table = cli("report", "--storage", url, *RANGE)
    assert table.returncode == 0, table.stderr
    assert "2026-03-09" in table.stdout and "News" in table.stdout and "Reports" in table.stdout
    assert "By day" in table.stdout and "By section" in table.stdout

    result = cli("report", "--storage", url, *RANGE, "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    day_rows = [r for r in rows if r["kind"] == "day"]
    page_rows = [r for r in rows if r["kind"] == "page"]
    assert [r["day"] for r in day_rows] == [d["day"] for d in expected["days"]]
    assert sum(int(r["views"]) for r in day_rows) == sum(int(r["views"]) for r in page_rows)


def test_empty_range(populated: tuple[str, dict[str, Any]]) -> None:
    url, _ = populated
    result = cli(
        "report",
        "--storage",
        url,
        "--since",
        "2020-01-01",
        "--until",
        "2020-01-02",
        "--format",
        "json",
    )
    assert result.returncode == 0
    assert json.loads(result.stdout)["days"] == []
    table = cli("report", "--storage", url, "--days", "1", "--until", "2020-01-01")
    assert "no views" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-13-01"], "not a date"),
        (["--until", "yesterday"], "not a date"),
        (["--since", "2026-03-10", "--until", "2026-03-01"], "after"),
        (["--days", "0"], "at least 1"),
        (["--days", "3", "--since", "2026-03-01"], "not both"),
    ],
)
def test_bad_arguments(
    populated: tuple[str, dict[str, Any]], args: list[str], message: str
) -> None:
    url, _ = populated
    result = cli("report", "--storage", url, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("url", "status", "message"),
    [
        ("mysql://localhost/x", 2, "unknown storage scheme"),
        ("sqlite://relative.db", 2, "must look like"),
        ("not a url", 2, "no scheme"),
        ("sqlite:////nonexistent/dir/a.db", 1, "no SQLite database"),
        ("postgresql://u:hunter2@127.0.0.1:1/x", 1, "cannot connect"),
    ],
)
def test_bad_storage(url: str, status: int, message: str) -> None:
    result = cli("report", "--storage", url)
    assert result.returncode == status, result.stderr
    assert message in result.stderr
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_errors_from_argparse() -> None:
    assert cli("report").returncode == 2  # --storage is required
    assert cli().returncode == 2
    assert cli("report", "--storage", "sqlite:///x.db", "--format", "xml").returncode == 2


def test_register_adds_the_analytics_command(populated: tuple[str, dict[str, Any]]) -> None:
    import argparse
    import contextlib

    from consentkit.analytics.cli import register

    parser = argparse.ArgumentParser(prog="consentkit")
    register(parser.add_subparsers(dest="command"))
    url, expected = populated
    args = parser.parse_args(["analytics", "report", "--storage", url, *RANGE, "--format", "json"])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert args.func(args) == 0
    assert json.loads(out.getvalue()) == expected


@pytest.mark.postgres
def test_postgresql_json_equals_sqlite(populated: tuple[str, dict[str, Any]], pg_url: str) -> None:
    _, expected = populated
    populate(pg_url)
    result = cli("report", "--storage", pg_url, *RANGE, "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected
