"""The visitor's address, reduced before it is stored: never kept raw."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable

__all__ = ["ClientAddress", "reduce_ip"]


def reduce_ip(ip: str | None, mode: str, key: bytes) -> str | None:
    """``ip`` as the consent log keeps it.

    ``truncate``: the network (IPv4 /24, IPv6 /48); ``hash``: a keyed hash,
    stable for a key; ``none``: nothing. Anything that is not an address
    gives ``None``.
    """
    if mode == "none" or not ip:
        return None
    ipv4 = _IPV4.fullmatch(ip)
    if ipv4 is not None:  # the common case, without ipaddress's cost
        if mode == "hash":
            return hmac.new(key, bytes(map(int, ipv4.groups())), hashlib.sha256).hexdigest()[:32]
        return f"{ipv4[1]}.{ipv4[2]}.{ipv4[3]}.0/24"
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if mode == "hash":
        return hmac.new(key, address.packed, hashlib.sha256).hexdigest()[:32]
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


# Plain decimal octets only: no sign, no spaces, no leading zeros (as ipaddress).
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")


class ClientAddress:
    """The client's address and scheme; forwarded headers count only from trusted proxies."""

    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self._networks = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    def trusts(self, ip: str) -> bool:
        """Whether ``ip`` is one of the trusted proxies."""
        return self._trusted(ip)

    def _trusted(self, ip: str) -> bool:
        if not self._networks:
            return False
        try:
            address = ipaddress.ip_address(ip.strip())
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def resolve(
        self,
        peer: str | None,
        forwarded_for: str | None,
        forwarded_proto: str | None,
        scheme: str,
    ) -> tuple[str | None, str]:
        """The client's IP and the request's scheme (``http``/``https``)."""
        if peer is None or not self._trusted(peer):
            return peer, scheme
        client = peer
        if forwarded_for:
            # Walk from the nearest hop back, past every trusted proxy.
            for hop in reversed([h.strip() for h in forwarded_for.split(",")[-16:]]):
                client = hop
                if not self._trusted(hop):
                    break
        if forwarded_proto:
            proto = forwarded_proto.split(",")[0].strip().lower()
            if proto in ("http", "https"):
                scheme = proto
        return client, scheme
