"""``POST {prefix}/csp-report``: browsers' reports of what the consent policy blocked.

Both formats browsers send are read: the Reporting API's
``application/reports+json`` (a list of reports, ``report-to`` with
``Reporting-Endpoints``) and the older ``report-uri`` body,
``application/csp-report`` (one ``{"csp-report": {...}}`` object).

A report becomes one count: the UTC day, the blocked host (with its port if
it has one; ``inline``, ``eval``, ``data`` ... for non-network sources), the
directive, the page's path (no query, no fragment) and the consent state the
page was served under (from the report URL). Nothing else is kept or logged:
no cookie, no IP, no user agent, no query string.

Bounds: bodies over `MAX_BODY` get 413, more than ``csp_report_rate``
requests a second 429, anything malformed 400; at most `MAX_PER_BATCH`
reports of a batch are read, and at most `MAX_PENDING` distinct counts wait
in memory for the next write (more are dropped and counted in ``dropped``).
Counts are written by a background task in a thread of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from consentkit.body import BodyError, read_body
from consentkit.config import Category, ConsentConfig
from consentkit.csp.policy import NOTHING_GRANTED, UNDECIDED
from consentkit.csp.store import CSPStore, ViolationCount, ViolationKey, open_csp_store

__all__ = ["MAX_BODY", "MAX_PENDING", "MAX_PER_BATCH", "CSPReports", "Refused", "parse_reports"]

logger = logging.getLogger("consentkit.csp")

#: The largest report body accepted (a batch of reports included).
MAX_BODY = 64 * 1024
#: Reports read from one batch; the rest of it is ignored.
MAX_PER_BATCH = 100
#: Distinct counts held in memory between writes.
MAX_PENDING = 5000
#: Seconds between writes.
FLUSH_INTERVAL = 5.0
#: Counts older than this many days are purged (25 months, like analytics).
RETENTION_DAYS = 760
MAX_PATH = 512
_MAX_HOST = 260
_REPORTS_JSON = "application/reports+json"
_CSP_REPORT = "application/csp-report"
#: What ``blockedURL`` says for sources that are not a URL.
_KEYWORD_SOURCES = frozenset(
    ("inline", "eval", "wasm-eval", "data", "blob", "self", "trusted-types-policy",
     "trusted-types-sink", "filesystem", "mediastream")
)  # fmt: skip
#: Directives a report may name (CSP Level 3 fetch directives and their -elem/-attr forms).
DIRECTIVES = frozenset(
    ("default-src", "child-src", "connect-src", "font-src", "frame-src", "img-src",
     "manifest-src", "media-src", "object-src", "prefetch-src", "script-src", "script-src-elem",
     "script-src-attr", "style-src", "style-src-elem", "style-src-attr", "worker-src")
)  # fmt: skip
_HEADERS = {"cache-control": "no-store"}
_PURGE_INTERVAL = 3600.0
_HOST_CHARS = re.compile(r"^[a-z0-9.\-:\[\]]+$")


class Refused(Exception):
    """A report request refused with a status and a JSON error; nothing is counted."""

    def __init__(self, status: int, error: str, detail: str | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail

    def response(self) -> Response:
        """The JSON error response."""
        headers = dict(_HEADERS)
        if self.status == 429:
            headers["retry-after"] = "1"
        elif self.status == 405:
            headers["allow"] = "POST"
        return JSONResponse(
            {"error": self.error, "detail": self.detail}, self.status, headers=headers
        )


def parse_reports(body: bytes, content_type: str) -> list[tuple[str, str, str]]:
    """``(host, directive, path)`` of each CSP violation in a report body.

    Raises `Refused` (415 for another media type, 400 when the body is not a
    report or holds no usable violation).
    """
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in (_REPORTS_JSON, _CSP_REPORT, "application/json"):
        raise Refused(415, "unsupported_media_type", f"send {_REPORTS_JSON} or {_CSP_REPORT}")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "malformed_json", "the body is not JSON") from None
    except RecursionError:
        raise Refused(400, "malformed_json", "nested too deeply") from None
    entries: list[dict[str, Any]] = []
    if isinstance(data, list):
        for item in data[:MAX_PER_BATCH]:
            if isinstance(item, dict) and item.get("type") == "csp-violation":
                report = item.get("body")
                if isinstance(report, dict):
                    entries.append(_from_reporting_api(report, item.get("url")))
        if not entries and any(isinstance(i, dict) and "type" in i for i in data):
            return []  # other kinds of report (deprecation, intervention): not ours to count
    elif isinstance(data, dict) and isinstance(data.get("csp-report"), dict):
        entries.append(_from_report_uri(data["csp-report"]))
    else:
        raise Refused(400, "invalid_report", "not a CSP violation report")
    found = [v for v in (_violation(e) for e in entries) if v is not None]
    if not found:
        raise Refused(400, "invalid_report", "no CSP violation with a directive and a page")
    return found


def _from_reporting_api(body: dict[str, Any], url: Any) -> dict[str, Any]:
    return {
        "blocked": body.get("blockedURL"),
        "directive": body.get("effectiveDirective"),
        "document": body.get("documentURL") or url,
    }


def _from_report_uri(body: dict[str, Any]) -> dict[str, Any]:
    directive = body.get("effective-directive")
    if not isinstance(directive, str):
        violated = body.get("violated-directive")
        directive = violated.split(" ", 1)[0] if isinstance(violated, str) else None
    return {
        "blocked": body.get("blocked-uri"),
        "directive": directive,
        "document": body.get("document-uri"),
    }


def _violation(entry: dict[str, Any]) -> tuple[str, str, str] | None:
    directive = entry["directive"]
    if not isinstance(directive, str) or directive.strip().lower() not in DIRECTIVES:
        return None
    path = _page_path(entry["document"])
    host = _blocked_host(entry["blocked"])
    if path is None or host is None:
        return None
    return host, directive.strip().lower(), path


def _page_path(value: Any) -> str | None:
    if not isinstance(value, str) or not value or len(value) > 8192:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    path = parts.path or "/"
    if not path.startswith("/") or any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        return None
    return path[:MAX_PATH]


def _blocked_host(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > 8192:
        return None
    text = value.strip().lower()
    if text.rstrip(":") in _KEYWORD_SOURCES:
        return text.rstrip(":")
    try:
        parts = urlsplit(text)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if parts.scheme in _KEYWORD_SOURCES:
        return parts.scheme
    if not host or len(host) > _MAX_HOST or not _HOST_CHARS.match(host):
        return None
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port is not None else host


class _Bucket:
    """A token bucket: ``rate`` a second, bursts of up to ``2 * rate``."""

    def __init__(self, rate: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.capacity = max(1.0, 2 * rate)
        self.tokens = self.capacity
        self.clock = clock
        self.stamp = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class CSPReports:
    """Receives violation reports, counts them in memory and writes the counts in batches."""

    def __init__(
        self,
        config: ConsentConfig,
        categories: Sequence[Category],
        *,
        clock: Callable[[], float] = time.time,
        store: CSPStore | None = None,
    ) -> None:
        self.path = config.prefix + "/csp-report"
        self._optional = frozenset(c.key for c in categories if not c.required)
        self._clock = clock
        self._bucket = _Bucket(config.csp_report_rate, time.monotonic)
        self._store = store if store is not None else open_csp_store(config.storage)
        self._pending: dict[ViolationKey, int] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None
        self._last_purge: float | None = None
        #: Violations read since start-up (counted or dropped).
        self.received = 0
        #: Reports not counted because `MAX_PENDING` counts were already waiting.
        self.dropped = 0
        #: Requests refused for coming faster than ``csp_report_rate``.
        self.limited = 0
        #: Writes lost to a storage failure.
        self.failed_writes = 0

    # -- the request ---------------------------------------------------------

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one report request: 204 when read, a 4xx JSON error otherwise."""
        try:
            self._receive_check(scope)
            body = await _read_body(scope, receive)
            content_type = ""
            for name, value in scope["headers"]:
                if name == b"content-type":
                    content_type = value.decode("latin-1")
            found = parse_reports(body, content_type)
            self._count(found, self._state(scope))
            response: Response = Response(status_code=204, headers=_HEADERS)
        except Refused as refused:
            response = refused.response()
        await response(scope, receive, send)

    def _receive_check(self, scope: Scope) -> None:
        if scope["method"] != "POST":
            raise Refused(405, "method_not_allowed", "allowed: POST")
        if not self._bucket.take():
            self.limited += 1
            raise Refused(429, "too_many_reports", "slow down")

    def _state(self, scope: Scope) -> str:
        query: bytes = scope.get("query_string", b"")
        for pair in query.split(b"&"):
            name, _, value = pair.partition(b"=")
            if name == b"state":
                text = value.decode("latin-1")
                if text in (UNDECIDED, NOTHING_GRANTED):
                    return text
                keys = text.split(".")
                if keys == sorted(set(keys)) and self._optional.issuperset(keys):
                    return text
                raise Refused(400, "invalid_state", "state names no known consent state")
        raise Refused(400, "invalid_state", "the report URL has no state")

    def _count(self, found: list[tuple[str, str, str]], state: str) -> None:
        day = datetime.fromtimestamp(self._clock(), timezone.utc).date()
        pending = self._pending
        self.received += len(found)
        for host, directive, path in found:
            key = ViolationKey(day, host, directive, path, state)
            number = pending.get(key)
            if number is not None:
                pending[key] = number + 1
            elif len(pending) < MAX_PENDING:
                pending[key] = 1
            else:
                self.dropped += 1

    # -- writing -------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Distinct counts waiting to be written."""
        return len(self._pending)

    def _ensure_executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="consentkit-csp")
        return self._executor

    async def start(self) -> None:
        """Open the store and start writing counts every few seconds. Idempotent."""
        if self._task is not None:
            return
        loop = asyncio.get_running_loop()
        self._lock = asyncio.Lock()
        try:
            await loop.run_in_executor(self._ensure_executor(), self._store.open)
        except Exception as exc:
            logger.warning("CSP report storage is unavailable at start-up (%s)", _describe(exc))
        self._task = loop.create_task(self._run(), name="consentkit-csp-flush")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            await self.flush()

    async def flush(self) -> None:
        """Write the counts held in memory now; a storage failure loses them (logged)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if not self._pending:
                return
            batch, self._pending = self._pending, {}
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(self._ensure_executor(), self._write, batch)
            except Exception as exc:
                self.failed_writes += 1
                logger.error(
                    "lost %d CSP report counts: storage failed (%s)", len(batch), _describe(exc)
                )

    def _write(self, batch: dict[ViolationKey, int]) -> None:
        self._store.add(batch)
        now = self._clock()
        if self._last_purge is None or now - self._last_purge >= _PURGE_INTERVAL:
            self._last_purge = now
            today = datetime.fromtimestamp(now, timezone.utc).date()
            self._store.purge(today - timedelta(days=RETENTION_DAYS))

    async def counts(self, since: date, until: date) -> list[ViolationCount]:
        """The stored counts from ``since`` to ``until`` inclusive (for the dashboard)."""
        await self.flush()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._ensure_executor(), self._store.counts, since, until)

    def today(self) -> date:
        """The current UTC day by this receiver's clock."""
        return datetime.fromtimestamp(self._clock(), timezone.utc).date()

    async def stop(self) -> None:
        """Stop the timer, write what is held and close the store."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()
        executor, self._executor = self._executor, None
        if executor is not None:
            with contextlib.suppress(Exception):
                await asyncio.get_running_loop().run_in_executor(executor, self._store.close)
            executor.shutdown(wait=False)


async def _read_body(scope: Scope, receive: Receive) -> bytes:
    length = next((v for n, v in scope["headers"] if n == b"content-length"), None)
    try:
        return await read_body(
            receive, None if length is None else length.decode("latin-1"), MAX_BODY
        )
    except BodyError as refused:
        raise Refused(refused.status, refused.error, refused.detail or None) from None


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
