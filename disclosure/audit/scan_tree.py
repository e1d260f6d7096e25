"""The Merkle tree that a verification scan rebuilds as it goes: the root, and the stored tiles' roots and digests.

Standard library only, like disclosure.audit.scan beside it, so that a worker process checking a part of the log
can build its part of the tree (PartTree) and hand it back to be joined (combine, join_digests). Aligned runs are
hashed level by level in comprehensions, which keeps verification near the pace of hashlib itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from disclosure_proofs.merkle import frontier_root
from disclosure_proofs.tiles import TILE_HEIGHT, TILE_WIDTH


class Tree:
    """RFC 6962 root of leaves appended in order; the stack is the frontier, as in disclosure_proofs.merkle.RootBuilder.

    Aligned runs are hashed level by level in list comprehensions: that is what keeps verification near the
    pace of hashlib itself. Given `tile_roots`, every node of height TILE_HEIGHT (the root of a level-0 tile) is
    appended to it as it is made, which is in order of its index: nodes complete as the leaves arrive. A Tree
    that starts at a multiple of TILE_WIDTH (a part's block) thus lists its full tiles' roots, 32 bytes each.
    """

    __slots__ = ("size", "stack", "tile_roots")

    def __init__(self, stack: Sequence[bytes] = (), size: int = 0, tile_roots: bytearray | None = None) -> None:
        self.stack: list[bytes] = list(stack)
        self.size = size
        self.tile_roots = tile_roots

    def extend(self, leaves: list[bytes]) -> None:
        sha256 = hashlib.sha256
        at, count = 0, len(leaves)
        while at < count:
            size = self.size
            # The widest perfect subtree starting here: aligned to the tree size, within the leaves left.
            height = min((size & -size).bit_length() - 1 if size else 62, (count - at).bit_length() - 1)
            if height < 4:
                self.push(leaves[at], 0)
                at += 1
                continue
            level = leaves[at : at + (1 << height)]
            rounds = 0
            while len(level) > 1:
                pairs = iter(level)
                level = [sha256(b"\x01" + left + right).digest() for left, right in zip(pairs, pairs, strict=True)]
                rounds += 1
                if rounds == TILE_HEIGHT and self.tile_roots is not None:
                    self.tile_roots += b"".join(level)
            self.push(level[0], height)
            at += 1 << height

    def push(self, node: bytes, height: int) -> None:
        """Append a perfect subtree of 2**height leaves; the size must be a multiple of 2**height."""
        # Binary addition of 2**height to the size: each carry merges two equal perfect subtrees.
        stack, sha256 = self.stack, hashlib.sha256
        carry, made = self.size >> height, height
        while carry & 1:
            node = sha256(b"\x01" + stack.pop() + node).digest()
            carry >>= 1
            made += 1
            if made == TILE_HEIGHT and self.tile_roots is not None:
                self.tile_roots += node
        stack.append(node)
        self.size += 1 << height

    def attach(self, other: Tree) -> None:
        """Append the leaves of a smaller tree, from its frontier, at a size aligned to it."""
        heights = [bit for bit in reversed(range(other.size.bit_length())) if other.size >> bit & 1]
        for node, height in zip(other.stack, heights, strict=True):
            self.push(node, height)

    def root(self) -> bytes:
        return frontier_root(self.stack, self.size)


class TileDigests:
    """SHA-256 of each full level-0 tile's leaf hashes, concatenated as its stored `hashes` must be, for the
    leaves of one part appended in order: one hash of 8 KB per 256 leaves, so verify checks a stored tile's
    hashes by their digest alone, without reading the leaves again.

    A part that does not start on a tile (blocks smaller than a tile: tests) keeps the leaves before its first
    tile boundary (`head`); every part keeps those after its last (`tail`); join_digests() joins them up.
    """

    __slots__ = ("_before", "digests", "head", "tail")

    def __init__(self, start: int) -> None:
        self.head: list[bytes] = []
        self.digests = bytearray()
        self.tail: list[bytes] = []
        #: Leaves still to go to `head` before the first tile boundary.
        self._before = -start % TILE_WIDTH

    @classmethod
    def restored(cls, start: int, head: list[bytes], digests: bytes, tail: list[bytes]) -> TileDigests:
        """The digests of a part as another process reported them (scan_worker)."""
        tiles = cls(start)
        if len(head) > tiles._before or (len(head) < tiles._before and (digests or tail)) or len(tail) >= TILE_WIDTH:
            raise ValueError("a part's leaves around its tiles do not fit its start")
        tiles.head, tiles.digests[:], tiles.tail = head, digests, tail
        tiles._before -= len(head)
        return tiles

    @property
    def reached(self) -> bool:
        """Whether the leaves reach a tile boundary (so `digests` and `tail` follow `head`)."""
        return self._before == 0

    def extend(self, leaves: list[bytes]) -> None:
        at, count, sha256 = 0, len(leaves), hashlib.sha256
        if self._before:
            at = min(self._before, count)
            self.head += leaves[:at]
            self._before -= at
            if self._before:
                return
        if self.tail:
            at += (take := min(TILE_WIDTH - len(self.tail), count - at))
            self.tail += leaves[at - take : at]
            if len(self.tail) < TILE_WIDTH:
                return
            self.digests += sha256(b"".join(self.tail)).digest()
        whole = at + (count - at) // TILE_WIDTH * TILE_WIDTH
        for first in range(at, whole, TILE_WIDTH):
            self.digests += sha256(b"".join(leaves[first : first + TILE_WIDTH])).digest()
        self.tail = leaves[whole:]


class PartTree:
    """The tree over one part of the log: the roots of its whole blocks, then the tree of the block in progress.

    A part starts at a multiple of the block size (a power of two), so each whole block is a perfect subtree of
    the log's tree wherever the part lies: parts checked apart, in other processes, combine into the log's tree
    (combine()). At each checkpoint size inside the part it notes how far it had got, for that size's root.
    With blocks of a tile or more it lists the roots of the full level-0 tiles in it as its trees make them
    (`tile_roots`, 32 bytes each), and with any blocks the digests of their leaf hashes (`tile_digests`).
    """

    def __init__(self, start: int, block: int, marks: Iterable[int]) -> None:
        if block & (block - 1) or start % block:
            raise ValueError("a part starts at a multiple of the block size, a power of two")
        self.start = start
        self.block = block
        self.blocks: list[bytes] = []
        self.tile_roots = bytearray()
        self.tile_digests = TileDigests(start)
        self.current = Tree(tile_roots=self.tile_roots)
        #: size -> (whole blocks by then, the frontier of the block in progress).
        self.at_marks: dict[int, tuple[int, list[bytes]]] = {}
        self._marks = sorted((size for size in marks if size > start), reverse=True)  # next one last

    @property
    def size(self) -> int:
        """The log size this part has reached: its start plus the leaves appended."""
        return self.start + len(self.blocks) * self.block + self.current.size

    def extend(self, leaves: list[bytes]) -> None:
        self.tile_digests.extend(leaves)
        at, count, marks = 0, len(leaves), self._marks
        while at < count:
            take = min(count - at, self.block - self.current.size)
            if marks:
                take = min(take, marks[-1] - self.size)
            self.current.extend(leaves if take == count else leaves[at : at + take])
            at += take
            if self.current.size == self.block:
                self.blocks.append(self.current.stack[0])
                self.current = Tree(tile_roots=self.tile_roots)
            if marks and marks[-1] == self.size:
                self.at_marks[marks.pop()] = (len(self.blocks), list(self.current.stack))


def combine(parts: Iterable[PartTree]) -> tuple[Tree, dict[int, bytes]]:
    """The log's tree from its parts in order, and its root at every checkpoint size the parts noted.

    The tree's `tile_roots` lists the roots of the log's full level-0 tiles, in order: those the parts made
    (blocks of a tile or more), or those made here, where smaller blocks join up.
    """
    tile_roots = bytearray()
    tree, roots_at = Tree(tile_roots=tile_roots), {}
    for part in parts:
        if part.start != tree.size:
            raise ValueError(f"a part starting at {part.start} does not follow the {tree.size} leaves before it")
        tile_roots += part.tile_roots
        height = part.block.bit_length() - 1
        pushed = 0
        for size, (whole, frontier) in sorted(part.at_marks.items()):
            for node in part.blocks[pushed:whole]:
                tree.push(node, height)
            pushed = whole
            roots_at[size] = frontier_root(tree.stack + frontier, size)
        for node in part.blocks[pushed:]:
            tree.push(node, height)
        tree.attach(part.current)
    return tree, roots_at


def join_digests(parts: Iterable[PartTree]) -> bytes:
    """The digests (TileDigests) of the log's full level-0 tiles, in order, from its parts in order."""
    digests, pending = bytearray(), []
    for part in parts:
        tiles = part.tile_digests
        pending += tiles.head
        if not tiles.reached:
            continue
        if pending:
            if len(pending) != TILE_WIDTH:
                raise ValueError(f"the parts' leaves do not join into a tile ({len(pending)} leaves)")
            digests += hashlib.sha256(b"".join(pending)).digest()
        digests += tiles.digests
        pending = list(tiles.tail)
    return bytes(digests)
