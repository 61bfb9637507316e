"""``consentkit scan``: what a real browser sees on a site, before and after consent.

Chromium (driven by Playwright, the ``scan`` extra) loads the site's pages as
a visitor who has not decided, one who rejected all, one who accepted all,
one per optional category and one who withdraws; every cookie (set by a
header or by script), storage key and request to another site is recorded
with the frame and script behind it, classified (the site's declaration, a
list of framework cookies, the Open Cookie Database shipped here), and turned
into the findings `consentkit audit` also reports (`consentkit.findings`).

Modules: `crawl` (which pages), `browser` (launching Chromium, recording),
`runner` (the visitors), `classify`, `hosts` (``Category.hosts`` and
``csp_always_allow`` proposed for the consent-aware CSP), `report` (findings,
table, draft declaration), `html_report`, `evidence` (the ``--out`` bundle), `cli`.
"""

from consentkit.scan.cli import register
from consentkit.scan.report import ScanReport, build_report
from consentkit.scan.runner import ScanError, ScanOptions, ScanResult, run_scan

__all__ = [
    "ScanError",
    "ScanOptions",
    "ScanReport",
    "ScanResult",
    "build_report",
    "register",
    "run_scan",
]
