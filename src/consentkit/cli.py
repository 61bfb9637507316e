"""The ``consentkit`` command (also ``python -m consentkit``).

``consentkit log {export,verify,checkpoint,show,stats,purge,declaration}`` is the
auditor's view of the consent log; other commands (``analytics``, later
``audit``) are added by their own modules through a ``register(subparsers)``
function whose subcommands set ``func(args) -> int`` with ``set_defaults``.

Exit status: 0 success; 1 the log does not verify (or ``show`` found
nothing); 2 a usage error (bad arguments, storage URL, date, checkpoint file
or ``--config``, no key); 3 the storage cannot be used (unreachable database,
no consent log there, wrong key). Messages go to stderr and never contain a
key or a password.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, NoReturn

from consentkit import audit
from consentkit.analytics import cli as analytics_cli
from consentkit.csp import cli as csp_cli
from consentkit.errors import ConsentKitError, StorageError
from consentkit.log.base import DayStats
from consentkit.log.chain import LogKey, derive_log_key, log_keys_from_env
from consentkit.log.export import EXPORT_FORMATS, write_records, write_rows
from consentkit.log.read import LogReader, open_reader
from consentkit.log.verify import (
    LogKeyError,
    VerificationFailed,
    checkpoint_document,
    parse_checkpoint,
    verify_log,
)
from consentkit.scan import cli as scan_cli
from consentkit.storage import parse_storage_url

__all__ = ["EXIT_FAILED", "EXIT_STORAGE", "EXIT_USAGE", "build_parser", "main"]

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_STORAGE = 3


#: Modules that add a top-level command with ``register(subparsers)``.
#: The cookie audit (issue 6) joins this list the same way.
class UsageError(Exception):
    """A mistake in the command line found after parsing (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors name the full command."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# Argument types.


def storage_url(text: str) -> str:
    """A storage URL, checked (argparse type)."""
    try:
        parse_storage_url(text)
    except StorageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _parse_moment(text: str, end_of_day: bool) -> datetime:
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(day, time(), timezone.utc)
            return moment + timedelta(days=1) if end_of_day else moment
        if value.endswith(("Z", "z")):
            value = value[:-1] + "+00:00"
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date or time: use ISO 8601, e.g. 2026-01-31 or"
            " 2026-01-31T12:00:00Z (a time without a zone is UTC)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def since_time(text: str) -> datetime:
    """The start of a range, inclusive; a date means its first instant (UTC)."""
    return _parse_moment(text, end_of_day=False)


def until_time(text: str) -> datetime:
    """The end of a range, exclusive; a date means the whole of that day (UTC)."""
    return _parse_moment(text, end_of_day=True)


def positive_days(text: str) -> int:
    """A whole number of days, at least 1 (argparse type)."""
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days") from None
    if days < 1:
        raise argparse.ArgumentTypeError(f"--older-than must be at least 1 day, not {days}")
    return days


# Keys and the site's configuration.


def load_config(spec: str) -> Any:
    """The site's ``ConsentConfig`` named ``MODULE:ATTR`` (or an object with ``.config``)."""
    from consentkit.config import ConsentConfig

    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise UsageError(f"--config {spec!r} must look like MODULE:ATTR, e.g. mysite.app:config")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"--config: cannot import {module_name!r}: {exc}") from None
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UsageError(f"--config: {module_name!r} has no attribute {attr!r}") from None
    if not isinstance(target, ConsentConfig):
        target = getattr(target, "config", None)
    if not isinstance(target, ConsentConfig):
        raise UsageError(f"--config: {spec!r} is not a ConsentConfig")
    return target


def resolve_keys(args: argparse.Namespace) -> list[LogKey]:
    """The log keys: ``--log-key``, else ``--config``, else the environment."""
    if args.log_key:
        return [derive_log_key(args.log_key)]
    config = getattr(args, "site_config", None)
    if config is not None:
        if config.log_key:
            return [derive_log_key(config.log_key)]
        return [derive_log_key(k) for k in config.secret_keys]
    keys = log_keys_from_env()
    if not keys:
        raise UsageError(
            "no log key: pass --log-key, set CONSENTKIT_LOG_KEY or CONSENTKIT_SECRET_KEYS,"
            " or name the site's configuration with --config MODULE:ATTR"
        )
    return keys


def _reader(args: argparse.Namespace, *, write: bool = False) -> LogReader:
    url = args.storage
    if url is None:
        config = getattr(args, "site_config", None)
        if config is None:
            raise UsageError("--storage URL is required (or --config MODULE:ATTR)")
        url = config.storage
    reader = open_reader(url, write=write)
    if reader.warning:
        print(f"consentkit: warning: {reader.warning}", file=sys.stderr)
    return reader


# The log commands.


def cmd_export(args: argparse.Namespace) -> int:
    """``consentkit log export``: stream records as JSON Lines or CSV."""
    with _reader(args) as reader:
        rows = reader.record_dicts(since=args.since, until=args.until, consent_id=args.consent_id)
        declarations = reader.declaration if args.declarations else None
        write_rows(rows, sys.stdout, args.format, declarations)
        sys.stdout.flush()
    return 0


def cmd_declaration(args: argparse.Namespace) -> int:
    """``consentkit log declaration``: one stored declaration, the texts a visitor saw."""
    wanted = args.hash.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{8,64}", wanted):
        raise UsageError(
            f"{args.hash!r} is not a declaration hash: give its 64 hex digits,"
            " or at least the first 8 (log show prints 12)"
        )
    with _reader(args) as reader:
        matches = reader.declaration_hashes(wanted, limit=10)
        if len(matches) > 1:
            raise UsageError(
                f"{wanted!r} starts more than one declaration hash: "
                + ", ".join(matches)
                + "; give more digits"
            )
        body = reader.declaration(matches[0]) if matches else None
    if body is None:
        print(f"no declaration with hash {wanted!r} in this log", file=sys.stderr)
        return EXIT_FAILED
    found = matches[0]
    if args.raw:
        sys.stdout.write(body)
    else:
        try:
            print(json.dumps(json.loads(body), indent=2, ensure_ascii=False, sort_keys=True))
        except ValueError:
            sys.stdout.write(body + "\n")
    if hashlib.sha256(body.encode()).hexdigest() != found:
        print(
            f"FAILED: the stored declaration {found} does not match its hash: altered",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """``consentkit log verify``: check every chain."""
    keys = resolve_keys(args)
    checkpoint = None
    if args.checkpoint:
        try:
            with open(args.checkpoint, encoding="utf-8") as file:
                checkpoint = parse_checkpoint(file.read())
        except OSError as exc:
            raise UsageError(
                f"cannot read checkpoint {args.checkpoint!r}: {exc.strerror}"
            ) from None
        except ValueError as exc:
            raise UsageError(f"checkpoint {args.checkpoint!r}: {exc}") from None
    with _reader(args) as reader:
        try:
            report = verify_log(reader, keys, checkpoint)
        except VerificationFailed as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return EXIT_FAILED
    print(report.summary())
    return 0


def cmd_checkpoint(args: argparse.Namespace) -> int:
    """``consentkit log checkpoint``: print each chain's head as JSON."""
    with _reader(args) as reader:
        heads = reader.heads()
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    print(json.dumps(checkpoint_document(heads, now), indent=2, sort_keys=True))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """``consentkit log show``: one visitor's history, oldest first."""
    consent_id = args.consent_id_option or args.consent_id
    if not consent_id:
        raise UsageError("name the visitor: log show CONSENT_ID (or --consent-id=ID)")
    with _reader(args) as reader:
        records = reader.records(consent_id=consent_id)
        if args.format == "jsonl":
            count = write_records(records, sys.stdout, "jsonl")
        else:
            count = 0
            for record in records:
                count += 1
                print(
                    f"{record.timestamp}  {record.action:<10}"
                    f"  granted={','.join(record.granted) or '-'}"
                    f"  denied={','.join(record.denied) or '-'}"
                    f"  policy={record.policy_version}  surface={record.surface}"
                    f"  language={record.language}  path={record.path}"
                    f"  gpc={'yes' if record.gpc else 'no'}"
                    f"  host={record.site_host or '-'}"
                    f"  expires={record.expires_at or '-'}"
                    f"  declaration={record.declaration_hash[:12]}"
                    f"  record={record.record_id}"
                )
    if not count:
        print(f"no records for consent id {consent_id!r}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def stats_document(days: list[DayStats]) -> dict[str, Any]:
    """The stats as JSON-ready data: per day and policy, and per category overall.

    Acceptance rates count the visitors' choices (accept all, reject all,
    custom) only: GPC overrides, withdrawals and choices identical to the
    same visitor's previous one are counted apart.
    """
    total = sum(d.decisions for d in days)
    choices = sum(d.choices for d in days)
    granted: dict[str, int] = {}
    for day in days:
        for key, number in day.granted.items():
            granted[key] = granted.get(key, 0) + number
    return {
        "decisions": total,
        "choices": choices,
        "repeats": sum(d.repeats for d in days),
        "withdrawals": sum(d.actions.get("withdraw", 0) for d in days),
        "gpc_overrides": sum(d.actions.get("gpc", 0) for d in days),
        "days": [
            {
                "day": d.day.isoformat(),
                "policy_version": d.policy_version,
                "decisions": d.decisions,
                "choices": d.choices,
                "repeats": d.repeats,
                "actions": dict(sorted(d.actions.items())),
                "granted": dict(sorted(d.granted.items())),
            }
            for d in days
        ],
        "categories": [
            {
                "category": key,
                "granted": number,
                "choices": choices,
                "rate": round(number / choices, 4) if choices else 0.0,
            }
            for key, number in sorted(granted.items())
        ],
    }


def cmd_stats(args: argparse.Namespace) -> int:
    """``consentkit log stats``: decisions per day and policy, acceptance per category."""
    with _reader(args) as reader:
        days = reader.stats(args.since)
    document = stats_document(days)
    if args.format == "json":
        print(json.dumps(document, indent=2))
        return 0
    actions = sorted({a for d in days for a in d.actions})
    header = ["day", "policy", "decisions", "choices", "repeats", *actions]
    rows = [
        [d.day.isoformat(), d.policy_version, str(d.decisions), str(d.choices), str(d.repeats)]
        + [str(d.actions.get(a, 0)) for a in actions]
        for d in days
    ]
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    for row in [header, *rows]:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    print(
        f"\n{document['decisions']} decisions: {document['choices']} visitor choices,"
        f" {document['repeats']} repeated identical choices,"
        f" {document['withdrawals']} withdrawals, {document['gpc_overrides']} GPC overrides."
    )
    print(f"Acceptance rate per category, of {document['choices']} visitor choices:")
    for category in document["categories"]:
        print(
            f"  {category['category']:<20} {category['rate'] * 100:6.1f}%"
            f"  ({category['granted']}/{category['choices']})"
        )
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """``consentkit log purge``: delete old records, leaving the rest verifiable."""
    now = datetime.now(timezone.utc)
    with _reader(args, write=True) as reader:
        result = reader.purge(now - timedelta(days=args.older_than), now)
    print(
        f"purged {result.deleted} records older than {args.older_than} days"
        f" from {result.chains} chain(s); {result.remaining} remain"
    )
    return 0


# The parser.


def _common(parser: argparse.ArgumentParser, keys: bool = False) -> None:
    parser.add_argument(
        "--storage",
        type=storage_url,
        metavar="URL",
        help="the log's storage URL: sqlite:///path.db or postgresql://user@host/db",
    )
    parser.add_argument(
        "--config",
        metavar="MODULE:ATTR",
        help="the site's ConsentConfig (its storage, and its log key or secret keys)",
    )
    if keys:
        parser.add_argument(
            "--log-key",
            metavar="KEY",
            help="the log key (default: CONSENTKIT_LOG_KEY, else CONSENTKIT_SECRET_KEYS)",
        )


def _add_log_commands(subparsers: Any) -> None:
    log = subparsers.add_parser(
        "log", help="the consent log: export, verify, checkpoint, show, stats, purge"
    )
    commands = log.add_subparsers(dest="log_command", metavar="COMMAND", required=True)

    export = commands.add_parser("export", help="stream records (constant memory)")
    _common(export)
    export.add_argument("--format", choices=EXPORT_FORMATS, default="jsonl")
    export.add_argument("--since", type=since_time, metavar="T", help="from T (ISO 8601)")
    export.add_argument(
        "--until", type=until_time, metavar="T", help="before T; a date includes that day"
    )
    export.add_argument("--consent-id", metavar="ID", help="one visitor's records only")
    export.add_argument(
        "--declarations",
        action="store_true",
        help="put each declaration (the texts shown) in the stream once, before its first record",
    )
    export.set_defaults(func=cmd_export)

    declaration = commands.add_parser(
        "declaration",
        help="print one stored declaration: the categories and texts a visitor was shown",
    )
    declaration.add_argument("hash", metavar="HASH", help="its hash, or the first 8+ digits")
    _common(declaration)
    declaration.add_argument(
        "--raw", action="store_true", help="the stored bytes exactly (their SHA-256 is the hash)"
    )
    declaration.set_defaults(func=cmd_declaration)

    verify = commands.add_parser("verify", help="check every chain of the log")
    _common(verify, keys=True)
    verify.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="a file from 'log checkpoint': also catch records cut off the end",
    )
    verify.set_defaults(func=cmd_verify)

    checkpoint = commands.add_parser("checkpoint", help="print each chain's head as JSON")
    _common(checkpoint)
    checkpoint.set_defaults(func=cmd_checkpoint)

    show = commands.add_parser(
        "show",
        help="one visitor's history, for a data-subject request",
        description="An id starting with '-' goes as --consent-id=ID (or after '--').",
    )
    show.add_argument("consent_id", metavar="CONSENT_ID", nargs="?")
    show.add_argument("--consent-id", dest="consent_id_option", metavar="ID")
    _common(show)
    show.add_argument("--format", choices=("text", "jsonl"), default="text")
    show.set_defaults(func=cmd_show)

    stats = commands.add_parser(
        "stats", help="decisions per day and policy version, acceptance rate per category"
    )
    _common(stats)
    stats.add_argument("--since", type=since_time, metavar="T", help="from T (ISO 8601)")
    stats.add_argument("--format", choices=("table", "json"), default="table")
    stats.set_defaults(func=cmd_stats)

    purge = commands.add_parser("purge", help="delete old records; the rest still verifies")
    _common(purge)
    purge.add_argument(
        "--older-than", type=positive_days, metavar="DAYS", required=True, help="age in days"
    )
    purge.set_defaults(func=cmd_purge)


def build_parser() -> argparse.ArgumentParser:
    """The ``consentkit`` argument parser with every command registered."""
    parser = _Parser(prog="consentkit", description="consentkit: cookie consent for ASGI sites")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_log_commands(subparsers)
    analytics_cli.register(subparsers)
    csp_cli.register(subparsers)
    audit.register(subparsers)
    scan_cli.register(subparsers)
    return parser


def _driver_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [sqlite3.Error]
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        errors.append(psycopg.Error)
    return tuple(errors)


_SHOW_OPTIONS = ("--storage", "--config", "--format", "--consent-id", "-h", "--help")


def _dash_id_hint(argv: list[str]) -> None:
    # A consent id is URL-safe base64: one in 64 starts with '-', which
    # argparse takes for an option. Say how to pass it.
    if argv[:2] != ["log", "show"]:
        return
    for token in argv[2:]:
        if token == "--":
            return
        if token.startswith("-") and token.split("=", 1)[0] not in _SHOW_OPTIONS:
            print(
                f"consentkit: hint: {token!r} starts with '-' so it reads as an option;"
                f" pass such a consent id as --consent-id={token}"
                f" (or after '--': consentkit log show --storage URL -- {token})",
                file=sys.stderr,
            )
            return


def _fail(code: int, message: str) -> int:
    print(f"consentkit: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``consentkit`` command; return its exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error already printed
        code = exc.code if isinstance(exc.code, int) else EXIT_USAGE
        if code == EXIT_USAGE:
            _dash_id_hint(list(sys.argv[1:] if argv is None else argv))
        return code
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        if getattr(args, "config", None):
            args.site_config = load_config(args.config)
        return func(args)
    except UsageError as exc:
        return _fail(EXIT_USAGE, str(exc))
    except (LogKeyError, StorageError) as exc:
        return _fail(EXIT_STORAGE, str(exc))
    except ConsentKitError as exc:
        return _fail(EXIT_FAILED, str(exc))
    except BrokenPipeError:
        # The reader went away (``| head``): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except _driver_errors() as exc:
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
        return _fail(EXIT_STORAGE, f"the database failed: {first}")
    except KeyboardInterrupt:
        return 130
