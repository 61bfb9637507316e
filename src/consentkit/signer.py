"""itsdangerous signers that derive each key once.

The consent cookie and the analytics visitor cookie are signed on the
per-request path; stock itsdangerous re-derives the key (a hash) on every
call. The output is byte for byte the same.

The MAC comes from ``hmac`` objects, which keep the GIL for a short value:
``hmac.digest`` releases it, and the event loop then waits until the consent
log's writer thread hands it back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from itsdangerous import Signer, TimestampSigner
from itsdangerous.encoding import int_to_bytes, want_bytes
from itsdangerous.signer import SigningAlgorithm

__all__ = ["CachedKeySigner", "CachedKeyTimestampSigner"]


class _SHA256(SigningAlgorithm):
    """HMAC-SHA256, as itsdangerous's ``HMACAlgorithm(hashlib.sha256)``."""

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.new(key, value, hashlib.sha256).digest()


class _CachedKey:
    _derived: dict[str | bytes | None, bytes]

    def _cached_derive(
        self, derive: Callable[[str | bytes | None], bytes], secret_key: str | bytes | None
    ) -> bytes:
        key = self._derived.get(secret_key)
        if key is None:
            key = self._derived[secret_key] = derive(secret_key)
        return key


class CachedKeySigner(_CachedKey, Signer):
    """A SHA-256 `Signer` that derives each key once."""

    def __init__(self, secret_key: Any, **kwargs: Any) -> None:
        super().__init__(secret_key, digest_method=hashlib.sha256, algorithm=_SHA256(), **kwargs)
        self._derived = {}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        return self._cached_derive(super().derive_key, secret_key)


class CachedKeyTimestampSigner(_CachedKey, TimestampSigner):
    """A SHA-256 `TimestampSigner` that derives each key once, with a settable clock.

    `sign` (on every decision) is ``TimestampSigner.sign`` in one step, with an
    HMAC keyed once and copied.
    """

    def __init__(self, secret_key: Any, *, clock: Callable[[], float], **kwargs: Any) -> None:
        super().__init__(secret_key, digest_method=hashlib.sha256, algorithm=_SHA256(), **kwargs)
        self._derived = {}
        self._clock = clock
        self._keyed = hmac.new(self.derive_key(), digestmod=hashlib.sha256)
        self._sep = want_bytes(self.sep)

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        return self._cached_derive(super().derive_key, secret_key)

    def get_timestamp(self) -> int:
        return int(self._clock())

    def sign(self, value: str | bytes) -> bytes:
        """``value``, its timestamp and their signature, as ``TimestampSigner.sign`` writes them."""
        sep = self._sep
        value = want_bytes(value) + sep + _b64(int_to_bytes(self.get_timestamp()))
        mac = self._keyed.copy()
        mac.update(value)
        return value + sep + _b64(mac.digest())


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")
