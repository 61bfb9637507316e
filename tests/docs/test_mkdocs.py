"""The documentation builds with ``mkdocs build --strict``, and its reference is complete."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from consentkit import config as config_module

ROOT = Path(__file__).resolve().parents[2]
MKDOCS = Path(sys.executable).parent / "mkdocs"
MODELS = ("ConsentConfig", "Category", "Cookie", "AnalyticsConfig")


def _mkdocs() -> str:
    if MKDOCS.exists():
        return str(MKDOCS)
    found = shutil.which("mkdocs")
    if found is None:
        pytest.fail("mkdocs is not installed (pip install -e '.[docs]')")
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [_mkdocs(), "build", "--strict", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.mark.slow
def test_strict_build_passes(site: Path) -> None:
    assert (site / "index.html").exists()
    assert (site / "quickstart" / "index.html").exists()
    assert not (site / "hooks").exists(), "the hook's source must not be published"


@pytest.mark.slow
def test_configuration_reference_lists_every_field(site: Path) -> None:
    html = (site / "configuration" / "index.html").read_text()
    assert "consentkit:config-reference" not in html
    for name in MODELS:
        model = getattr(config_module, name)
        for field in model.model_fields:
            assert re.search(rf"<code>{re.escape(field)}</code>", html), f"{name}.{field}"


def test_hook_describes_every_field_and_nothing_else() -> None:
    sys.path.insert(0, str(ROOT / "docs" / "hooks"))
    try:
        import config_reference
    finally:
        sys.path.pop(0)
    text, problems = config_reference.reference()
    assert problems == []
    assert "| `consent_lifetime` | `timedelta` | 182 days |" in text
