"""The read commands on both backends: export, show, stats, purge (through the CLI)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from pathlib import Path

import pytest
from logsupport import SECRET, Database, fill
from tests.cli import run_cli

KEY_ENV = {"CONSENTKIT_SECRET_KEYS": SECRET}
DAY = 86400.0


def test_export_jsonl_and_csv(store_url: str) -> None:
    records = asyncio.run(fill(store_url, 5, actions=("accept_all", "reject_all")))
    jsonl = run_cli("log", "export", "--storage", store_url)
    assert jsonl.returncode == 0, jsonl.stderr
    lines = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [line["record_id"] for line in lines] == [r.record_id for r in records]
    assert lines[1]["granted"] == ["necessary"]
    assert lines[1]["denied"] == ["analytics", "marketing"]
    assert lines[0] == records[0].as_dict()
    out = run_cli("log", "export", "--storage", store_url, "--format", "csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert len(rows) == 5
    assert rows[0]["granted"] == "analytics marketing necessary"
    assert rows[0]["gpc"] == "false"
    assert rows[0]["mac"] == records[0].mac


def test_export_filters(store_url: str) -> None:
    now = time.time()
    clock = iter([now - 10 * DAY, now - 5 * DAY, now - 1 * DAY])
    records = asyncio.run(fill(store_url, 3, clock=lambda: next(clock)))
    days = [r.timestamp[:10] for r in records]
    out = run_cli("log", "export", "--storage", store_url, "--since", days[1])
    assert [json.loads(x)["seq"] for x in out.stdout.splitlines()] == [2, 3]
    out = run_cli("log", "export", "--storage", store_url, "--until", days[1])
    assert [json.loads(x)["seq"] for x in out.stdout.splitlines()] == [1, 2]
    out = run_cli(
        "log",
        "export",
        "--storage",
        store_url,
        "--since",
        records[1].timestamp,
        "--until",
        records[2].timestamp,
    )
    assert [json.loads(x)["seq"] for x in out.stdout.splitlines()] == [2]
    out = run_cli("log", "export", "--storage", store_url, "--consent-id", records[2].consent_id)
    assert [json.loads(x)["seq"] for x in out.stdout.splitlines()] == [3]


def test_show_one_visitor_in_order(store_url: str) -> None:
    from logsupport import decision

    from consentkit.log import derive_log_key, open_consent_log

    async def history() -> None:
        log = open_consent_log(store_url, derive_log_key(SECRET))
        await log.open()
        await log.append(decision(1, "alice", "accept_all"))
        await log.append(decision(2, "bob", "accept_all"))
        await log.append(decision(3, "alice", "reject_all"))
        await log.close()

    asyncio.run(history())
    out = run_cli("log", "show", "alice", "--storage", store_url)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 2
    assert "accept_all" in lines[0] and "reject_all" in lines[1]
    assert "denied=analytics,marketing" in lines[1]
    as_json = run_cli("log", "show", "alice", "--storage", store_url, "--format", "jsonl")
    assert [json.loads(x)["action"] for x in as_json.stdout.splitlines()] == [
        "accept_all",
        "reject_all",
    ]
    nobody = run_cli("log", "show", "carol", "--storage", store_url)
    assert nobody.returncode == 1
    assert "no records for consent id 'carol'" in nobody.stderr


def test_stats_per_day_policy_and_category(store_url: str) -> None:
    now = time.time()
    clock = iter([now - 2 * DAY] * 2 + [now] * 2)
    asyncio.run(fill(store_url, 4, clock=lambda: next(clock), actions=("accept_all", "reject_all")))
    out = run_cli("log", "stats", "--storage", store_url, "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["decisions"] == 4
    assert [d["decisions"] for d in data["days"]] == [2, 2]
    assert data["days"][0]["actions"] == {"accept_all": 1, "reject_all": 1}
    assert data["days"][0]["policy_version"] == "2026-01"
    rates = {c["category"]: c["rate"] for c in data["categories"]}
    assert rates == {"analytics": 0.5, "marketing": 0.5, "necessary": 1.0}
    table = run_cli("log", "stats", "--storage", store_url)
    assert table.returncode == 0
    assert "analytics" in table.stdout and "50.0%" in table.stdout


def test_store_stats_since(store_url: str) -> None:
    from datetime import datetime, timedelta, timezone

    from consentkit.log import derive_log_key, open_consent_log

    now = time.time()
    clock = iter([now - 3 * DAY, now])
    asyncio.run(fill(store_url, 2, clock=lambda: next(clock)))

    async def stats() -> list[int]:
        log = open_consent_log(store_url, derive_log_key(SECRET))
        since = datetime.now(timezone.utc) - timedelta(days=1)
        return [d.decisions for d in await log.stats(since)] + [
            d.decisions for d in await log.stats()
        ]

    assert asyncio.run(stats()) == [1, 1, 1]


def test_purge_leaves_the_rest_verifiable(store_url: str, tmp_path: Path) -> None:
    now = time.time()
    times = [now - 100 * DAY] * 4 + [now - 50 * DAY] * 3 + [now] * 3
    clock = iter(times)
    records = asyncio.run(fill(store_url, 10, clock=lambda: next(clock)))
    old_chain = asyncio.run(fill(store_url, 2, clock=lambda: now - 200 * DAY, start=50))
    path = tmp_path / "checkpoint.json"
    path.write_text(run_cli("log", "checkpoint", "--storage", store_url, env=KEY_ENV).stdout)

    out = run_cli("log", "purge", "--older-than", "60", "--storage", store_url, env=KEY_ENV)
    assert out.returncode == 0, out.stderr
    assert "purged 6 records" in out.stdout and "6 remain" in out.stdout
    result = run_cli(
        "log", "verify", "--storage", store_url, "--checkpoint", str(path), env=KEY_ENV
    )
    assert result.returncode == 0, result.stderr
    assert "6 records in 2 chain(s)" in result.stdout
    assert "2 chain(s) start after a purge" in result.stdout
    assert "purge #1 at " in result.stdout and "6 record(s)" in result.stdout

    # The fully purged chain still has a head for new checkpoints.
    heads = json.loads(run_cli("log", "checkpoint", "--storage", store_url, env=KEY_ENV).stdout)[
        "chains"
    ]
    assert heads[old_chain[0].chain_id]["seq"] == 2

    out = run_cli("log", "purge", "--older-than", "30", "--storage", store_url, env=KEY_ENV)
    assert "purged 3 records" in out.stdout
    assert run_cli("log", "verify", "--storage", store_url, env=KEY_ENV).returncode == 0

    # Deleting a record right after the anchor is still caught.
    Database(store_url).execute(
        "DELETE FROM consentkit_log WHERE record_id = ?", (records[7].record_id,)
    )
    result = run_cli("log", "verify", "--storage", store_url, env=KEY_ENV)
    assert result.returncode == 1
    assert f"chain {records[0].chain_id} record seq 8: missing" in result.stderr


@pytest.mark.slow
def test_export_streams_in_constant_memory(tmp_path: Path) -> None:
    """200,000 records export with a peak RSS far under 100 MB (the bench does a million)."""
    import os
    import subprocess
    import sys
    from datetime import datetime, timezone

    from logsupport import decision

    from consentkit.log import derive_log_key
    from consentkit.log.chain import Chain
    from consentkit.log.sqlite import _INSERT, _row, connect

    path = tmp_path / "big.db"
    conn = connect(str(path), "OFF")
    chain = Chain(derive_log_key(SECRET))
    conn.execute("BEGIN")
    for start in range(0, 200_000, 5000):
        records = chain.seal_batch(
            [decision(i) for i in range(start, start + 5000)], datetime.now(timezone.utc)
        )
        chain.advance(records)
        conn.executemany(_INSERT, [_row(r) for r in records])
    conn.execute("COMMIT")
    conn.close()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTKIT_")}
    with open(tmp_path / "export.jsonl", "wb") as out:
        result = subprocess.run(
            [sys.executable, "-c", PEAK_RSS, "log", "export", "--storage", f"sqlite:///{path}"],
            stdout=out,
            stderr=subprocess.PIPE,
            env=environ,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "export.jsonl", "rb") as exported:
        assert sum(1 for _ in exported) == 200_000
    peak_mb = int(result.stderr.split()[-2]) / 1024  # "VmHWM: 12345 kB"
    assert peak_mb < 100, f"peak RSS {peak_mb:.0f} MB"


# The command's own high-water RSS (VmHWM counts only this program, not the
# pytest process it was forked from, which ru_maxrss would include).
PEAK_RSS = (
    "import sys\n"
    "from consentkit.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "sys.stdout.flush()\n"
    "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].strip(),"
    " file=sys.stderr)\n"
    "sys.exit(code)\n"
)
