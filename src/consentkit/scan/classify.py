"""Classifying cookies, storage keys and requests.

In this order, the first that answers wins:

1. the site's own declaration (exact names, then ``prefix*`` names, longest first);
2. a list of strictly necessary framework cookies (session and CSRF cookies of
   Django, Starlette, Flask, Rails, Laravel, PHP, ASP.NET, Java), first-party only;
3. the Open Cookie Database shipped in the package (Apache-2.0, see
   ``data/SOURCE.md``). Its domains are free text and some of its names are
   generic or very short prefixes, so a wildcard prefix under four characters
   and a generic name (``sessionid``, ``token``...) match only when the
   cookie's domain agrees with the database's;
4. otherwise ``unknown``: never a guess.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from consentkit.findings import UNCLASSIFIED, Classification

__all__ = [
    "FRAMEWORK_COOKIES",
    "Classifier",
    "DeclaredCategory",
    "OcdEntry",
    "load_open_cookie_database",
    "same_site",
    "site_of",
]

#: Session and CSRF cookies of web frameworks: strictly necessary when first-party.
FRAMEWORK_COOKIES: dict[str, str] = {
    "sessionid": "Django session",
    "csrftoken": "Django CSRF",
    "session": "Starlette / Flask session",
    "_session_id": "Rails session",
    "laravel_session": "Laravel session",
    "XSRF-TOKEN": "Laravel / Angular CSRF",
    "PHPSESSID": "PHP session",
    "ASP.NET_SessionId": "ASP.NET session",
    "__RequestVerificationToken": "ASP.NET CSRF",
    ".AspNetCore.Session": "ASP.NET Core session",
    "JSESSIONID": "Java servlet session",
    "csrf_token": "CSRF token",
}
#: Prefix and suffix forms: ``.AspNetCore.Antiforgery.<hash>``, Rails' ``_<app>_session``.
_FRAMEWORK_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\.AspNetCore\.(Antiforgery|Session)\b.*"), "ASP.NET Core session / CSRF"),
    (re.compile(r"_[a-z0-9_]+_session"), "Rails session"),
)
#: Names too common to trust the database for without an agreeing domain.
GENERIC_NAMES = frozenset(
    name.lower()
    for name in (
        "sessionid", "session", "sid", "id", "uid", "token", "csrftoken", "csrf", "lang",
        "language", "locale", "user", "userid", "user_id", "auth", "test", "consent",
        "cookieconsent", "country", "currency", "theme", "state", "visitor", "tz",
    )
)  # fmt: skip
#: Wildcard prefixes shorter than this need an agreeing domain.
MIN_PREFIX = 4
_NECESSARY_OCD = frozenset({"necessary", "security"})
_HOST = re.compile(r"[a-z0-9*][a-z0-9.*-]*\.[a-z]{2,}")
_SECOND_LEVEL = frozenset({"co", "com", "org", "net", "gov", "ac", "edu", "ne", "or", "go"})


def site_of(host: str) -> str:
    """The registrable part of a host, approximately (no public-suffix list).

    An IP address or a single label is its own site; otherwise the last two
    labels, or three under a two-letter country code with a common second
    level (``example.co.uk``).
    """
    host = host.lower().strip(".")
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        pass
    labels = host.split(".")
    if len(labels) <= 2:
        return host
    if len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def same_site(host: str, site: str) -> bool:
    """Whether ``host`` belongs to the same site as ``site``."""
    return site_of(host) == site_of(site)


@dataclass(frozen=True)
class OcdEntry:
    """One row of the Open Cookie Database."""

    name: str
    platform: str
    category: str
    domains: tuple[str, ...]
    description: str
    retention: str
    controller: str
    wildcard: bool


def _domains(text: str) -> tuple[str, ...]:
    found = (m.group(0).lstrip("*.") for m in _HOST.finditer(text.lower()))
    return tuple(dict.fromkeys(d for d in found if d))


@cache
def load_open_cookie_database() -> tuple[OcdEntry, ...]:
    """The shipped Open Cookie Database, parsed once per process (read-only)."""
    path = resources.files("consentkit.scan").joinpath("data/open-cookie-database.csv")
    rows = list(csv.DictReader(io.StringIO(path.read_text("utf-8"), newline="")))
    return tuple(
        OcdEntry(
            name=row["Cookie / Data Key name"].strip(),
            platform=row["Platform"].strip(),
            category=row["Category"].strip().lower(),
            domains=_domains(row["Domain"]),
            description=row["Description"].strip(),
            retention=row["Retention period"].strip(),
            controller=row["Data Controller"].strip(),
            wildcard=row["Wildcard match"].strip() == "1",
        )
        for row in rows
        if row["Cookie / Data Key name"].strip()
    )


@dataclass(frozen=True)
class DeclaredCategory:
    """A category as the scanner needs it: key, whether required, declared names and hosts."""

    key: str
    label: str
    required: bool
    names: tuple[str, ...]
    #: ``Category.hosts``: exact names or ``*.`` wildcards, optionally with ``:port``.
    hosts: tuple[str, ...] = ()


class Classifier:
    """Classifies names and hosts for one site; built once per scan."""

    def __init__(
        self,
        categories: Sequence[DeclaredCategory],
        site_host: str,
        database: Iterable[OcdEntry] | None = None,
    ) -> None:
        self.categories = tuple(categories)
        self.site = site_of(site_host)
        self._exact: dict[str, DeclaredCategory] = {}
        prefixes: list[tuple[str, DeclaredCategory]] = []
        for category in self.categories:
            for name in category.names:
                if name.endswith("*"):
                    prefixes.append((name[:-1], category))
                else:
                    self._exact[name] = category
        self._prefixes = sorted(prefixes, key=lambda p: (-len(p[0]), p[0]))
        self._hosts: list[tuple[str, DeclaredCategory]] = [
            (source, category) for category in self.categories for source in category.hosts
        ]
        self._ocd_exact: dict[str, list[OcdEntry]] = {}
        self._ocd_prefix: list[OcdEntry] = []
        self._ocd_hosts: list[tuple[str, OcdEntry]] = []
        for entry in load_open_cookie_database() if database is None else database:
            if entry.wildcard:
                self._ocd_prefix.append(entry)
            else:
                self._ocd_exact.setdefault(entry.name, []).append(entry)
            for domain in entry.domains:
                self._ocd_hosts.append((domain, entry))
        self._ocd_prefix.sort(key=lambda e: -len(e.name))
        self._ocd_hosts.sort(key=lambda p: -len(p[0]))

    def declared(self, name: str) -> tuple[DeclaredCategory, str] | None:
        """The declared category of ``name`` and the declared name that matched."""
        category = self._exact.get(name)
        if category is not None:
            return category, name
        for prefix, category in self._prefixes:
            if name.startswith(prefix):
                return category, prefix + "*"
        return None

    def classify_name(self, name: str, domain: str | None) -> Classification:
        """A cookie or storage key ``name`` seen on ``domain`` (a host or cookie domain)."""
        host = (domain or self.site).lstrip(".").lower()
        declared = self.declared(name)
        if declared is not None:
            category, matched = declared
            return Classification(
                category.key, "declaration", "high", category.required, detail=matched
            )
        first_party = same_site(host, self.site)
        if first_party:
            framework = FRAMEWORK_COOKIES.get(name)
            if framework is None:
                framework = next((f for p, f in _FRAMEWORK_PATTERNS if p.fullmatch(name)), None)
            if framework is not None:
                return Classification("necessary", "framework", "high", True, detail=framework)
        return self._from_database(name, host)

    def _from_database(self, name: str, host: str) -> Classification:
        generic = name.lower() in GENERIC_NAMES or len(name) < MIN_PREFIX
        for entry in self._ocd_exact.get(name, ()):
            agrees = self._agrees(entry, host)
            if agrees:
                return self._ocd(entry, "high")
        for entry in self._ocd_exact.get(name, ()):
            if generic:
                break
            return self._ocd(entry, "medium" if not entry.domains else "low")
        for entry in self._ocd_prefix:
            if not name.startswith(entry.name):
                continue
            if self._agrees(entry, host):
                return self._ocd(entry, "high")
            if len(entry.name) >= MIN_PREFIX and not entry.domains:
                return self._ocd(entry, "medium")
        return UNCLASSIFIED

    def classify_host(self, host: str) -> Classification:
        """A request to ``host``: by the declared ``hosts``, a database domain it belongs
        to, else unknown."""
        host = host.lower()
        for source, category in self._hosts:
            name = source.split(":")[0]
            if host == name or (name.startswith("*.") and host.endswith(name[1:])):
                return Classification(
                    category.key, "declaration", "high", category.required, detail=source
                )
        for domain, entry in self._ocd_hosts:
            if host == domain or host.endswith("." + domain):
                return Classification(
                    entry.category,
                    "open-cookie-database",
                    "medium",
                    entry.category in _NECESSARY_OCD,
                    detail=f"{entry.platform} ({domain})",
                )
        return UNCLASSIFIED

    @staticmethod
    def _agrees(entry: OcdEntry, host: str) -> bool:
        return any(host == d or host.endswith("." + d) or same_site(host, d) for d in entry.domains)

    @staticmethod
    def _ocd(entry: OcdEntry, confidence: str) -> Classification:
        return Classification(
            entry.category,
            "open-cookie-database",
            confidence,
            entry.category in _NECESSARY_OCD,
            detail=entry.platform + (" (prefix " + entry.name + "*)" if entry.wildcard else ""),
            description=entry.description or None,
        )
