"""``consentkit csp report``: what the consent policy blocked in real visitors' browsers.

Exit status: 0 on success, 2 for bad arguments, 1 when storage fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

from consentkit.csp.store import open_csp_store
from consentkit.csp.summary import format_table, summarise
from consentkit.errors import StorageError
from consentkit.storage import redact

__all__ = ["register", "run_report"]

#: The longest range a report may cover.
MAX_DAYS = 3660


class _UsageError(Exception):
    pass


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``csp`` command (with its ``report`` subcommand) to a CLI."""
    csp = subparsers.add_parser(
        "csp",
        help="what the consent Content-Security-Policy blocked",
        description="Reports of the consent Content-Security-Policy.",
    )
    commands = csp.add_subparsers(dest="csp_command", metavar="COMMAND")
    commands.required = True
    report = commands.add_parser(
        "report",
        help="blocked hosts per day, directive, page and consent state",
        description="Print what browsers reported as blocked (or, in report-only mode, "
        "would have blocked) by the consent policy: per blocked host, then every "
        "day, host, directive, page and consent state.",
    )
    report.add_argument(
        "--storage",
        required=True,
        metavar="URL",
        help="storage URL: sqlite:///relative.db, sqlite:////absolute.db or postgresql://...",
    )
    report.add_argument(
        "--days", type=int, default=30, help="the last N days up to today, UTC (default 30)"
    )
    report.add_argument("--format", choices=("table", "json"), default="table")
    report.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    """Handle ``csp report``; returns the exit status."""
    try:
        if not 1 <= args.days <= MAX_DAYS:
            raise _UsageError(f"--days must be from 1 to {MAX_DAYS}, not {args.days}")
        until = datetime.now(timezone.utc).date()
        since = until - timedelta(days=args.days - 1)
        store = open_csp_store(args.storage)
    except (_UsageError, StorageError) as exc:
        print(f"consentkit csp report: {exc}", file=sys.stderr)
        return 2
    try:
        store.open(create=False)
        counts = store.counts(since, until)
    except StorageError as exc:
        print(f"consentkit csp report: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a driver error we did not wrap
        print(
            f"consentkit csp report: cannot read {redact(args.storage)}: "
            f"{type(exc).__name__}: {exc}",
            file=sys.stderr,
        )
        return 1
    finally:
        store.close()
    summary = summarise(counts, since, until)
    if args.format == "json":
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        sys.stdout.write(format_table(summary) + "\n")
    return 0
