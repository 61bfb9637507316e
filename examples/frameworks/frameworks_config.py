"""The consent configuration the framework examples share."""

from __future__ import annotations

import os

from consentkit import Category, ConsentConfig, Cookie


def example_config(storage: str | None = None) -> ConsentConfig:
    """Categories for a small site; keys from ``CONSENTKIT_SECRET_KEYS``."""
    return ConsentConfig(
        storage=storage or os.environ.get("CONSENTKIT_STORAGE", "sqlite:///demo-consent.db"),
        categories=[
            Category(
                key="necessary",
                label="Strictly necessary",
                required=True,
                description="Needed for the site to work.",
                cookies=[Cookie(name="session", purpose="Keeps your session", duration="session")],
            ),
            Category(
                key="analytics",
                label="Analytics",
                description="Which sections readers find most useful.",
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
                key="personalization",
                label="Personalization",
                description="Remembers what you read to suggest more.",
                cookies=[
                    Cookie(name="reading_list", purpose="Your reading list", duration="6 months")
                ],
            ),
        ],
    )
