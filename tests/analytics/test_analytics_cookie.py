"""The visitor cookie: signed, HttpOnly, Lax, at most 13 months, never extended."""

from __future__ import annotations

from analytics_helpers import KEY, T0, cookie_attrs, cookie_value

from consentkit.analytics.cookie import SECONDS_PER_DAY, Visitor, VisitorCookieCodec

MAX_AGE = 395 * SECONDS_PER_DAY


def codec(keys: list[str] | None = None) -> VisitorCookieCodec:
    return VisitorCookieCodec(keys or [KEY], name="v", max_age=MAX_AGE)


def test_round_trip_and_attributes() -> None:
    c = codec()
    visitor = c.new(T0)
    header = c.set_cookie(visitor, T0, https=True)
    attrs = cookie_attrs(header)
    assert header.startswith("v=")
    assert attrs["max-age"] == str(MAX_AGE)
    assert attrs["path"] == "/"
    assert attrs["samesite"] == "Lax"
    assert "httponly" in attrs and "secure" in attrs
    assert "expires" in attrs
    assert codec().decode(cookie_value(header), T0 + 10) == visitor


def test_update_keeps_original_expiry() -> None:
    c = codec()
    visitor = c.new(T0)
    first = cookie_attrs(c.set_cookie(visitor, T0, https=False))
    later = T0 + 30 * SECONDS_PER_DAY
    updated = Visitor(visitor.visitor_id, visitor.issued, int(later // SECONDS_PER_DAY))
    second = cookie_attrs(c.set_cookie(updated, later, https=False))
    assert second["expires"] == first["expires"]
    assert int(second["max-age"]) == MAX_AGE - 30 * SECONDS_PER_DAY
    assert "secure" not in second


def test_tampered_wrong_key_and_expired_are_rejected() -> None:
    c = codec()
    value = c.encode(c.new(T0))
    payload, _, signature = value.rpartition(".")
    visitor_id, issued, last = payload.split(".")
    forged = f"{visitor_id}.{int(issued) - 9999999}.{last}.{signature}"
    fresh = codec()
    assert fresh.decode(forged, T0) is None
    assert fresh.decode("garbage", T0) is None
    assert fresh.decode("x" * 5000, T0) is None
    assert fresh.decode("", T0) is None
    assert codec(["z" * 40]).decode(value, T0) is None
    assert fresh.decode(value, T0 + MAX_AGE + 1) is None


def test_rotated_key_still_verifies() -> None:
    old = codec(["o" * 40])
    value = old.encode(old.new(T0))
    assert codec(["n" * 40, "o" * 40]).decode(value, T0) is not None
