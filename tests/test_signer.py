"""The cached-key signers sign exactly as stock itsdangerous does."""

from __future__ import annotations

import hashlib

import pytest
from itsdangerous import BadSignature, Signer, TimestampSigner

from consentkit.signer import CachedKeySigner, CachedKeyTimestampSigner

KEYS = ["old-key-" + "a" * 32, "new-key-" + "b" * 32]


@pytest.mark.parametrize("value", [b"", b"payload", b"x" * 500, "unicode \u00e9".encode()])
def test_signer_matches_itsdangerous(value: bytes) -> None:
    ours = CachedKeySigner(KEYS, salt="s")
    stock = Signer(KEYS, salt="s", digest_method=hashlib.sha256)
    assert ours.sign(value) == stock.sign(value)
    assert ours.unsign(stock.sign(value)) == value
    # A value signed with the older key still verifies, and the derived keys are reused.
    older = Signer(KEYS[0], salt="s", digest_method=hashlib.sha256).sign(value)
    assert ours.unsign(older) == value
    assert ours.unsign(older) == value


@pytest.mark.parametrize("now", [0, 1, 1_700_000_000, 2**40])
def test_timestamp_signer_matches_itsdangerous(now: int) -> None:
    ours = CachedKeyTimestampSigner(KEYS, salt="s", clock=lambda: now + 0.9)
    stock = TimestampSigner(KEYS, salt="s", digest_method=hashlib.sha256)
    stock.get_timestamp = lambda: now  # type: ignore[method-assign]
    assert ours.sign(b"v") == stock.sign(b"v")
    assert stock.unsign(ours.sign(b"v")) == b"v"


def test_tampered_value_is_refused() -> None:
    ours = CachedKeySigner(KEYS, salt="s")
    signed = ours.sign(b"payload")
    with pytest.raises(BadSignature):
        ours.unsign(signed.replace(b"payload", b"paYload"))
    with pytest.raises(BadSignature):
        CachedKeySigner(KEYS, salt="other").unsign(signed)
