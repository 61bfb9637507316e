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


@pytest.mark.parametrize(
    "ip",
    [
        "0.0.0.0",
        "255.255.255.255",
        "1.2.3.4",
        "01.2.3.4",
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "1.2.3.-4",
        "1.2.3.४",
        " 1.2.3.4",
        "1..3.4",
        "::1",
        "fe80::1%eth0",
    ],
)
def test_ipv4_fast_path_agrees_with_ipaddress(ip: str) -> None:
    import hashlib
    import hmac
    import ipaddress

    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        expected_truncated = expected_hash = None
    else:
        prefix = 24 if address.version == 4 else 48
        expected_truncated = str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
        expected_hash = hmac.new(b"k", address.packed, hashlib.sha256).hexdigest()[:32]
    assert reduce_ip(ip, "truncate", b"k") == expected_truncated
    assert reduce_ip(ip, "hash", b"k") == expected_hash
