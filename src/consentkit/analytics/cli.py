"""``consentkit analytics report``: the analytics report on the command line.

The main ``consentkit`` command calls `register`; ``python -m
consentkit.analytics.cli report ...`` runs the same command on its own.
Exit status: 0 on success, 2 for bad arguments, 1 when storage fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

from consentkit.analytics.report import format_csv, format_table, query_report
from consentkit.analytics.store import open_store
from consentkit.errors import StorageError
from consentkit.storage import redact

__all__ = ["main", "register", "run_report"]

#: The longest range a report may cover.
MAX_DAYS = 3660


class _UsageError(Exception):
    pass


def _add_report(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = subparsers.add_parser(
        "report",
        help="views, visitors and sections per day",
        description="Print the analytics report: views and new/returning visitors per day, "
        "sections and their pages, and the share of views that came with consent.",
    )
    report.add_argument(
        "--storage",
        required=True,
        help="storage URL: sqlite:///relative.db, sqlite:////absolute.db or postgresql://...",
    )
    report.add_argument(
        "--days", type=int, default=None, help="the last N days up to --until (default 30)"
    )
    report.add_argument("--section", default=None, help="only this section")
    report.add_argument("--since", default=None, help="first day, YYYY-MM-DD (UTC)")
    report.add_argument("--until", default=None, help="last day, YYYY-MM-DD (default today, UTC)")
    report.add_argument("--format", choices=("table", "json", "csv"), default="table")
    report.set_defaults(func=run_report)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``analytics`` command (with its ``report`` subcommand) to a CLI."""
    analytics = subparsers.add_parser(
        "analytics", help="first-party analytics reports", description="First-party analytics."
    )
    commands = analytics.add_subparsers(dest="analytics_command", metavar="COMMAND")
    commands.required = True
    _add_report(commands)


def _parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _UsageError(f"{option} {value!r} is not a date: use YYYY-MM-DD") from None


def _range(args: argparse.Namespace) -> tuple[date, date]:
    today = datetime.now(timezone.utc).date()
    until = _parse_day(args.until, "--until") if args.until else today
    if args.days is not None and args.days < 1:
        raise _UsageError(f"--days must be at least 1, not {args.days}")
    if args.since:
        if args.days is not None:
            raise _UsageError("give --since or --days, not both")
        since = _parse_day(args.since, "--since")
    else:
        days = args.days if args.days is not None else 30
        since = until - timedelta(days=min(days, MAX_DAYS) - 1)
    if since > until:
        raise _UsageError(f"--since {since} is after --until {until}")
    if (until - since).days >= MAX_DAYS:
        raise _UsageError(f"the range may cover at most {MAX_DAYS} days")
    return since, until


def run_report(args: argparse.Namespace) -> int:
    """Handle ``analytics report``; returns the exit status."""
    try:
        since, until = _range(args)
        store = open_store(args.storage)
    except (_UsageError, StorageError) as exc:
        print(f"consentkit analytics report: {exc}", file=sys.stderr)
        return 2
    try:
        store.open(create=False)
        report = query_report(store, since, until, args.section)
    except StorageError as exc:
        print(f"consentkit analytics report: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a driver error we did not wrap
        print(
            f"consentkit analytics report: cannot read {redact(args.storage)}: "
            f"{type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 1
    finally:
        store.close()
    if args.format == "json":
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    elif args.format == "csv":
        sys.stdout.write(format_csv(report))
    else:
        sys.stdout.write(format_table(report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command on its own: ``python -m consentkit.analytics.cli report ...``."""
    parser = argparse.ArgumentParser(
        prog="consentkit analytics", description="First-party analytics reports."
    )
    commands = parser.add_subparsers(dest="analytics_command", metavar="COMMAND")
    commands.required = True
    _add_report(commands)
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
