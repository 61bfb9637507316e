"""What every consent log store offers, whatever holds the records."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import date, datetime

from consentkit.log.record import ConsentRecord, Decision

__all__ = ["ConsentLog", "DayStats"]


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
