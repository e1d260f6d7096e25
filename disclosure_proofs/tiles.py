"""The tree stored as tiles (in the spirit of C2SP tlog-tiles): proofs from a few stored nodes, not every leaf.

A tile at level L, index N holds the 256 hashes of the tree's nodes of height 8*L numbered 256*N to 256*N+255,
left to right (level 0: leaf hashes); it is stored once it is full, with its root, the node of height 8*(L+1)
numbered N. Nodes in a partial tile at the right edge are computed on demand from the level below (the stored
roots of full tiles, or leaf hashes). Invariants: a perfect subtree, once complete, never changes, so a stored
tile serves every tree size that includes its nodes; building one proof reads O(log n) rows and hashes at most
255 nodes per level, whatever the size of the log.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from .merkle import EMPTY_ROOT, HASH_SIZE, ProofError, consistency_path, fold_perfect, inclusion_path, node_hash

__all__ = [
    "TILE_BYTES",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "Tile",
    "TileBuilder",
    "TileSource",
    "TileTree",
    "full_tiles",
    "split_hashes",
    "tiles_completed_at",
]

TILE_HEIGHT: Final[int] = 8
TILE_WIDTH: Final[int] = 1 << TILE_HEIGHT
TILE_BYTES: Final[int] = TILE_WIDTH * HASH_SIZE
#: Tiles a TileTree keeps once read: the proofs of one bundle share the tiles near the top and the right edge.
_CACHED_TILES: Final[int] = 256


@dataclass(frozen=True)
class Tile:
    """A full tile: its 256 hashes concatenated, and its root (the node one tile height above)."""

    level: int
    index: int
    hashes: bytes
    root: bytes


def split_hashes(blob: bytes) -> list[bytes]:
    """The 32-byte hashes concatenated in blob."""
    if len(blob) % HASH_SIZE:
        raise ProofError(f"{len(blob)} bytes are not a whole number of hashes")
    return [bytes(blob[at : at + HASH_SIZE]) for at in range(0, len(blob), HASH_SIZE)]


def tiles_completed_at(size: int) -> list[tuple[int, int]]:
    """(level, index) of each tile that the leaf making the tree `size` big fills, lowest level first."""
    done: list[tuple[int, int]] = []
    level, width = 0, TILE_WIDTH
    while size > 0 and size % width == 0:
        done.append((level, size // width - 1))
        level, width = level + 1, width * TILE_WIDTH
    return done


def full_tiles(size: int) -> list[int]:
    """How many full tiles each level has in a tree of `size` leaves, lowest level first (levels with any)."""
    counts: list[int] = []
    width = TILE_WIDTH
    while size // width:
        counts.append(size // width)
        width *= TILE_WIDTH
    return counts


class TileSource(Protocol):
    """Where stored tiles and leaf hashes are read from (the audit tables, or memory in tests and benches)."""

    def full_tile(self, level: int, index: int) -> bytes | None:
        """The 256 hashes of the stored full tile, concatenated; None if it is not stored."""

    def tile_roots(self, level: int, start: int, stop: int) -> Mapping[int, bytes]:
        """index -> root of the stored full tiles at level with start <= index < stop."""

    def leaf_hashes(self, start: int, stop: int) -> Sequence[bytes]:
        """Leaf hashes start <= i < stop (zero-based), all of them, in order."""


class TileTree:
    """Subtree hashes and RFC 9162 proofs for a tree of `size` leaves, read from a TileSource.

    `size` may be smaller than the stored log (a checkpoint's): complete nodes never change, so stored tiles
    serve it, and no node beyond `size` is ever asked for.
    """

    def __init__(self, source: TileSource, size: int) -> None:
        if size < 0:
            raise ProofError(f"negative tree size {size}")
        self.source = source
        self.size = size
        self._tiles: OrderedDict[tuple[int, int], list[bytes]] = OrderedDict()

    def _row(self, level: int, index: int) -> list[bytes]:
        """The nodes of height 8*level in tile `index` that the tree of `size` has: a stored tile's 256, or the
        partial tile's, computed from the level below. Read once per tree object (a bounded cache)."""
        key = (level, index)
        row = self._tiles.get(key)
        if row is not None:
            self._tiles.move_to_end(key)
            return row
        first = index * TILE_WIDTH
        have = min(TILE_WIDTH, (self.size >> (TILE_HEIGHT * level)) - first)
        if have <= 0:
            raise ProofError(f"tile at level {level}, index {index} lies beyond the tree of size {self.size}")
        # A tile the tree fills is stored (or should be); for the partial one at the right edge, the level below.
        blob = self.source.full_tile(level, index) if have == TILE_WIDTH else None
        if blob is not None:
            row = split_hashes(blob)
            if len(row) != TILE_WIDTH:
                raise ProofError(f"stored tile at level {level}, index {index} holds {len(row)} hashes, not 256")
        elif level == 0:
            row = list(self.source.leaf_hashes(first, first + have))
            if len(row) != have or any(len(leaf) != HASH_SIZE for leaf in row):
                raise ProofError(f"leaf hashes {first}..{first + have - 1} are not all stored")
        else:
            roots = self.source.tile_roots(level - 1, first, first + have)
            # A lower tile that is not stored (it should be): compute its root from the level below it.
            row = [roots.get(number) or self._tile_root(level - 1, number) for number in range(first, first + have)]
        self._tiles[key] = row
        if len(self._tiles) > _CACHED_TILES:
            self._tiles.popitem(last=False)
        return row

    def _tile_root(self, level: int, index: int) -> bytes:
        row = self._row(level, index)
        if len(row) != TILE_WIDTH:
            raise ProofError(f"tile at level {level}, index {index} is not full in the tree of size {self.size}")
        return fold_perfect(row)

    def _entries(self, level: int, start: int, stop: int) -> list[bytes]:
        """The nodes of height 8*level numbered start..stop-1, all inside one tile."""
        index = start // TILE_WIDTH
        row = self._row(level, index)
        offset = start - index * TILE_WIDTH
        entries = row[offset : offset + stop - start]
        if len(entries) != stop - start:
            raise ProofError(f"nodes {start}..{stop - 1} of height {TILE_HEIGHT * level} are not all in the tree")
        return entries

    def node(self, height: int, index: int) -> bytes:
        """The perfect subtree of 2**height leaves numbered index (its leaves index*2**height onwards)."""
        if height < 0 or index < 0 or (index + 1) << height > self.size:
            raise ProofError(f"node of height {height}, index {index} is not complete in a tree of size {self.size}")
        level, rest = divmod(height, TILE_HEIGHT)
        first = index << rest
        return fold_perfect(self._entries(level, first, first + (1 << rest)))

    def subtree(self, lo: int, hi: int) -> bytes:
        """MTH(D[lo:hi]) for a range RFC 9162's recursion cuts: lo aligned to the largest power of two below it."""
        if not 0 <= lo < hi <= self.size:
            raise ProofError(f"range {lo}..{hi} outside the tree of size {self.size}")
        pieces: list[bytes] = []
        while lo < hi:
            width = hi - lo
            height = width.bit_length() - 1 if width & (width - 1) == 0 else (width - 1).bit_length() - 1
            if lo % (1 << height):
                raise ProofError(f"range {lo}..{hi} is not aligned as RFC 9162 cuts a tree")
            pieces.append(self.node(height, lo >> height))
            lo += 1 << height
        root = pieces.pop()
        for piece in reversed(pieces):
            root = node_hash(piece, root)
        return root

    def root(self) -> bytes:
        """The root of the tree of `size` leaves."""
        if self.size == 0:
            return EMPTY_ROOT
        return self.subtree(0, self.size)

    def inclusion_proof(self, index: int) -> list[bytes]:
        """PATH(index, D[size]), deepest sibling first."""
        return inclusion_path(index, self.size, self.subtree)

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """PROOF(old_size, D[size]) for 0 < old_size <= size."""
        return consistency_path(old_size, self.size, self.subtree)


class TileBuilder:
    """Tiles built from leaf hashes appended in order, for filling a table from scratch or checking one.

    extend() returns the tiles the new leaves fill, lowest level first within each leaf. Memory: one partial
    tile per level.
    """

    def __init__(self) -> None:
        self.size = 0
        self._pending: list[list[bytes]] = [[]]

    def extend(self, leaves: Sequence[bytes]) -> list[Tile]:
        done: list[Tile] = []
        at, count = 0, len(leaves)
        while at < count:
            first = self._pending[0]
            take = min(TILE_WIDTH - len(first), count - at)
            chunk = leaves[at : at + take]
            if any(len(leaf) != HASH_SIZE for leaf in chunk):
                raise ProofError(f"a leaf hash among {self.size}..{self.size + take - 1} is not {HASH_SIZE} bytes")
            first.extend(chunk)
            at += take
            self.size += take
            self._complete(done)
        return done

    def _complete(self, done: list[Tile]) -> None:
        pending, level = self._pending, 0
        while len(pending[level]) == TILE_WIDTH:
            hashes = pending[level]
            root = fold_perfect(hashes)
            index = (self.size >> (TILE_HEIGHT * (level + 1))) - 1
            done.append(Tile(level, index, b"".join(hashes), root))
            pending[level] = []
            if level + 1 == len(pending):
                pending.append([])
            pending[level + 1].append(root)
            level += 1
