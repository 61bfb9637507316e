"""``consentkit scan``: the command line."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from consentkit.scan.crawl import CrawlLimits

__all__ = ["main", "register", "run"]

EXIT_OK = 0
EXIT_LEAK = 1
EXIT_USAGE = 2

_DESCRIPTION = (
    "Load a site in Chromium as a visitor who has not decided, one who rejected all, one "
    "who accepted all, one per optional category and one who withdraws, and record every "
    "cookie (set by a header or by script), storage key and request to another site. "
    "Exit 0: no leak; 1: something leaks or survives withdrawal (or a --fail-on kind was "
    "found); 2: bad argument, no browser, or a site that cannot be reached. "
    "Needs the 'scan' extra: pip install 'consentkit[scan]'."
)


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not 0 <= number <= 600:
        raise argparse.ArgumentTypeError("must be between 0 and 600 seconds")
    return number


def _fail_on(value: str) -> list[str]:
    from consentkit.scan.report import FAIL_ON

    kinds = [k.strip() for k in value.split(",") if k.strip()]
    for kind in kinds:
        if kind not in FAIL_ON:
            raise argparse.ArgumentTypeError(
                f"{kind!r} is not a finding kind: choose from {', '.join(FAIL_ON)}"
            )
    return kinds


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("urls", metavar="URL", nargs="*", help="where to start (one or more)")
    parser.add_argument(
        "--app", metavar="MODULE:APP", help="start this ASGI app on 127.0.0.1 with uvicorn"
    )
    parser.add_argument(
        "--config",
        dest="scan_config",
        metavar="MODULE:ATTR",
        help="the site's ConsentConfig: the scanner writes each visitor's consent cookie",
    )
    parser.add_argument(
        "--secret-key",
        dest="secret_keys",
        action="append",
        default=[],
        metavar="KEY",
        help="without --config: the site's secret key, so the scanner signs the consent cookie"
        " (default: CONSENTKIT_SECRET_KEYS, which keeps it out of the process list; a key"
        " starting with '-' is given as --secret-key=KEY)",
    )
    parser.add_argument("--consent-cookie", default="consentkit", metavar="NAME",
                        help="the consent cookie's name, with --secret-key")  # fmt: skip
    parser.add_argument("--pages", type=_count, default=50, help="at most N pages (default 50)")
    parser.add_argument("--depth", type=_count, default=5, help="link depth (default 5)")
    parser.add_argument("--include", action="append", default=[], metavar="GLOB",
                        help="visit only paths matching (repeatable), e.g. '/news/*'")  # fmt: skip
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                        help="never visit paths matching (repeatable)")  # fmt: skip
    parser.add_argument(
        "--ignore-robots", dest="robots", action="store_false", help="do not honour robots.txt"
    )
    parser.add_argument(
        "--no-sitemap", dest="sitemap", action="store_false", help="do not read sitemap.xml"
    )
    parser.add_argument("--timeout", type=_seconds, default=20.0, help="seconds per page")
    parser.add_argument(
        "--settle", type=_seconds, default=0.3, help="seconds to wait after load (default 0.3)"
    )
    parser.add_argument("--jobs", type=_count, default=4, help="visitors at once (default 4)")
    parser.add_argument(
        "--format", dest="output_format", choices=("table", "json", "html"), default="table"
    )
    parser.add_argument("--out", metavar="DIR", help="write the evidence bundle to DIR")
    parser.add_argument(
        "--fail-on",
        type=_fail_on,
        default=[],
        metavar="KINDS",
        help="also exit 1 for these finding kinds: undeclared,stale,misfiled",
    )
    parser.add_argument("--allow-host", dest="allow_hosts", action="append", default=[],
                        metavar="HOST", help="a host allowed before consent (a CDN)")  # fmt: skip
    parser.add_argument("--prefix", default="/consent",
                        help="the site's consent endpoint when --config is not given")  # fmt: skip
    parser.add_argument("--browser-path", metavar="PATH", help="the Chromium to drive")
    parser.add_argument("--browser-arg", dest="browser_args", action="append", default=[],
                        metavar="ARG", help="an extra Chromium switch (repeatable)")  # fmt: skip
    parser.add_argument("--user-agent", help="the User-Agent to send")
    parser.add_argument(
        "--storage-state", metavar="FILE", help="a Playwright storage state: scan logged in"
    )
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bar"
    )
    parser.set_defaults(func=run)


def register(subparsers: Any) -> None:
    """Add ``scan`` to the ``consentkit`` command line."""
    parser = subparsers.add_parser(
        "scan", help="what a real browser sees, before and after consent", description=_DESCRIPTION
    )
    _add_arguments(parser)


def _usage(message: str) -> int:
    print(f"consentkit scan: error: {message}", file=sys.stderr)
    return EXIT_USAGE


class _Progress:
    def __init__(self) -> None:
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        width = 30
        filled = width * done // max(total, 1)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} page visits")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


@contextmanager
def serve_app(spec: str) -> Iterator[tuple[str, Any]]:
    """Import ``MODULE:APP`` and serve it with uvicorn on 127.0.0.1; yields (URL, app)."""
    from consentkit.audit import AuditError, load_app

    try:
        import uvicorn
    except ImportError:
        raise _Usage("--app needs uvicorn: pip install 'consentkit[scan]'") from None
    try:
        app, _ = load_app(spec)
    except AuditError as exc:
        raise _Usage(str(exc)) from None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="auto", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            sock.close()
            raise _Usage(f"{spec} did not start under uvicorn")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


class _Usage(Exception):
    pass


def run(args: argparse.Namespace) -> int:
    """Run a scan for parsed arguments; return the exit status."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        return _usage(
            "the scanner needs Playwright: install the 'scan' extra, pip install 'consentkit[scan]'"
        )
    if bool(args.urls) == bool(args.app):
        return _usage("name the site: either URL ... or --app MODULE:APP")
    config = None
    if args.scan_config:
        from consentkit.cli import UsageError, load_config

        try:
            config = load_config(args.scan_config)
        except UsageError as exc:
            return _usage(str(exc))
    try:
        if args.app:
            with serve_app(args.app) as (url, app):
                if config is None:
                    config = _config_of(app)
                return _scan(args, [url], config)
        return _scan(args, args.urls, config)
    except _Usage as exc:
        return _usage(str(exc))


def _config_of(app: Any) -> Any:
    try:
        from consentkit.testing import find_consent_middleware
    except ImportError:  # httpx missing: click the banner instead
        return None
    middleware = find_consent_middleware(app)
    return middleware.config if middleware is not None else None


def _scan(args: argparse.Namespace, urls: Sequence[str], config: Any) -> int:
    from consentkit.scan.evidence import write_bundle
    from consentkit.scan.html_report import render_html
    from consentkit.scan.report import build_report, write_table
    from consentkit.scan.runner import ScanError, ScanOptions, run_scan

    out = Path(args.out) if args.out else None
    if out is not None:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            return _usage(f"--out {args.out!r} exists and is not an empty folder")
        out.mkdir(parents=True, exist_ok=True)
    storage_state = Path(args.storage_state) if args.storage_state else None
    if storage_state is not None and not storage_state.is_file():
        return _usage(f"--storage-state {args.storage_state!r}: no such file")
    options = ScanOptions(
        urls=list(urls),
        config=config,
        limits=CrawlLimits(
            pages=args.pages,
            depth=args.depth,
            include=args.include,
            exclude=args.exclude,
            robots=args.robots,
            sitemap=args.sitemap,
        ),
        timeout=args.timeout,
        settle=args.settle,
        jobs=args.jobs,
        browser_path=args.browser_path,
        browser_args=args.browser_args,
        user_agent=args.user_agent,
        prefix=args.prefix,
        secret_keys=args.secret_keys or _keys_from_env(),
        cookie_name=args.consent_cookie,
        storage_state=storage_state,
        evidence_dir=out,
        progress=_Progress() if args.progress and sys.stderr.isatty() else None,
    )
    try:
        result = asyncio.run(run_scan(options))
    except ScanError as exc:
        return _usage(str(exc))
    arguments = {
        key: value
        for key, value in sorted(vars(args).items())
        if key not in ("func", "command") and isinstance(value, (str, int, float, bool, list))
    }
    report = build_report(
        result, fail_on=args.fail_on, allow_hosts=args.allow_hosts, arguments=arguments
    )
    if out is not None:
        write_bundle(report, out)
    if args.output_format == "json":
        import json

        json.dump(report.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif args.output_format == "html":
        sys.stdout.write(render_html(report, out))
    else:
        write_table(report, sys.stdout)
    sys.stdout.flush()
    return report.exit_status


def _keys_from_env() -> list[str]:
    value = os.environ.get("CONSENTKIT_SECRET_KEYS", "")
    return [key.strip() for key in value.split(",") if key.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m consentkit.scan``: parse ``argv`` and scan."""
    parser = argparse.ArgumentParser(prog="consentkit scan", description=_DESCRIPTION)
    _add_arguments(parser)
    args = parser.parse_args(argv)
    status: int = args.func(args)
    return status
