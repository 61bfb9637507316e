"""The stores themselves: group commit, declarations, failures and recovery."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from typing import Any

import pytest
from logsupport import SECRET, Database, decision
from tests.cli import run_cli

from consentkit.errors import StorageUnavailable
from consentkit.log import derive_log_key, open_consent_log
from consentkit.log.read import open_reader
from consentkit.log.schema import POSTGRES_MIGRATIONS
from consentkit.log.verify import verify_log

KEY = derive_log_key(SECRET)


def verifies(url: str) -> int:
    with open_reader(url) as reader:
        return verify_log(reader, [KEY]).records


def test_concurrent_appends_share_transactions_and_chain(store_url: str) -> None:
    async def run() -> list[Any]:
        log = open_consent_log(store_url, KEY)
        await log.open()
        records = await asyncio.gather(*(log.append(decision(i)) for i in range(300)))
        await log.close()
        return list(records)

    records = asyncio.run(run())
    assert sorted(r.seq for r in records) == list(range(1, 301))
    assert len({r.chain_id for r in records}) == 1
    assert verifies(store_url) == 300
    db = Database(store_url)
    assert db.execute("SELECT count(*) FROM consentkit_declarations")[0][0] == 1
    # Group commit: far fewer distinct commit times than records.
    assert db.execute("SELECT count(DISTINCT ts) FROM consentkit_log")[0][0] < 300


def test_two_writers_keep_their_own_chains(store_url: str) -> None:
    async def run() -> None:
        logs = [open_consent_log(store_url, KEY) for _ in range(2)]
        await asyncio.gather(*(log.open() for log in logs))
        await asyncio.gather(
            *(logs[i % 2].append(decision(i)) for i in range(200)),
        )
        await asyncio.gather(*(log.close() for log in logs))

    asyncio.run(run())
    assert verifies(store_url) == 200
    assert Database(store_url).execute("SELECT count(*) FROM consentkit_chains")[0][0] == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_workers_forked_from_one_built_log_write_their_own_chains(store_url: str) -> None:
    # As gunicorn --preload does: the app (and its log) is built once, then forked.
    log = open_consent_log(store_url, KEY)

    async def work(worker: int) -> None:
        await log.open()
        await asyncio.gather(*(log.append(decision(worker * 100 + i)) for i in range(20)))
        await log.close()

    children = []
    for worker in range(2):
        pid = os.fork()
        if pid == 0:  # the worker
            code = 0
            try:
                asyncio.run(work(worker))
            except BaseException:
                code = 1
            os._exit(code)
        children.append(pid)
    for pid in children:
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert verifies(store_url) == 40
    assert Database(store_url).execute("SELECT count(*) FROM consentkit_chains")[0][0] == 2


def test_a_commit_whose_answer_is_lost_does_not_fork_the_chain(store_url: str) -> None:
    """A write fails on an open connection: landed or not, each decision is stored once."""

    async def run() -> None:
        log: Any = open_consent_log(store_url, KEY)
        original = log._commit
        calls = {"n": 0}

        def flaky(*args: Any) -> None:
            calls["n"] += 1
            if calls["n"] == 3:
                raise OSError("connection lost before anything was sent")
            original(*args)
            if calls["n"] == 2:
                raise OSError("connection lost after COMMIT")

        log._commit = flaky
        await log.open()
        await log.append(decision(1))
        second = await log.append(decision(2))  # it landed: found, not written twice
        third = await log.append(decision(3))  # it did not: written again, once
        assert (second.seq, third.seq) == (2, 3)
        assert calls["n"] == 4
        await log.close()

    asyncio.run(run())
    assert verifies(store_url) == 3


def test_sqlite_unwritable_path_raises_storage_unavailable(tmp_path: Any) -> None:
    async def run() -> None:
        log = open_consent_log(f"sqlite:///{tmp_path}/missing-dir/log.db", KEY)
        with pytest.raises(StorageUnavailable):
            await log.append(decision(1))
        await log.close()

    asyncio.run(run())


class _Proxy:
    """A TCP forwarder to PostgreSQL that can be cut and restored."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._server: socket.socket | None = None
        self._conns: list[socket.socket] = []

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.shutdown(socket.SHUT_RDWR)  # wakes the accept()
            self._server.close()
            self._server = None
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        self._conns.clear()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


@pytest.mark.postgres
def test_postgres_outage_raises_then_recovers(pg_dsn: str) -> None:
    from urllib.parse import urlsplit

    real = urlsplit(pg_dsn)
    proxy = _Proxy((real.hostname or "127.0.0.1", real.port or 5432))
    dsn = pg_dsn.replace(f"{real.hostname}:{real.port}", f"127.0.0.1:{proxy.port}")

    async def run() -> None:
        log = open_consent_log(dsn, KEY)
        await log.open()
        with pytest.raises(StorageUnavailable):  # nothing listening yet
            await log.append(decision(0))
        proxy.start()
        first = await log.append(decision(1))
        proxy.stop()  # the database goes away under an open connection
        with pytest.raises(StorageUnavailable):
            await log.append(decision(2))
        proxy.start()  # ... and comes back: no restart needed
        second = await log.append(decision(3))
        assert (first.seq, second.seq) == (1, 2)
        await log.close()

    try:
        asyncio.run(run())
    finally:
        proxy.stop()
    assert verifies(pg_dsn) == 2


@pytest.mark.postgres
def test_postgres_reconnects_after_the_server_drops_the_connection(pg_dsn: str) -> None:
    async def run() -> None:
        log: Any = open_consent_log(pg_dsn, KEY)
        await log.open()
        await log.append(decision(1))
        Database(pg_dsn).execute("SELECT pg_terminate_backend(?)", (log._conn.info.backend_pid,))
        record = await log.append(decision(2))  # retried once on a fresh connection
        assert record.seq == 2
        await log.close()

    asyncio.run(run())
    assert verifies(pg_dsn) == 2


@pytest.mark.postgres
def test_postgres_instances_migrate_together(pg_dsn: str) -> None:
    async def run() -> None:
        logs = [open_consent_log(pg_dsn, KEY) for _ in range(4)]
        await asyncio.gather(*(log.open() for log in logs))
        await asyncio.gather(*(log.append(decision(i)) for i, log in enumerate(logs)))
        await asyncio.gather(*(log.close() for log in logs))

    asyncio.run(run())
    db = Database(pg_dsn)
    version = str(len(POSTGRES_MIGRATIONS))
    stored = db.execute("SELECT value FROM consentkit_meta WHERE key='schema_version'")
    assert stored == [(version,)]
    assert verifies(pg_dsn) == 4


def test_cli_on_a_store_written_by_the_package(store_url: str) -> None:
    async def run() -> None:
        log = open_consent_log(store_url, KEY)
        await log.append(decision(1))
        await log.close()

    asyncio.run(run())
    result = run_cli("log", "verify", "--storage", store_url, env={"CONSENTKIT_LOG_KEY": ""})
    assert result.returncode == 2  # no key anywhere
    assert "no log key" in result.stderr
