"""The writer thread every store shares: a queue, group commit, a chain that heals.

A store subclasses `BatchWriterLog` and says how to connect, how to commit a
batch and how to read its chain's head back. The thread takes every decision
that queued up while the previous transaction was committing and writes them
in one transaction (group commit); each caller is answered only once its own
transaction has committed, or gets `StorageUnavailable`.

After any failure the chain's head is read back from the database before the
next write: a commit whose answer was lost may have landed, and the chain
must continue after what is really stored, never fork.
"""

from __future__ import annotations

import abc
import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timezone
from typing import Any

from consentkit.errors import StorageUnavailable
from consentkit.log.base import ConsentLog
from consentkit.log.chain import Chain, LogKey
from consentkit.log.record import ConsentRecord, Decision

__all__ = ["BatchWriterLog"]

logger = logging.getLogger("consentkit.log")

_Item = tuple[Decision, "Future[ConsentRecord]"]


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
    ) -> None:
        self.chain = Chain(key)
        self._max_batch = max_batch
        self._clock = clock
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        self._known_declarations: set[str] = set()
        self._chain_stored = False
        self._resync = False
        self._commit_sent = False
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

    def _committing(self) -> None:
        """Called by `_commit` just before COMMIT: from here a failure is ambiguous."""
        self._commit_sent = True

    # The ConsentLog interface.

    async def open(self) -> None:
        """Start the writer thread; safe to call more than once."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name=f"consentkit-log-{self.chain.chain_id}", daemon=True
            )
            self._thread.start()

    async def append(self, decision: Decision) -> ConsentRecord:
        """Queue ``decision`` and wait until its transaction has committed."""
        if self._thread is None:
            await self.open()
        future: Future[ConsentRecord] = Future()
        self._queue.put((decision, future))
        return await asyncio.wrap_future(future)

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
        decisions = [decision for decision, _ in batch]
        try:
            records = self._write_with_retry(decisions)
        except self.storage_errors as exc:
            logger.error("consent log write failed: %s", exc.__class__.__name__)
            self._disconnect()
            self._resync = True
            for _, future in batch:
                future.set_exception(StorageUnavailable("the consent log could not be written"))
            return
        except BaseException as exc:  # a bug: never leave a caller waiting
            logger.exception("consent log write failed unexpectedly")
            self._disconnect()
            self._resync = True
            for _, future in batch:
                future.set_exception(exc)
            return
        for (_, future), record in zip(batch, records, strict=True):
            future.set_result(record)

    def _write_with_retry(self, decisions: list[Decision]) -> list[ConsentRecord]:
        # A connection kept from an earlier batch may have gone stale (the
        # server restarted): one retry on a fresh connection, unless COMMIT
        # was already sent (the batch may have landed: the caller gets an
        # error, and the chain resumes after whatever is stored).
        reused = self._conn is not None
        try:
            return self._write_once(decisions)
        except self.storage_errors:
            if not reused or self._commit_sent:
                raise
            self._disconnect()
            self._resync = True
            return self._write_once(decisions)

    def _write_once(self, decisions: list[Decision]) -> list[ConsentRecord]:
        if self._conn is None:
            self._conn = self._connect()
        if self._resync:
            head = self._read_head(self._conn, self.chain.chain_id)
            if head is not None:
                self.chain.seq, self.chain.last_mac = head
            self._chain_stored = head is not None
            self._resync = False
        now = datetime.fromtimestamp(self._clock(), timezone.utc)
        records = self.chain.seal_batch(decisions, now)
        declarations = {
            d.declaration_hash: d.declaration_json
            for d in decisions
            if d.declaration_hash not in self._known_declarations
        }
        self._commit_sent = False
        try:
            self._commit(self._conn, records, declarations, not self._chain_stored, now)
        except BaseException:
            self._resync = True
            raise
        self.chain.advance(records)
        self._chain_stored = True
        self._known_declarations.update(declarations)
        return records
