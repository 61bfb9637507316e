"""The ``consentkit`` command through its real entry points, including every bad input."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from consentkit.log import Decision, derive_log_key, open_consent_log
from consentkit.log.signing import derive_signing_key
from tests.cli import run_cli as cli

SECRET = "c" * 32
SCRIPT = Path(sys.executable).with_name("consentkit")


@pytest.fixture
def log_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'consent.db'}"

    async def fill() -> None:
        key = derive_log_key(SECRET)
        log = open_consent_log(url, key, signer=derive_signing_key(key.secret))
        for i in range(3):
            await log.append(
                Decision(
                    consent_id=f"v{i}",
                    action="accept_all",
                    granted=("analytics", "necessary"),
                    denied=(),
                    policy_version="1",
                    declaration_hash=hashlib.sha256(b"{}").hexdigest(),
                    declaration_json="{}",
                    language="en",
                    surface="banner",
                    path="/",
                    ip=None,
                    user_agent="ua",
                    gpc=False,
                )
            )
        await log.close()

    asyncio.run(fill())
    return url


def test_console_script_and_module_both_work(log_url: str) -> None:
    assert SCRIPT.exists(), "the consentkit console script is installed with the package"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTKIT_")}
    env["CONSENTKIT_SECRET_KEYS"] = SECRET
    script = subprocess.run(
        [str(SCRIPT), "log", "verify", "--storage", log_url],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert script.returncode == 0, script.stderr
    assert script.stdout.startswith("OK: 3 records in 1 chain(s)")
    module = cli("log", "verify", "--storage", log_url, env={"CONSENTKIT_SECRET_KEYS": SECRET})
    assert module.returncode == 0
    assert module.stdout == script.stdout


def test_help_lists_the_commands() -> None:
    result = cli("--help")
    assert result.returncode == 0
    assert "log" in result.stdout and "analytics" in result.stdout
    for command in ("export", "verify", "checkpoint", "show", "stats", "purge"):
        assert command in cli("log", "--help").stdout
    assert cli("analytics", "--help").returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "required"),
        (("log",), "required"),
        (("log", "frobnicate"), "invalid choice"),
        (("log", "export"), "--storage URL is required"),
        (("log", "export", "--storage", "mysql://x/y"), "unknown storage scheme 'mysql'"),
        (("log", "export", "--storage", "consent.db"), "has no scheme"),
        (("log", "export", "--storage", "sqlite://consent.db"), "must look like"),
        (("log", "export", "--storage", "sqlite:///x.db", "--since", "yesterday"), "not a date"),
        (("log", "export", "--storage", "sqlite:///x.db", "--until", "2026-13-01"), "not a date"),
        (("log", "export", "--storage", "sqlite:///x.db", "--format", "xml"), "invalid choice"),
        (("log", "stats", "--storage", "sqlite:///x.db", "--since", "1st May"), "not a date"),
        (("log", "purge", "--storage", "sqlite:///x.db"), "--older-than"),
        (("log", "purge", "--storage", "sqlite:///x.db", "--older-than", "-5"), "at least 1"),
        (("log", "purge", "--storage", "sqlite:///x.db", "--older-than", "ten"), "whole number"),
        (("log", "show", "--storage", "sqlite:///x.db"), "CONSENT_ID"),
        (("log", "show", "--storage", "sqlite:///x.db", "-abc"), "unrecognized arguments"),
        (("log", "verify", "--storage", "sqlite:///x.db"), "no log key"),
        (("log", "verify", "--config", "no_such_module:config"), "cannot import"),
        (("log", "verify", "--config", "os:no_such_attr"), "has no attribute"),
        (("log", "verify", "--config", "os:sep"), "is not a ConsentConfig"),
        (("log", "verify", "--config", "nocolon"), "MODULE:ATTR"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], message: str) -> None:
    result = cli(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_checkpoint_files_are_usage_errors(log_url: str, tmp_path: Path) -> None:
    env = {"CONSENTKIT_SECRET_KEYS": SECRET}
    missing = cli(
        "log", "verify", "--storage", log_url, "--checkpoint", str(tmp_path / "no"), env=env
    )
    assert missing.returncode == 2
    assert "cannot read checkpoint" in missing.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    malformed = cli("log", "verify", "--storage", log_url, "--checkpoint", str(bad), env=env)
    assert malformed.returncode == 2
    assert "not JSON" in malformed.stderr


@pytest.mark.parametrize("command", ["export", "verify", "checkpoint", "stats", "show", "purge"])
def test_storage_problems_exit_3(command: str, tmp_path: Path) -> None:
    extra = {"show": ["someone"], "purge": ["--older-than", "30"]}.get(command, [])
    env = {"CONSENTKIT_SECRET_KEYS": SECRET}
    # No such file: never created by a read command.
    missing = tmp_path / "missing.db"
    result = cli("log", command, *extra, "--storage", f"sqlite:///{missing}", env=env)
    assert result.returncode == 3, result.stderr
    assert "there is no SQLite database" in result.stderr
    assert not missing.exists()
    # A database without a consent log.
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    result = cli("log", command, *extra, "--storage", f"sqlite:///{other}", env=env)
    assert result.returncode == 3
    assert "no consent log" in result.stderr
    # An unreachable PostgreSQL server; the password never shows.
    url = "postgresql://auditor:hunter2@127.0.0.1:9/consent"
    result = cli("log", command, *extra, "--storage", url, env=env)
    assert result.returncode == 3, result.stderr
    assert "cannot connect to PostgreSQL" in result.stderr
    assert "hunter2" not in result.stderr and "Traceback" not in result.stderr


def test_wrong_key_exits_3_without_showing_keys(log_url: str) -> None:
    result = cli("log", "verify", "--storage", log_url, env={"CONSENTKIT_SECRET_KEYS": "w" * 32})
    assert result.returncode == 3
    assert "wrong log key" in result.stderr
    assert "w" * 32 not in result.stderr and SECRET not in result.stderr


def test_config_names_the_storage_and_keys(log_url: str, tmp_path: Path) -> None:
    (tmp_path / "mysite.py").write_text(
        "from consentkit import ConsentConfig, Category\n"
        f"config = ConsentConfig(secret_keys=['n' * 32, {SECRET!r}], storage={log_url!r},\n"
        "    categories=[Category(key='necessary', label='N', required=True)])\n"
    )
    result = cli("log", "verify", "--config", "mysite:config", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "3 records" in result.stdout
    stats = cli("log", "stats", "--config", "mysite:config", cwd=tmp_path)
    assert stats.returncode == 0 and "3 decisions" in stats.stdout


def test_export_into_a_closed_pipe_is_quiet(log_url: str) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTKIT_")}
    pipeline = subprocess.run(
        f"'{sys.executable}' -m consentkit log export --storage '{log_url}' | head -c 10",
        shell=True,
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )
    assert "Traceback" not in pipeline.stderr


def test_show_takes_ids_that_start_with_a_dash(log_url: str) -> None:
    for args in (("--consent-id=-abc",), ("--", "-abc")):
        result = cli("log", "show", "--storage", log_url, *args)
        assert result.returncode == 1, result.stderr
        assert "no records for consent id '-abc'" in result.stderr
    found = cli("log", "show", "--storage", log_url, "--consent-id", "v1")
    assert found.returncode == 0 and "accept_all" in found.stdout
