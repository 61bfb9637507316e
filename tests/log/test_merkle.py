"""The Merkle tree hashing against RFC 6962's recursive definition, written out naively."""

from __future__ import annotations

import hashlib

import pytest

from consentkit.log.merkle import (
    EMPTY_ROOT,
    Frontier,
    inclusion_path,
    leaf_hash,
    root_from_path,
    tree_hash,
)


def mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 6962 section 2.1 defines it (leaf inputs, not hashes)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def data(n: int) -> list[bytes]:
    return [f"record {i}".encode() for i in range(n)]


@pytest.mark.parametrize("size", [*range(1, 70), 127, 128, 129, 300])
def test_root_and_every_inclusion_proof(size: int) -> None:
    inputs = data(size)
    hashes = [leaf_hash(d) for d in inputs]
    root = tree_hash(hashes)
    assert root == mth(inputs)
    for index in range(size):
        path = inclusion_path(index, size, lambda a, b: tree_hash(hashes[a:b]))
        assert root_from_path(index, size, hashes[index], path) == root
        if path:
            broken = [bytes(32), *path[1:]]
            assert root_from_path(index, size, hashes[index], broken) != root
            assert root_from_path(index, size, hashes[index], path[:-1]) != root


def test_empty_tree_and_bad_indexes() -> None:
    assert tree_hash([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert root_from_path(5, 5, leaf_hash(b"x"), []) is None
    with pytest.raises(ValueError, match="not in a tree of 3 leaves"):
        inclusion_path(3, 3, lambda a, b: b"")


def test_frontier_survives_a_round_trip_and_reports_completed_subtrees() -> None:
    hashes = [leaf_hash(d) for d in data(100)]
    frontier = Frontier()
    completed: list[tuple[int, int, bytes]] = []
    for digest in hashes[:70]:
        frontier.append(digest, completed)
    assert (6, 0, tree_hash(hashes[:64])) in completed
    copy = Frontier.from_list(70, frontier.as_list())
    for digest in hashes[70:]:
        copy.append(digest)
    assert copy.root() == tree_hash(hashes)
    with pytest.raises(ValueError, match="does not describe a tree of 71 leaves"):
        Frontier.from_list(71, frontier.as_list())
