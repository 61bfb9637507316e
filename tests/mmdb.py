"""A small MaxMind DB writer, from the format's specification, for tests.

https://maxmind.github.io/MaxMind-DB/ : a binary search tree over the
address bits (here IPv6, 32-bit records, IPv4 under ``::/96``), sixteen zero
bytes, a data section, and a metadata map after ``\\xab\\xcd\\xefMaxMind.com``.
Enough of the data types for GeoIP-shaped records: maps, strings, unsigned
integers, arrays.
"""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path
from typing import Any

_METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"


def _control(kind: int, size: int) -> bytes:
    if size < 29:
        head, extra = size, b""
    elif size < 285:
        head, extra = 29, bytes([size - 29])
    elif size < 65821:
        head, extra = 30, struct.pack(">H", size - 285)
    else:
        head, extra = 31, struct.pack(">I", size - 65821)[1:]
    if kind <= 7:
        return bytes([(kind << 5) | head]) + extra
    return bytes([head, kind - 7]) + extra


class U16(int):
    """An int written as uint16 (libmaxminddb checks the metadata's types)."""


class U64(int):
    """An int written as uint64."""


def encode(value: Any) -> bytes:
    """``value`` (dict, str, non-negative int, list) in the MaxMind DB data format."""
    if isinstance(value, dict):
        body = b"".join(encode(str(k)) + encode(v) for k, v in value.items())
        return _control(7, len(value)) + body
    if isinstance(value, str):
        raw = value.encode()
        return _control(2, len(raw)) + raw
    if isinstance(value, bool):
        return _control(14, int(value))
    if isinstance(value, int):
        kind = 5 if isinstance(value, U16) else 9 if isinstance(value, U64) else 6
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return _control(kind, len(raw)) + raw
    if isinstance(value, list):
        return _control(11, len(value)) + b"".join(encode(v) for v in value)
    raise TypeError(f"cannot encode {value!r}")


def _bits(network: str) -> list[int]:
    net = ipaddress.ip_network(network)
    if net.version == 4:
        packed, length = bytes(12) + net.network_address.packed, 96 + net.prefixlen
    else:
        packed, length = net.network_address.packed, net.prefixlen
    number = int.from_bytes(packed, "big")
    return [(number >> (127 - i)) & 1 for i in range(length)]


def write_mmdb(
    path: Path, records: dict[str, dict[str, Any]], database_type: str = "GeoLite2-City"
) -> Path:
    """Write ``records`` (network -> record) as a MaxMind DB at ``path``."""
    data = b""
    offsets: list[int] = []
    for record in records.values():
        offsets.append(len(data))
        data += encode(record)
    # The trie: a node is [left, right]; a leaf is ("data", index) or None.
    root: list[Any] = [None, None]
    for index, network in enumerate(records):
        node = root
        bits = _bits(network)
        for bit in bits[:-1]:
            if not isinstance(node[bit], list):
                node[bit] = [None, None]
            node = node[bit]
        node[bits[-1]] = ("data", index)
    nodes: list[list[Any]] = []
    numbers: dict[int, int] = {}
    queue = [root]
    while queue:
        node = queue.pop(0)
        numbers[id(node)] = len(nodes)
        nodes.append(node)
        queue += [child for child in node if isinstance(child, list)]
    count = len(nodes)

    def record(child: Any) -> int:
        if child is None:
            return count
        if isinstance(child, list):
            return numbers[id(child)]
        return count + 16 + offsets[child[1]]

    tree = b"".join(struct.pack(">II", record(n[0]), record(n[1])) for n in nodes)
    metadata = {
        "node_count": count,
        "record_size": U16(32),
        "ip_version": U16(6),
        "database_type": database_type,
        "languages": ["en"],
        "binary_format_major_version": U16(2),
        "binary_format_minor_version": U16(0),
        "build_epoch": U64(1_700_000_000),
        "description": {"en": "consentkit test database"},
    }
    path.write_bytes(tree + bytes(16) + data + _METADATA_MARKER + encode(metadata))
    return path
