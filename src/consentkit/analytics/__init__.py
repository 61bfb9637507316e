"""Consent-gated first-party analytics: `AnalyticsTracker` counts, the rest reports.

Nothing is recorded unless the visitor granted the analytics category (or,
with ``count_without_consent``, anonymous page views only). Views are rolled
up per day, section and page; no per-visitor row is ever stored.
"""

from __future__ import annotations

from consentkit.analytics.tracker import AnalyticsTracker

__all__ = ["AnalyticsTracker"]
