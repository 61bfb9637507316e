"""Every code block of docs/quickstart.md is run, in order, in an empty directory.

Python blocks with a ``title`` are written to that file; shell blocks are joined into one
bash script run with ``set -euo pipefail``. Three substitutions, and only these:
``pip install ...`` checks that the packages are importable (they are installed from this
checkout, and the test has no network), ``uvicorn ...`` runs in the background until the
script ends, and port 8000 becomes a free port (other people may be running the demo on it).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "docs" / "quickstart.md"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks() -> list[tuple[str, str | None, str]]:
    """(language, title or None, code) of every fenced block, in order."""
    found = []
    for lang, info, code in FENCE.findall(QUICKSTART.read_text()):
        title = re.search(r'title="([^"]+)"', info)
        found.append((lang, title[1] if title else None, code))
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shell_script(port: int) -> str:
    lines = ["set -euo pipefail", "trap 'kill $(cat uvicorn.pid 2>/dev/null) 2>/dev/null' EXIT"]
    for lang, _, code in blocks():
        if lang not in ("sh", "bash"):
            continue
        for line in code.replace("\\\n", " ").splitlines():
            line = line.replace("8000", str(port))
            if line.startswith("pip install "):
                modules = ", ".join(p.replace("-", "_") for p in line.split()[2:])
                line = f'python -c "import {modules}"'
            elif line.startswith("uvicorn "):
                line = (
                    f"{line} > uvicorn.log 2>&1 & echo $! > uvicorn.pid\n"
                    f"for i in $(seq 200); do curl -s -o /dev/null http://127.0.0.1:{port}/ "
                    "&& break; sleep 0.05; done"
                )
            lines.append(line)
    return "\n".join(lines) + "\n"


def test_quickstart_has_the_expected_blocks() -> None:
    kinds = [(lang, title) for lang, title, _ in blocks()]
    assert ("python", "app.py") in kinds
    assert ("python", "test_app.py") in kinds
    assert any(lang == "sh" for lang, _ in kinds)
    for lang, title in kinds:
        assert lang in ("sh", "python"), lang
        assert lang != "python" or title, "every Python block names its file"


@pytest.mark.slow
def test_every_quickstart_block_runs(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    for lang, title, code in blocks():
        if lang == "python" and title:
            (tmp_path / title).write_text(code)
    script = tmp_path / "quickstart.sh"
    script.write_text(shell_script(_free_port()))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSENTKIT_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    result = subprocess.run(
        ["bash", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = (tmp_path / "uvicorn.log").read_text() if (tmp_path / "uvicorn.log").exists() else ""
    assert result.returncode == 0, result.stdout + result.stderr + log
    assert "1 passed" in result.stdout
    assert '"granted":["analytics","necessary"]' in result.stdout.replace(" ", "")
    assert (tmp_path / "consentkit.db").exists()
