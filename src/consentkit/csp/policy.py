"""The consent policy: one Content-Security-Policy per set of granted categories.

Each governed directive allows the page's own origin, ``csp_always_allow``, the
hosts of the required categories and the hosts of the categories the visitor
granted. It names hosts only: inline code, ``eval``, ``data:`` and ``blob:``
stay allowed, so it never takes away what the site's own policy allows. It is
sent as a header of its own, beside any policy the site sends; a browser
enforces every policy it gets, so the result is their intersection.

The headers are built once per distinct consent state and kept; a request
costs a dictionary lookup and a list append.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from consentkit.consent import Consent

if TYPE_CHECKING:
    from consentkit.config import Category, ConsentConfig

__all__ = [
    "MAX_HEADER_BYTES",
    "NOTHING_GRANTED",
    "REPORT_GROUP",
    "UNDECIDED",
    "ConsentPolicy",
    "longest_policy",
    "policy_text",
    "state_label",
]

#: The largest consent policy accepted at start-up (proxies often cap a header at 8 KiB).
MAX_HEADER_BYTES = 8192
#: The Reporting API endpoint name used by ``report-to``.
REPORT_GROUP = "consentkit-csp"
#: Report state of a visitor who has not decided.
UNDECIDED = "undecided"
#: Report state of a visitor who granted no optional category.
NOTHING_GRANTED = "none"
#: How many decided states keep their headers (there are at most 2**optional categories).
_CACHED_STATES = 1024

_NON_HOST = "'self' data: blob:"
_KEYWORDS = {
    "script-src": "'self' 'unsafe-inline' 'unsafe-eval' data: blob:",
    "style-src": "'self' 'unsafe-inline' data: blob:",
}


def state_label(decided: bool, granted: Iterable[str], optional: Iterable[str]) -> str:
    """How reports name a consent state: ``undecided``, ``none`` or ``analytics.marketing``."""
    if not decided:
        return UNDECIDED
    keys = sorted(set(granted).intersection(optional))
    return ".".join(keys) if keys else NOTHING_GRANTED


def policy_text(
    directives: Sequence[str], hosts: Sequence[str], report_url: str | None, report_to: bool = True
) -> str:
    """The policy's text: each directive with the allowed hosts, then where to report."""
    allowed = " ".join(hosts)
    parts = [
        f"{name} {_KEYWORDS.get(name, _NON_HOST)}{' ' + allowed if allowed else ''}"
        for name in directives
    ]
    if report_url is not None:
        parts.append(f"report-uri {report_url}")
        if report_to:
            parts.append(f"report-to {REPORT_GROUP}")
    return "; ".join(parts)


def _base_hosts(config: ConsentConfig, categories: Sequence[Category]) -> list[str]:
    hosts = list(config.csp_always_allow)
    for category in categories:
        if category.required:
            hosts.extend(h for h in category.hosts if h not in hosts)
    return hosts


def longest_policy(config: ConsentConfig) -> int:
    """Bytes of the policy header with every category granted (checked at start-up)."""
    hosts = _base_hosts(config, config.categories)
    for category in config.categories:
        hosts.extend(h for h in category.hosts if h not in hosts)
    optional = [c.key for c in config.categories if not c.required]
    url = f"{config.prefix}/csp-report?state={'.'.join(sorted(optional)) or NOTHING_GRANTED}"
    return len(policy_text(config.csp_directives, hosts, url if config.csp_reports else None))


Headers = tuple[tuple[bytes, bytes], ...]


class ConsentPolicy:
    """The consent policy's response headers for each consent state.

    ``config.csp`` must be ``"report-only"`` or ``"enforce"``.
    """

    def __init__(self, config: ConsentConfig, categories: Sequence[Category]) -> None:
        if config.csp == "off":
            raise ValueError("ConsentPolicy needs ConsentConfig(csp='report-only' or 'enforce')")
        self.header_name = (
            "content-security-policy"
            if config.csp == "enforce"
            else "content-security-policy-report-only"
        )
        self._directives = tuple(config.csp_directives)
        self._base = _base_hosts(config, categories)
        self._optional = {c.key: tuple(c.hosts) for c in categories if not c.required}
        self._report_path = config.prefix + "/csp-report" if config.csp_reports else None
        self._undecided = self._both(UNDECIDED, frozenset())
        self._decided: dict[frozenset[str], tuple[Headers, Headers]] = {}

    def headers(self, consent: Consent, https: bool = True) -> Headers:
        """The headers to add to an HTML response for this consent (cached per state).

        Over plain http the policy reports with ``report-uri`` only: Chromium
        sends Reporting API reports to https endpoints only, and ignores
        ``report-uri`` when ``report-to`` is present.
        """
        if not consent.decided:
            return self._undecided[https]
        both = self._decided.get(consent.granted)
        if both is None:
            both = self._both(state_label(True, consent.granted, self._optional), consent.granted)
            if len(self._decided) < _CACHED_STATES:
                self._decided[consent.granted] = both
        return both[https]

    def hosts(self, granted: Iterable[str]) -> list[str]:
        """The hosts a page may use with these categories granted."""
        hosts = list(self._base)
        for key in sorted(set(granted)):
            hosts.extend(h for h in self._optional.get(key, ()) if h not in hosts)
        return hosts

    def policy(self, consent: Consent, https: bool = True) -> str:
        """The policy text for this consent."""
        return dict(self.headers(consent, https))[self.header_name.encode()].decode("latin-1")

    def _both(self, label: str, granted: frozenset[str]) -> tuple[Headers, Headers]:
        """The headers over plain http and over https."""
        name = self.header_name.encode()
        hosts = self.hosts(granted)
        if self._report_path is None:
            text = policy_text(self._directives, hosts, None).encode("latin-1")
            return ((name, text),), ((name, text),)
        url = f"{self._report_path}?state={label}"
        plain = policy_text(self._directives, hosts, url, report_to=False)
        secure = policy_text(self._directives, hosts, url)
        endpoint = f'{REPORT_GROUP}="{url}"'.encode("latin-1")
        return (
            ((name, plain.encode("latin-1")),),
            ((name, secure.encode("latin-1")), (b"reporting-endpoints", endpoint)),
        )
