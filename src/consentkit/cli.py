"""The ``consentkit`` command (also ``python -m consentkit``).

``consentkit log {export,verify,checkpoint,show,stats,purge,declaration,keygen,
public-key,adopt,receipt,verify-receipt}`` is the
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
from consentkit.log.adopt import adopt_unsigned_chains
from consentkit.log.base import DayStats
from consentkit.log.chain import LogKey
from consentkit.log.checkpoint import CheckpointSink, SinkError, make_checkpoint
from consentkit.log.export import EXPORT_FORMATS, write_records, write_rows
from consentkit.log.keys import KeySet
from consentkit.log.keys import resolve_keys as resolve_key_set
from consentkit.log.read import LogReader, open_reader
from consentkit.log.receipt import ReceiptError, make_receipt, verify_receipt
from consentkit.log.signing import KeyFileError, SigningKey, generate_key_files
from consentkit.log.verify import (
    DEFAULT_MAX_FAULTS,
    LogKeyError,
    parse_checkpoints,
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


def key_set(args: argparse.Namespace) -> KeySet:
    """Every key the command may use, by the rule of `consentkit.log.keys`.

    ``--log-key``, ``--signing-key`` and ``--public-key`` first, then
    ``--config``'s ``log_key``/``log_signing_key``/``secret_keys``, then the environment.
    """
    config = getattr(args, "site_config", None)
    signing = getattr(args, "signing_key", None)
    if signing is None and config is not None:
        signing = getattr(config, "log_signing_key", None)
    return resolve_key_set(
        log_key=getattr(args, "log_key", None),
        config_log_key=config.log_key if config is not None else None,
        config_secret_keys=tuple(config.secret_keys) if config is not None else (),
        signing_key_file=signing,
        public_key_files=tuple(getattr(args, "public_key", None) or ()),
    )


def resolve_keys(args: argparse.Namespace) -> list[LogKey]:
    """The HMAC log keys: ``--log-key``, else ``--config``, else the environment."""
    keys = key_set(args)
    if not keys.log_keys:
        raise UsageError(
            "no log key: pass --log-key, set CONSENTKIT_LOG_KEY or CONSENTKIT_SECRET_KEYS,"
            " or name the site's configuration with --config MODULE:ATTR"
        )
    return keys.log_keys


def _signing_key(args: argparse.Namespace) -> SigningKey:
    keys = key_set(args)
    if keys.signing_key is None:
        raise UsageError(
            "no signing key: pass --signing-key FILE, set CONSENTKIT_LOG_SIGNING_KEY, or give"
            " the log key the key is derived from (--log-key, CONSENTKIT_LOG_KEY,"
            " CONSENTKIT_SECRET_KEYS or --config)"
        )
    return keys.signing_key


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
    """``consentkit log verify``: check every chain, report every fault."""
    keys = key_set(args)
    print(f"keys: {keys.describe()}", file=sys.stderr)
    if not keys.log_keys and not keys.public_keys:
        raise UsageError(
            "no key: pass --public-key FILE (no secret needed), or a log key: --log-key,"
            " CONSENTKIT_LOG_KEY, CONSENTKIT_SECRET_KEYS or --config MODULE:ATTR"
        )
    checkpoints = []
    for path in args.checkpoint or ():
        try:
            with open(path, encoding="utf-8") as file:
                checkpoints.extend(parse_checkpoints(file.read()))
        except OSError as exc:
            raise UsageError(f"cannot read checkpoint {path!r}: {exc.strerror}") from None
        except ValueError as exc:
            raise UsageError(f"checkpoint {path!r}: {exc}") from None
    with _reader(args) as reader:
        try:
            report = verify_log(
                reader,
                keys.log_keys,
                checkpoints,
                public_keys=keys.public_keys,
                max_faults=args.max_faults,
            )
        except LogKeyError as exc:
            raise LogKeyError(f"{exc} (tried: {keys.describe()})") from None
    if not report.ok:
        print(report.summary(), file=sys.stderr)
        for fault in report.faults:
            print(f"FAILED: {fault}", file=sys.stderr)
        if report.more_faults:
            print(
                f"... and {report.more_faults} more fault(s) (raise --max-faults to see them)",
                file=sys.stderr,
            )
        for line in report.details():
            print(f"  {line}", file=sys.stderr)
        return EXIT_FAILED
    print(report.summary())
    for line in report.details():
        print(f"  {line}")
    return 0


def _sink(args: argparse.Namespace) -> CheckpointSink | None:
    spec = getattr(args, "sink", None)
    config = getattr(args, "site_config", None)
    if spec is None and config is not None:
        spec = getattr(config, "log_checkpoint_sink", None)
    if not spec:
        return None
    try:
        return CheckpointSink(spec)
    except ValueError as exc:
        raise UsageError(f"--sink: {exc}") from None


def cmd_checkpoint(args: argparse.Namespace) -> int:
    """``consentkit log checkpoint``: sign a checkpoint, store it, hand it to the sink, print it."""
    signer = _signing_key(args)
    sink = _sink(args)
    with _reader(args, write=True) as reader:
        checkpoint = make_checkpoint(reader, signer)
    print(checkpoint.to_json(indent=2))
    if sink is not None:
        try:
            sink.send(checkpoint)
        except SinkError as exc:
            print(f"consentkit: warning: {exc}", file=sys.stderr)
            return EXIT_STORAGE
    return 0


def cmd_adopt(args: argparse.Namespace) -> int:
    """``consentkit log adopt``: sign chains written before signed heads, if they verify."""
    keys = resolve_keys(args)
    signer = _signing_key(args)
    with _reader(args, write=True) as reader:
        results = adopt_unsigned_chains(reader, signer, keys)
    if not results:
        print("every chain already has a signed head")
        return 0
    for result in results:
        if result.signed:
            print(f"chain {result.chain_id}: {result.records} records {result.reason}")
        else:
            print(f"chain {result.chain_id}: not signed: {result.reason}", file=sys.stderr)
    return 0 if all(r.signed for r in results) else EXIT_FAILED


def cmd_keygen(args: argparse.Namespace) -> int:
    """``consentkit log keygen``: a new Ed25519 key pair; the private key is never printed."""
    public = args.public or f"{args.private}.pub"
    key = generate_key_files(args.private, public)
    print(f"key id {key.key_id}: private key {args.private} (mode 0600), public key {public}")
    return 0


def cmd_public_key(args: argparse.Namespace) -> int:
    """``consentkit log public-key``: the public half of the signing key, to publish."""
    sys.stdout.write(_signing_key(args).public.pem().decode())
    return 0


def cmd_receipt(args: argparse.Namespace) -> int:
    """``consentkit log receipt``: a visitor's receipt of their latest (or one) decision."""
    consent_id = args.consent_id_option or args.consent_id
    if not consent_id:
        raise UsageError("name the visitor: log receipt CONSENT_ID (or --consent-id=ID)")
    keys = key_set(args)
    # With the signing key it may have to make (and store) a checkpoint first.
    with _reader(args, write=keys.signing_key is not None) as reader:
        try:
            receipt = make_receipt(
                reader, consent_id, record_id=args.record_id, signer=keys.signing_key
            )
        except ReceiptError as exc:
            print(f"consentkit: {exc}", file=sys.stderr)
            return EXIT_FAILED
    print(json.dumps(receipt, indent=2, sort_keys=True, ensure_ascii=False))
    return 0


def cmd_verify_receipt(args: argparse.Namespace) -> int:
    """``consentkit log verify-receipt``: check a receipt offline with a public key."""
    try:
        with open(args.file, encoding="utf-8") as file:
            receipt = json.load(file)
    except OSError as exc:
        raise UsageError(f"cannot read receipt {args.file!r}: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"receipt {args.file!r} is not JSON: {exc}") from None
    keys = key_set(args)
    if not keys.public_keys:
        raise UsageError("pass --public-key FILE: the site's published public key")
    result = verify_receipt(receipt, {k.key_id: k for k in keys.public_keys})
    if not result.ok:
        for problem in result.problems:
            print(f"FAILED: {problem}", file=sys.stderr)
        return EXIT_FAILED
    print(result.summary)
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
    custom, opt out) only: GPC overrides, withdrawals and choices identical to the
    same visitor's previous one are counted apart.
    """
    total = sum(d.decisions for d in days)
    choices = sum(d.choices for d in days)
    granted: dict[str, int] = {}
    regimes: dict[str, int] = {}
    regions: dict[str, int] = {}
    for day in days:
        for key, number in day.granted.items():
            granted[key] = granted.get(key, 0) + number
        for key, number in day.regimes.items():
            regimes[key] = regimes.get(key, 0) + number
        for key, number in day.regions.items():
            regions[key] = regions.get(key, 0) + number
    return {
        "decisions": total,
        "choices": choices,
        "repeats": sum(d.repeats for d in days),
        "withdrawals": sum(d.actions.get("withdraw", 0) for d in days),
        "gpc_overrides": sum(d.actions.get("gpc", 0) for d in days),
        "opt_outs": sum(d.actions.get("opt_out", 0) for d in days),
        "regimes": dict(sorted(regimes.items())),
        "regions": dict(sorted(regions.items())),
        "days": [
            {
                "day": d.day.isoformat(),
                "policy_version": d.policy_version,
                "decisions": d.decisions,
                "choices": d.choices,
                "repeats": d.repeats,
                "actions": dict(sorted(d.actions.items())),
                "granted": dict(sorted(d.granted.items())),
                "regimes": dict(sorted(d.regimes.items())),
                "regions": dict(sorted(d.regions.items())),
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
    print("Records per consent regime: " + _counts(document["regimes"]))
    print("Records per region: " + _counts(document["regions"]))
    return 0


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {number}" for key, number in counts.items()) or "none"


def cmd_purge(args: argparse.Namespace) -> int:
    """``consentkit log purge``: delete old records under a signed purge statement."""
    signer = _signing_key(args)
    by = args.by or os.environ.get("USER") or "consentkit log purge"
    now = datetime.now(timezone.utc)
    with _reader(args, write=True) as reader:
        result = reader.purge(now - timedelta(days=args.older_than), now, signer, by)
    print(
        f"purged {result.deleted} records older than {args.older_than} days"
        f" from {result.chains} chain(s); {result.remaining} remain"
    )
    if result.statement is not None:
        print(f"signed as {result.statement.describe()} (key {result.statement.key_id})")
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
        parser.add_argument(
            "--signing-key",
            metavar="FILE",
            help="the Ed25519 private key file (default: CONSENTKIT_LOG_SIGNING_KEY, else"
            " derived from the log key)",
        )


def _add_log_commands(subparsers: Any) -> None:
    log = subparsers.add_parser(
        "log",
        help="the consent log: export, verify, checkpoint, show, stats, purge, keygen,"
        " public-key, receipt, verify-receipt",
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
    _public_key(verify)
    verify.add_argument(
        "--checkpoint",
        metavar="FILE",
        action="append",
        help="an earlier checkpoint (a document or a sink's JSON Lines file); repeatable",
    )
    verify.add_argument(
        "--max-faults",
        type=_positive_int,
        default=DEFAULT_MAX_FAULTS,
        metavar="N",
        help=f"describe at most N faults (default {DEFAULT_MAX_FAULTS})",
    )
    verify.set_defaults(func=cmd_verify)

    checkpoint = commands.add_parser(
        "checkpoint", help="sign a checkpoint of the whole log, store it, send it to a sink"
    )
    _common(checkpoint, keys=True)
    checkpoint.add_argument(
        "--sink",
        metavar="SPEC",
        help="also hand it to: a file path (JSON Lines), an http(s) URL (POST), exec:COMMAND",
    )
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
    _common(purge, keys=True)
    purge.add_argument(
        "--older-than", type=positive_days, metavar="DAYS", required=True, help="age in days"
    )
    purge.add_argument("--by", metavar="NAME", help="who purges (default: $USER)")
    purge.set_defaults(func=cmd_purge)

    adopt = commands.add_parser(
        "adopt",
        help="once, after an upgrade: sign the chains written before heads were signed, if"
        " they verify with the log key",
    )
    _common(adopt, keys=True)
    adopt.set_defaults(func=cmd_adopt)

    keygen = commands.add_parser("keygen", help="make an Ed25519 key pair for signing the log")
    keygen.add_argument("private", metavar="PRIVATE_FILE", help="created with mode 0600")
    keygen.add_argument("--public", metavar="FILE", help="default: PRIVATE_FILE.pub")
    keygen.set_defaults(func=cmd_keygen)

    public_key = commands.add_parser(
        "public-key", help="print the public key of the signing key (PEM), to publish"
    )
    _common(public_key, keys=True)
    public_key.set_defaults(func=cmd_public_key)

    receipt = commands.add_parser(
        "receipt", help="a visitor's receipt: their record and its proof in a signed checkpoint"
    )
    receipt.add_argument("consent_id", metavar="CONSENT_ID", nargs="?")
    receipt.add_argument("--consent-id", dest="consent_id_option", metavar="ID")
    receipt.add_argument("--record-id", metavar="ID", help="that record (default: the latest)")
    _common(receipt, keys=True)
    receipt.set_defaults(func=cmd_receipt)

    verify_receipt_ = commands.add_parser(
        "verify-receipt", help="check a receipt offline with the site's public key"
    )
    verify_receipt_.add_argument("file", metavar="FILE")
    _public_key(verify_receipt_, required=True)
    verify_receipt_.set_defaults(func=cmd_verify_receipt)


def _public_key(parser: argparse.ArgumentParser, required: bool = False) -> None:
    parser.add_argument(
        "--public-key",
        metavar="FILE",
        action="append",
        required=required,
        help="a public key file (PEM) of the log's signing key; repeat for rotated keys",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


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
    except (LogKeyError, StorageError, KeyFileError) as exc:
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
