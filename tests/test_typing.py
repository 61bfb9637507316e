"""A site's own code that configures consentkit as the docs show passes mypy --strict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SITE = """
from starlette.applications import Starlette
from starlette.requests import Request
from consentkit import (AnalyticsConfig, Category, Consent, ConsentConfig, ConsentMiddleware,
                        Cookie, get_consent)

config = ConsentConfig(
    secret_keys=["current-key-0123456789abcdef-0123456", "previous-key-0123456789abcdef-01234"],
    policy_version="2026-01",
    categories=[
        Category(key="necessary", label="Strictly necessary", required=True,
                 cookies=[Cookie(name="session", purpose="Signs you in", duration="session")]),
        Category(key="analytics", label="Analytics",
                 cookies=[Cookie(name="_ga*", provider="Google", purpose="Counts")]),
    ],
    storage="sqlite:///consentkit.db",
    analytics=AnalyticsConfig(sections={"/reports": "Reports"}, exclude=["/admin"]),
    trusted_proxies=["10.0.0.0/8"],
    languages=["en", "he"],
)
app = ConsentMiddleware(Starlette(), config=config)


def allowed(request: Request) -> bool:
    consent: Consent = get_consent(request)
    return consent.allows("analytics") and "analytics" in consent.granted
"""


def test_documented_configuration_type_checks(tmp_path: Path) -> None:
    (tmp_path / "site.py").write_text(SITE)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(tmp_path / "site.py")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
