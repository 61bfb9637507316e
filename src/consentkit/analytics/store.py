"""Where rollups live: the storage interface, URL parsing and an in-memory store.

Stores are synchronous; the tracker calls them from one dedicated thread so
the event loop never waits on a disk or a network.
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from consentkit.analytics.rollup import Rollup
from consentkit.storage import parse_storage_url

__all__ = [
    "TABLE_PREFIX",
    "AnalyticsStore",
    "DayTotals",
    "MemoryStore",
    "PageTotals",
    "open_store",
    "parse_url",
]

#: Every table analytics creates starts with this.
TABLE_PREFIX = "consentkit_analytics_"
DAILY_TABLE = TABLE_PREFIX + "daily"
META_TABLE = TABLE_PREFIX + "meta"
SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class DayTotals:
    """One day's counts over the pages selected."""

    day: date
    views: int
    visitors: int
    new: int
    returning: int
    consented_views: int
    anonymous_views: int


@dataclass(frozen=True, slots=True)
class PageTotals:
    """One page's counts over the days selected."""

    section: str
    path: str
    views: int
    visitors: int


def day_totals_of(rows: Iterable[Sequence[Any]]) -> list[DayTotals]:
    """`DayTotals` from SQL rows ``(day, views, visitors, new, returning, consented, anonymous)``.

    ``day`` may be a date (PostgreSQL) or its ISO text (SQLite).
    """
    return [
        DayTotals(
            row[0] if isinstance(row[0], date) else date.fromisoformat(str(row[0])),
            *(int(v) for v in row[1:]),
        )
        for row in rows
    ]


def page_totals_of(rows: Iterable[Sequence[Any]]) -> list[PageTotals]:
    """`PageTotals` from SQL rows ``(section, path, views, visitors)``."""
    return [PageTotals(str(row[0]), str(row[1]), int(row[2]), int(row[3])) for row in rows]


class AnalyticsStore(abc.ABC):
    """Daily rollups, added to with upserts. Methods block: call them off the loop."""

    @abc.abstractmethod
    def open(self, create: bool = True) -> None:
        """Connect; with ``create``, create or migrate the tables."""

    @abc.abstractmethod
    def apply(self, rows: Sequence[Rollup]) -> None:
        """Add ``rows`` to the stored counts, in one transaction."""

    @abc.abstractmethod
    def purge(self, before: date) -> int:
        """Delete the rows of days before ``before``; returns how many."""

    @abc.abstractmethod
    def day_totals(self, since: date, until: date, section: str | None) -> list[DayTotals]:
        """Per-day sums from ``since`` to ``until`` inclusive, oldest first."""

    @abc.abstractmethod
    def page_totals(self, since: date, until: date, section: str | None) -> list[PageTotals]:
        """Per-page sums from ``since`` to ``until`` inclusive."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections; the store may be opened again."""


def parse_url(url: str) -> tuple[str, str]:
    """``(kind, target)`` of a storage URL: ``sqlite`` and a file path,
    ``postgresql`` and a DSN, or ``memory`` (tests). Raises `StorageError` when malformed."""
    scheme, _, rest = url.partition("://")
    if scheme.lower() == "memory":
        return "memory", rest
    parsed = parse_storage_url(url)
    return parsed.scheme, parsed.target


def open_store(url: str) -> AnalyticsStore:
    """An unopened store for a storage URL."""
    kind, target = parse_url(url)
    if kind == "sqlite":
        from consentkit.analytics.sqlite import SQLiteStore

        return SQLiteStore(target)
    if kind == "postgresql":
        from consentkit.analytics.postgres import PostgresStore

        return PostgresStore(target)
    return MemoryStore()


class MemoryStore(AnalyticsStore):
    """Rollups in a dictionary: for tests and for ``storage="memory://"``."""

    def __init__(self) -> None:
        self._rows: dict[tuple[date, str, str], list[int]] = {}
        self._lock = threading.Lock()

    def open(self, create: bool = True) -> None:
        """Nothing to connect to."""

    def apply(self, rows: Sequence[Rollup]) -> None:
        """Add ``rows`` to the stored counts."""
        with self._lock:
            for row in rows:
                stored = self._rows.setdefault(row.key(), [0] * 6)
                for index, value in enumerate(row.counts()):
                    stored[index] += value

    def purge(self, before: date) -> int:
        """Delete the rows of days before ``before``."""
        with self._lock:
            old = [key for key in self._rows if key[0] < before]
            for key in old:
                del self._rows[key]
            return len(old)

    def _select(
        self, since: date, until: date, section: str | None
    ) -> list[tuple[tuple[date, str, str], list[int]]]:
        with self._lock:
            return [
                (key, list(counts))
                for key, counts in self._rows.items()
                if since <= key[0] <= until and (section is None or key[1] == section)
            ]

    def day_totals(self, since: date, until: date, section: str | None) -> list[DayTotals]:
        """Per-day sums, oldest first."""
        days: dict[date, list[int]] = {}
        for (day, _, _), counts in self._select(since, until, section):
            acc = days.setdefault(day, [0] * 6)
            for index, value in enumerate(counts):
                acc[index] += value
        return [DayTotals(day, *days[day]) for day in sorted(days)]

    def page_totals(self, since: date, until: date, section: str | None) -> list[PageTotals]:
        """Per-page sums."""
        pages: dict[tuple[str, str], list[int]] = {}
        for (_, sec, path), counts in self._select(since, until, section):
            acc = pages.setdefault((sec, path), [0, 0])
            acc[0] += counts[0]
            acc[1] += counts[1]
        return [PageTotals(sec, path, v, u) for (sec, path), (v, u) in pages.items()]

    def close(self) -> None:
        """Nothing to release."""
