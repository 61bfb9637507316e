"""A bounded coverage-guided fuzz run (atheris) of everything a visitor controls."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.support import HERE, REPO

FUZZ_SECONDS = 10


@pytest.mark.slow
def test_fuzz_target_runs_without_a_crash(tmp_path: Path, record_property: object) -> None:
    result = subprocess.run(
        [sys.executable, str(HERE / "fuzz_target.py"), str(tmp_path / "corpus"),
         f"-max_total_time={FUZZ_SECONDS}", "-rss_limit_mb=1024", "-max_len=4096",
         "-print_final_stats=1", f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=FUZZ_SECONDS + 120, cwd=REPO,
        env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    output = result.stderr + result.stdout
    tail = "\n".join(output.splitlines()[-40:])
    assert result.returncode == 0, f"the fuzzer found a crash (exit {result.returncode}):\n{tail}"
    runs = re.search(r"stat::number_of_executed_units:\s+(\d+)", output)
    assert runs is not None, tail
    executions = int(runs.group(1))
    peak = re.search(r"stat::peak_rss_mb:\s+(\d+)", output)
    summary = (
        f"atheris: {executions} executions in {FUZZ_SECONDS}s, peak RSS {peak and peak.group(1)} MB"
    )
    print(summary)
    record_property("fuzz", summary)  # type: ignore[operator]
    assert executions > 10_000, summary
