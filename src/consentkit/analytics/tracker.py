"""`AnalyticsTracker`: decides on the request path, writes off it.

``on_response`` runs once per response, never waits and never raises: it
classifies the view, appends a small tuple to a bounded in-memory queue and
returns the visitor cookie to set. A background task folds the queue into
daily rollups and upserts them from a dedicated thread, on a timer, when a
batch is full and at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

from starlette.types import Scope

from consentkit.analytics.cookie import SECONDS_PER_DAY, Visitor, VisitorCookieCodec
from consentkit.analytics.report import query_report
from consentkit.analytics.rollup import (
    ANONYMOUS,
    NEW_VISITOR,
    RETURNING_VISITOR,
    SEEN_TODAY,
    Event,
    aggregate,
    day_to_date,
)
from consentkit.analytics.sections import SectionMap
from consentkit.analytics.store import AnalyticsStore, open_store
from consentkit.config import ConsentConfig
from consentkit.consent import Consent

__all__ = ["AnalyticsTracker"]

logger = logging.getLogger("consentkit.analytics")

#: Longer paths are cut: a page's identity does not need more, storage does not want more.
MAX_PATH_LENGTH = 512
_MAX_CACHED_AGENT = 512
#: Bounds of the per-tracker caches of path sections and user-agent verdicts.
_PATH_CACHE_SIZE = 10_000
_AGENT_CACHE_SIZE = 2_000
#: Retention runs at most this often (seconds).
PURGE_INTERVAL = 3600.0
_PREFETCH_HEADERS = frozenset((b"sec-purpose", b"purpose", b"x-purpose", b"x-moz"))
_MISSING: Any = object()


class AnalyticsTracker:
    """Counts consented page views into daily rollups.

    ``config.analytics`` must be set. Time comes only from ``clock`` (Unix
    seconds); the day of a view is the UTC date of ``clock()``.
    """

    def __init__(
        self,
        config: ConsentConfig,
        *,
        clock: Callable[[], float] = time.time,
        store: AnalyticsStore | None = None,
        is_https: Callable[[Scope], bool] | None = None,
    ) -> None:
        analytics = config.analytics
        if analytics is None:
            raise ValueError("AnalyticsTracker needs ConsentConfig(analytics=AnalyticsConfig(...))")
        self._config = config
        self._clock = clock
        #: Whether a request came over https (the middleware believes trusted proxies).
        self._is_https = is_https or _scheme_is_https
        self._category = analytics.category
        self._anonymous = analytics.count_without_consent
        self._retention_days = analytics.retention_days
        self._flush_interval = analytics.flush_interval
        self._batch_size = analytics.batch_size
        self._queue_size = analytics.queue_size
        self._sections = SectionMap(analytics.section_rules, analytics.exclude)
        self._endpoints = tuple(
            (p, p.rstrip("/") + "/") for p in (config.prefix, config.privacy_path)
        )
        self._bot = re.compile(analytics.bot_pattern, re.IGNORECASE)
        self._paths: dict[str, str | None] = {}
        self._agents: dict[bytes, bool] = {}
        self._cookies = VisitorCookieCodec(
            config.secret_keys,
            name=analytics.cookie_name,
            max_age=int(analytics.cookie_max_age.total_seconds()),
            domain=config.cookie_domain,
            secure=config.cookie_secure,
        )
        self._queue: deque[Event] = deque()
        self._store: AnalyticsStore = store if store is not None else open_store(config.storage)
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._started = False
        self._stopping = False
        self._last_purge: float | None = None
        self._request_errors = 0
        #: Events dropped because the queue was full.
        self.dropped = 0
        #: Batches lost to a storage failure.
        self.failed_batches = 0

    # -- the request path ---------------------------------------------------

    def on_response(
        self,
        scope: Scope,
        consent: Consent,
        status: int,
        is_html: bool,
        visitor_cookie: str | None,
    ) -> str | None:
        """Count the response if it is a page view; return a visitor ``Set-Cookie`` value or None.

        Counts GET requests answered 2xx with HTML, not from bots, not
        prefetches, not under the consent endpoints or an exclusion; only with
        the analytics category granted (or anonymously with
        ``count_without_consent``). Never blocks and never raises.
        """
        try:
            if not is_html or status < 200 or status > 299 or scope.get("method") != "GET":
                return None
            consented = consent.allows(self._category)
            if not consented and not self._anonymous:
                return None
            path: str = scope.get("path") or "/"
            section = self._paths.get(path, _MISSING)
            if section is _MISSING:
                section = self._classify(path)
            if section is None:
                return None
            agent: bytes | None = None
            for name, value in scope.get("headers", ()):
                if name == b"user-agent":
                    agent = value
                elif name in _PREFETCH_HEADERS and b"prefetch" in value.lower():
                    return None
            if agent is None:
                return None
            bot = self._agents.get(agent)
            if bot is None:
                bot = self._is_bot(agent)
            if bot:
                return None
            now = self._clock()
            day = int(now // SECONDS_PER_DAY)
            cookie: str | None = None
            if consented:
                visitor = self._cookies.decode(visitor_cookie, now)
                if visitor is None:
                    kind = NEW_VISITOR
                    cookie = self._cookies.set_cookie(
                        self._cookies.new(now), now, self._is_https(scope)
                    )
                elif visitor.last_day >= day:
                    kind = SEEN_TODAY
                else:
                    kind = NEW_VISITOR if visitor.first_day >= day else RETURNING_VISITOR
                    cookie = self._cookies.set_cookie(
                        Visitor(visitor.visitor_id, visitor.issued, day),
                        now,
                        self._is_https(scope),
                    )
            else:
                kind = ANONYMOUS
            queue = self._queue
            if len(queue) >= self._queue_size:
                self.dropped += 1
            else:
                queue.append((day, section, path[:MAX_PATH_LENGTH], kind))
                if len(queue) >= self._batch_size and self._wake is not None:
                    self._wake.set()
            return cookie
        except Exception:
            self._request_errors += 1
            if self._request_errors == 1 or self._request_errors % 10_000 == 0:
                logger.exception(
                    "analytics could not count a view (%d errors so far)", self._request_errors
                )
            return None

    def _classify(self, path: str) -> str | None:
        section: str | None
        if any(path == exact or path.startswith(below) for exact, below in self._endpoints):
            section = None
        else:
            section = self._sections.section(path)
        if len(path) <= MAX_PATH_LENGTH:  # long, one-off paths are not worth keeping
            if len(self._paths) >= _PATH_CACHE_SIZE:
                self._paths.clear()
            self._paths[path] = section
        return section

    def _is_bot(self, agent: bytes) -> bool:
        bot = self._bot.search(agent.decode("latin-1")) is not None
        if len(agent) <= _MAX_CACHED_AGENT:
            if len(self._agents) >= _AGENT_CACHE_SIZE:
                self._agents.clear()
            self._agents[agent] = bot
        return bot

    # -- lifecycle -------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Events waiting to be flushed."""
        return len(self._queue)

    def today(self) -> date:
        """The current UTC day by the tracker's clock."""
        return day_to_date(int(self._clock() // SECONDS_PER_DAY))

    def _ensure_executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="consentkit-analytics"
            )
        return self._executor

    def _ensure_lock(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def start(self) -> None:
        """Open the store (in the storage thread) and start the flush task. Idempotent."""
        if self._started:
            return
        self._started = True
        self._stopping = False
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._ensure_executor(), self._store.open)
        except Exception as exc:
            logger.warning(
                "analytics storage is unavailable at start-up (%s); will retry on flush",
                _describe(exc),
            )
        self._task = loop.create_task(self._run(), name="consentkit-analytics-flush")

    async def stop(self) -> None:
        """Flush what is queued, stop the flush task and close the store."""
        if not self._started and not self._queue and self._executor is None:
            return
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            if self._wake is not None:
                self._wake.set()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # pragma: no cover - _run catches everything
                logger.exception("analytics flush task failed")
        await self.flush()
        executor, self._executor = self._executor, None
        if executor is not None:
            with contextlib.suppress(Exception):
                await asyncio.get_running_loop().run_in_executor(executor, self._store.close)
            executor.shutdown(wait=False)
        self._started = False
        self._wake = None
        self._lock = None

    async def _run(self) -> None:
        wake = self._wake
        assert wake is not None
        while not self._stopping:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=self._flush_interval)
            wake.clear()
            if self._stopping:
                break
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:  # pragma: no cover - flush logs and swallows
                logger.exception("analytics flush failed")

    async def flush(self) -> None:
        """Write everything queued now, batch by batch.

        A storage failure loses the batch in hand (it is logged) and leaves
        the rest queued for the next flush.
        """
        loop = asyncio.get_running_loop()
        async with self._ensure_lock():
            queue = self._queue
            while queue:
                size = min(len(queue), self._batch_size)
                batch = [queue.popleft() for _ in range(size)]
                try:
                    await loop.run_in_executor(self._ensure_executor(), self._write, batch)
                except Exception as exc:
                    self.failed_batches += 1
                    logger.error(
                        "analytics lost a batch of %d page views: storage failed (%s)",
                        len(batch),
                        _describe(exc),
                    )
                    return

    def _write(self, batch: list[Event]) -> None:
        self._store.apply(aggregate(batch))
        now = self._clock()
        if self._last_purge is None or now - self._last_purge >= PURGE_INTERVAL:
            self._last_purge = now
            before = day_to_date(int(now // SECONDS_PER_DAY)) - timedelta(days=self._retention_days)
            try:
                removed = self._store.purge(before)
            except Exception as exc:
                logger.warning("analytics retention purge failed (%s)", _describe(exc))
            else:
                if removed:
                    logger.info("analytics purged %d rows before %s", removed, before)

    async def report(self, since: date, until: date, section: str | None = None) -> dict[str, Any]:
        """The report from ``since`` to ``until`` inclusive (see `consentkit.analytics.report`)."""
        loop = asyncio.get_running_loop()
        result: dict[str, Any] = await loop.run_in_executor(
            self._ensure_executor(), query_report, self._store, since, until, section
        )
        return result


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _scheme_is_https(scope: Scope) -> bool:
    return scope.get("scheme") == "https"
