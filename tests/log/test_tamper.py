"""Tampering with a stored log: verify (the real CLI) catches it and names the record."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from logsupport import SECRET, Database, fill
from tests.cli import run_cli

from consentkit.log.chain import derive_log_key
from consentkit.log.record import ConsentRecord

KEY_ENV = {"CONSENTKIT_SECRET_KEYS": SECRET}


def verify(url: str, *extra: str) -> Any:
    return run_cli("log", "verify", "--storage", url, *extra, env=KEY_ENV)


@pytest.fixture
def log(store_url: str) -> tuple[str, list[ConsentRecord]]:
    """A log of two chains: ten records, then three from another writer."""
    records = asyncio.run(fill(store_url, 10))
    asyncio.run(fill(store_url, 3, start=10))
    return store_url, records


def _row(db: Database, chain_id: str, seq: int) -> list[Any]:
    return list(
        db.execute(
            "SELECT chain_id, seq, record_id, consent_id, ts, action, granted, denied,"
            " policy_version, declaration_hash, language, surface, path, ip, user_agent, gpc,"
            " key_id, prev_mac, mac FROM consentkit_log WHERE chain_id = ? AND seq = ?",
            (chain_id, seq),
        )[0]
    )


_COLUMNS = (
    "chain_id, seq, record_id, consent_id, ts, action, granted, denied, policy_version,"
    " declaration_hash, language, surface, path, ip, user_agent, gpc, key_id, prev_mac, mac"
)


def test_untouched_log_verifies(log: tuple[str, list[ConsentRecord]]) -> None:
    url, _ = log
    result = verify(url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: 13 records in 2 chain(s), from ")
    assert result.stdout.count("\n") == 1


def test_changed_field_is_named(log: tuple[str, list[ConsentRecord]]) -> None:
    url, records = log
    target = records[4]
    Database(url).execute(
        "UPDATE consentkit_log SET action = 'reject_all' WHERE record_id = ?", (target.record_id,)
    )
    result = verify(url)
    assert result.returncode == 1
    assert f"chain {target.chain_id} record seq 5 (record_id {target.record_id})" in result.stderr
    assert "altered" in result.stderr


@pytest.mark.parametrize("column", ["granted", "ts", "ip", "consent_id", "mac"])
def test_any_changed_column_is_caught(log: tuple[str, list[ConsentRecord]], column: str) -> None:
    url, records = log
    target = records[6]
    value = {
        "granted": '["necessary"]',
        "ts": "2020-01-01T00:00:00.000000+00:00",
        "ip": "198.51.100.7",
        "consent_id": "someone-else",
        "mac": "0" * 64,
    }[column]
    Database(url).execute(
        f"UPDATE consentkit_log SET {column} = ? WHERE record_id = ?", (value, target.record_id)
    )
    result = verify(url)
    assert result.returncode == 1
    # A changed MAC also breaks the link from the next record; either names the spot.
    assert f"chain {target.chain_id} record seq" in result.stderr
    assert target.record_id in result.stderr or "record seq 8" in result.stderr


@pytest.mark.parametrize("value", ["x", '{"a": 1}', "[1, 2]", ""])
def test_unreadable_categories_are_named_not_a_crash(
    log: tuple[str, list[ConsentRecord]], value: str
) -> None:
    url, records = log
    target = records[1]
    Database(url).execute(
        "UPDATE consentkit_log SET granted = ? WHERE record_id = ?", (value, target.record_id)
    )
    result = verify(url)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"record seq 2 (record_id {target.record_id})" in result.stderr
    assert "altered" in result.stderr


def test_deleted_record_is_named(log: tuple[str, list[ConsentRecord]]) -> None:
    url, records = log
    target = records[3]
    Database(url).execute("DELETE FROM consentkit_log WHERE record_id = ?", (target.record_id,))
    result = verify(url)
    assert result.returncode == 1
    assert f"chain {target.chain_id} record seq 4: missing" in result.stderr


def test_deleted_first_record_is_named(log: tuple[str, list[ConsentRecord]]) -> None:
    url, records = log
    Database(url).execute("DELETE FROM consentkit_log WHERE record_id = ?", (records[0].record_id,))
    result = verify(url)
    assert result.returncode == 1
    assert f"chain {records[0].chain_id} record seq 1: missing" in result.stderr


def test_deleted_chain_is_caught(log: tuple[str, list[ConsentRecord]]) -> None:
    url, records = log
    Database(url).execute("DELETE FROM consentkit_log WHERE chain_id = ?", (records[0].chain_id,))
    result = verify(url)
    assert result.returncode == 1
    assert f"chain {records[0].chain_id} record seq 1: missing" in result.stderr


def test_forged_record_inserted_in_the_middle(log: tuple[str, list[ConsentRecord]]) -> None:
    url, records = log
    db = Database(url)
    row = _row(db, records[5].chain_id, 6)
    row[2] = "f" * 32  # a new record id
    row[5] = "reject_all"
    db.execute(f"INSERT INTO consentkit_log ({_COLUMNS}) VALUES ({','.join('?' * 19)})", tuple(row))
    result = verify(url)
    assert result.returncode == 1
    assert f"record seq 6 (record_id {'f' * 32}): a second record with seq 6" in result.stderr


def test_forged_record_appended_with_a_wrong_key(log: tuple[str, list[ConsentRecord]]) -> None:
    url, records = log
    last = records[-1]
    forged = ConsentRecord(
        **{**last.as_dict(), "granted": tuple(last.granted), "denied": tuple(last.denied)}  # type: ignore[arg-type]
    )
    from dataclasses import replace

    forged = replace(forged, seq=11, record_id="e" * 32, prev_mac=last.mac, consent_id="forged")
    forged = replace(forged, mac=derive_log_key("attacker" * 4).mac(forged))
    values = list(forged.as_dict().values())[:19]  # the columns of the first schema
    values[6], values[7] = json.dumps(values[6]), json.dumps(values[7])
    if not url.startswith("postgresql"):
        values[15] = int(values[15])
    Database(url).execute(
        f"INSERT INTO consentkit_log ({_COLUMNS}) VALUES ({','.join('?' * 19)})", tuple(values)
    )
    result = verify(url)
    assert result.returncode == 1
    assert f"record seq 11 (record_id {'e' * 32})" in result.stderr
    assert "forged" in result.stderr


def test_swapped_records_are_named(log: tuple[str, list[ConsentRecord]]) -> None:
    """Two rows exchange their contents: the chain reads out of storage order."""
    url, records = log
    db = Database(url)
    chain = records[0].chain_id
    row4, row5 = _row(db, chain, 4), _row(db, chain, 5)
    sets = ", ".join(f"{c.strip()} = ?" for c in _COLUMNS.split(","))
    db.execute("UPDATE consentkit_log SET record_id = 'tmp' WHERE record_id = ?", (row4[2],))
    db.execute(f"UPDATE consentkit_log SET {sets} WHERE record_id = ?", (*row4, row5[2]))
    db.execute(f"UPDATE consentkit_log SET {sets} WHERE record_id = 'tmp'", (*row5,))
    result = verify(url)
    assert result.returncode == 1
    assert f"chain {chain} record seq 5 (record_id {row5[2]}): stored before" in result.stderr


def test_swapped_sequence_numbers_are_named(log: tuple[str, list[ConsentRecord]]) -> None:
    url, records = log
    db = Database(url)
    a, b = records[6], records[7]
    db.execute("UPDATE consentkit_log SET seq = 8 WHERE record_id = ?", (a.record_id,))
    db.execute("UPDATE consentkit_log SET seq = 7 WHERE record_id = ?", (b.record_id,))
    result = verify(url)
    assert result.returncode == 1
    assert f"chain {a.chain_id} record seq 7 (record_id {b.record_id})" in result.stderr


def test_cut_tail_is_caught_with_a_checkpoint(
    log: tuple[str, list[ConsentRecord]], tmp_path: Path
) -> None:
    url, records = log
    checkpoint = run_cli("log", "checkpoint", "--storage", url, env=KEY_ENV)
    assert checkpoint.returncode == 0, checkpoint.stderr
    heads = json.loads(checkpoint.stdout)["chains"]
    assert heads[records[0].chain_id]["seq"] == 10
    path = tmp_path / "checkpoint.json"
    path.write_text(checkpoint.stdout)
    assert verify(url, "--checkpoint", str(path)).returncode == 0
    Database(url).execute(
        "DELETE FROM consentkit_log WHERE chain_id = ? AND seq > 8", (records[0].chain_id,)
    )
    # The chain's last signed head already shows it; an earlier checkpoint too.
    alone = verify(url)
    assert alone.returncode == 1
    assert f"chain {records[0].chain_id} record seq 9: cut off the end" in alone.stderr
    assert "signed head has seq 10" in alone.stderr
    result = verify(url, "--checkpoint", str(path))
    assert result.returncode == 1
    assert f"chain {records[0].chain_id} record seq 9: cut off the end" in result.stderr
    assert "has the chain up to seq 10" in result.stderr


def test_checkpoint_with_a_rewritten_head_fails(
    log: tuple[str, list[ConsentRecord]], tmp_path: Path
) -> None:
    url, records = log
    path = tmp_path / "checkpoint.json"
    path.write_text(run_cli("log", "checkpoint", "--storage", url, env=KEY_ENV).stdout)
    data = json.loads(path.read_text())
    data["chains"][records[0].chain_id]["mac"] = "1" * 64
    path.write_text(json.dumps(data))
    result = verify(url, "--checkpoint", str(path))
    assert result.returncode == 1
    assert "its chains do not give the root it signed: altered" in result.stderr
    assert "most likely: a forged checkpoint" in result.stderr


def test_records_after_the_checkpoint_still_verify(
    log: tuple[str, list[ConsentRecord]], tmp_path: Path
) -> None:
    url, _ = log
    path = tmp_path / "checkpoint.json"
    path.write_text(run_cli("log", "checkpoint", "--storage", url, env=KEY_ENV).stdout)
    asyncio.run(fill(url, 4, start=20))
    result = verify(url, "--checkpoint", str(path))
    assert result.returncode == 0, result.stderr
    assert "17 records in 3 chain(s)" in result.stdout


def test_wrong_key_is_a_clear_error(log: tuple[str, list[ConsentRecord]]) -> None:
    url, _ = log
    result = run_cli("log", "verify", "--storage", url, "--log-key", "not-the-key")
    assert result.returncode == 3
    assert "wrong log key" in result.stderr
    assert "not-the-key" not in result.stderr and SECRET not in result.stderr


def test_rotated_keys_verify_with_both(store_url: str) -> None:
    old, new = "o" * 32, "n" * 32
    asyncio.run(fill(store_url, 3, secret=old))
    asyncio.run(fill(store_url, 3, secret=new, start=3))
    both = run_cli(
        "log", "verify", "--storage", store_url, env={"CONSENTKIT_SECRET_KEYS": f"{new},{old}"}
    )
    assert both.returncode == 0, both.stderr
    assert "6 records in 2 chain(s)" in both.stdout
    only_new = run_cli("log", "verify", "--storage", store_url, env={"CONSENTKIT_SECRET_KEYS": new})
    assert only_new.returncode == 1
    assert "none of the public keys given has" in only_new.stderr
    assert "a forgery is as likely as a missing key" in only_new.stderr


def test_log_key_env_and_option(store_url: str) -> None:
    asyncio.run(fill(store_url, 2, secret="L" * 32))
    env = run_cli("log", "verify", "--storage", store_url, env={"CONSENTKIT_LOG_KEY": "L" * 32})
    assert env.returncode == 0, env.stderr
    option = run_cli("log", "verify", "--storage", store_url, "--log-key", "L" * 32)
    assert option.returncode == 0, option.stderr
