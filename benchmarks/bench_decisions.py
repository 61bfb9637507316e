"""Consent log benchmarks: decisions per second over HTTP, and export of a million records.

Run: ``.venv/bin/python benchmarks/bench_decisions.py [--duration 5] [--concurrency 32]
[--records 1000000] [--no-postgres]``.

1. Decisions per second, the median of ``--rounds`` alternating rounds: uvicorn (a
   subprocess, loopback) serving ``POST /consent``
   ``{"action": "accept_all"}`` through `ConsentMiddleware` with SQLite and with
   PostgreSQL, against a bare Starlette endpoint that parses the same JSON and
   returns it. The load generator is a raw-socket HTTP/1.1 keep-alive client on
   asyncio with bounded concurrency (one request in flight per connection)
   and a fixed duration. Figures only; the machine's other load shows in them.
2. Export: a million sealed records written straight into the database, then
   ``consentkit log export`` (a subprocess, output to /dev/null): records per
   second and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

PG_DSN = os.environ.get("CONSENTKIT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
SECRET = "b" * 32
HERE = Path(__file__).resolve().parent


# The apps uvicorn serves (``--factory``).


def make_bare_app() -> Any:
    """A Starlette endpoint that parses the decision JSON and returns it."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def consent(request: Request) -> JSONResponse:
        return JSONResponse(await request.json())

    return Starlette(routes=[Route("/consent", consent, methods=["POST"])])


def make_consent_app() -> Any:
    """A site behind `ConsentMiddleware`, its log at ``BENCH_STORAGE``."""
    from starlette.applications import Starlette

    from consentkit import Category, ConsentConfig, ConsentMiddleware

    config = ConsentConfig(
        secret_keys=[SECRET],
        categories=[
            Category(key="necessary", label="Necessary", required=True),
            Category(key="analytics", label="Analytics"),
            Category(key="marketing", label="Marketing"),
        ],
        storage=os.environ["BENCH_STORAGE"],
    )
    return ConsentMiddleware(Starlette(), config=config)


# The server and the load generator.


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """uvicorn serving one of the factories above."""

    def __init__(self, factory: str, env: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                f"bench_decisions:{factory}",
                "--factory",
                "--app-dir",
                str(HERE),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env={**os.environ, **(env or {})},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"uvicorn ({factory}) did not start")

    def stop(self) -> None:
        """Shut uvicorn down normally."""
        self.proc.terminate()
        self.proc.wait(15)


BODY = b'{"action":"accept_all"}'
#: BENCH_DECISION_IDS=1: every decision carries a fresh decision id, as the snippet sends
#: (the log then looks each batch's ids up before writing it).
WITH_IDS = os.environ.get("BENCH_DECISION_IDS") == "1"


def _request(port: int, decision_id: str | None = None) -> bytes:
    body = BODY
    if decision_id is not None:
        body = b'{"action":"accept_all","decision_id":"%s"}' % decision_id.encode()
    return (
        f"POST /consent HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\nSec-Fetch-Site: same-origin\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def _connection(port: int, until: float, counts: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = _request(port)
    try:
        while time.monotonic() < until:
            writer.write(_request(port, secrets.token_hex(16)) if WITH_IDS else request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            counts["ok" if 200 <= status < 300 else "bad"] += 1
    finally:
        writer.close()


async def _load(port: int, duration: float, concurrency: int) -> tuple[float, int]:
    counts = {"ok": 0, "bad": 0}
    # Warm up (connections, caches, the log's first transaction), then measure.
    await asyncio.gather(
        *(_connection(port, time.monotonic() + 0.5, counts) for _ in range(concurrency))
    )
    counts = {"ok": 0, "bad": 0}
    start = time.monotonic()
    await asyncio.gather(*(_connection(port, start + duration, counts) for _ in range(concurrency)))
    elapsed = time.monotonic() - start
    return counts["ok"] / elapsed, counts["bad"]


def measure(factory: str, env: dict[str, str], duration: float, concurrency: int) -> float:
    """Decisions (2xx answers) per second from a fresh server."""
    server = Server(factory, env)
    try:
        rate, bad = asyncio.run(_load(server.port, duration, concurrency))
    finally:
        server.stop()
    if bad:
        print(f"  warning: {bad} non-2xx answers", file=sys.stderr)
    return rate


# PostgreSQL schemas for the runs.


def _pg_schema() -> tuple[Any, str, str] | None:
    try:
        import psycopg

        admin = psycopg.connect(PG_DSN, autocommit=True, connect_timeout=3)
    except Exception as exc:  # the benchmark runs without PostgreSQL too
        print(f"PostgreSQL skipped: {str(exc).splitlines()[0]}", file=sys.stderr)
        return None
    schema = f"ck_bench_{secrets.token_hex(4)}"
    admin.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in PG_DSN else "?"
    return admin, schema, f"{PG_DSN}{sep}options=-csearch_path%3D{schema}"


def _drop(pg: tuple[Any, str, str] | None) -> None:
    if pg is not None:
        admin, schema, _ = pg
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


# A million records, straight into the database.


def _sealed_rows(count: int, chains: int = 4) -> Any:
    from consentkit.log import Decision, derive_log_key
    from consentkit.log.chain import Chain

    key = derive_log_key(SECRET)
    start = datetime.now(timezone.utc) - timedelta(days=30)
    per_chain = count // chains
    for c in range(chains):
        chain = Chain(key)
        for i in range(0, per_chain, 1000):
            n = min(1000, per_chain - i)
            decisions = [
                Decision(
                    consent_id=secrets.token_urlsafe(16),
                    action="accept_all",
                    granted=("analytics", "marketing", "necessary"),
                    denied=(),
                    policy_version="2026-01",
                    declaration_hash="d" * 64,
                    declaration_json="{}",
                    language="en",
                    surface="banner",
                    path="/reports/2025",
                    ip="203.0.113.0",
                    user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
                    gpc=False,
                )
                for _ in range(n)
            ]
            now = start + timedelta(seconds=(c * per_chain + i) * 2)
            records = chain.seal_batch(decisions, now)
            chain.advance(records)
            yield chain, records


def fill_sqlite(path: str, count: int) -> None:
    """``count`` sealed records in the SQLite log at ``path``."""
    from consentkit.log.sqlite import _INSERT, _row, connect

    conn = connect(path, "OFF")
    conn.execute("BEGIN")
    seen: set[str] = set()
    for chain, records in _sealed_rows(count):
        if chain.chain_id not in seen:
            seen.add(chain.chain_id)
            conn.execute(
                "INSERT INTO consentkit_chains VALUES (?,?,?)",
                (chain.chain_id, records[0].timestamp, chain.key.key_id),
            )
        conn.executemany(_INSERT, [_row(r) for r in records])
    conn.execute("COMMIT")
    conn.close()


def fill_postgres(dsn: str, count: int) -> None:
    """``count`` sealed records in the PostgreSQL log at ``dsn`` (COPY)."""
    from consentkit.log.postgres import _COLUMNS, _row, connect

    conn = connect(dsn)
    columns = _COLUMNS
    seen: set[str] = set()
    with conn.transaction(), conn.cursor() as cur:
        with cur.copy(f"COPY consentkit_log ({columns}) FROM STDIN") as copy:
            for chain, records in _sealed_rows(count):
                seen.add(chain.chain_id)
                for record in records:
                    copy.write_row(_row(record))
        for chain_id in seen:
            cur.execute(
                "INSERT INTO consentkit_chains VALUES (%s, now(), %s)",
                (chain_id, chain.key.key_id),
            )
    conn.close()


# Runs the command and reports its own high-water RSS: VmHWM counts only this
# program, while ru_maxrss would include the benchmark process it was forked from.
_PEAK_RSS = (
    "import sys\n"
    "from consentkit.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "sys.stdout.flush()\n"
    "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1],"
    " file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def measure_export(url: str) -> tuple[int, float, float, float]:
    """(records, seconds, peak RSS in MB, CPU seconds) of ``consentkit log export`` to /dev/null.

    The CPU seconds (user + system of the export process) tell the cost apart
    from waiting for a CPU on a busy machine, which only the wall time shows.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.devnull, "wb") as devnull:
        start = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-c", _PEAK_RSS, "log", "export", "--storage", url],
            stdout=devnull,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        elapsed = time.monotonic() - start
    if result.returncode:
        raise RuntimeError(f"export failed with {result.returncode}: {result.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak_kb = int(result.stderr.split()[-1])
    return _count(url), elapsed, peak_kb / 1024, cpu


def _count(url: str) -> int:
    from consentkit.log.read import open_reader

    with open_reader(url) as reader:
        rows = reader._query("SELECT count(*) FROM consentkit_log")
    return int(rows[0][0])


def main() -> None:
    """Run both benchmarks and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-export", action="store_true")
    parser.add_argument(
        "--sqlite-db", metavar="PATH", help="export this filled log instead of filling a new one"
    )
    args = parser.parse_args()
    results: dict[str, Any] = {}
    pg = None if args.no_postgres else _pg_schema()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            if not args.skip_http:
                print(
                    f"decisions over HTTP: {args.concurrency} connections, {args.duration}s per"
                    f" server, {args.rounds} round(s) alternating bare and consentkit"
                )
                # Alternating rounds, each ratio from a bare run and the consentkit runs next
                # to it: the machine's drift shows in both sides of a ratio alike.
                bares: list[float] = []
                ratios: dict[str, list[float]] = {"sqlite": [], "pg": []}
                rates: dict[str, list[float]] = {"sqlite": [], "pg": []}
                for round_ in range(args.rounds):
                    bare = measure("make_bare_app", {}, args.duration, args.concurrency)
                    bares.append(bare)
                    stores = {"sqlite": f"sqlite:///{tmp}/bench-{round_}.db"}
                    if pg is not None:
                        stores["pg"] = pg[2]
                    for name, url in stores.items():
                        env = {"BENCH_STORAGE": url}
                        rate = measure("make_consent_app", env, args.duration, args.concurrency)
                        rates[name].append(rate)
                        ratios[name].append(rate / bare)
                    print(
                        f"  round {round_ + 1}: bare {bare:6.0f} req/s, "
                        + ", ".join(
                            f"{name} {rates[name][-1]:6.0f}/s ({ratios[name][-1]:.2f}x)"
                            for name in stores
                        )
                    )
                results["bare_rps"] = round(statistics.median(bares))
                for name, label in (("sqlite", "SQLite"), ("pg", "PostgreSQL")):
                    if ratios[name]:
                        ratio = statistics.median(ratios[name])
                        print(f"  consentkit + {label}: median {ratio:.2f}x of the bare endpoint")
                        results[f"{name}_dps"] = round(statistics.median(rates[name]))
                        results[f"{name}_ratio"] = round(ratio, 3)
            if not args.skip_export:
                print(f"export of {args.records} records (consentkit log export > /dev/null)")
                path = args.sqlite_db or f"{tmp}/export.db"
                if not args.sqlite_db:
                    fill_sqlite(path, args.records)
                count, seconds, rss, cpu = measure_export(f"sqlite:///{path}")
                print(
                    f"  SQLite:     {count / seconds:9.0f} records/s, peak RSS {rss:.1f} MB,"
                    f" {count / cpu:9.0f} records per CPU second"
                )
                results["sqlite_export_rps"], results["sqlite_export_rss_mb"] = (
                    round(count / seconds),
                    round(rss, 1),
                )
                results["sqlite_export_per_cpu_second"] = round(count / cpu)
                if pg is not None:
                    _drop(pg)
                    pg = _pg_schema()
                if pg is not None:
                    fill_postgres(pg[2], args.records)
                    count, seconds, rss, cpu = measure_export(pg[2])
                    print(
                        f"  PostgreSQL: {count / seconds:9.0f} records/s, peak RSS {rss:.1f} MB,"
                        f" {count / cpu:9.0f} records per CPU second"
                    )
                    results["pg_export_rps"], results["pg_export_rss_mb"] = (
                        round(count / seconds),
                        round(rss, 1),
                    )
                    results["pg_export_per_cpu_second"] = round(count / cpu)
        finally:
            _drop(pg)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
