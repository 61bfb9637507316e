"""Loading the framework examples with a fresh config per test."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "frameworks"
SECRET = "framework-examples-secret-0123456789abcdef"
_counter = itertools.count()


@pytest.fixture
def load_example(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[[str], ModuleType]:
    """Import ``examples/frameworks/NAME.py`` afresh, its log in ``tmp_path``."""
    monkeypatch.setenv("CONSENTKIT_SECRET_KEYS", SECRET)
    monkeypatch.setenv("CONSENTKIT_STORAGE", f"sqlite:///{tmp_path}/x.db")
    monkeypatch.syspath_prepend(str(EXAMPLES))

    def load(name: str) -> ModuleType:
        spec = importlib.util.spec_from_file_location(
            f"consentkit_example_{name}_{next(_counter)}", EXAMPLES / f"{name}.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        monkeypatch.setitem(sys.modules, spec.name, module)  # frameworks look themselves up
        spec.loader.exec_module(module)
        return module

    return load
