"""Page-view events and their daily rollups.

An event is a small tuple ``(day, section, path, kind)`` made on the request
path; ``day`` counts days since 1970-01-01 (UTC). The flusher folds a batch of
events into one `Rollup` per (day, section, path) before it touches storage.

``visitors`` of a row counts the visitors whose first counted view of that day
was on that page, so the visitors of a day (or a section, or a site) add up
without any per-visitor row on the server.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = [
    "ANONYMOUS",
    "NEW_VISITOR",
    "RETURNING_VISITOR",
    "SEEN_TODAY",
    "Event",
    "Rollup",
    "aggregate",
    "date_to_day",
    "day_to_date",
]

#: A view without consent (``count_without_consent``): no visitor, no cookie.
ANONYMOUS = 0
#: A consented view by a visitor already counted today.
SEEN_TODAY = 1
#: A consented view by a visitor first seen today.
NEW_VISITOR = 2
#: A consented view by a visitor first seen on an earlier day, first counted today.
RETURNING_VISITOR = 3

Event = tuple[int, str, str, int]

_EPOCH = date(1970, 1, 1)


def day_to_date(day: int) -> date:
    """The date of a day number."""
    return _EPOCH + timedelta(days=day)


def date_to_day(value: date) -> int:
    """The day number of a date."""
    return (value - _EPOCH).days


@dataclass(slots=True)
class Rollup:
    """The counts of one page on one day."""

    day: date
    section: str
    path: str
    views: int = 0
    visitors: int = 0
    new: int = 0
    returning: int = 0
    consented_views: int = 0
    anonymous_views: int = 0

    def key(self) -> tuple[date, str, str]:
        """The row's identity in storage."""
        return (self.day, self.section, self.path)

    def counts(self) -> tuple[int, int, int, int, int, int]:
        """The counters in storage column order."""
        return (
            self.views,
            self.visitors,
            self.new,
            self.returning,
            self.consented_views,
            self.anonymous_views,
        )


def aggregate(events: Iterable[Event]) -> list[Rollup]:
    """Fold events into rollups, sorted by key (a stable lock order for upserts)."""
    acc: dict[tuple[int, str, str], list[int]] = {}
    for day, section, path, kind in events:
        key = (day, section, path)
        counts = acc.get(key)
        if counts is None:
            counts = acc[key] = [0, 0, 0, 0]
        counts[kind] += 1
    rows: list[Rollup] = []
    for (day, section, path), (anonymous, seen, new, returning) in sorted(acc.items()):
        consented = seen + new + returning
        rows.append(
            Rollup(
                day=day_to_date(day),
                section=section,
                path=path,
                views=consented + anonymous,
                visitors=new + returning,
                new=new,
                returning=returning,
                consented_views=consented,
                anonymous_views=anonymous,
            )
        )
    return rows
