"""What every consent log store offers, whatever holds the records."""

from __future__ import annotations

import abc
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from consentkit.log.record import CHOICES, ConsentRecord, Decision

__all__ = ["ConsentLog", "DayStats", "day_stats_query", "fold_day_stats"]


@dataclass(slots=True)
class DayStats:
    """Decisions of one UTC day under one policy version.

    ``decisions`` counts every record. ``choices`` counts the visitor's own
    choices (accept all, reject all, custom, opt out) that changed something: a
    choice identical to the same visitor's previous record (same action,
    categories and policy version) is a ``repeat`` instead. GPC overrides
    and withdrawals are in ``actions`` only. Acceptance rates are
    ``granted[key] / choices``.
    """

    day: date
    policy_version: str
    decisions: int
    #: action -> number of records (repeats included)
    actions: dict[str, int] = field(default_factory=dict)
    #: category key -> number of choices that granted it (repeats excluded)
    granted: dict[str, int] = field(default_factory=dict)
    #: accept_all, reject_all, custom and opt_out records that are not repeats
    choices: int = 0
    #: choices identical to the same visitor's previous record
    repeats: int = 0
    #: consent regime -> number of records (``unrecorded``: made before regimes were logged)
    regimes: dict[str, int] = field(default_factory=dict)
    #: visitor region -> number of records (``unknown`` when none was resolved)
    regions: dict[str, int] = field(default_factory=dict)


class ConsentLog(abc.ABC):
    """An append-only store of sealed consent records.

    ``append`` returns only once the record's transaction has committed, and
    raises `consentkit.errors.StorageUnavailable` when it could not be.
    """

    #: Whether this writer has committed a record since it was created.
    written: bool = False

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


def day_stats_query(day: str, since: str | None, regimes: bool = True) -> str:
    """The SQL (SQLite and PostgreSQL alike) of the rows `fold_day_stats` folds.

    ``day`` is the SQL of a record's UTC day; ``since`` the placeholder of
    the earliest time, or None (the query then takes that parameter twice).
    ``regimes``: whether the log has the regime and region columns (schema 6).
    A record is a repeat when the visitor's previous record (any day, before
    ``since`` too) had the same action, categories and policy version; only
    the visitors with records since then are looked at.
    """
    same = " AND ".join(
        f"{column} = lag({column}) OVER visitor"
        for column in ("action", "granted", "policy_version")
    )
    visitors = (
        f" WHERE consent_id IN (SELECT consent_id FROM consentkit_log WHERE ts >= {since})"
        if since
        else ""
    )
    columns = "regime, region" if regimes else "NULL AS regime, NULL AS region"
    inner = (
        f"SELECT {day} AS day, ts, policy_version, action, granted, {columns},"
        f" CASE WHEN action IN {CHOICES!r} AND {same} THEN 1 ELSE 0 END AS repeated"
        f" FROM consentkit_log{visitors}"
        " WINDOW visitor AS (PARTITION BY consent_id ORDER BY id)"
    )
    where = f" WHERE ts >= {since}" if since else ""
    return (
        "SELECT day, policy_version, action, granted, repeated, regime, region, count(*)"
        f" FROM ({inner}) AS r{where} GROUP BY 1, 2, 3, 4, 5, 6, 7"
    )


def fold_day_stats(rows: Iterable[Sequence[Any]]) -> list[DayStats]:
    """Fold (day, policy version, action, granted JSON, repeat, regime, region, count) rows
    into `DayStats`.

    ``day`` is a ``date`` or an ISO ``YYYY-MM-DD`` string; rows may repeat a
    (day, policy version) pair with different actions or grants.
    """
    days: dict[tuple[str, str], DayStats] = {}
    for day, policy, action, granted, repeat, regime, region, count in rows:
        day_ = day if isinstance(day, date) else date.fromisoformat(str(day)[:10])
        key = (day_.isoformat(), str(policy))
        stats = days.get(key)
        if stats is None:
            stats = days[key] = DayStats(day=day_, policy_version=str(policy), decisions=0)
        number = int(count)
        stats.decisions += number
        stats.actions[action] = stats.actions.get(action, 0) + number
        regime_ = regime or "unrecorded"
        stats.regimes[regime_] = stats.regimes.get(regime_, 0) + number
        region_ = region or "unknown"
        stats.regions[region_] = stats.regions.get(region_, 0) + number
        if action not in CHOICES:
            continue
        if repeat:
            stats.repeats += number
            continue
        stats.choices += number
        for category in json.loads(granted):
            stats.granted[category] = stats.granted.get(category, 0) + number
    return [days[k] for k in sorted(days)]
