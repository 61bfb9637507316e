"""docs/configuration.md keeps a generated copy of the reference; it must match the code."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
HOOK = ROOT / "docs" / "hooks" / "config_reference.py"


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("config_reference_hook", HOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_reference_is_up_to_date(hook: ModuleType) -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    rendered, problems = hook.render(page)
    assert problems == []
    assert rendered == page, "docs/configuration.md is out of date: run make config-reference"
    for model in hook.MODELS:
        assert f"### `{model}`" in page
    assert "| `google_consent_mode` |" in page


def test_check_fails_on_a_stale_copy_and_the_rewrite_fixes_it(
    hook: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = tmp_path / "configuration.md"
    current = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    page.write_text(current.replace("| `policy_version` |", "| `policy_versions` |"))
    monkeypatch.setattr(hook, "PAGE", page)
    assert hook.main(["--check"]) == 1
    assert hook.main([]) == 0
    assert page.read_text() == current
    assert hook.main(["--check"]) == 0
    assert hook.main(["--bogus"]) == 2


def test_a_placeholder_alone_is_filled(hook: ModuleType) -> None:
    rendered, _ = hook.render(f"# Config\n\n{hook.MARKER}\n\n## After\n")
    assert rendered.startswith(f"# Config\n\n{hook.MARKER}\n\n### `ConsentConfig`")
    assert rendered.endswith(f"{hook.END_MARKER}\n\n## After\n")


def test_command_line_check(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(HOOK), "--check"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_github_copy_escapes_pipes_in_code_and_the_site_does_not(hook: ModuleType) -> None:
    github, _ = hook.reference(github=True)
    site, _ = hook.reference()
    assert "| `secret_key` | `str \\| None` |" in github
    assert "| `secret_key` | `str | None` |" in site
