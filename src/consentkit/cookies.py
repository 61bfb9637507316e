"""Reading request cookies, and deciding which response cookies may leave."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping

from consentkit.config import Category

__all__ = ["CookiePolicy", "expire_cookie", "parse_cookie_header"]

logger = logging.getLogger("consentkit")

MAX_COOKIE_HEADER = 16 * 1024
_MAX_CACHED_NAME = 256
_UNDECLARED = ""
# Only names of RFC 6265 token characters are ever echoed into a Set-Cookie header.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def parse_cookie_header(header: str) -> dict[str, str]:
    """The cookies of a ``Cookie`` header; the first of two with one name wins.

    Malformed pairs are skipped, never raised on; an oversized header is
    read only up to 16 KiB.
    """
    cookies: dict[str, str] = {}
    for chunk in header[:MAX_COOKIE_HEADER].split(";"):
        name, sep, value = chunk.partition("=")
        if sep:
            name = name.strip()
            if name and name not in cookies:
                value = value.strip()
                if len(value) > 1 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                cookies[name] = value
    return cookies


def expire_cookie(name: str, path: str = "/", domain: str | None = None) -> bytes:
    """A ``Set-Cookie`` value that deletes cookie ``name``."""
    value = f"{name}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path={path}"
    if domain:
        value += f"; Domain={domain}"
    return value.encode("latin-1")


class CookiePolicy:
    """Which category a cookie name belongs to, and whether it may be set.

    Exact names are a dict lookup; ``prefix*`` names are tried longest
    prefix first. Answers are cached per name (the set of names a site uses
    is small; the cache is bounded all the same).
    """

    def __init__(
        self,
        categories: Iterable[Category],
        undeclared: str = "allow",
        cookie_domain: str | None = None,
        cache_size: int = 4096,
    ) -> None:
        categories = tuple(categories)
        self._exact: dict[str, str] = {}
        prefixes: list[tuple[str, str]] = []
        for category in categories:
            for cookie in category.cookies:
                if cookie.name.endswith("*"):
                    prefixes.append((cookie.name[:-1], category.key))
                else:
                    self._exact[cookie.name] = category.key
        self._prefixes = sorted(prefixes, key=lambda p: -len(p[0]))
        self._required = frozenset(c.key for c in categories if c.required)
        self._exact_by_category: dict[str, tuple[str, ...]] = {
            c.key: tuple(k.name for k in c.cookies if not k.name.endswith("*")) for c in categories
        }
        self.undeclared = undeclared
        self.cookie_domain = cookie_domain
        self._cache: dict[str, str] = {}
        self._cache_size = cache_size
        self._warned: set[str] = set()

    def category_of(self, name: str) -> str | None:
        """The key of the category that declares ``name``, or ``None``."""
        hit = self._cache.get(name)
        if hit is None:
            hit = self._exact.get(name)
            if hit is None:
                hit = next((key for p, key in self._prefixes if name.startswith(p)), _UNDECLARED)
            if len(self._cache) < self._cache_size and len(name) <= _MAX_CACHED_NAME:
                self._cache[name] = hit
        return hit or None

    def allows(self, name: str, granted: frozenset[str]) -> bool:
        """Whether a response may set cookie ``name`` for a visitor who granted ``granted``."""
        key = self.category_of(name)
        if key is not None:
            return key in granted
        if self.undeclared == "allow":
            return True
        if self.undeclared == "warn":
            if name not in self._warned and len(self._warned) < 1000:
                self._warned.add(name)
                logger.warning(
                    "undeclared cookie %r set by the app; declare it in a category", name
                )
            return True
        return False

    def stale(self, cookies: Mapping[str, str], granted: frozenset[str]) -> list[str]:
        """Names of request cookies that belong to categories the visitor has not granted."""
        return [
            name
            for name in cookies
            if (key := self.category_of(name)) is not None
            and key not in granted
            and _TOKEN.fullmatch(name)
        ]

    def withdrawal_names(self, cookies: Mapping[str, str]) -> list[str]:
        """Cookies to expire on withdrawal: declared optional ones and matching request cookies."""
        names = {
            name
            for key, declared in self._exact_by_category.items()
            if key not in self._required
            for name in declared
        }
        names.update(self.stale(cookies, self._required))
        return sorted(names)

    def expiries(self, names: Iterable[str], path: str = "/") -> list[bytes]:
        """``Set-Cookie`` values deleting ``names`` (host-only, and on the cookie domain)."""
        headers = []
        for name in names:
            headers.append(expire_cookie(name, path))
            if self.cookie_domain:
                headers.append(expire_cookie(name, path, self.cookie_domain))
        return headers
