"""The writer thread every store shares: a queue, group commit, a chain that heals.

A store subclasses `BatchWriterLog` and says how to connect, how to commit a
batch and how to read its chain's head back. The thread takes every decision
that queued up while the previous transaction was committing and writes them
in one transaction (group commit); each caller is answered only once its own
transaction has committed, or gets `StorageUnavailable`.

A decision that carries a decision id (the client's idempotency key) is
stored once: when a record with that id is stored already (a retry after a
lost confirmation), or the same id comes twice in one batch, the caller gets
the stored record and nothing new is written.

After any failure the chain's head is read back from the database before the
next write: a commit whose answer was lost may have landed, and the chain
must continue after what is really stored, never fork. A write that fails on
an open connection is checked and, if it did not land, retried once on a
fresh connection (a server restart does not cost a decision).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from consentkit.errors import StorageUnavailable
from consentkit.log.base import ConsentLog
from consentkit.log.chain import Chain, LogKey
from consentkit.log.record import ConsentRecord, Decision
from consentkit.log.signing import SigningKey

__all__ = ["BatchWriterLog"]

logger = logging.getLogger("consentkit.log")

_Item = tuple[Decision, "asyncio.Future[ConsentRecord]", asyncio.AbstractEventLoop]


class BatchWriterLog(ConsentLog):
    """A consent log written by one thread, in batches, to one chain."""

    #: Exceptions of the driver that mean "the storage failed", not a bug.
    storage_errors: tuple[type[BaseException], ...] = (OSError,)

    def __init__(
        self,
        key: LogKey,
        *,
        max_batch: int = 256,
        clock: Callable[[], float] = time.time,
        signer: SigningKey | None = None,
    ) -> None:
        self.chain = Chain(key, signer=signer)
        self._max_batch = max_batch
        self._clock = clock
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        self._known_declarations: set[str] = set()
        self._chain_stored = False
        self._resync = False
        #: (connected, commit sent) for the write in progress
        self._attempt = (False, False)
        #: the new records, declarations and answers of the write in progress
        self._pending: tuple[list[ConsentRecord], dict[str, str], list[ConsentRecord]] = (
            [],
            {},
            [],
        )
        self._lock = threading.Lock()

    # What a store provides (all called on the writer thread).

    @abc.abstractmethod
    def _connect(self) -> Any:
        """A new connection with the schema up to date."""

    @abc.abstractmethod
    def _close_connection(self, conn: Any) -> None:
        """Close ``conn``, ignoring errors."""

    @abc.abstractmethod
    def _read_head(self, conn: Any, chain_id: str) -> tuple[int, str] | None:
        """The stored (seq, mac) of the last record of ``chain_id``, if any."""

    @abc.abstractmethod
    def _commit(
        self,
        conn: Any,
        records: list[ConsentRecord],
        declarations: dict[str, str],
        register_chain: bool,
        now: datetime,
    ) -> None:
        """Write ``records`` (and new declarations, and the chain) in one transaction."""

    def _stored_decisions(self, conn: Any, decision_ids: list[str]) -> dict[str, ConsentRecord]:
        """The stored records of these decision ids (those that are stored)."""
        return {}

    def _committing(self) -> None:
        """Called by `_commit` just before COMMIT: from here a failure is ambiguous."""
        self._attempt = (True, True)

    # The ConsentLog interface.

    async def open(self) -> None:
        """Start the writer thread; safe to call more than once."""
        with self._lock:
            if self._thread is not None:
                return
            if self.chain.seq == 0 and not self._chain_stored:
                # Drawn in the process that writes: an app built once and forked into workers
                # (gunicorn --preload) must not give them all one chain.
                self.chain = Chain(self.chain.key, signer=self.chain.signer)
            self._thread = threading.Thread(
                target=self._run, name=f"consentkit-log-{self.chain.chain_id}", daemon=True
            )
            self._thread.start()

    async def append(self, decision: Decision) -> ConsentRecord:
        """Queue ``decision`` and wait until its transaction has committed."""
        if self._thread is None:
            await self.open()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[ConsentRecord] = loop.create_future()
        self._queue.put((decision, future, loop))
        return await future

    async def close(self) -> None:
        """Write what is queued, then stop the thread and close the connection."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            await asyncio.to_thread(thread.join)

    # The writer thread.

    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._write(batch)
        self._disconnect()

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._close_connection(self._conn)
            self._conn = None

    def _write(self, batch: list[_Item]) -> None:
        decisions = [item[0] for item in batch]
        try:
            records = self._write_with_retry(decisions)
        except self.storage_errors as exc:
            logger.error("consent log write failed: %s", exc.__class__.__name__)
            self._disconnect()
            self._resync = True
            _answer(batch, StorageUnavailable("the consent log could not be written"))
            return
        except BaseException as exc:  # a bug: never leave a caller waiting
            logger.exception("consent log write failed unexpectedly")
            self._disconnect()
            self._resync = True
            _answer(batch, exc)
            return
        _answer(batch, records)

    def _write_with_retry(self, decisions: list[Decision]) -> list[ConsentRecord]:
        # When a write fails on an open connection (it went stale, or the
        # answer to COMMIT was lost), reconnect once and look at what is
        # stored: a batch that landed is a success; one that did not is
        # written again after the real head of the chain. The chain never
        # forks and a decision is never stored twice by a retry. The first
        # attempt does not look decision ids up: the unique index refuses a
        # repeated one (a retry after a lost answer, rare), and the second
        # attempt answers it from the log.
        try:
            return self._write_once(decisions, look_up=False)
        except self.storage_errors:
            connected, sent = self._attempt
            self._disconnect()
            self._resync = True
            if not connected:
                raise  # could not even connect: the storage is down
        self._conn = self._connect()
        head = self._read_head(self._conn, self.chain.chain_id)
        pending, declarations, answers = self._pending
        if sent and pending and head == (pending[-1].seq, pending[-1].mac):
            self._resync = False
            self._committed(pending, declarations)
            return answers
        return self._write_once(decisions)

    def _write_once(self, decisions: list[Decision], look_up: bool = True) -> list[ConsentRecord]:
        self._attempt = (False, False)
        if self._conn is None:
            self._conn = self._connect()
        self._attempt = (True, False)
        if self._resync:
            head = self._read_head(self._conn, self.chain.chain_id)
            if head is not None and not self.chain.resync(*head):
                # Stored records this writer cannot account for: never sign
                # after them; go on in a new chain.
                logger.error("consent log chain %s moved unexpectedly", self.chain.chain_id)
                self.chain = Chain(self.chain.key, signer=self.chain.signer)
                head = None
            self._chain_stored = head is not None
            self._resync = False
        fresh, slots = self._unstored(decisions, look_up)
        now = datetime.fromtimestamp(self._clock(), timezone.utc)
        records = self.chain.seal_batch(fresh, now)
        answers = [records[slot] if isinstance(slot, int) else slot for slot in slots]
        if not records:
            return answers
        declarations = {
            d.declaration_hash: d.declaration_json
            for d in fresh
            if d.declaration_hash not in self._known_declarations
        }
        self._pending = (records, declarations, answers)
        self._commit(self._conn, records, declarations, not self._chain_stored, now)
        self._committed(records, declarations)
        return answers

    def _unstored(
        self, decisions: list[Decision], look_up: bool
    ) -> tuple[list[Decision], list[ConsentRecord | int]]:
        # The decisions to write, and for each decision of the batch either its
        # stored record or the index of its own (or its twin's) new record.
        ids = [d.decision_id for d in decisions if d.decision_id is not None]
        stored = self._stored_decisions(self._conn, ids) if ids and look_up else {}
        fresh: list[Decision] = []
        slots: list[ConsentRecord | int] = []
        first: dict[str, int] = {}
        for decision in decisions:
            key = decision.decision_id
            if key is not None:
                if key in stored:
                    slots.append(stored[key])
                    continue
                if key in first:
                    slots.append(first[key])
                    continue
                first[key] = len(fresh)
            slots.append(len(fresh))
            fresh.append(decision)
        return fresh, slots

    def _committed(self, records: list[ConsentRecord], declarations: dict[str, str]) -> None:
        self.chain.advance(records)
        self._chain_stored = True
        self.written = True
        self._known_declarations.update(declarations)
        self._pending = ([], {}, [])


def _answer(batch: list[_Item], outcome: list[ConsentRecord] | BaseException) -> None:
    """Answer every caller of ``batch``: one wake-up per event loop, not one per caller."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any]]] = {}
    for index, (_, future, loop) in enumerate(batch):
        value = outcome if isinstance(outcome, BaseException) else outcome[index]
        by_loop.setdefault(loop, []).append((future, value))
    for loop, answers in by_loop.items():
        # A loop that has closed has nobody waiting on it any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, answers)


def _settle(answers: list[tuple[asyncio.Future[Any], Any]]) -> None:
    for future, value in answers:
        if future.done():  # the caller went away (cancelled)
            continue
        if isinstance(value, BaseException):
            future.set_exception(value)
        else:
            future.set_result(value)
