"""consentkit: cookie consent and privacy compliance for ASGI sites.

One middleware keeps a site honest about cookies: a banner and preferences
that work with and without JavaScript, server-side enforcement of the
visitor's choice, consent-gated first-party analytics, a privacy overview
page and a tamper-evident consent log.
"""

from consentkit.config import AnalyticsConfig, Category, ConsentConfig, Cookie, Script
from consentkit.consent import Consent, get_consent
from consentkit.middleware import ConsentMiddleware
from consentkit.regions import (
    CloudflareHeaders,
    CloudFrontHeaders,
    GeoIPDatabase,
    GoogleCloudHeaders,
    HeaderRegion,
    Jurisdiction,
    Region,
    RegionSource,
    VercelHeaders,
)
from consentkit.tags import google_tag, google_tag_manager

__all__ = [
    "AnalyticsConfig",
    "Category",
    "CloudFrontHeaders",
    "CloudflareHeaders",
    "Consent",
    "ConsentConfig",
    "ConsentMiddleware",
    "Cookie",
    "GeoIPDatabase",
    "GoogleCloudHeaders",
    "HeaderRegion",
    "Jurisdiction",
    "Region",
    "RegionSource",
    "Script",
    "VercelHeaders",
    "get_consent",
    "google_tag",
    "google_tag_manager",
]

__version__ = "0.1.0"
