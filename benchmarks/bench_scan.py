"""Benchmark: ``consentkit scan`` of the whole demo site, every visitor, in real Chromium.

Run: ``.venv/bin/python benchmarks/bench_scan.py [--jobs N] [--settle S]``. Prints figures;
asserts nothing. Starts the demo (``examples/seed_site``) with uvicorn on 127.0.0.1,
scans every page it links to as each visitor (undecided, reject all, accept all, one
per optional category, withdrawal), and reports the wall time, page visits per
minute, and the peak memory (PSS) of the scan: this process plus every process
under it (Playwright's driver and the Chromium processes), sampled every 100 ms.
Goal on a 2-core machine: the whole demo site in under 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from consentkit.scan.cli import serve_app
from consentkit.scan.crawl import CrawlLimits
from consentkit.scan.report import build_report
from consentkit.scan.runner import ScanOptions, run_scan

ROOT = Path(__file__).resolve().parents[1]


def tree_pss(root: int) -> int:
    """Proportional set size (shared pages split between sharers) of ``root`` and all its
    descendants, from Linux's /proc: the memory the scan really holds."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                parents[int(entry)] = int(file.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/smaps_rollup") as file:
                for line in file:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            pass
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=ScanOptions.jobs)
    parser.add_argument("--settle", type=float, default=ScanOptions.settle)
    parser.add_argument("--pages", type=int, default=200)
    args = parser.parse_args()
    browser = os.environ.get("CONSENTKIT_CHROMIUM") or shutil.which("chromium")
    folder = Path(tempfile.mkdtemp(prefix="bench-scan-"))
    os.environ["DEMO_STORAGE"] = f"sqlite:///{folder / 'demo.db'}"
    os.chdir(ROOT)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_pss(os.getpid()))
            time.sleep(0.1)

    with serve_app("examples.seed_site.asgi:app") as (url, app):
        from consentkit.testing import find_consent_middleware

        middleware = find_consent_middleware(app)
        assert middleware is not None
        options = ScanOptions(
            urls=[url + "/"],
            config=middleware.config,
            limits=CrawlLimits(pages=args.pages),
            settle=args.settle,
            jobs=args.jobs,
            browser_path=browser,
        )
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        result = asyncio.run(run_scan(options))
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
    report = build_report(result)
    visits = sum(len(result.pages) + (1 if v.withdraw else 0) for v in result.visitors)
    print(f"demo site: {len(result.pages)} pages, {len(result.visitors)} visitors "
          f"({len(result.state_names())} states), {visits} page visits")  # fmt: skip
    print(f"jobs={args.jobs} settle={args.settle}s cores={os.cpu_count()}")
    print(f"wall time: {elapsed:.1f} s  ({visits / elapsed * 60:.0f} page visits per minute)")
    print(f"peak memory (scan + browsers, PSS): {peak / 1e6:.0f} MB")
    kinds = sorted({f"{f.kind} {f.name}" for f in report.findings})
    print(f"findings: {len(report.findings)} ({', '.join(kinds) or 'none'}); "
          f"exit status {report.exit_status}")  # fmt: skip
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
