"""Reading a log the reader cannot write, and a log of an older or newer schema.

SQLite: the log sits in a directory of another user (root), and every read
command runs as ``nobody`` (through ``setpriv``; a test run that is not root
makes the directory read-only instead). PostgreSQL: a role created here with
only SELECT. Nothing may be created, migrated or changed by a read.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from logsupport import SECRET, Database, decision, fill
from tests.cli import run_cli

from consentkit.log import ConsentLog, derive_log_key, open_consent_log
from consentkit.log.read import open_reader
from consentkit.log.record import ConsentRecord
from consentkit.log.schema import POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS
from consentkit.log.signing import derive_signing_key

KEY_ENV = {"CONSENTKIT_SECRET_KEYS": SECRET}
IN_CI = os.environ.get("CI", "").lower() == "true"


def _unprivileged() -> list[str]:
    """The command prefix that runs as an unprivileged user ([] when already one)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        if IN_CI:
            pytest.fail("setpriv is needed to read as an unprivileged user in CI")
        pytest.skip("setpriv is missing: cannot run as nobody")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]


def as_reader(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m consentkit ARGS`` as a user who cannot write ``cwd`` or its files."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTKIT_")}
    environ.update(KEY_ENV)
    return subprocess.run(
        [*_unprivileged(), sys.executable, "-m", "consentkit", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=cwd,
        timeout=120,
        check=False,
    )


@pytest.fixture
def foreign_dir() -> Iterator[Path]:
    """A directory the reader cannot write (root's, or read-only when not root)."""
    folder = Path(tempfile.mkdtemp(prefix="ck-readonly-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


def _lock(folder: Path) -> dict[str, bytes]:
    """Make ``folder`` and its files unwritable to the reader; return their contents."""
    for path in folder.iterdir():
        path.chmod(0o644 if os.geteuid() == 0 else 0o444)
    if os.geteuid() != 0:
        folder.chmod(0o555)
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _read_commands(url: str, records: list[ConsentRecord], folder: Path) -> dict[str, Any]:
    """Run every read command as the reader; return their outputs."""
    out: dict[str, Any] = {}
    export = as_reader("log", "export", "--storage", url, "--declarations", cwd=folder)
    assert export.returncode == 0, export.stderr
    out["export"] = [json.loads(line) for line in export.stdout.splitlines()]
    verify = as_reader("log", "verify", "--storage", url, cwd=folder)
    assert verify.returncode == 0, verify.stderr
    out["verify"] = verify.stdout
    out["verify_stderr"] = verify.stderr
    show = as_reader("log", "show", records[0].consent_id, "--storage", url, cwd=folder)
    assert show.returncode == 0, show.stderr
    stats = as_reader("log", "stats", "--storage", url, "--format", "json", cwd=folder)
    assert stats.returncode == 0, stats.stderr
    out["stats"] = json.loads(stats.stdout)
    declaration = as_reader(
        "log", "declaration", records[0].declaration_hash, "--storage", url, cwd=folder
    )
    assert declaration.returncode == 0, declaration.stderr
    report = as_reader("analytics", "report", "--storage", url, "--format", "json", cwd=folder)
    assert report.returncode == 0, report.stderr
    csp = as_reader("csp", "report", "--storage", url, "--format", "json", cwd=folder)
    assert csp.returncode == 0, csp.stderr
    return out


def _signed_log(url: str) -> ConsentLog:
    """The site's log at ``url``, signing its heads as a site does."""
    key = derive_log_key(SECRET)
    return open_consent_log(url, key, signer=derive_signing_key(key.secret))


def _fill_with_declaration(url: str, count: int) -> list[ConsentRecord]:
    """``count`` records whose declaration is stored under its real hash."""
    body = '{"categories":[],"texts":{"banner_text":"We use cookies"}}'
    digest = hashlib.sha256(body.encode()).hexdigest()

    async def run() -> list[ConsentRecord]:
        log = _signed_log(url)
        await log.open()
        try:
            return [
                await log.append(
                    replace(decision(i), declaration_hash=digest, declaration_json=body)
                )
                for i in range(count)
            ]
        finally:
            await log.close()

    return asyncio.run(run())


def test_sqlite_read_by_another_user_in_a_directory_it_cannot_write(foreign_dir: Path) -> None:
    url = f"sqlite:///{foreign_dir / 'log.db'}"
    records = _fill_with_declaration(url, 3)
    before = _lock(foreign_dir)
    assert list(before) == ["log.db"]  # a quiesced WAL-mode file, no -wal or -shm
    assert before["log.db"][18:20] == b"\x02\x02"  # the header says WAL mode
    out = _read_commands(url, records, foreign_dir)
    assert [r["record_id"] for r in out["export"] if "record_id" in r] == [
        r.record_id for r in records
    ]
    assert out["export"][0]["kind"] == "declaration"
    assert out["verify"].startswith("OK: 3 records")
    assert "warning" not in out["verify_stderr"]  # complete: nothing to warn about
    assert out["stats"]["choices"] == 3
    # Nothing was created or changed.
    assert {p.name: p.read_bytes() for p in foreign_dir.iterdir()} == before


def test_sqlite_read_while_the_site_writes(foreign_dir: Path) -> None:
    """A live log (records in the -wal, a -shm there): read in full, without writing."""
    url = f"sqlite:///{foreign_dir / 'log.db'}"
    records = _fill_with_declaration(url, 2)

    async def run() -> tuple[str, list[str]]:
        log = _signed_log(url)
        await log.open()
        await log.append(decision(10))
        assert (foreign_dir / "log.db-wal").stat().st_size > 0
        _lock(foreign_dir)
        result = await asyncio.to_thread(
            as_reader, "log", "verify", "--storage", url, cwd=foreign_dir
        )
        assert result.returncode == 0, result.stderr
        export = await asyncio.to_thread(
            as_reader, "log", "export", "--storage", url, cwd=foreign_dir
        )
        await log.close()
        return result.stdout, export.stdout.splitlines()

    summary, lines = asyncio.run(run())
    assert summary.startswith("OK: 3 records in 2 chain(s)")
    assert len(lines) == 3
    assert json.loads(lines[0])["record_id"] == records[0].record_id


def test_sqlite_copied_without_its_shm_says_what_it_cannot_read(foreign_dir: Path) -> None:
    """immutable=1 ignores the -wal: the reader is told, and reads what is checkpointed."""
    source = foreign_dir / "site"
    source.mkdir()
    url = f"sqlite:///{source / 'log.db'}"
    _fill_with_declaration(url, 2)
    copy = foreign_dir / "copy"
    copy.mkdir()

    async def run() -> None:
        log = _signed_log(url)
        await log.open()
        await log.append(decision(10))
        shutil.copy(source / "log.db", copy / "log.db")
        shutil.copy(source / "log.db-wal", copy / "log.db-wal")
        await log.close()

    asyncio.run(run())
    before = _lock(copy)
    result = as_reader("log", "verify", "--storage", f"sqlite:///{copy / 'log.db'}", cwd=copy)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: 2 records")
    assert "warning" in result.stderr and "write-ahead log" in result.stderr
    assert "not read" in result.stderr
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before
    copy.chmod(0o755)


def _downgrade_to_schema_2(url: str) -> None:
    """Make a fresh log look like one written by a consentkit with schema version 2."""
    db = Database(url)
    db.execute("DROP INDEX consentkit_log_decision")
    for column in ("decision_id", "site_host", "expires_at"):
        db.execute(f"ALTER TABLE consentkit_log DROP COLUMN {column}")
    db.execute("UPDATE consentkit_meta SET value = '2' WHERE key = 'schema_version'")


def test_an_older_schema_is_read_as_it_is_never_migrated(store_url: str) -> None:
    records = asyncio.run(fill(store_url, 3))
    _downgrade_to_schema_2(store_url)
    verify = run_cli("log", "verify", "--storage", store_url, env=KEY_ENV)
    assert verify.returncode == 0, verify.stderr
    assert verify.stdout.startswith("OK: 3 records")
    export = run_cli("log", "export", "--storage", store_url)
    lines = [json.loads(line) for line in export.stdout.splitlines()]
    assert [line["record_id"] for line in lines] == [r.record_id for r in records]
    assert lines[0]["site_host"] is None and lines[0]["expires_at"] is None
    for command in (("stats",), ("show", records[0].consent_id)):
        assert run_cli("log", *command, "--storage", store_url).returncode == 0
    version = Database(store_url).execute(
        "SELECT value FROM consentkit_meta WHERE key = 'schema_version'"
    )
    assert version == [("2",)]  # read, not migrated
    columns = (
        Database(store_url).execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_name = 'consentkit_log' AND table_schema = current_schema()"
        )
        if store_url.startswith("postgresql")
        else [(row[1],) for row in Database(store_url).execute("PRAGMA table_info(consentkit_log)")]
    )
    assert ("decision_id",) not in columns


def test_a_newer_schema_is_refused_with_what_to_do(store_url: str) -> None:
    asyncio.run(fill(store_url, 1))
    Database(store_url).execute(
        "UPDATE consentkit_meta SET value = '99' WHERE key = 'schema_version'"
    )
    result = run_cli("log", "export", "--storage", store_url)
    assert result.returncode == 3
    assert "schema version 99" in result.stderr and "upgrade consentkit" in result.stderr


def test_old_records_keep_their_canonical_form() -> None:
    """A record without the fields of schema 3 is sealed over exactly the fields it had."""
    record = ConsentRecord(
        chain_id="c", seq=1, record_id="r", consent_id="v", timestamp="t", action="accept_all",
        granted=("a",), denied=(), policy_version="1", declaration_hash="h", language="en",
        surface="api", path="/", ip=None, user_agent="ua", gpc=False, key_id="k", prev_mac="",
    )  # fmt: skip
    data = json.loads(record.canonical())
    assert "decision_id" not in data and "site_host" not in data and "expires_at" not in data
    assert len(data) == 18
    newer = json.loads(replace(record, site_host="example.org").canonical())
    assert newer == {**data, "site_host": "example.org"}


@pytest.mark.postgres
def test_postgres_role_with_only_select(pg_dsn: str) -> None:
    records = _fill_with_declaration(pg_dsn, 3)
    schema = Database(pg_dsn).execute("SELECT current_schema()")[0][0]
    role = f"ck_reader_{secrets.token_hex(4)}"
    db = Database(pg_dsn)
    db.execute(f"CREATE ROLE {role} LOGIN")
    try:
        db.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        db.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
        parts = urlsplit(pg_dsn)
        url = urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))
        before = db.execute("SELECT count(*), max(id) FROM consentkit_log")
        out = _read_commands(url, records, Path.cwd())
        assert out["verify"].startswith("OK: 3 records")
        assert [r["record_id"] for r in out["export"] if "record_id" in r] == [
            r.record_id for r in records
        ]
        assert db.execute("SELECT count(*), max(id) FROM consentkit_log") == before
        # The role really cannot write: a read that tried would have failed.
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn, pytest.raises(psycopg.Error):
            conn.execute("DELETE FROM consentkit_log")
        with open_reader(url) as reader:
            assert reader.schema_version == len(POSTGRES_MIGRATIONS)
    finally:
        db.execute(f"DROP OWNED BY {role}")
        db.execute(f"DROP ROLE {role}")


def test_both_backends_have_as_many_schema_steps() -> None:
    assert len(SQLITE_MIGRATIONS) == len(POSTGRES_MIGRATIONS)
