"""The log under a real server: SIGKILL mid-load, and several writers at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from serving import Server, decide

from consentkit.log import derive_log_key
from consentkit.log.read import open_reader
from consentkit.log.verify import verify_log

KEY = derive_log_key("x" * 32)  # crash_app's secret key


def stored_ids_and_verify(url: str) -> tuple[set[str], int, int]:
    with open_reader(url) as reader:
        report = verify_log(reader, [KEY])
        ids = {record.consent_id for record in reader.records()}
    return ids, report.records, report.chains


@pytest.mark.slow
def test_acknowledged_decisions_survive_sigkill(store_url: str, tmp_path: Path) -> None:
    acked: set[str] = set()
    for round_ in range(3):
        server = Server(store_url, tmp_path)
        load = asyncio.run(
            decide([server.url], duration=3.0, concurrency=24, stop_after=0.8, on_stop=server.kill)
        )
        assert load.acked, f"round {round_}: no decision was acknowledged before the kill"
        assert load.errors, f"round {round_}: the kill came after the load"
        acked.update(load.acked)
        # Restarted, the site takes decisions again and the log still verifies.
        server = Server(store_url, tmp_path)
        after = asyncio.run(decide([server.url], total=20, concurrency=4))
        server.stop()
        assert len(after.acked) == 20
        acked.update(after.acked)
        stored, records, chains = stored_ids_and_verify(store_url)
        missing = acked - stored
        assert not missing, f"round {round_}: {len(missing)} acknowledged decisions lost"
        assert chains == 2 * (round_ + 1)
        assert records >= len(acked)


@pytest.mark.slow
def test_two_servers_on_one_store(store_url: str, tmp_path: Path) -> None:
    servers = [Server(store_url, tmp_path) for _ in range(2)]
    try:
        load = asyncio.run(decide([s.url for s in servers], total=600, concurrency=32))
    finally:
        for server in servers:
            server.stop()
    assert load.statuses == {200: 600}, load.statuses
    stored, records, chains = stored_ids_and_verify(store_url)
    assert set(load.acked) <= stored
    assert records == 600
    assert chains == 2
