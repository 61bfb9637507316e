"""Signed consent log benchmarks: ``verify`` of a million records, and receipt generation.

Run: ``.venv/bin/python benchmarks/bench_log_verify.py [--records 1000000] [--receipts 200]
[--no-postgres]``.

1. A log of ``--records`` signed records (4 chains, batches of 256, each batch's
   head signed with Ed25519 and its completed Merkle subtrees stored, exactly as
   the writer commits them) is written straight into the database.
2. ``consentkit log verify`` (a subprocess) with the public key only, then with
   the HMAC key too: records per second and the process's peak RSS.
3. ``make_receipt`` for random visitors, in process, once a checkpoint covers
   them: median and 95th percentile in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

PG_DSN = os.environ.get("CONSENTKIT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
SECRET = "b" * 32
DECLARATION = '{"categories": []}'
BATCH = 256


def _batches(count: int, chains: int = 4) -> Iterator[tuple[Any, list[Any], Any]]:
    import hashlib

    from consentkit.log import Decision, derive_log_key
    from consentkit.log.chain import Chain
    from consentkit.log.signing import derive_signing_key

    key = derive_log_key(SECRET)
    signer = derive_signing_key(key.secret)
    digest = hashlib.sha256(DECLARATION.encode()).hexdigest()
    start = datetime.now(timezone.utc) - timedelta(days=30)
    per_chain = count // chains
    for c in range(chains):
        chain = Chain(key, signer=signer)
        for i in range(0, per_chain, BATCH):
            decisions = [
                Decision(
                    consent_id=secrets.token_urlsafe(16),
                    action="accept_all",
                    granted=("analytics", "marketing", "necessary"),
                    denied=(),
                    policy_version="2026-01",
                    declaration_hash=digest,
                    declaration_json=DECLARATION,
                    language="en",
                    surface="banner",
                    path="/reports/2025",
                    ip="203.0.113.0",
                    user_agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
                    gpc=False,
                )
                for _ in range(min(BATCH, per_chain - i))
            ]
            records = chain.seal_batch(decisions, start + timedelta(seconds=(c * per_chain + i)))
            seal = chain.pending
            chain.advance(records)
            yield chain, records, seal


def _head_row(seal: Any) -> tuple[Any, ...]:
    head = seal.head
    return (head.chain_id, head.seq, head.root, head.mac, head.timestamp, head.key_id,
            head.signature)  # fmt: skip


def fill(url: str, count: int) -> None:
    """``count`` signed records in the log at ``url``, written straight in."""
    import hashlib

    digest = hashlib.sha256(DECLARATION.encode()).hexdigest()
    if url.startswith("postgresql"):
        from consentkit.log.postgres import _row, connect

        conn: Any = connect(url)
        mark = "%s"
    else:
        from consentkit.log.sqlite import _row, connect  # type: ignore[assignment]

        conn = connect(url.removeprefix("sqlite:///"), "OFF")
        mark = "?"
    marks = ",".join([mark] * 25)
    insert = (
        "INSERT INTO consentkit_log (chain_id, seq, record_id, consent_id, ts, action, granted,"
        " denied, policy_version, declaration_hash, language, surface, path, ip, user_agent,"
        " gpc, key_id, prev_mac, mac, decision_id, site_host, expires_at, regime, region,"
        f" region_source) VALUES ({marks})"
    )
    cur = conn.cursor()
    if not url.startswith("postgresql"):
        cur.execute("BEGIN")
    cur.execute(
        f"INSERT INTO consentkit_declarations (hash, body, created_at) VALUES ({mark},{mark},"
        f"{mark})",
        (digest, DECLARATION, datetime.now(timezone.utc).isoformat()),
    )
    seen: set[str] = set()
    for chain, records, seal in _batches(count):
        if chain.chain_id not in seen:
            seen.add(chain.chain_id)
            cur.execute(
                f"INSERT INTO consentkit_chains VALUES ({mark},{mark},{mark})",
                (chain.chain_id, datetime.now(timezone.utc).isoformat(), chain.key.key_id),
            )
        cur.executemany(insert, [_row(r) for r in records])
        cur.execute(
            f"INSERT INTO consentkit_log_heads VALUES ({','.join([mark] * 7)})", _head_row(seal)
        )
        if seal.nodes:
            cur.executemany(
                f"INSERT INTO consentkit_log_nodes VALUES ({mark},{mark},{mark},{mark})",
                [(chain.chain_id, lvl, idx, h.hex()) for lvl, idx, h in seal.nodes],
            )
    if not url.startswith("postgresql"):
        cur.execute("COMMIT")
    conn.close()


_PEAK_RSS = (
    "import sys\n"
    "from consentkit.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "sys.stdout.flush()\n"
    "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1],"
    " file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def measure_verify(url: str, public_key: Path, with_hmac: bool) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds, peak RSS in MB, first output line) of ``log verify``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTKIT_")}
    if with_hmac:
        env["CONSENTKIT_SECRET_KEYS"] = SECRET
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS, "log", "verify", "--storage", url,
         "--public-key", str(public_key)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    elapsed = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode:
        raise RuntimeError(f"verify failed with {result.returncode}: {result.stderr[-2000:]}")
    peak_kb = int(result.stderr.split()[-1])
    return elapsed, cpu, peak_kb / 1024, result.stdout.splitlines()[0]


def measure_receipts(url: str, count: int) -> tuple[float, float]:
    """(median, p95) milliseconds of `make_receipt` for random visitors."""
    from consentkit.log import derive_log_key
    from consentkit.log.checkpoint import make_checkpoint
    from consentkit.log.read import open_reader
    from consentkit.log.receipt import make_receipt
    from consentkit.log.signing import derive_signing_key

    signer = derive_signing_key(derive_log_key(SECRET).secret)
    with open_reader(url, write=True) as reader:  # it stores the checkpoint
        make_checkpoint(reader, signer)
        ids = [
            str(r[0]) for r in reader._query("SELECT consent_id FROM consentkit_log LIMIT 200000")
        ]
        picks = random.sample(ids, min(count, len(ids)))
        times = []
        for consent_id in picks:
            start = time.perf_counter()
            make_receipt(reader, consent_id, signer=signer)
            times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def run(url: str, label: str, records: int, receipts: int, public_key: Path) -> None:
    start = time.monotonic()
    fill(url, records)
    print(f"[{label}] filled {records} signed records in {time.monotonic() - start:.1f} s")
    for with_hmac in (False, True):
        elapsed, cpu, rss, line = measure_verify(url, public_key, with_hmac)
        what = "public key + HMAC key" if with_hmac else "public key only"
        print(
            f"[{label}] verify ({what}): {records / elapsed:,.0f} records/s wall"
            f" ({elapsed:.1f} s), {records / cpu:,.0f} records per CPU-second,"
            f" peak RSS {rss:.1f} MB; {line[:40]}"
        )
    median, p95 = measure_receipts(url, receipts)
    print(f"[{label}] receipt: median {median:.2f} ms, p95 {p95:.2f} ms")


def main() -> None:
    """Fill, verify, receipt; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--receipts", type=int, default=200)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    from consentkit.log import derive_log_key
    from consentkit.log.signing import derive_signing_key

    with tempfile.TemporaryDirectory() as tmp:
        public_key = Path(tmp) / "site.pub"
        public_key.write_bytes(derive_signing_key(derive_log_key(SECRET).secret).public.pem())
        run(f"sqlite:///{tmp}/log.db", "sqlite", args.records, args.receipts, public_key)
        if args.no_postgres:
            return
        import psycopg

        admin = psycopg.connect(PG_DSN, autocommit=True)
        schema = f"ck_bench_{secrets.token_hex(4)}"
        admin.execute(f"CREATE SCHEMA {schema}")
        try:
            sep = "&" if "?" in PG_DSN else "?"
            dsn = f"{PG_DSN}{sep}options=-csearch_path%3D{schema}"
            run(dsn, "postgresql", args.records, args.receipts, public_key)
        finally:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
            admin.close()


if __name__ == "__main__":
    main()
