"""Addresses are reduced before they are stored, and proxies are believed only when trusted."""

from __future__ import annotations

import pytest

from consentkit.ip import ClientAddress, reduce_ip


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("::ffff:198.51.100.7", "198.51.100.0/24"),
        ("not-an-ip", None),
        ("", None),
        (None, None),
    ],
)
def test_truncate(ip: str | None, expected: str | None) -> None:
    assert reduce_ip(ip, "truncate", b"k") == expected


def test_hash_is_keyed_and_stable() -> None:
    one = reduce_ip("203.0.113.77", "hash", b"key-one")
    assert one == reduce_ip("203.0.113.77", "hash", b"key-one")
    assert one != reduce_ip("203.0.113.77", "hash", b"key-two")
    assert one is not None and "203" not in one


def test_none_keeps_nothing() -> None:
    assert reduce_ip("203.0.113.77", "none", b"k") is None


def test_forwarded_headers_need_a_trusted_peer() -> None:
    nobody = ClientAddress([])
    assert nobody.resolve("10.0.0.1", "1.2.3.4", "https", "http") == ("10.0.0.1", "http")
    proxies = ClientAddress(["10.0.0.0/8"])
    assert proxies.resolve("10.0.0.1", "1.2.3.4, 10.0.0.9", "https", "http") == ("1.2.3.4", "https")
    assert proxies.resolve("192.0.2.1", "1.2.3.4", "https", "http") == ("192.0.2.1", "http")
    assert proxies.resolve("10.0.0.1", None, "gopher", "http") == ("10.0.0.1", "http")
