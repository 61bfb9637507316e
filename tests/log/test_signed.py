"""Public-key verification: attacks by someone holding the database (and the HMAC key).

Every attack of issue 16 on both backends, each caught by ``consentkit log
verify`` (the real CLI) with a message naming the record, the declaration, the
purge or the checkpoint.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from logsupport import DECLARATION_HASH, SECRET, Database, fill
from tests.cli import run_cli

from consentkit.log.chain import SignedHead, derive_log_key, record_leaf
from consentkit.log.checkpoint import build_checkpoint
from consentkit.log.merkle import tree_hash
from consentkit.log.read import open_reader
from consentkit.log.record import ConsentRecord
from consentkit.log.signing import SigningKey, generate_key_files

KEY_ENV = {"CONSENTKIT_SECRET_KEYS": SECRET}


@pytest.fixture
def log(store_url: str) -> tuple[str, list[ConsentRecord]]:
    """Two chains: ten records, then three from another writer."""
    records = asyncio.run(fill(store_url, 10))
    asyncio.run(fill(store_url, 3, start=10))
    return store_url, records


@pytest.fixture
def public_key(tmp_path: Path) -> Path:
    """The site's published public key, as ``consentkit log public-key`` prints it."""
    result = run_cli("log", "public-key", env=KEY_ENV)
    assert result.returncode == 0, result.stderr
    assert "PRIVATE" not in result.stdout
    path = tmp_path / "site.pub"
    path.write_text(result.stdout)
    return path


def verify(url: str, key: Path, *extra: str) -> Any:
    """Verify with the public key only: no secret in the environment."""
    return run_cli("log", "verify", "--storage", url, "--public-key", str(key), *extra)


def attacker(tmp_path: Path) -> SigningKey:
    return generate_key_files(tmp_path / "attacker.pem", tmp_path / "attacker.pub")


def test_public_key_alone_verifies_and_says_what_it_checked(
    log: tuple[str, list[ConsentRecord]], public_key: Path
) -> None:
    url, _ = log
    result = verify(url, public_key)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: 13 records in 2 chain(s)")
    assert "MACs not checked (no log key given); the public key decides" in result.stdout
    assert f"public key file(s) {public_key}" in result.stderr


def test_keygen_writes_a_private_file_only_its_owner_reads(tmp_path: Path) -> None:
    private = tmp_path / "log-signing.pem"
    result = run_cli("log", "keygen", str(private))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert "PRIVATE KEY" in private.read_text()
    assert "PRIVATE" not in result.stdout and private.read_text() not in result.stdout
    assert (tmp_path / "log-signing.pem.pub").read_text().startswith("-----BEGIN PUBLIC KEY")
    again = run_cli("log", "keygen", str(private))
    assert again.returncode == 3
    assert "not overwriting a key" in again.stderr


def test_a_key_file_signs_and_its_public_half_verifies(store_url: str, tmp_path: Path) -> None:
    run_cli("log", "keygen", str(tmp_path / "k.pem")).check_returncode()
    from consentkit.log import derive_log_key as derive
    from consentkit.log import open_consent_log
    from consentkit.log.signing import load_signing_key

    async def write() -> None:
        log = open_consent_log(
            store_url, derive(SECRET), signer=load_signing_key(tmp_path / "k.pem")
        )
        from logsupport import decision

        for i in range(3):
            await log.append(decision(i))
        await log.close()

    asyncio.run(write())
    ok = verify(store_url, tmp_path / "k.pem.pub")
    assert ok.returncode == 0, ok.stderr
    # The key derived from the secret is not the key that signed: refused as a wrong key.
    other = run_cli("log", "public-key", env=KEY_ENV).stdout
    (tmp_path / "derived.pub").write_text(other)
    wrong = verify(store_url, tmp_path / "derived.pub")
    assert wrong.returncode == 3
    assert "wrong public key" in wrong.stderr


def test_forged_purge_by_anchor_is_caught(
    log: tuple[str, list[ConsentRecord]], public_key: Path, tmp_path: Path
) -> None:
    url, records = log
    chain = records[0].chain_id
    checkpoint = tmp_path / "cp.json"
    checkpoint.write_text(run_cli("log", "checkpoint", "--storage", url, env=KEY_ENV).stdout)
    db = Database(url)
    sixth = records[5]
    db.execute(
        "INSERT INTO consentkit_log_anchors (chain_id, seq, mac, ts, purged_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (chain, 6, sixth.mac, sixth.timestamp, sixth.timestamp),
    )
    db.execute("DELETE FROM consentkit_log WHERE chain_id = ? AND seq <= 6", (chain,))
    for extra in ((), ("--checkpoint", str(checkpoint))):
        result = verify(url, public_key, *extra)
        assert result.returncode == 1, result.stdout
        assert f"chain {chain} record seq 7: the chain starts after an unsigned purge anchor" in (
            result.stderr
        )
        assert "a forged purge" in result.stderr
    with_hmac = run_cli("log", "verify", "--storage", url, env=KEY_ENV)
    assert with_hmac.returncode == 1
    assert "unsigned purge anchor" in with_hmac.stderr


def test_forged_purge_statement_is_caught(
    log: tuple[str, list[ConsentRecord]], public_key: Path, tmp_path: Path
) -> None:
    url, records = log
    chain = records[0].chain_id
    with open_reader(url, write=True) as reader:
        # The attacker runs the real purge code, but with a key of their own.
        reader.purge(
            datetime.fromisoformat(records[6].timestamp),
            datetime.now(timezone.utc),
            attacker(tmp_path),
            "attacker",
        )
    result = verify(url, public_key)
    assert result.returncode == 1
    assert "purge #1: signed with key id" in result.stderr
    assert "forgery is as likely as a missing key" in result.stderr
    assert f"chain {chain} record seq 1: missing" in result.stderr


def test_genuine_purge_is_reported_as_a_purge(
    log: tuple[str, list[ConsentRecord]], public_key: Path
) -> None:
    url, records = log
    cut = datetime.fromisoformat(records[6].timestamp)
    with open_reader(url, write=True) as reader:
        from consentkit.log.signing import derive_signing_key

        result = reader.purge(
            cut,
            datetime.now(timezone.utc),
            derive_signing_key(derive_log_key(SECRET).secret),
            "dpo",
        )
    assert result.statement is not None
    ok = verify(url, public_key)
    assert ok.returncode == 0, ok.stderr
    assert "purge #1 at " in ok.stdout and " by dpo: " in ok.stdout
    # Deleting the statement afterwards leaves the records missing.
    Database(url).execute("DELETE FROM consentkit_log_purges")
    gone = verify(url, public_key)
    assert gone.returncode == 1
    assert f"chain {records[0].chain_id} record seq 1: missing" in gone.stderr


def test_edited_declaration_is_caught(
    log: tuple[str, list[ConsentRecord]], public_key: Path
) -> None:
    url, _ = log
    Database(url).execute(
        "UPDATE consentkit_declarations SET body = ? WHERE hash = ?",
        ('{"categories": ["nothing to see"]}', DECLARATION_HASH),
    )
    result = verify(url, public_key)
    assert result.returncode == 1
    assert f"declaration {DECLARATION_HASH}: its text does not match its hash" in result.stderr


def test_deleted_declaration_is_caught(
    log: tuple[str, list[ConsentRecord]], public_key: Path, tmp_path: Path
) -> None:
    url, _ = log
    checkpoint = tmp_path / "cp.json"
    checkpoint.write_text(run_cli("log", "checkpoint", "--storage", url, env=KEY_ENV).stdout)
    Database(url).execute("DELETE FROM consentkit_declarations")
    result = verify(url, public_key, "--checkpoint", str(checkpoint))
    assert result.returncode == 1
    # One fault per missing declaration, naming the first record that names it.
    named = [
        line
        for line in result.stderr.splitlines()
        if f"names declaration {DECLARATION_HASH}, which is not stored" in line
    ]
    assert len(named) == 1
    assert " record seq 1 (record_id " in named[0]
    assert f"declaration {DECLARATION_HASH}: in the checkpoint of " in result.stderr


def test_deleted_chain_is_caught(
    log: tuple[str, list[ConsentRecord]], public_key: Path, tmp_path: Path
) -> None:
    url, records = log
    chain = records[0].chain_id
    sink = tmp_path / "witness" / "checkpoints.jsonl"
    sink.parent.mkdir()
    made = run_cli("log", "checkpoint", "--storage", url, "--sink", str(sink), env=KEY_ENV)
    assert made.returncode == 0, made.stderr
    db = Database(url)
    db.execute("DELETE FROM consentkit_log WHERE chain_id = ?", (chain,))
    db.execute("DELETE FROM consentkit_chains WHERE chain_id = ?", (chain,))
    result = verify(url, public_key)
    assert result.returncode == 1
    assert f"chain {chain} record seq 1: missing: the chain is known from" in result.stderr
    # Wiping every trace inside the database too: only the witness's copy shows it.
    for table in ("consentkit_log_heads", "consentkit_log_nodes"):
        db.execute(f"DELETE FROM {table} WHERE chain_id = ?", (chain,))
    db.execute("DELETE FROM consentkit_log_checkpoints")
    assert verify(url, public_key).returncode == 0
    witnessed = verify(url, public_key, "--checkpoint", str(sink))
    assert witnessed.returncode == 1
    assert (
        f"chain {chain} record seq 1: missing: the chain is known from a checkpoint"
        in witnessed.stderr
    )


def _rewrite(url: str, records: list[ConsentRecord]) -> list[ConsentRecord]:
    """Rewrite a chain's records to reject_all, re-sealed with the HMAC key."""
    key = derive_log_key(SECRET)
    db = Database(url)
    prev, rewritten = "", []
    for record in records:
        new = replace(
            record,
            action="reject_all",
            granted=("necessary",),
            denied=("analytics", "marketing"),
            prev_mac=prev,
        )
        new = replace(new, mac=key.mac(new))
        db.execute(
            "UPDATE consentkit_log SET action = ?, granted = ?, denied = ?, prev_mac = ?, mac = ?"
            " WHERE record_id = ?",
            (new.action, '["necessary"]', '["analytics", "marketing"]', new.prev_mac, new.mac,
             new.record_id),
        )  # fmt: skip
        rewritten.append(new)
        prev = new.mac
    return rewritten


def test_chain_rewritten_with_the_hmac_key_is_caught(
    log: tuple[str, list[ConsentRecord]], public_key: Path, tmp_path: Path
) -> None:
    url, records = log
    chain = records[0].chain_id
    rewritten = _rewrite(url, records)
    with_hmac = run_cli("log", "verify", "--storage", url, env=KEY_ENV)
    assert with_hmac.returncode == 1
    assert "its content does not match its MAC" not in with_hmac.stderr  # the MACs are right
    message = (
        f"chain {chain} record seq 10: the records up to here do not give the Merkle root"
        " their writer signed"
    )
    assert message in with_hmac.stderr
    assert "an HMAC key is not enough" in with_hmac.stderr
    assert message in verify(url, public_key).stderr
    # Re-signing the head with a key of the attacker's own does not help.
    forger = attacker(tmp_path)
    root = tree_hash([record_leaf(r) for r in rewritten])
    last = rewritten[-1]
    head = SignedHead.make(forger, chain, 10, root, last.mac, last.timestamp)
    Database(url).execute(
        "UPDATE consentkit_log_heads SET root = ?, mac = ?, key_id = ?, signature = ?"
        " WHERE chain_id = ? AND seq = 10",
        (head.root, head.mac, head.key_id, head.signature, chain),
    )
    Database(url).execute(
        "DELETE FROM consentkit_log_heads WHERE chain_id = ? AND seq < 10", (chain,)
    )
    result = verify(url, public_key)
    assert result.returncode == 1
    assert (
        f"chain {chain} record seq 10: its signed head names key id {forger.key_id},"
        " which none of the public keys given has"
    ) in result.stderr
    assert "forgery is as likely as a missing key" in result.stderr


def test_forged_checkpoint_is_caught(
    log: tuple[str, list[ConsentRecord]], public_key: Path, tmp_path: Path
) -> None:
    url, _ = log
    with open_reader(url) as reader:
        forged = build_checkpoint(
            reader.signed_heads(),
            [DECLARATION_HASH],
            (0, ""),
            attacker(tmp_path),
            datetime.now(timezone.utc),
        )
    path = tmp_path / "forged.json"
    path.write_text(forged.to_json())
    result = verify(url, public_key, "--checkpoint", str(path))
    assert result.returncode == 1
    assert f"the checkpoint of {forged.created_at}: signed with key id {forged.key_id}" in (
        result.stderr
    )
    # A stored checkpoint altered in the database is caught too.
    run_cli("log", "checkpoint", "--storage", url, env=KEY_ENV).check_returncode()
    db = Database(url)
    body = json.loads(db.execute("SELECT body FROM consentkit_log_checkpoints")[0][0])
    body["declarations"] = []
    db.execute("UPDATE consentkit_log_checkpoints SET body = ?", (json.dumps(body),))
    altered = verify(url, public_key)
    assert altered.returncode == 1
    assert "its declaration hashes are not the ones it signed" in altered.stderr


def test_every_fault_is_reported_with_its_record(
    log: tuple[str, list[ConsentRecord]], public_key: Path
) -> None:
    url, records = log
    db = Database(url)
    db.execute(
        "UPDATE consentkit_log SET action = 'reject_all' WHERE record_id = ?",
        (records[2].record_id,),
    )
    db.execute("DELETE FROM consentkit_log WHERE record_id = ?", (records[5].record_id,))
    db.execute(
        "UPDATE consentkit_log SET ip = '198.51.100.9' WHERE record_id = ?",
        (records[8].record_id,),
    )
    result = run_cli("log", "verify", "--storage", url, env=KEY_ENV)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("FAILED: chain")]
    assert len(lines) >= 3
    assert any(f"record seq 3 (record_id {records[2].record_id}): its content" in x for x in lines)
    assert any(f"chain {records[0].chain_id} record seq 6: missing" in x for x in lines)
    assert any(f"(record_id {records[8].record_id}): its content" in x for x in lines)
    assert all("most likely: " in x for x in lines)
    limited = run_cli("log", "verify", "--storage", url, "--max-faults", "1", env=KEY_ENV)
    assert limited.stderr.count("FAILED: chain") == 1
    assert "more fault(s) (raise --max-faults to see them)" in limited.stderr


def test_swapped_seq_blames_the_moved_records_without_the_hmac_key(
    log: tuple[str, list[ConsentRecord]], public_key: Path
) -> None:
    url, records = log
    a, b = records[6], records[7]
    db = Database(url)
    db.execute("UPDATE consentkit_log SET seq = 8 WHERE record_id = ?", (a.record_id,))
    db.execute("UPDATE consentkit_log SET seq = 7 WHERE record_id = ?", (b.record_id,))
    result = verify(url, public_key)
    assert result.returncode == 1
    blamed = [line for line in result.stderr.splitlines() if "its seq is" in line]
    assert len(blamed) == 2, result.stderr
    assert any(f"record seq 7 (record_id {b.record_id}): its seq is 7" in x for x in blamed)
    assert any(f"record seq 8 (record_id {a.record_id}): its seq is 8" in x for x in blamed)
    assert f"record_id {records[8].record_id}" not in result.stderr  # the next one is innocent


def test_receipt_verifies_offline(
    log: tuple[str, list[ConsentRecord]], public_key: Path, tmp_path: Path
) -> None:
    url, records = log
    made = run_cli("log", "receipt", records[4].consent_id, "--storage", url, env=KEY_ENV)
    assert made.returncode == 0, made.stderr
    receipt = json.loads(made.stdout)
    assert receipt["format"] == "consentkit-receipt/1"
    assert receipt["record"]["record_id"] == records[4].record_id
    assert receipt["declaration"] == '{"categories": []}'
    path = tmp_path / "receipt.json"
    path.write_text(made.stdout)
    checked = run_cli("log", "verify-receipt", str(path), "--public-key", str(public_key))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"OK: accept_all by {records[4].consent_id} at ")


def _receipt(url: str, consent_id: str, tmp_path: Path) -> dict[str, Any]:
    made = run_cli("log", "receipt", consent_id, "--storage", url, env=KEY_ENV)
    assert made.returncode == 0, made.stderr
    data: dict[str, Any] = json.loads(made.stdout)
    return data


def _check(receipt: dict[str, Any], key: Path, tmp_path: Path) -> Any:
    path = tmp_path / "r.json"
    path.write_text(json.dumps(receipt))
    return run_cli("log", "verify-receipt", str(path), "--public-key", str(key))


def test_receipt_for_a_record_not_in_the_tree_fails(
    log: tuple[str, list[ConsentRecord]], public_key: Path, tmp_path: Path
) -> None:
    url, records = log
    receipt = _receipt(url, records[4].consent_id, tmp_path)
    receipt["record"] = {**receipt["record"], "record_id": "9" * 32, "consent_id": "someone-else"}
    result = _check(receipt, public_key, tmp_path)
    assert result.returncode == 1
    assert "the record is not in its chain's signed Merkle tree" in result.stderr


def test_receipt_for_a_tampered_record_fails(
    log: tuple[str, list[ConsentRecord]], public_key: Path, tmp_path: Path
) -> None:
    url, records = log
    receipt = _receipt(url, records[4].consent_id, tmp_path)
    receipt["record"]["granted"] = ["analytics"]
    assert _check(receipt, public_key, tmp_path).returncode == 1
    # Tampered in the database, then receipted: the proof cannot reach the signed root.
    Database(url).execute(
        "UPDATE consentkit_log SET action = 'reject_all' WHERE record_id = ?",
        (records[3].record_id,),
    )
    result = _check(_receipt(url, records[3].consent_id, tmp_path), public_key, tmp_path)
    assert result.returncode == 1
    assert "the record is not in its chain's signed Merkle tree" in result.stderr


def test_receipt_under_an_unknown_key_and_malformed_receipts(
    log: tuple[str, list[ConsentRecord]], tmp_path: Path
) -> None:
    url, records = log
    receipt = _receipt(url, records[0].consent_id, tmp_path)
    attacker(tmp_path)
    other = _check(receipt, tmp_path / "attacker.pub", tmp_path)
    assert other.returncode == 1
    assert "a forgery is as likely as a missing key" in other.stderr
    (tmp_path / "bad.json").write_text("{not json")
    bad = run_cli(
        "log",
        "verify-receipt",
        str(tmp_path / "bad.json"),
        "--public-key",
        str(tmp_path / "attacker.pub"),
    )
    assert bad.returncode == 2 and "is not JSON" in bad.stderr
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    wrong = run_cli(
        "log",
        "verify-receipt",
        str(tmp_path / "other.json"),
        "--public-key",
        str(tmp_path / "attacker.pub"),
    )
    assert wrong.returncode == 1 and "not a consentkit-receipt/1 document" in wrong.stderr
    missing = run_cli("log", "receipt", "nobody", "--storage", url, env=KEY_ENV)
    assert missing.returncode == 1 and "no record for consent id 'nobody'" in missing.stderr


def test_receipt_after_purge_still_verifies(
    store_url: str, public_key: Path, tmp_path: Path
) -> None:
    """Leaves a purge deleted from a partial block are kept as hashes for later proofs."""
    import time

    now = time.time()
    times = iter([now - 100 * 86400] * 70 + [now] * 30)
    records = asyncio.run(fill(store_url, 100, clock=lambda: next(times)))
    purged = run_cli("log", "purge", "--older-than", "30", "--storage", store_url, env=KEY_ENV)
    assert purged.returncode == 0, purged.stderr
    assert "purged 70 records" in purged.stdout
    assert verify(store_url, public_key).returncode == 0
    for record in (records[70], records[99]):
        receipt = _receipt(store_url, record.consent_id, tmp_path)
        result = _check(receipt, public_key, tmp_path)
        assert result.returncode == 0, result.stderr


def test_chains_from_before_signed_heads_are_adopted_once_they_verify(
    store_url: str, public_key: Path
) -> None:
    old = asyncio.run(fill(store_url, 5, signed=False))
    tampered = asyncio.run(fill(store_url, 3, signed=False, start=5))
    before = verify(store_url, public_key)
    assert before.returncode == 1
    assert (
        f"chain {old[0].chain_id} record seq 1: records seq 1 to 5 are covered by no signed head"
        in (before.stderr)
    )
    Database(store_url).execute(
        "UPDATE consentkit_log SET action = 'reject_all' WHERE record_id = ?",
        (tampered[1].record_id,),
    )
    adopt = run_cli("log", "adopt", "--storage", store_url, env=KEY_ENV)
    assert adopt.returncode == 1
    assert (
        f"chain {old[0].chain_id}: 5 records verified with the HMAC key and signed" in adopt.stdout
    )
    assert f"chain {tampered[0].chain_id}: not signed: record seq 2 does not match its MAC" in (
        adopt.stderr
    )
    after = verify(store_url, public_key)
    assert f"chain {old[0].chain_id}" not in after.stderr
    assert f"chain {tampered[0].chain_id} record seq 1: records seq 1 to 3" in after.stderr
    again = run_cli("log", "adopt", "--storage", store_url, env=KEY_ENV)
    assert f"chain {old[0].chain_id}" not in again.stdout  # signed once
