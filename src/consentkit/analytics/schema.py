"""The analytics tables, shared by the SQLite and PostgreSQL stores.

Counters are named ``new_visitors`` and ``returning_visitors`` in storage
(``RETURNING`` is an SQL keyword); reports call them ``new`` and ``returning``.
"""

from __future__ import annotations

from consentkit.analytics.store import DAILY_TABLE, META_TABLE

__all__ = ["COUNTERS", "META_DDL", "migrations", "purge", "select_days", "select_pages", "upsert"]

COUNTERS = (
    "views",
    "visitors",
    "new_visitors",
    "returning_visitors",
    "consented_views",
    "anonymous_views",
)


def migrations(day_type: str) -> list[list[str]]:
    """Statements of each schema version, in order; version N is ``migrations()[N-1]``."""
    counters = ",\n    ".join(f"{name} BIGINT NOT NULL DEFAULT 0" for name in COUNTERS)
    return [
        [
            f"""CREATE TABLE IF NOT EXISTS {DAILY_TABLE} (
    day {day_type} NOT NULL,
    section TEXT NOT NULL,
    path TEXT NOT NULL,
    {counters},
    PRIMARY KEY (day, section, path)
)""",
        ],
    ]


META_DDL = f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)"

_updates = ", ".join(f"{name} = {DAILY_TABLE}.{name} + excluded.{name}" for name in COUNTERS)


def upsert(placeholder: str) -> str:
    """The upsert of one row, with ``placeholder`` as the driver's parameter mark."""
    marks = ", ".join([placeholder] * (3 + len(COUNTERS)))
    return (
        f"INSERT INTO {DAILY_TABLE} (day, section, path, {', '.join(COUNTERS)}) "
        f"VALUES ({marks}) ON CONFLICT (day, section, path) DO UPDATE SET {_updates}"
    )


def select_days(placeholder: str, with_section: bool) -> str:
    """Per-day sums between two days, optionally of one section."""
    sums = ", ".join(f"SUM({name})" for name in COUNTERS)
    where = f"day >= {placeholder} AND day <= {placeholder}"
    if with_section:
        where += f" AND section = {placeholder}"
    return f"SELECT day, {sums} FROM {DAILY_TABLE} WHERE {where} GROUP BY day ORDER BY day"


def select_pages(placeholder: str, with_section: bool) -> str:
    """Per-page sums between two days, optionally of one section."""
    where = f"day >= {placeholder} AND day <= {placeholder}"
    if with_section:
        where += f" AND section = {placeholder}"
    return (
        f"SELECT section, path, SUM(views), SUM(visitors) FROM {DAILY_TABLE} "
        f"WHERE {where} GROUP BY section, path"
    )


def purge(placeholder: str) -> str:
    """Delete the rows of days before a day."""
    return f"DELETE FROM {DAILY_TABLE} WHERE day < {placeholder}"
