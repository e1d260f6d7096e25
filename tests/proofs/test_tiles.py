"""Proofs read from tiles are exactly the RFC 9162 proofs computed from every leaf, for every shape of tree."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from disclosure_proofs import merkle
from disclosure_proofs.tiles import TileBuilder, TileTree, full_tiles, tiles_completed_at


def leaves_of(count: int) -> list[bytes]:
    return [hashlib.sha256(b"\x00" + index.to_bytes(4, "big")).digest() for index in range(count)]


class MemoryTiles:
    """A TileSource over leaves in memory, holding the full tiles TileBuilder makes (or fewer, when dropped)."""

    def __init__(self, leaves: list[bytes], drop: frozenset[tuple[int, int]] = frozenset()) -> None:
        self.leaves = leaves
        self.tiles = {(t.level, t.index): t for t in TileBuilder().extend(leaves) if (t.level, t.index) not in drop}
        self.reads = 0

    def full_tile(self, level: int, index: int) -> bytes | None:
        self.reads += 1
        tile = self.tiles.get((level, index))
        return tile.hashes if tile else None

    def tile_roots(self, level: int, start: int, stop: int) -> Mapping[int, bytes]:
        self.reads += 1
        return {i: self.tiles[level, i].root for i in range(start, stop) if (level, i) in self.tiles}

    def leaf_hashes(self, start: int, stop: int) -> Sequence[bytes]:
        self.reads += 1
        return self.leaves[start:stop]


LEAVES = leaves_of(65_536 + 300)
SOURCE = MemoryTiles(LEAVES)


def test_builder_makes_the_tiles_of_the_tree() -> None:
    assert full_tiles(len(LEAVES)) == [257, 1]
    assert set(SOURCE.tiles) == {(0, i) for i in range(257)} | {(1, 0)}
    assert SOURCE.tiles[1, 0].root == merkle.root_from_leaves(LEAVES[:65_536])
    assert SOURCE.tiles[0, 3].hashes == b"".join(LEAVES[768:1024])
    # Fed in uneven pieces, the builder makes the same tiles.
    builder, tiles = TileBuilder(), []
    for start in range(0, len(LEAVES), 997):
        tiles += builder.extend(LEAVES[start : start + 997])
    assert tiles == list(SOURCE.tiles.values())


def test_tiles_completed_at() -> None:
    assert tiles_completed_at(255) == []
    assert tiles_completed_at(256) == [(0, 0)]
    assert tiles_completed_at(512) == [(0, 1)]
    assert tiles_completed_at(65_536) == [(0, 255), (1, 0)]
    assert tiles_completed_at(3 * 65_536) == [(0, 767), (1, 2)]


@pytest.mark.parametrize("size", [1, 2, 3, 255, 256, 257, 511, 512, 513, 4_095, 65_535, 65_536, 65_537, 65_836])
def test_proofs_from_tiles_equal_proofs_from_every_leaf(size: int) -> None:
    tree = TileTree(SOURCE, size)
    leaves = LEAVES[:size]
    root = merkle.root_from_leaves(leaves)
    assert tree.root() == root
    for index in sorted({0, size // 2, size - 1, 256 % size}):
        proof = tree.inclusion_proof(index)
        assert proof == merkle.inclusion_proof(leaves, index), (size, index)
        assert merkle.verify_inclusion(leaves[index], index, size, proof, root)
    for old in sorted({1, 256 if size >= 256 else 1, size - 1 or 1, size}):
        assert tree.consistency_proof(old) == merkle.consistency_proof(leaves, old), (size, old)


def test_every_size_and_index_up_to_600() -> None:
    for size in range(1, 601):
        tree = TileTree(SOURCE, size)
        leaves = LEAVES[:size]
        for index in range(size % 7, size, 37):
            assert tree.inclusion_proof(index) == merkle.inclusion_proof(leaves, index), (size, index)


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_random_sizes_indexes_and_old_sizes(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, len(LEAVES)))
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(1, size))
    tree = TileTree(SOURCE, size)
    root = tree.root()
    proof = tree.inclusion_proof(index)
    assert merkle.verify_inclusion(LEAVES[index], index, size, proof, root)
    old_root = TileTree(SOURCE, old).root()
    assert merkle.verify_consistency(old, size, old_root, root, tree.consistency_proof(old))


def test_a_proof_reads_a_few_rows_not_every_leaf() -> None:
    source = MemoryTiles(LEAVES)
    tree = TileTree(source, len(LEAVES))
    tree.inclusion_proof(12_345)
    assert source.reads < 20


def test_missing_tiles_are_computed_from_the_level_below() -> None:
    source = MemoryTiles(LEAVES, drop={(0, 3), (1, 0)})
    tree = TileTree(source, len(LEAVES))
    assert tree.root() == merkle.root_from_leaves(LEAVES)
    assert tree.inclusion_proof(900) == merkle.inclusion_proof(LEAVES, 900)


def test_nodes_beyond_the_tree_are_refused() -> None:
    with pytest.raises(merkle.ProofError):
        TileTree(SOURCE, 10).inclusion_proof(10)
    with pytest.raises(merkle.ProofError):
        TileTree(SOURCE, 300).node(9, 0)
