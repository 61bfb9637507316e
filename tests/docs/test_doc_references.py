"""What the docs name exists: tests in the compliance checklist, every log command, README."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def test_compliance_checklist_names_real_tests() -> None:
    text = (DOCS / "compliance.md").read_text()
    refs = TEST_REF.findall(text)
    assert len(refs) >= 30
    missing = []
    for path, name in refs:
        source = ROOT / path
        if not source.exists() or not re.search(
            rf"^(async )?def {name}\(", source.read_text(), re.MULTILINE
        ):
            missing.append(f"{path}::{name}")
    assert missing == []


@pytest.mark.parametrize(
    "rule",
    [
        "Art. 5(3)",
        "Art. 7(1)",
        "Art. 7(3)",
        "EDPB",
        "CNIL",
        "6 months",
        "13 months",
        "Global Privacy Control",
    ],
)
def test_compliance_checklist_covers_each_rule(rule: str) -> None:
    assert rule in (DOCS / "compliance.md").read_text()


def _log_commands() -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "consentkit", "log", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    listed = re.search(r"\{([\w,-]+)\}", result.stdout)
    if listed:
        return listed[1].split(",")
    return re.findall(r"^    (\w[\w-]*)", result.stdout, re.MULTILINE)


def test_auditors_guide_shows_every_log_command() -> None:
    guide = (DOCS / "auditors.md").read_text()
    commands = _log_commands()
    assert {"export", "verify", "show", "stats", "purge"} <= set(commands)
    for command in commands:
        assert f"## `consentkit log {command}`" in guide, command
        assert f"$ consentkit log {command}" in guide, f"no real output of {command}"


def test_readme_keeps_its_first_lines_and_example_runs(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    lines = readme.splitlines()
    assert lines[0] == "# consentkit"
    assert lines[3].startswith("make demo ")
    assert lines[4].startswith("make test ")
    assert "docs/images/banner.png" in readme
    example = re.search(r"```python\n(.*?)```", readme, re.DOTALL)
    assert example is not None
    assert len(example[1].strip().splitlines()) <= 12
    env = {k: v for k, v in os.environ.items() if k != "CONSENTKIT_SECRET_KEYS"}
    code = example[1] + "\nassert callable(app)\n"
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True)


def _python_blocks() -> list[tuple[str, int, str]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for index, code in enumerate(
            re.findall(r"```python[^\n]*\n(.*?)```", page.read_text(), re.DOTALL)
        ):
            found.append((page.name, index, code))
    return found


@pytest.mark.parametrize(
    ("page", "index", "code"),
    _python_blocks(),
    ids=lambda v: v if isinstance(v, str) and v.endswith(".md") else "",
)
def test_every_python_block_in_the_docs_is_valid_python(page: str, index: int, code: str) -> None:
    compile(code, f"{page}[{index}]", "exec")
