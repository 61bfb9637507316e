"""The auditor's guide shows real output: each command is run again here on fresh demo data.

Timestamps, ids and counts differ from run to run; what must not drift is the shape of the
output the guide shows: the same phrases, the same exit codes. Each phrase is checked in both
the guide and the live output.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from examples.seed_site.traffic import simulate

ROOT = Path(__file__).resolve().parents[2]
GUIDE = (ROOT / "docs" / "auditors.md").read_text()
KEY = "docs-demo-key-please-use-your-own-32-bytes-or-more"


def consentkit(*args: str, cwd: Path, secret: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTKIT_")}
    if secret:
        env["CONSENTKIT_SECRET_KEYS"] = KEY
    return subprocess.run(
        [sys.executable, "-m", "consentkit", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("auditors")
    asyncio.run(simulate(f"sqlite:///{folder}/demo.db", [KEY], visitors=40, days=7))
    return folder


def _copy(folder: Path, name: str) -> Path:
    shutil.copy(folder / "demo.db", folder / name)
    return folder / name


def both(phrase: str, output: str) -> None:
    assert phrase in GUIDE, f"the guide no longer shows {phrase!r}"
    assert phrase in output, f"the command no longer prints {phrase!r}:\n{output}"


@pytest.mark.slow
def test_verify_checkpoint_and_tampering(demo_db: Path) -> None:
    ok = consentkit("log", "verify", "--storage", "sqlite:///demo.db", cwd=demo_db)
    assert ok.returncode == 0
    both("records in 1 chain(s), from ", ok.stdout)
    assert ok.stdout.startswith("OK: ")

    tampered = _copy(demo_db, "tampered.db")
    with sqlite3.connect(tampered) as db:
        db.execute(
            "UPDATE consentkit_log SET granted = ?, denied = ? WHERE seq = 2",
            (json.dumps(["analytics", "marketing", "necessary"]), "[]"),
        )
    bad = consentkit("log", "verify", "--storage", "sqlite:///tampered.db", cwd=demo_db)
    assert bad.returncode == 1
    both(
        "its content does not match its MAC; most likely: altered or forged",
        bad.stdout + bad.stderr,
    )

    deleted = _copy(demo_db, "deleted.db")
    with sqlite3.connect(deleted) as db:
        db.execute("DELETE FROM consentkit_log WHERE seq = 7")
    gone = consentkit("log", "verify", "--storage", "sqlite:///deleted.db", cwd=demo_db)
    assert gone.returncode == 1
    both("missing: record seq 7 (the chain jumps to seq 8)", gone.stdout + gone.stderr)

    public = consentkit("log", "public-key", cwd=demo_db)
    both("-----BEGIN PUBLIC KEY-----", public.stdout)
    (demo_db / "site.pub").write_text(public.stdout)
    keyless = consentkit(
        "log", "verify", "--storage", "sqlite:///demo.db", "--public-key", "site.pub",
        cwd=demo_db, secret=False,
    )  # fmt: skip
    assert keyless.returncode == 0, keyless.stderr
    both("MACs not checked (no log key given); the public key decides", keyless.stdout)

    checkpoint = consentkit(
        "log", "checkpoint", "--storage", "sqlite:///demo.db", "--sink", "witness.jsonl",
        cwd=demo_db,
    )  # fmt: skip
    assert checkpoint.returncode == 0
    both('"format": "consentkit-log-checkpoint/2"', checkpoint.stdout)
    both('"type": "consentkit-checkpoint/2"', checkpoint.stdout)
    cut = _copy(demo_db, "cut.db")
    with sqlite3.connect(cut) as db:
        (last,) = db.execute("SELECT max(seq) FROM consentkit_log").fetchone()
        db.execute("DELETE FROM consentkit_log WHERE seq >= ?", (last - 1,))
        db.execute("DELETE FROM consentkit_log_heads")
        db.execute("DELETE FROM consentkit_log_checkpoints")
    caught = consentkit(
        "log", "verify", "--storage", "sqlite:///cut.db", "--public-key", "site.pub",
        "--checkpoint", "witness.jsonl", cwd=demo_db,
    )  # fmt: skip
    assert caught.returncode == 1
    both("cut off the end: the log ends at seq", caught.stdout + caught.stderr)
    both("are covered by no signed head; most likely: written without", caught.stderr)

    forged = _copy(demo_db, "forged.db")
    with sqlite3.connect(forged) as db:
        row = db.execute(
            "SELECT chain_id, seq, mac, ts FROM consentkit_log WHERE seq = 20"
        ).fetchone()
        db.execute("INSERT INTO consentkit_log_anchors VALUES (?, ?, ?, ?, ?)", (*row, row[3]))
        db.execute("DELETE FROM consentkit_log WHERE seq <= 20")
    fake = consentkit(
        "log", "verify", "--storage", "sqlite:///forged.db", "--public-key", "site.pub",
        cwd=demo_db,
    )  # fmt: skip
    assert fake.returncode == 1
    both("record seq 21: the chain starts after an unsigned purge anchor", fake.stderr)

    consent_id = json.loads(
        consentkit("log", "export", "--storage", "sqlite:///demo.db", cwd=demo_db).stdout.split(
            "\n"
        )[4]
    )["consent_id"]
    receipt = consentkit(
        "log", "receipt", f"--consent-id={consent_id}", "--storage", "sqlite:///demo.db",
        cwd=demo_db,
    )  # fmt: skip
    assert receipt.returncode == 0, receipt.stderr
    (demo_db / "receipt.json").write_text(receipt.stdout)
    checked = consentkit(
        "log", "verify-receipt", "receipt.json", "--public-key", "site.pub", cwd=demo_db,
        secret=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("OK: ") and f" by {consent_id} at " in checked.stdout
    both(" (policy 2026-01), record seq ", checked.stdout)
    both("record seq 5 of chain", checked.stdout)
    edited = json.loads(receipt.stdout)
    edited["record"]["action"] = (
        "reject_all" if edited["record"]["action"] != "reject_all" else "accept_all"
    )
    (demo_db / "edited.json").write_text(json.dumps(edited))
    refused = consentkit(
        "log", "verify-receipt", "edited.json", "--public-key", "site.pub", cwd=demo_db,
        secret=False,
    )  # fmt: skip
    assert refused.returncode == 1
    both("FAILED: the record is not in its chain's signed Merkle tree", refused.stderr)

    wrong = consentkit(
        "log", "verify", "--storage", "sqlite:///demo.db", "--log-key", "w" * 40, cwd=demo_db
    )
    assert wrong.returncode == 3
    both("consentkit: error: wrong log key: this log is signed with key id(s)", wrong.stderr)


@pytest.mark.slow
def test_export_show_stats_purge(demo_db: Path) -> None:
    export = consentkit("log", "export", "--storage", "sqlite:///demo.db", cwd=demo_db)
    assert export.returncode == 0
    first = json.loads(export.stdout.splitlines()[0])
    documented = json.loads(
        next(line for line in GUIDE.splitlines() if line.startswith('{"chain_id"'))
    )
    assert list(first) == list(documented)

    csv = consentkit(
        "log", "export", "--storage", "sqlite:///demo.db", "--format", "csv", cwd=demo_db
    )
    both("chain_id,seq,record_id,consent_id,timestamp,action,granted,denied", csv.stdout)

    show = consentkit(
        "log",
        "show",
        f"--consent-id={first['consent_id']}",
        "--storage",
        "sqlite:///demo.db",
        cwd=demo_db,
    )
    assert show.returncode == 0
    for phrase in ("granted=", "denied=", "policy=2026-01", "surface=banner", "declaration="):
        both(phrase, show.stdout)

    stats = consentkit("log", "stats", "--storage", "sqlite:///demo.db", cwd=demo_db)
    assert stats.returncode == 0
    both("day         policy   decisions  choices  repeats", stats.stdout)
    both("visitor choices, 0 repeated identical choices,", stats.stdout)
    both("Acceptance rate per category, of ", stats.stdout)
    both("Records per consent regime: opt_in ", stats.stdout)
    both("Records per region: unknown ", stats.stdout)

    _copy(demo_db, "purge.db")
    purge = consentkit(
        "log", "purge", "--older-than", "3", "--storage", "sqlite:///purge.db", cwd=demo_db
    )
    assert purge.returncode == 0
    both("records older than 3 days from 1 chain(s);", purge.stdout)
    both("signed as purge #1 at ", purge.stdout)
    after = consentkit("log", "verify", "--storage", "sqlite:///purge.db", cwd=demo_db)
    assert after.returncode == 0
    both("1 chain(s) start after a purge", after.stdout)
    both("  purge #1 at ", after.stdout)


@pytest.mark.slow
def test_analytics_report_shape(demo_db: Path) -> None:
    table = consentkit(
        "analytics", "report", "--storage", "sqlite:///demo.db", "--days", "7", cwd=demo_db
    )
    assert table.returncode == 0
    analytics_page = (ROOT / "docs" / "analytics.md").read_text()
    for phrase in ("consented share of views", "By section", "section / page"):
        assert phrase in analytics_page and phrase in table.stdout


@pytest.mark.slow
def test_declarations_the_dash_hint_and_new_fields(demo_db: Path) -> None:
    export = consentkit(
        "log", "export", "--declarations", "--storage", "sqlite:///demo.db", cwd=demo_db
    )
    assert export.returncode == 0
    lines = [json.loads(line) for line in export.stdout.splitlines()]
    both('{"kind":"declaration","declaration_hash":"', export.stdout)
    first = lines[0]
    assert hashlib.sha256(first["body"].encode()).hexdigest() == first["declaration_hash"]
    record = lines[1]
    assert record["site_host"] and record["expires_at"] > record["timestamp"]
    both('"site_host":"', export.stdout)

    english = next(line for line in lines if line.get("language") == "en")
    shown = consentkit(
        "log",
        "declaration",
        english["declaration_hash"][:12],
        "--storage",
        "sqlite:///demo.db",
        cwd=demo_db,
    )
    assert shown.returncode == 0
    both('"banner_title": "We value your privacy",', shown.stdout)
    both('  "policy_version": "2026-01",', shown.stdout)

    show = consentkit(
        "log", "show", "-nvNeL3SS-zQjRjaOECsYQ", "--storage", "sqlite:///demo.db", cwd=demo_db
    )
    assert show.returncode == 2
    both("consentkit: hint: '-nvNeL3SS-zQjRjaOECsYQ' starts with '-'", show.stderr)
    host = consentkit(
        "log", "show", f"--consent-id={record['consent_id']}", "--storage", "sqlite:///demo.db",
        cwd=demo_db,
    )  # fmt: skip
    both("  host=", host.stdout)
    both("  expires=", host.stdout)
