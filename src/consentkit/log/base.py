"""What every consent log store offers, whatever holds the records."""

from __future__ import annotations

import abc
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from consentkit.log.record import ConsentRecord, Decision

__all__ = ["ConsentLog", "DayStats", "fold_day_stats"]


@dataclass(slots=True)
class DayStats:
    """Decisions of one UTC day under one policy version."""

    day: date
    policy_version: str
    decisions: int
    #: action -> number of records
    actions: dict[str, int] = field(default_factory=dict)
    #: category key -> number of decisions that granted it
    granted: dict[str, int] = field(default_factory=dict)


class ConsentLog(abc.ABC):
    """An append-only store of sealed consent records.

    ``append`` returns only once the record's transaction has committed, and
    raises `consentkit.errors.StorageUnavailable` when it could not be.
    """

    @abc.abstractmethod
    async def open(self) -> None:
        """Start the writer; safe to call more than once."""

    @abc.abstractmethod
    async def append(self, decision: Decision) -> ConsentRecord:
        """Seal ``decision`` into this writer's chain and commit it durably."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Finish pending writes and release the storage."""

    @abc.abstractmethod
    async def stats(self, since: datetime | None = None) -> list[DayStats]:
        """Decisions per day and policy version, oldest day first."""


def fold_day_stats(rows: Iterable[Sequence[Any]]) -> list[DayStats]:
    """Fold (day, policy version, action, granted JSON, count) rows into `DayStats`.

    ``day`` is a ``date`` or an ISO ``YYYY-MM-DD`` string; rows may repeat a
    (day, policy version) pair with different actions or grants.
    """
    days: dict[tuple[str, str], DayStats] = {}
    for day, policy, action, granted, count in rows:
        day_ = day if isinstance(day, date) else date.fromisoformat(str(day)[:10])
        key = (day_.isoformat(), str(policy))
        stats = days.get(key)
        if stats is None:
            stats = days[key] = DayStats(day=day_, policy_version=str(policy), decisions=0)
        number = int(count)
        stats.decisions += number
        stats.actions[action] = stats.actions.get(action, 0) + number
        for category in json.loads(granted):
            stats.granted[category] = stats.granted.get(category, 0) + number
    return [days[k] for k in sorted(days)]
