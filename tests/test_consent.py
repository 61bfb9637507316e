"""The consent cookie: signed, timestamped, rotated; anything wrong means undecided."""

from __future__ import annotations

import base64
import hashlib
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import TimestampSigner

from consentkit.consent import MAX_TOKEN_LENGTH, Consent, ConsentCodec, get_consent
from tests.conftest import KEY, OLD_KEY

REQUIRED = frozenset({"necessary"})
KNOWN = frozenset({"necessary", "analytics", "marketing"})
DAY = 86400


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def codec(
    keys: list[str] | None = None, policy: str = "1", clock: Clock | None = None
) -> ConsentCodec:
    return ConsentCodec(
        keys or [KEY], policy, REQUIRED, KNOWN, max_age=182 * DAY, clock=clock or Clock()
    )


def test_round_trip() -> None:
    c = codec()
    token = c.encode({"analytics"}, "cid-1", 1_800_000_000)
    consent = c.decode(token)
    assert consent.decided and consent.consent_id == "cid-1"
    assert consent.granted == {"necessary", "analytics"}
    assert consent.allows("analytics") and not consent.allows("marketing")
    assert consent.policy_version == "1"
    assert consent.decided_at is not None and consent.decided_at.timestamp() == 1_800_000_000


def test_required_categories_always_granted_and_unknown_dropped() -> None:
    c = codec()
    consent = c.decode(c.encode({"gone", "marketing"}, "cid", 0))
    assert consent.granted == {"necessary", "marketing"}


def test_missing_cookie_is_undecided() -> None:
    for value in (None, ""):
        consent = codec().decode(value)
        assert not consent.decided and consent.granted == REQUIRED and consent.consent_id is None


def test_tampered_token_is_undecided() -> None:
    c = codec()
    token = c.encode({"analytics", "marketing"}, "cid", 0)
    rest = token.split(".", 1)[1]
    forged = base64.urlsafe_b64encode(b'["1",["analytics","marketing"],"evil",0]').rstrip(b"=")
    assert not c.decode(forged.decode() + "." + rest).decided
    # Not the last character: its low bits are base64 padding, which decoding ignores.
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert not c.decode(flipped).decided


def test_wrong_key_is_undecided() -> None:
    token = codec(["w" * 32]).encode({"analytics"}, "cid", 0)
    assert not codec().decode(token).decided


def test_truncated_and_oversized_tokens_are_undecided() -> None:
    c = codec()
    token = c.encode({"analytics"}, "cid", 0)
    for cut in (1, 10, len(token) // 2, len(token) - 1):
        assert not c.decode(token[:cut]).decided
    assert not c.decode("a" * (MAX_TOKEN_LENGTH + 1)).decided


def test_expired_token_is_undecided_even_when_cached() -> None:
    clock = Clock()
    c = codec(clock=clock)
    token = c.encode({"analytics"}, "cid", clock.now)
    assert c.decode(token).decided  # now cached
    clock.now += 181 * DAY
    assert c.decode(token).decided
    clock.now += 2 * DAY
    assert not c.decode(token).decided
    assert not codec(clock=clock).decode(token).decided  # and uncached


def test_key_rotation_old_key_verifies_new_key_signs() -> None:
    old = codec([OLD_KEY]).encode({"analytics"}, "cid", 0)
    rotated = codec([KEY, OLD_KEY])
    assert rotated.decode(old).granted == {"necessary", "analytics"}
    fresh = rotated.encode({"analytics"}, "cid", 0)
    assert codec([KEY]).decode(fresh).decided
    assert not codec([OLD_KEY]).decode(fresh).decided


def test_old_policy_is_undecided_but_keeps_consent_id() -> None:
    token = codec(policy="2025-01").encode({"analytics"}, "cid-old", 0)
    consent = codec(policy="2026-01").decode(token)
    assert not consent.decided
    assert consent.granted == REQUIRED
    assert consent.consent_id == "cid-old"


def test_validly_signed_garbage_is_undecided() -> None:
    signer = TimestampSigner(KEY, salt="consentkit.consent", digest_method=hashlib.sha256)
    for payload in (
        b"not json",
        b"{}",
        b'["1","notalist","cid",0]',
        b'["1",[1],"cid",0]',
        b'["1",[],"cid","later"]',
        b'["1",[],"' + b"x" * 100 + b'",0]',
        b"[]",
    ):
        encoded = base64.urlsafe_b64encode(payload).rstrip(b"=")
        assert not codec().decode(signer.sign(encoded).decode()).decided


def test_cache_is_bounded() -> None:
    c = ConsentCodec([KEY], "1", REQUIRED, KNOWN, max_age=DAY, cache_size=3, clock=Clock())
    tokens = [c.encode(set(), f"cid{i}", 0) for i in range(10)]
    for token in tokens:
        assert c.decode(token).decided
    assert len(c._cache) == 3


def test_as_dict_lists_granted_and_denied() -> None:
    consent = Consent(decided=True, granted=frozenset({"necessary"}), consent_id="c")
    data = consent.as_dict(KNOWN)
    assert data["granted"] == ["necessary"] and data["denied"] == ["analytics", "marketing"]
    assert json.dumps(data)


def test_get_consent_needs_the_middleware() -> None:
    try:
        get_consent({"type": "http"})
    except LookupError as exc:
        assert "ConsentMiddleware" in str(exc)
    else:
        raise AssertionError("expected LookupError")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=2000) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_decode_never_raises(value: str) -> None:
    assert not codec().decode(value).decided


def test_regime_region_and_source_round_trip() -> None:
    c = codec()
    token = c.encode({"marketing"}, "cid", 1_800_000_000, "us_opt_out", "US-CA", "geoip")
    consent = c.decode(token)
    assert consent.decided and consent.granted == {"marketing", "necessary"}
    assert (consent.regime, consent.region, consent.region_source) == (
        "us_opt_out",
        "US-CA",
        "geoip",
    )
    assert consent.as_dict(KNOWN)["regime"] == "us_opt_out"
    assert consent.as_dict(KNOWN)["region"] == "US-CA"


def test_a_version_0_1_cookie_decodes_as_opt_in() -> None:
    # Made by consentkit 0.1's codec (four fields) with KEY at 1_800_000_000.
    token = (
        "WyIxIixbImFuYWx5dGljcyJdLCJ2MDEtY29uc2VudC1pZC1BQUFBQUEiLDE3OTk5OTkwMDBd"
        ".a0nSAA.Qj7zArHXMEfZE_XV4igyrBT7_nS9DzeOGLevk3fYWd4"
    )
    consent = codec(clock=Clock(1_800_000_060)).decode(token)
    assert consent.decided and consent.granted == {"analytics", "necessary"}
    assert consent.consent_id == "v01-consent-id-AAAAAA"
    assert (consent.regime, consent.region, consent.region_source) == ("opt_in", None, None)


class _SignerAt(TimestampSigner):
    def get_timestamp(self) -> int:
        return 1_800_000_000


def _signed(payload: list[object]) -> str:
    raw = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=")
    signer = _SignerAt(KEY, salt="consentkit.consent", digest_method=hashlib.sha256)
    return signer.sign(raw).decode()


def test_malformed_regime_fields_are_undecided() -> None:
    # Validly signed, but not what consentkit writes: each one means "not decided".
    c = codec(clock=Clock(1_800_000_000))
    base: list[object] = ["1", ["analytics"], "cid", 1_800_000_000]
    assert c.decode(_signed([*base, "opt_in", None, None])).decided  # the control
    for extra in (
        ["strict", None, None],  # an unknown regime
        [None, None, None],  # no regime with the fields that follow it
        ["opt_in", 5, None],  # a region that is not a string
        ["opt_in", "X" * 17, None],  # a region too long to be a code
        ["opt_in", None, ["geoip"]],  # a source that is not a string
        ["opt_in", None, "s" * 65],  # a source too long
        ["opt_in", None],  # six fields
        ["opt_in", None, None, "more"],  # eight fields
    ):
        assert not c.decode(_signed([*base, *extra])).decided, extra
