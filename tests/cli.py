"""Running the ``consentkit`` command line for real, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m consentkit ARGS`` with no ``CONSENTKIT_*`` variables but those in ``env``."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTKIT_")}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "consentkit", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=cwd,
        timeout=120,
        check=False,
    )
