"""The first-party visitor cookie: a random id, when it was issued, the last day counted.

The value is ``<id>.<issued>.<last_day>`` signed with itsdangerous (the first
secret key signs, every key verifies, salt ``consentkit.analytics.visitor``).
``issued`` is the Unix time the cookie was first set: the first-visit day is
its UTC date and the cookie expires ``max_age`` seconds after it. An update
(a new last day) keeps that expiry: the cookie is never extended.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import formatdate

from itsdangerous import BadData

from consentkit.signer import CachedKeySigner

__all__ = ["SECONDS_PER_DAY", "Visitor", "VisitorCookieCodec"]

SECONDS_PER_DAY = 86_400
_SALT = "consentkit.analytics.visitor"
#: Longer values are refused unread; a real one is about 80 bytes.
_MAX_VALUE_LENGTH = 256


@dataclass(frozen=True, slots=True)
class Visitor:
    """What a valid visitor cookie says. Days are days since 1970-01-01 (UTC)."""

    visitor_id: str
    issued: int
    last_day: int

    @property
    def first_day(self) -> int:
        """The UTC day of the first visit."""
        return self.issued // SECONDS_PER_DAY


class VisitorCookieCodec:
    """Signs, verifies and formats visitor cookies.

    Verified values are cached (bounded), so a visitor's later views on the
    same day cost a dictionary lookup, not an HMAC.
    """

    def __init__(
        self,
        secret_keys: Iterable[str],
        *,
        name: str,
        max_age: int,
        domain: str | None = None,
        secure: bool | None = None,
        cache_size: int = 10_000,
    ) -> None:
        keys = list(secret_keys)
        # itsdangerous signs with the last key and verifies with all of them.
        self._signer = CachedKeySigner(list(reversed(keys)), salt=_SALT)
        self.name = name
        self.max_age = max_age
        self._domain = domain
        self._secure = secure
        self._cache: dict[str, Visitor] = {}
        self._cache_size = cache_size

    def new(self, now: float) -> Visitor:
        """A new visitor first seen at ``now``, counted today."""
        issued = int(now)
        return Visitor(secrets.token_urlsafe(12), issued, issued // SECONDS_PER_DAY)

    def decode(self, value: str | None, now: float) -> Visitor | None:
        """The visitor a cookie value stands for, or ``None`` (missing, tampered, expired)."""
        if not value:
            return None
        visitor = self._cache.get(value)
        if visitor is None:
            visitor = self._verify(value)
            if visitor is None:
                return None
            self._remember(value, visitor)
        if now >= visitor.issued + self.max_age or now < visitor.issued - SECONDS_PER_DAY:
            return None
        return visitor

    def _verify(self, value: str) -> Visitor | None:
        if len(value) > _MAX_VALUE_LENGTH:
            return None
        try:
            raw = self._signer.unsign(value).decode("ascii")
            visitor_id, issued_s, last_s = raw.split(".")
            issued, last_day = int(issued_s), int(last_s)
        except (BadData, ValueError, UnicodeDecodeError):
            return None
        if not visitor_id or issued < 0 or last_day < issued // SECONDS_PER_DAY:
            return None
        return Visitor(visitor_id, issued, last_day)

    def _remember(self, value: str, visitor: Visitor) -> None:
        if not self._cache_size:
            return
        if len(self._cache) >= self._cache_size:
            del self._cache[next(iter(self._cache))]
        self._cache[value] = visitor

    def encode(self, visitor: Visitor) -> str:
        """The signed cookie value for ``visitor``."""
        raw = f"{visitor.visitor_id}.{visitor.issued}.{visitor.last_day}"
        value = self._signer.sign(raw.encode("ascii")).decode("ascii")
        self._remember(value, visitor)
        return value

    def set_cookie(self, visitor: Visitor, now: float, https: bool) -> str:
        """The full ``Set-Cookie`` header value; it expires when the first one did."""
        expires = visitor.issued + self.max_age
        max_age = max(0, int(expires - now))
        parts = [
            f"{self.name}={self.encode(visitor)}",
            f"Max-Age={max_age}",
            f"Expires={formatdate(expires, usegmt=True)}",
            "Path=/",
        ]
        if self._domain:
            parts.append(f"Domain={self._domain}")
        if self._secure or (self._secure is None and https):
            parts.append("Secure")
        parts += ["HttpOnly", "SameSite=Lax"]
        return "; ".join(parts)
