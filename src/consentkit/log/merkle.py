"""Merkle trees over the consent log, hashed as in RFC 6962 / RFC 9162.

A leaf's hash is ``SHA-256(0x00 || data)``, an inner node's
``SHA-256(0x01 || left || right)``; the tree over ``n`` leaves splits at the
largest power of two below ``n``. Each chain is such a tree over its records
(leaf ``i`` is record ``seq = i + 1``), and a checkpoint's tree has one leaf
per chain head.

`Frontier` keeps the roots of the complete subtrees on the tree's right edge
(at most log2(n) hashes): enough to append leaves and compute the root, in
constant memory per chain.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "Frontier",
    "inclusion_path",
    "leaf_hash",
    "node_hash",
    "root_from_path",
    "tree_hash",
]

_sha256 = hashlib.sha256

#: The root of a tree with no leaves: SHA-256 of nothing.
EMPTY_ROOT = _sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """The hash of a leaf whose content is ``data``."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def tree_hash(leaves: Sequence[bytes]) -> bytes:
    """The root over ``leaves`` (leaf hashes), computed directly."""
    if not leaves:
        return EMPTY_ROOT
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


class Frontier:
    """The right edge of a growing tree: (level, hash) of each complete subtree, left to right."""

    __slots__ = ("nodes", "size")

    def __init__(self, size: int = 0, nodes: Sequence[tuple[int, bytes]] = ()) -> None:
        self.size = size
        self.nodes: list[tuple[int, bytes]] = list(nodes)

    def copy(self) -> Frontier:
        """An independent copy."""
        return Frontier(self.size, self.nodes)

    def append(self, leaf: bytes, completed: list[tuple[int, int, bytes]] | None = None) -> None:
        """Add a leaf hash; each subtree it completes goes to ``completed`` (level, index, hash)."""
        nodes = self.nodes
        level, value = 0, leaf
        self.size += 1
        while nodes and nodes[-1][0] == level:
            value = node_hash(nodes.pop()[1], value)
            level += 1
            if completed is not None:
                completed.append((level, (self.size >> level) - 1, value))
        nodes.append((level, value))

    def root(self) -> bytes:
        """The tree's root hash."""
        if not self.nodes:
            return EMPTY_ROOT
        value = self.nodes[-1][1]
        for _, left in reversed(self.nodes[:-1]):
            value = node_hash(left, value)
        return value

    def as_list(self) -> list[list[object]]:
        """JSON-ready: ``[[level, hex hash], ...]``."""
        return [[level, value.hex()] for level, value in self.nodes]

    @classmethod
    def from_list(cls, size: int, data: object) -> Frontier:
        """The frontier `as_list` gave, for a tree of ``size`` leaves; ValueError if wrong."""
        if not isinstance(data, list):
            raise ValueError("a frontier is a list")
        nodes: list[tuple[int, bytes]] = []
        for item in data:
            if (
                not isinstance(item, list)
                or len(item) != 2
                or not isinstance(item[0], int)
                or not isinstance(item[1], str)
            ):
                raise ValueError("a frontier entry is [level, hash]")
            nodes.append((item[0], bytes.fromhex(item[1])))
        if sum(1 << level for level, _ in nodes) != size or any(
            a[0] <= b[0] for a, b in itertools.pairwise(nodes)
        ):
            raise ValueError(f"the frontier does not describe a tree of {size} leaves")
        return cls(size, nodes)


def inclusion_path(index: int, size: int, subtree: Callable[[int, int], bytes]) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``size`` leaves (RFC 9162 2.1.3.1).

    ``subtree(a, b)`` gives the hash of the subtree over leaves ``a`` to ``b - 1``.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
    path.reverse()
    return path


def root_from_path(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """The root ``path`` proves for ``leaf`` at ``index`` (RFC 9162 2.1.3.2); None if malformed."""
    if not 0 <= index < size:
        return None
    fn, sn, value = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            value = node_hash(sibling, value)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            value = node_hash(value, sibling)
        fn >>= 1
        sn >>= 1
    return value if sn == 0 else None


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (exposed for subtree builders)."""
    return _split(n)
