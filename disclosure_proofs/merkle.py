"""RFC 6962 / RFC 9162 Merkle tree over 32-byte leaf hashes: roots, frontiers, proofs and their verification.

Interior nodes are SHA-256(0x01 || left || right) and the empty tree's root is SHA-256(b""). Proofs are built
by one walk (inclusion_path, consistency_path) over any source of subtree hashes: leaves in memory here, stored
tiles in disclosure_proofs.tiles. Verifiers follow RFC 9162 sections 2.1.3.2 and 2.1.4.2 step by step and never
raise on bad proof data: they return False. Generators raise ProofError on impossible requests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Final

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "FrontierError",
    "ProofError",
    "RootBuilder",
    "consistency_path",
    "consistency_proof",
    "decode_frontier",
    "encode_frontier",
    "fold_perfect",
    "frontier_append",
    "frontier_root",
    "inclusion_path",
    "inclusion_proof",
    "node_hash",
    "root_from_leaves",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE: Final[int] = 32
EMPTY_ROOT: Final[bytes] = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256  # bound once: node hashing is the hot loop when re-verifying a log


class ProofError(ValueError):
    """A proof or root was requested for an index or size outside the tree."""


class FrontierError(ValueError):
    """A frontier does not have the shape its tree size requires."""


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly less than n (n >= 2), the RFC 6962 split point k."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_leaves(leaves: Sequence[bytes]) -> None:
    for i, leaf in enumerate(leaves):
        if len(leaf) != HASH_SIZE:
            raise ProofError(f"leaf {i} is {len(leaf)} bytes, expected {HASH_SIZE}")


def _mth(leaves: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) for hi > lo, by the RFC 6962 recursive definition."""
    n = hi - lo
    if n == 1:
        return leaves[lo]
    k = _split(n)
    return node_hash(_mth(leaves, lo, lo + k), _mth(leaves, lo + k, hi))


def root_from_leaves(leaves: Sequence[bytes]) -> bytes:
    """Reference Merkle Tree Hash of leaf hashes (RFC 9162 section 2.1.1)."""
    _check_leaves(leaves)
    if not leaves:
        return EMPTY_ROOT
    # Recursion depth is only log2(n); each node is hashed exactly once.
    return _mth(leaves, 0, len(leaves))


# -- Frontier (compact range) ---------------------------------------------------------
# The frontier of a tree of size n lists the roots of its maximal perfect subtrees,
# largest (leftmost) first: one per set bit of n. It is all that is needed to append
# further leaves and to compute the root, so the log persists it instead of every node.


def _check_frontier(frontier: Sequence[bytes], size: int) -> None:
    if size < 0:
        raise FrontierError(f"negative tree size {size}")
    if len(frontier) != size.bit_count():
        raise FrontierError(f"size {size} needs {size.bit_count()} frontier hashes, got {len(frontier)}")
    for h in frontier:
        if len(h) != HASH_SIZE:
            raise FrontierError(f"frontier hash is {len(h)} bytes, expected {HASH_SIZE}")


def frontier_append(frontier: Sequence[bytes], size: int, leaf: bytes) -> list[bytes]:
    """Return the frontier of the tree of size + 1 obtained by appending leaf."""
    _check_frontier(frontier, size)
    if len(leaf) != HASH_SIZE:
        raise FrontierError(f"leaf is {len(leaf)} bytes, expected {HASH_SIZE}")
    new = [*frontier, leaf]
    # Each trailing 1 bit of size is a perfect subtree the same height as the carry:
    # merge them exactly as binary addition carries.
    s = size
    while s & 1:
        right = new.pop()
        new[-1] = node_hash(new[-1], right)
        s >>= 1
    return new


def frontier_root(frontier: Sequence[bytes], size: int) -> bytes:
    """RFC 6962 root of the tree described by frontier."""
    _check_frontier(frontier, size)
    if size == 0:
        return EMPTY_ROOT
    # MTH splits at the largest power of two, which is exactly frontier[0]; the right
    # side recurses on the remaining subtrees, hence a right-to-left fold.
    acc = frontier[-1]
    for h in reversed(frontier[:-1]):
        acc = node_hash(h, acc)
    return acc


def encode_frontier(frontier: Sequence[bytes]) -> bytes:
    """Concatenate the frontier hashes for storage."""
    for h in frontier:
        if len(h) != HASH_SIZE:
            raise FrontierError(f"frontier hash is {len(h)} bytes, expected {HASH_SIZE}")
    return b"".join(frontier)


def decode_frontier(data: bytes, size: int) -> list[bytes]:
    """Split stored frontier bytes, checking they match the tree size."""
    if size < 0:
        raise FrontierError(f"negative tree size {size}")
    if len(data) != HASH_SIZE * size.bit_count():
        raise FrontierError(f"size {size} needs {HASH_SIZE * size.bit_count()} frontier bytes, got {len(data)}")
    return [bytes(data[i : i + HASH_SIZE]) for i in range(0, len(data), HASH_SIZE)]


class RootBuilder:
    """Streaming root computation: append leaf hashes in order, read .root() at any time."""

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        self._stack: list[bytes] = []  # the frontier, largest subtree first
        self._size = 0

    @classmethod
    def from_frontier(cls, frontier: Sequence[bytes], size: int) -> RootBuilder:
        """Resume from a stored frontier."""
        _check_frontier(frontier, size)
        builder = cls()
        builder._stack = list(frontier)
        builder._size = size
        return builder

    @property
    def size(self) -> int:
        """Number of leaves appended so far."""
        return self._size

    @property
    def frontier(self) -> list[bytes]:
        """A copy of the current frontier (see encode_frontier)."""
        return list(self._stack)

    def append(self, leaf: bytes) -> None:
        """Append one 32-byte leaf hash."""
        self.extend((leaf,))

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append leaf hashes in order; the loop is inlined because it runs per leaf."""
        stack = self._stack
        pop, push, sha = stack.pop, stack.append, _sha256
        size = self._size
        try:
            for leaf in leaves:
                if len(leaf) != HASH_SIZE:
                    raise FrontierError(f"leaf {size} is {len(leaf)} bytes, expected {HASH_SIZE}")
                s = size
                while s & 1:
                    leaf = sha(b"\x01" + pop() + leaf).digest()
                    s >>= 1
                push(leaf)
                size += 1
        finally:
            # Leaves before a bad one stay appended, and size must agree with the stack.
            self._size = size

    def root(self) -> bytes:
        """RFC 6962 root of the leaves appended so far."""
        return frontier_root(self._stack, self._size)


# -- Inclusion proofs (RFC 9162 section 2.1.3) ----------------------------------------


#: MTH(D[lo:hi]) for 0 <= lo < hi <= size: how a proof walk asks its source for a subtree's hash.
Subtree = Callable[[int, int], bytes]


def fold_perfect(nodes: Sequence[bytes]) -> bytes:
    """Root of a perfect subtree given its 2**k nodes of one height, left to right (level by level)."""
    count = len(nodes)
    if count == 0 or count & (count - 1):
        raise ProofError(f"{count} nodes do not form a perfect subtree")
    level = list(nodes)
    sha = _sha256
    while len(level) > 1:
        pairs = iter(level)
        level = [sha(b"\x01" + left + right).digest() for left, right in zip(pairs, pairs, strict=True)]
    return level[0]


def inclusion_path(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """PATH(index, D[size]) asking `subtree` for each sibling; every range asked for is aligned as RFC 9162 cuts it."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} outside tree of size {size}")
    # Walk down from the root; the sibling subtrees are disjoint.
    path: list[bytes] = []
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            path.append(subtree(lo, lo + k))
            lo, m = lo + k, m - k
    path.reverse()  # PATH lists the deepest sibling first
    return path


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(index, D[n]): sibling hashes from the leaf up to the root, from leaves held in memory."""
    _check_leaves(leaves)
    return inclusion_path(index, len(leaves), lambda lo, hi: _mth(leaves, lo, hi))


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2: does proof show leaf_hash at index in the tree (size, root)?"""
    if len(leaf_hash) != HASH_SIZE or len(root) != HASH_SIZE:
        return False
    if any(len(p) != HASH_SIZE for p in proof):
        return False
    # 1. leaf_index >= tree_size fails (negative values are simply invalid here).
    if index < 0 or index >= size:
        return False
    # 2-3.
    fn, sn = index, size - 1
    r = leaf_hash
    # 4.
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # 5.
    return sn == 0 and r == root


# -- Consistency proofs (RFC 9162 section 2.1.4) --------------------------------------


def consistency_path(old_size: int, new_size: int, subtree: Subtree) -> list[bytes]:
    """PROOF(old_size, D[new_size]) for 0 < old_size <= new_size, asking `subtree` for each node."""
    if not 0 < old_size <= new_size:
        # RFC 9162 defines PROOF only for 0 < m < n; m == n is trivially the empty proof.
        # m == 0 is refused here: verify_consistency accepts it with an empty proof.
        raise ProofError(f"no consistency proof from size {old_size} to size {new_size}")
    # SUBPROOF(m, D[lo:hi], b), unrolled. The subtrees asked for are disjoint.
    proof: list[bytes] = []
    lo, hi, m, have_root = 0, new_size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(subtree(lo + k, hi))
            hi = lo + k
        else:
            proof.append(subtree(lo, lo + k))
            lo, m, have_root = lo + k, m - k, False
    if not have_root:
        # The old tree's root is not a node of this subtree, so the verifier needs it.
        proof.append(subtree(lo, hi))
    proof.reverse()  # SUBPROOF appends on the way back up, so the deepest node is first
    return proof


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """PROOF(old_size, D[n]) for 0 < old_size <= n, from leaves held in memory; empty when old_size == n."""
    _check_leaves(leaves)
    return consistency_path(old_size, len(leaves), lambda lo, hi: _mth(leaves, lo, hi))


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 section 2.1.4.2: is (new_size, new_root) an append-only extension of the old head?

    Edge cases outside the RFC's 0 < first < second (same choice as Sigsum):
    equal sizes are consistent iff the roots are equal and the proof is empty;
    old_size 0 is consistent iff the proof is empty and old_root is the empty-tree root.
    """
    if len(old_root) != HASH_SIZE or len(new_root) != HASH_SIZE:
        return False
    if any(len(c) != HASH_SIZE for c in proof):
        return False
    if old_size < 0 or new_size < old_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        # Every tree extends the empty tree; insisting on its real root rejects bogus heads.
        return not proof and old_root == EMPTY_ROOT
    # 1.
    if not proof:
        return False
    path = list(proof)
    # 2. A power-of-two old tree is itself a node of the new tree, so its root seeds the path.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # 3.
    fn, sn = old_size - 1, new_size - 1
    # 4.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # 5.
    fr = sr = path[0]
    # 6.
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # 7.
    return fr == old_root and sr == new_root and sn == 0
