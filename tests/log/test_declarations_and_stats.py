"""What an auditor reads beyond the records: declarations, choices apart from the rest."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
from dataclasses import replace

import pytest
from logsupport import SECRET, Database, decision
from tests.cli import run_cli

from consentkit.log import ConsentRecord, derive_log_key, open_consent_log

BODIES = [
    '{"categories":[{"key":"analytics"}],"texts":{"banner_text":"We count visits"}}',
    '{"categories":[{"key":"analytics"}],"texts":{"banner_text":"Wir zählen Besuche"}}',
]
HASHES = [hashlib.sha256(body.encode()).hexdigest() for body in BODIES]


def _append(url: str, decisions: list[object]) -> list[ConsentRecord]:
    async def run() -> list[ConsentRecord]:
        log = open_consent_log(url, derive_log_key(SECRET))
        await log.open()
        try:
            return [await log.append(d) for d in decisions]  # type: ignore[arg-type]
        finally:
            await log.close()

    return asyncio.run(run())


def _with_declaration(i: int, which: int, **changes: object) -> object:
    return replace(
        decision(i), declaration_hash=HASHES[which], declaration_json=BODIES[which], **changes
    )


@pytest.fixture
def two_declarations(store_url: str) -> list[ConsentRecord]:
    return _append(store_url, [_with_declaration(i, i % 2 if i else 0) for i in range(4)])


def test_declaration_prints_the_texts_shown(
    store_url: str, two_declarations: list[ConsentRecord]
) -> None:
    out = run_cli("log", "declaration", HASHES[1], "--storage", store_url)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["texts"]["banner_text"] == "Wir zählen Besuche"
    short = run_cli("log", "declaration", HASHES[1][:12].upper(), "--storage", store_url)
    assert short.stdout == out.stdout  # the 12 digits `log show` prints are enough
    raw = run_cli("log", "declaration", HASHES[0], "--raw", "--storage", store_url)
    assert hashlib.sha256(raw.stdout.encode()).hexdigest() == HASHES[0]


@pytest.mark.parametrize(
    ("given", "status", "message"),
    [
        ("0" * 64, 1, "no declaration with hash"),
        ("abc", 2, "is not a declaration hash"),
        ("not-hex-at-all", 2, "is not a declaration hash"),
    ],
)
def test_declaration_unknown_or_malformed(
    store_url: str, two_declarations: list[ConsentRecord], given: str, status: int, message: str
) -> None:
    out = run_cli("log", "declaration", given, "--storage", store_url)
    assert out.returncode == status
    assert message in out.stderr
    assert out.stdout == ""


def test_declaration_altered_in_storage_fails(
    store_url: str, two_declarations: list[ConsentRecord]
) -> None:
    Database(store_url).execute(
        "UPDATE consentkit_declarations SET body = ? WHERE hash = ?",
        (BODIES[0].replace("count", "never count"), HASHES[0]),
    )
    out = run_cli("log", "declaration", HASHES[0], "--storage", store_url)
    assert out.returncode == 1
    assert "does not match its hash" in out.stderr


def test_export_puts_each_declaration_once_before_its_first_record(
    store_url: str, two_declarations: list[ConsentRecord]
) -> None:
    out = run_cli("log", "export", "--declarations", "--storage", store_url)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    kinds = [line.get("kind", line.get("declaration_hash")[:4]) for line in lines]
    assert kinds[0] == "declaration" and kinds[2] == "declaration"
    assert len(lines) == 6  # 4 records, 2 declarations
    declared = {}
    for line in lines:
        if line.get("kind") == "declaration":
            body = line["body"]
            assert hashlib.sha256(body.encode()).hexdigest() == line["declaration_hash"]
            declared[line["declaration_hash"]] = body
        else:  # every record's declaration came before it
            assert line["declaration_hash"] in declared
    plain = run_cli("log", "export", "--storage", store_url).stdout.splitlines()
    assert [line for line in lines if "kind" not in line] == [json.loads(x) for x in plain]


def test_csv_export_carries_each_declaration_once(
    store_url: str, two_declarations: list[ConsentRecord]
) -> None:
    out = run_cli("log", "export", "--declarations", "--format", "csv", "--storage", store_url)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [bool(row["declaration"]) for row in rows] == [True, True, False, False]
    assert rows[0]["declaration"] == BODIES[0] and rows[1]["declaration"] == BODIES[1]
    assert rows[0]["site_host"] == ""  # missing optional fields are empty


def test_stats_count_choices_apart_from_gpc_withdrawals_and_repeats(store_url: str) -> None:
    reject = {"action": "reject_all", "granted": ("necessary",), "denied": ("analytics",)}
    gpc = {**reject, "action": "gpc"}
    _append(
        store_url,
        [
            decision(1, "alice", "accept_all"),
            decision(2, "alice", "accept_all"),  # the same again: a repeat
            replace(decision(3, "alice"), **gpc),
            replace(decision(4, "alice"), **reject),  # a change: a choice
            replace(decision(5, "alice"), **{**reject, "action": "withdraw"}),
            replace(decision(6, "bob"), **reject),
            replace(decision(7, "bob"), **reject),  # repeat
            decision(8, "carol", "accept_all"),
        ],
    )
    out = run_cli("log", "stats", "--storage", store_url, "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["decisions"] == 8
    assert (data["choices"], data["repeats"]) == (4, 2)
    assert (data["withdrawals"], data["gpc_overrides"]) == (1, 1)
    rates = {c["category"]: (c["granted"], c["choices"]) for c in data["categories"]}
    assert rates["analytics"] == (2, 4)  # alice's first accept and carol's, of 4 choices
    table = run_cli("log", "stats", "--storage", store_url).stdout
    assert "8 decisions: 4 visitor choices, 2 repeated identical choices" in table
    assert "1 withdrawals, 1 GPC overrides" in table
    assert "50.0%  (2/4)" in table


def test_stats_since_still_knows_the_choice_before(store_url: str) -> None:
    import time

    now = time.time()
    clock = iter([now - 3 * 86400, now])

    async def run() -> None:
        log = open_consent_log(store_url, derive_log_key(SECRET), clock=lambda: next(clock))
        await log.open()
        await log.append(decision(1, "alice"))
        await log.append(decision(2, "alice"))
        await log.close()

    asyncio.run(run())
    since = time.strftime("%Y-%m-%d", time.gmtime(now - 86400))
    data = json.loads(
        run_cli("log", "stats", "--storage", store_url, "--since", since, "--format", "json").stdout
    )
    assert (data["decisions"], data["choices"], data["repeats"]) == (1, 0, 1)


@pytest.mark.parametrize(
    "args",
    [
        ("log", "show", "-Xy3_abc", "--storage", "sqlite:///x.db"),
        ("log", "show", "--storage", "sqlite:///x.db", "-Xy3_abc"),
        ("log", "show", "--consent-id", "-Xy3_abc", "--storage", "sqlite:///x.db"),
    ],
)
def test_show_with_an_id_starting_with_a_dash_gets_a_hint(args: tuple[str, ...]) -> None:
    out = run_cli(*args)
    assert out.returncode == 2
    assert "hint: '-Xy3_abc' starts with '-'" in out.stderr
    assert "--consent-id=-Xy3_abc" in out.stderr


def test_the_hinted_forms_work(store_url: str) -> None:
    _append(store_url, [decision(1, "-Xy3_abc")])
    for args in (("--consent-id=-Xy3_abc",), ("--storage", store_url, "--", "-Xy3_abc")):
        storage = () if "--" in args else ("--storage", store_url)
        out = run_cli("log", "show", *storage, *args)
        assert out.returncode == 0, out.stderr
        assert "accept_all" in out.stdout
