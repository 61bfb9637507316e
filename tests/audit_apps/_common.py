"""The configuration the fixture sites share."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from consentkit import AnalyticsConfig, Category, ConsentConfig, Cookie

SECRET = "audit-fixture-secret-key-0123456789abcdef"


def db_dir() -> str:
    """Where the module-level apps keep their consent log."""
    return os.environ.get("CONSENTKIT_AUDIT_DIR") or tempfile.mkdtemp(prefix="consentkit-audit-")


def make_config(
    directory: str, *, categories: list[Category] | None = None, **extra: Any
) -> ConsentConfig:
    """A valid config storing its log in ``directory``."""
    if categories is None:
        categories = [
            Category(
                key="necessary",
                label="Strictly necessary",
                required=True,
                cookies=[Cookie(name="session", purpose="Keeps you signed in", duration="session")],
            ),
            Category(
                key="analytics",
                label="Analytics",
                cookies=[
                    Cookie(
                        name="_ga*",
                        provider="Google",
                        purpose="Counts visits",
                        duration="13 months",
                    )
                ],
            ),
            Category(
                key="marketing",
                label="Marketing",
                cookies=[Cookie(name="_fbp", provider="Meta", purpose="Ads", duration="3 months")],
            ),
        ]
    return ConsentConfig(
        secret_keys=[SECRET],
        categories=categories,
        storage=f"sqlite:///{directory}/consent.db",
        **extra,
    )


def page(body: str, title: str = "Fixture") -> str:
    """A small HTML page."""
    return f"<!doctype html><html><head><title>{title}</title></head><body>{body}</body></html>"


__all__ = ["AnalyticsConfig", "db_dir", "make_config", "page"]
