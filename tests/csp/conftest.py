"""Fixtures for the consent CSP tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from csp_helpers import csp_categories
from tests.conftest import KEY

from consentkit import ConsentConfig


@pytest.fixture
def csp_config(tmp_path: Path) -> Callable[..., ConsentConfig]:
    """``csp_config(**overrides)``: a report-only config with a SQLite file in tmp_path."""

    def make(**overrides: Any) -> ConsentConfig:
        options: dict[str, Any] = {
            "secret_keys": [KEY],
            "categories": csp_categories(),
            "storage": f"sqlite:///{tmp_path}/consent.db",
            "csp": "report-only",
            "csp_always_allow": ["fonts.example.org"],
        }
        options.update(overrides)
        return ConsentConfig(**options)

    return make
