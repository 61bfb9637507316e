"""Regime, region and region source on consent log records (schema step 6), both backends.

A log written before regimes (schema 5) is migrated in place: its records keep
their MACs, signed heads and Merkle leaves, and ``consentkit log verify`` passes
for them and for the new records, whose regime fields the chain covers.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from logsupport import SECRET, Database, decision, fill
from tests.cli import run_cli

from consentkit.log import derive_log_key, open_consent_log
from consentkit.log.read import open_reader
from consentkit.log.schema import POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS
from consentkit.log.signing import derive_signing_key

KEY_ENV = {"CONSENTKIT_SECRET_KEYS": SECRET}
NEW = frozenset({"regime", "region", "region_source"})


@pytest.fixture
def public_key(tmp_path: Path) -> Path:
    """The site's public key, as ``consentkit log public-key`` prints it."""
    result = run_cli("log", "public-key", env=KEY_ENV)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "site.pub"
    path.write_text(result.stdout)
    return path


def as_before_regimes(url: str) -> None:
    """Turn the log at ``url`` into what consentkit wrote before step 6 (schema 5)."""
    db = Database(url)
    if not db.postgres:
        db.execute("DROP TRIGGER consentkit_log_batch_insert")
        db.execute("DROP VIEW consentkit_log_batch")
    for column in sorted(NEW):
        db.execute(f"ALTER TABLE consentkit_log DROP COLUMN {column}")
    if not db.postgres:
        for statement in SQLITE_MIGRATIONS[4]:  # step 5's batch view, as it shipped
            db.execute(statement)
    db.execute("UPDATE consentkit_meta SET value = '5' WHERE key = 'schema_version'")


def columns(url: str) -> set[str]:
    db = Database(url)
    if db.postgres:
        rows = db.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'consentkit_log' AND table_schema = current_schema()"
        )
    else:
        rows = [(row[1],) for row in db.execute("PRAGMA table_info(consentkit_log)")]
    return {row[0] for row in rows}


async def append_with_regimes(url: str) -> list[Any]:
    key = derive_log_key(SECRET)
    log = open_consent_log(url, key, signer=derive_signing_key(key.secret))
    await log.open()
    try:
        return [
            await log.append(
                replace(
                    decision(100),
                    regime="us_opt_out",
                    region="US-CA",
                    region_source="header:cf-region",
                )
            ),
            await log.append(
                replace(
                    decision(101, action="reject_all"),
                    regime="opt_in",
                    region=None,
                    region_source="default",
                )
            ),
        ]
    finally:
        await log.close()


def test_old_records_and_new_ones_verify_after_the_migration(
    store_url: str, public_key: Path
) -> None:
    old = asyncio.run(fill(store_url, 5))
    assert all(r.regime is None and b'"regime"' not in r.canonical() for r in old)
    as_before_regimes(store_url)
    assert not NEW & columns(store_url)
    # A reader of the old schema reads it as it is, regimes unrecorded.
    with open_reader(store_url) as reader:
        assert reader.schema_version == 5
        assert [r.mac for r in reader.records()] == [r.mac for r in old]
        (day,) = reader.stats()
        assert day.regimes == {"unrecorded": 5} and day.regions == {"unknown": 5}
    assert run_cli("log", "verify", "--storage", store_url, env=KEY_ENV).returncode == 0

    new = asyncio.run(append_with_regimes(store_url))  # the writer migrates to step 6
    assert columns(store_url) >= NEW
    version = Database(store_url).execute(
        "SELECT value FROM consentkit_meta WHERE key = 'schema_version'"
    )
    assert version == [(str(len(SQLITE_MIGRATIONS)),)]
    assert len(SQLITE_MIGRATIONS) == len(POSTGRES_MIGRATIONS) == 6
    with open_reader(store_url) as reader:
        stored = list(reader.records())
    assert [r.mac for r in stored[:5]] == [r.mac for r in old]  # sealed bytes unchanged
    assert all(r.regime is None and r.region_source is None for r in stored[:5])
    assert [(r.regime, r.region, r.region_source) for r in stored[5:]] == [
        ("us_opt_out", "US-CA", "header:cf-region"),
        ("opt_in", None, "default"),
    ]
    assert stored[5:] == new
    assert b'"regime":"us_opt_out"' in new[0].canonical()
    assert b'"region"' not in new[1].canonical()  # None: left out, like any optional field

    by_hmac = run_cli("log", "verify", "--storage", store_url, env=KEY_ENV)
    assert by_hmac.returncode == 0, by_hmac.stderr
    by_public_key = run_cli(
        "log", "verify", "--storage", store_url, "--public-key", str(public_key)
    )
    assert by_public_key.returncode == 0, by_public_key.stderr


@pytest.mark.parametrize(
    ("record", "value"),
    [(5, "opt_in"), (2, "us_opt_out")],
    ids=["new record's regime changed", "old record given a regime"],
)
def test_an_altered_regime_is_caught(
    store_url: str, public_key: Path, record: int, value: str
) -> None:
    asyncio.run(fill(store_url, 5))
    as_before_regimes(store_url)
    asyncio.run(append_with_regimes(store_url))
    db = Database(store_url)
    (target,) = db.execute(
        "SELECT record_id FROM consentkit_log ORDER BY id LIMIT 1 OFFSET ?", (record,)
    )
    db.execute("UPDATE consentkit_log SET regime = ? WHERE record_id = ?", (value, target[0]))
    by_hmac = run_cli("log", "verify", "--storage", store_url, env=KEY_ENV)
    assert by_hmac.returncode == 1
    assert target[0] in by_hmac.stderr
    assert "does not match its MAC" in by_hmac.stderr
    # The public key alone: the Merkle leaf of the record changed under a signed head.
    by_public_key = run_cli(
        "log", "verify", "--storage", store_url, "--public-key", str(public_key)
    )
    assert by_public_key.returncode == 1
    assert "do not give the Merkle root their writer signed" in by_public_key.stderr


def test_export_and_stats_show_regime_and_region(store_url: str) -> None:
    asyncio.run(fill(store_url, 2))
    asyncio.run(append_with_regimes(store_url))
    exported = run_cli("log", "export", "--storage", store_url, env=KEY_ENV)
    assert exported.returncode == 0, exported.stderr
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [(r["regime"], r["region"], r["region_source"]) for r in rows] == [
        (None, None, None),
        (None, None, None),
        ("us_opt_out", "US-CA", "header:cf-region"),
        ("opt_in", None, "default"),
    ]
    csv = run_cli("log", "export", "--storage", store_url, "--format", "csv", env=KEY_ENV)
    header = csv.stdout.splitlines()[0].split(",")
    assert header[-3:] == ["regime", "region", "region_source"]
    stats = run_cli("log", "stats", "--storage", store_url, "--format", "json", env=KEY_ENV)
    document = json.loads(stats.stdout)
    assert document["regimes"] == {"opt_in": 1, "unrecorded": 2, "us_opt_out": 1}
    assert document["regions"] == {"US-CA": 1, "unknown": 3}
    table = run_cli("log", "stats", "--storage", store_url, env=KEY_ENV).stdout
    assert "Records per consent regime: opt_in 1, unrecorded 2, us_opt_out 1" in table
    assert "Records per region: US-CA 1, unknown 3" in table
