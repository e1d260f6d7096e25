"""The audit log's Merkle tree as the database stores it: full tiles filled on append, proofs read from them.

The tree's rules (RFC 9162, tiles) are disclosure_proofs'; this module only reads and writes the audit_tile and
audit_event rows. Invariants: a tile is written by record(), in the transaction of the append that fills it, so
the stored tiles always match the log; a proof is built from O(log n) stored rows, never from every leaf, and is
checked before it is handed out against a root that does not come from the tiles (a checkpoint's, or the head's),
so that a forged tile refuses proofs rather than hands out wrong ones. `flask audit verify` names the tile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from disclosure.database import execute_on_driver
from disclosure_proofs.merkle import (
    FrontierError,
    ProofError,
    decode_frontier,
    fold_perfect,
    frontier_root,
    verify_consistency,
    verify_inclusion,
)
from disclosure_proofs.tiles import TILE_WIDTH, TileTree, tiles_completed_at

__all__ = ["StoredTiles", "TreeProofs", "fill_tiles", "stored_tree"]

_LEAVES = "SELECT leaf_hash FROM audit_event WHERE seq > ? AND seq <= ? ORDER BY seq"
_TILE = 'SELECT hashes FROM audit_tile WHERE level = ? AND "index" = ?'
_ROOTS = 'SELECT "index", root FROM audit_tile WHERE level = ? AND "index" >= ? AND "index" < ? ORDER BY "index"'
_INSERT = 'INSERT INTO audit_tile (level, "index", hashes, root) VALUES (?, ?, ?, ?)'
_CHECKPOINT_ROOT = "SELECT root FROM audit_checkpoint WHERE size = ? ORDER BY id DESC LIMIT 1"
_HEAD = "SELECT size, frontier FROM audit_head WHERE id = 1"


class StoredTiles:
    """disclosure_proofs.tiles.TileSource over the audit tables, on one connection (and its transaction).

    Reads run as DBAPI SQL on the connection's driver connection: a proof is a handful of tiny reads, and
    SQLAlchemy's per-statement machinery would cost more than the reads themselves.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._postgres = connection.dialect.name == "postgresql"

    def _rows(self, sql: str, parameters: tuple[Any, ...]) -> list[Any]:
        if self._postgres:
            sql = sql.replace("?", "%s")
        return list(_execute(self.connection, sql, parameters).fetchall())

    def full_tile(self, level: int, index: int) -> bytes | None:
        rows = self._rows(_TILE, (level, index))
        return bytes(rows[0][0]) if rows else None

    def tile_roots(self, level: int, start: int, stop: int) -> Mapping[int, bytes]:
        return {int(index): bytes(root) for index, root in self._rows(_ROOTS, (level, start, stop))}

    def leaf_hashes(self, start: int, stop: int) -> Sequence[bytes]:
        # Leaf i is the event of seq i + 1.
        return [bytes(row[0]) for row in self._rows(_LEAVES, (start, stop))]

    def root_kept_apart(self, size: int) -> bytes | None:
        """The root of the tree of `size` as kept apart from the tiles: a stored checkpoint's of that size, or
        the head's if the log is that size now; None if neither is."""
        rows = self._rows(_CHECKPOINT_ROOT, (size,))
        if rows:
            return bytes(rows[0][0])
        rows = self._rows(_HEAD, ())
        if not rows or rows[0][0] != size:
            return None
        try:
            return frontier_root(decode_frontier(bytes(rows[0][1]), size), size)
        except FrontierError:
            return None

    def insert(self, level: int, index: int, hashes: bytes, root: bytes) -> None:
        sql = _INSERT.replace("?", "%s") if self._postgres else _INSERT
        _execute(self.connection, sql, (level, index, hashes, root))


# DBAPI SQL on the connection's own driver connection; errors (a lost connection included) reach SQLAlchemy as from
# Core.
_execute = execute_on_driver


def fill_tiles(connection: Connection, size: int, leaf: bytes) -> None:
    """Store the tiles that the leaf making the log `size` big fills (none unless size is a multiple of 256).

    Called by record() after its insert, under the append lock. Level 0 takes the 255 leaf hashes before this
    one; each level above takes the roots of the 255 tiles before the one just stored: one select and one
    insert per level, once every 256 appends.
    """
    root = leaf
    tiles = StoredTiles(connection)
    for level, index in tiles_completed_at(size):
        first = index * TILE_WIDTH
        if level == 0:
            before = list(tiles.leaf_hashes(first, first + TILE_WIDTH - 1))
        else:
            roots = tiles.tile_roots(level - 1, first, first + TILE_WIDTH - 1)
            before = [roots[number] for number in range(first, first + TILE_WIDTH - 1)]
        nodes = [*before, root]
        if len(nodes) != TILE_WIDTH:
            raise RuntimeError(f"audit tile at level {level}, index {index}: the rows below it are incomplete")
        root = fold_perfect(nodes)
        tiles.insert(level, index, b"".join(nodes), root)


class TreeProofs:
    """Inclusion and consistency proofs for the tree of the log's first `size` events, from stored tiles, each
    checked against `root` before it is returned: the root given (a checkpoint's signed root), else the one kept
    apart from the tiles (StoredTiles.root_kept_apart); only for a size that neither knows, the tiles' own."""

    def __init__(self, connection: Connection, size: int, root: bytes | None = None) -> None:
        tiles = StoredTiles(connection)
        self.tree = TileTree(tiles, size)
        self.size = size
        if root is None:
            root = tiles.root_kept_apart(size)
        self.root = root if root is not None else self.tree.root()

    def inclusion_proof(self, seq: int, leaf: bytes) -> list[bytes]:
        """The proof that the event of `seq` (with leaf hash `leaf`) is in the tree; checked before it is returned."""
        proof = self.tree.inclusion_proof(seq - 1)
        if not verify_inclusion(leaf, seq - 1, self.size, proof, self.root):
            raise ProofError(f"the stored tree gives no valid proof for seq {seq}: run `flask audit verify`")
        return proof

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """PROOF(old_size, D[size]) for 0 < old_size <= size; checked before it is returned. The old root comes
        from the tiles: a proof that leads to the (trusted) new root proves it too."""
        proof = self.tree.consistency_proof(old_size)
        old_root = TileTree(self.tree.source, old_size).root()
        if not verify_consistency(old_size, self.size, old_root, self.root, proof):
            raise ProofError(f"the stored tree gives no valid proof from size {old_size}: run `flask audit verify`")
        return proof


def stored_tree(connection: Connection, size: int, root: bytes | None = None) -> TreeProofs:
    """Proofs to the tree of size `size` (a checkpoint's, with its signed root when given)."""
    return TreeProofs(connection, size, root)
