"""RFC 6962 / RFC 9162 Merkle tree: published known-answer vectors plus exhaustive properties.

Known answers come from transparency-dev/merkle (the successor of the certificate-transparency-go
and Trillian Merkle code): testonly/constants.go (leaves, node and root hashes, compact ranges),
testonly/reference_test.go (TestRefInclusionProof, TestRefConsistencyProof) and
proof/verify_test.go (inclusionProofs, consistencyProofs, TestVerifyConsistency edge cases).
"""

from __future__ import annotations

import hashlib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from disclosure_proofs.merkle import (
    EMPTY_ROOT,
    FrontierError,
    ProofError,
    RootBuilder,
    consistency_proof,
    decode_frontier,
    encode_frontier,
    frontier_append,
    frontier_root,
    inclusion_proof,
    node_hash,
    root_from_leaves,
    verify_consistency,
    verify_inclusion,
)

h = bytes.fromhex

# testonly/constants.go LeafInputs(): raw entries, hashed as RFC 6962 leaves.
LEAF_INPUTS = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
LEAVES = [hashlib.sha256(b"\x00" + d).digest() for d in LEAF_INPUTS]

# testonly/constants.go RootHashes(), indexed by tree size.
ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

# testonly/constants.go NodeHashes(): [level][index] for all perfect subtrees of the 8-leaf tree.
NODES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]

# testonly/constants.go CompactTrees(): the frontier for each size 0..8.
FRONTIERS = [
    [],
    [NODES[0][0]],
    [NODES[1][0]],
    [NODES[1][0], NODES[0][2]],
    [NODES[2][0]],
    [NODES[2][0], NODES[0][4]],
    [NODES[2][0], NODES[1][2]],
    [NODES[2][0], NODES[1][2], NODES[0][6]],
    [NODES[3][0]],
]

# (index, size, proof): reference_test.go TestRefInclusionProof, plus verify_test.go inclusionProofs
# (which are 1-based there: {3, 3} is index 2; {6, 8} is index 5).
INCLUSION_VECTORS = [
    (0, 1, []),
    (0, 2, [NODES[0][1]]),
    (1, 2, [NODES[0][0]]),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

# (old_size, new_size, proof): reference_test.go TestRefConsistencyProof and verify_test.go
# consistencyProofs (the latter adds 6 -> 7).
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")  # verify_test.go


def synthetic_leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(b"\x00" + i.to_bytes(4, "big")).digest() for i in range(n)]


def flip(proof: list[bytes], i: int, bit: int = 0) -> list[bytes]:
    out = list(proof)
    out[i] = bytes([out[i][0] ^ (1 << bit)]) + out[i][1:]
    return out


# -- known answers ---------------------------------------------------------------------


def test_leaf_hashes_match_published_level_zero() -> None:
    assert NODES[0] == LEAVES


def test_node_hash_matches_published_level_one() -> None:
    assert node_hash(NODES[0][0], NODES[0][1]) == NODES[1][0]
    assert node_hash(NODES[0][6], NODES[0][7]) == NODES[1][3]


@pytest.mark.parametrize("size", range(9))
def test_roots_match_published_vectors(size: int) -> None:
    assert root_from_leaves(LEAVES[:size]) == ROOTS[size]
    builder = RootBuilder()
    builder.extend(LEAVES[:size])
    assert builder.root() == ROOTS[size]


def test_empty_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT == ROOTS[0] == hashlib.sha256(b"").digest()


def test_frontiers_match_published_compact_ranges() -> None:
    frontier: list[bytes] = []
    for size in range(8):
        assert frontier == FRONTIERS[size]
        frontier = frontier_append(frontier, size, LEAVES[size])
    assert frontier == FRONTIERS[8]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_inclusion_vectors(index: int, size: int, proof: list[bytes]) -> None:
    assert inclusion_proof(LEAVES[:size], index) == proof
    assert verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size])


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS[1:])
def test_inclusion_vectors_reject_corruption(index: int, size: int, proof: list[bytes]) -> None:
    # The probes of verify_test.go corruptInclusionProof.
    root, leaf = ROOTS[size], LEAVES[index]
    bad = [
        (index - 1, size, root, leaf, proof),
        (index + 1, size, root, leaf, proof),
        (index ^ 2, size, root, leaf, proof),
        (index, size * 2, root, leaf, proof),
        (index, size // 2, root, leaf, proof),
        (index, size, root, SOME_HASH, proof),
        (index, size, EMPTY_ROOT, leaf, proof),
        (index, size, SOME_HASH, leaf, proof),
        (index, size, root, leaf, [*proof, b""]),
        (index, size, root, leaf, [*proof, root]),
        (index, size, root, leaf, [b"", *proof]),
        (index, size, root, leaf, [root, *proof]),
        (index, size, root, leaf, proof[:-1]),
    ]
    bad += [(index, size, root, leaf, flip(proof, i, 3)) for i in range(len(proof))]
    if len(proof) > 1:
        bad.append((index, size, root, leaf, [proof[0], SOME_HASH, *proof[1:]]))
    for i, s, r, lf, p in bad:
        assert not verify_inclusion(lf, i, s, p, r), (i, s)


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_consistency_vectors(old: int, new: int, proof: list[bytes]) -> None:
    assert consistency_proof(LEAVES[:new], old) == proof
    assert verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS[1:])
def test_consistency_vectors_reject_corruption(old: int, new: int, proof: list[bytes]) -> None:
    # The probes of verify_test.go corruptConsistencyProof.
    r1, r2 = ROOTS[old], ROOTS[new]
    bad = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, SOME_HASH, r2, proof),
        (old, new, r1, SOME_HASH, proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    bad += [(old, new, r1, r2, flip(proof, i, 4)) for i in range(len(proof))]
    for o, n, a, b, p in bad:
        assert not verify_consistency(o, n, a, b, p), (o, n)


def test_consistency_edge_cases() -> None:
    # verify_test.go TestVerifyConsistency, with one deliberate difference: for old_size 0
    # we require old_root to be the empty-tree root (transparency-dev ignores it).
    r1, r2 = SOME_HASH, ROOTS[1]
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(1, 1, r2, r2, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, ROOTS[5], [])
    assert not verify_consistency(0, 5, r1, ROOTS[5], [])  # our stricter choice
    assert not verify_consistency(0, 0, r1, r2, [])
    assert not verify_consistency(1, 1, r1, r2, [])
    assert not verify_consistency(1, 0, r1, r2, [])  # time travel
    assert not verify_consistency(2, 1, r1, r2, [])
    assert not verify_consistency(1, 2, ROOTS[1], ROOTS[2], [])  # empty proof
    assert not verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])
    assert not verify_consistency(0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])
    assert not verify_consistency(1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT])
    assert not verify_consistency(-1, 1, EMPTY_ROOT, ROOTS[1], [])
    assert not verify_consistency(-1, -1, EMPTY_ROOT, EMPTY_ROOT, [])
    # Hashes of the wrong size never verify, even when they are "equal".
    assert not verify_consistency(1, 1, b"", b"", [])
    assert not verify_consistency(0, 0, b"x", b"x", [])
    assert not verify_consistency(2, 3, ROOTS[2], ROOTS[3], [b"\x00" * 31])


def test_inclusion_edge_cases() -> None:
    # verify_test.go TestVerifyInclusion probes and TestVerifyInclusionSingleEntry.
    for index, size in [(0, 0), (0, 1), (1, 0), (2, 1)]:
        assert not verify_inclusion(SOME_HASH, index, size, [], b"")
        assert not verify_inclusion(b"", index, size, [], EMPTY_ROOT)
        assert not verify_inclusion(SOME_HASH, index, size, [], EMPTY_ROOT)
    leaf = hashlib.sha256(b"\x00data").digest()
    assert verify_inclusion(leaf, 0, 1, [], leaf)
    assert not verify_inclusion(leaf, 0, 1, [], b"")
    assert not verify_inclusion(b"", 0, 1, [], leaf)
    assert not verify_inclusion(leaf, -1, 1, [], leaf)
    assert not verify_inclusion(b"", 0, 1, [], b"")  # wrong hash size
    assert not verify_inclusion(b"x", 0, 1, [], b"x")
    assert not verify_inclusion(LEAVES[0], 0, 2, [b"\x01" * 33], ROOTS[2])


# -- exhaustive properties over small trees -------------------------------------------

ALL = synthetic_leaves(64)
ALL_ROOTS = [root_from_leaves(ALL[:n]) for n in range(65)]


def test_every_inclusion_proof_up_to_64_verifies_and_rejects_tampering() -> None:
    for n in range(1, 65):
        root = ALL_ROOTS[n]
        for i in range(n):
            proof = inclusion_proof(ALL[:n], i)
            assert verify_inclusion(ALL[i], i, n, proof, root), (i, n)
            for j in range(len(proof)):
                assert not verify_inclusion(ALL[i], i, n, flip(proof, j, j % 8), root)
            other = (i + 1) % n
            if other != i:
                assert not verify_inclusion(ALL[i], other, n, proof, root)
                assert not verify_inclusion(ALL[other], i, n, proof, root)
            assert not verify_inclusion(ALL[i], i, n, proof, ALL_ROOTS[n - 1])


def test_every_consistency_proof_up_to_64_verifies_and_rejects_tampering() -> None:
    for n in range(1, 65):
        for m in range(1, n + 1):
            proof = consistency_proof(ALL[:n], m)
            assert verify_consistency(m, n, ALL_ROOTS[m], ALL_ROOTS[n], proof), (m, n)
            for j in range(len(proof)):
                assert not verify_consistency(m, n, ALL_ROOTS[m], ALL_ROOTS[n], flip(proof, j, j % 8))
            if m < n:
                assert not verify_consistency(m, n, ALL_ROOTS[m - 1], ALL_ROOTS[n], proof)
                assert not verify_consistency(m, n, ALL_ROOTS[m], ALL_ROOTS[n - 1], proof)
                # A different, unrelated leaf at the old tree's end must break the proof.
                forged = [*ALL[: m - 1], SOME_HASH, *ALL[m:n]]
                assert not verify_consistency(m, n, ALL_ROOTS[m], root_from_leaves(forged), proof)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 300), st.data())
def test_random_proofs_in_larger_trees(n: int, data: st.DataObject) -> None:
    leaves = synthetic_leaves(n)
    root = root_from_leaves(leaves)
    i = data.draw(st.integers(0, n - 1))
    assert verify_inclusion(leaves[i], i, n, inclusion_proof(leaves, i), root)
    m = data.draw(st.integers(1, n))
    assert verify_consistency(m, n, root_from_leaves(leaves[:m]), root, consistency_proof(leaves, m))


def test_frontier_and_builder_match_reference_for_sizes_0_to_200() -> None:
    leaves = synthetic_leaves(200)
    frontier: list[bytes] = []
    builder = RootBuilder()
    for size in range(201):
        expected = root_from_leaves(leaves[:size])
        assert frontier_root(frontier, size) == expected
        assert builder.size == size and builder.root() == expected
        assert builder.frontier == frontier
        stored = encode_frontier(frontier)
        assert len(stored) == 32 * size.bit_count()
        assert decode_frontier(stored, size) == frontier
        assert RootBuilder.from_frontier(decode_frontier(stored, size), size).root() == expected
        if size < 200:
            frontier = frontier_append(frontier, size, leaves[size])
            builder.append(leaves[size])


def test_frontier_shape_is_enforced() -> None:
    with pytest.raises(FrontierError):
        decode_frontier(bytes(32), 3)  # size 3 needs two hashes
    with pytest.raises(FrontierError):
        decode_frontier(bytes(64), 4)
    with pytest.raises(FrontierError):
        decode_frontier(b"", -1)
    with pytest.raises(FrontierError):
        frontier_root([bytes(32)], 2 + 1)
    with pytest.raises(FrontierError):
        frontier_append([bytes(32)], 1, b"short")
    with pytest.raises(FrontierError):
        RootBuilder().append(b"short")
    with pytest.raises(FrontierError):
        encode_frontier([b"short"])


def test_proof_generation_rejects_out_of_range() -> None:
    with pytest.raises(ProofError):
        inclusion_proof(LEAVES, 8)
    with pytest.raises(ProofError):
        inclusion_proof(LEAVES, -1)
    with pytest.raises(ProofError):
        inclusion_proof([], 0)
    with pytest.raises(ProofError):
        consistency_proof(LEAVES, 0)
    with pytest.raises(ProofError):
        consistency_proof(LEAVES, 9)
    with pytest.raises(ProofError):
        root_from_leaves([b"not a hash"])
    assert issubclass(ProofError, ValueError)


def test_builder_handles_a_million_leaves_quickly() -> None:
    leaves = synthetic_leaves(1 << 20)
    start = time.perf_counter()
    builder = RootBuilder()
    builder.extend(leaves)
    root = builder.root()
    elapsed = time.perf_counter() - start
    # Generous bound for slow CI; about 0.6 s on a developer machine.
    assert elapsed < 5.0, elapsed
    # A power-of-two tree's root is also the single frontier entry.
    assert builder.frontier == [root]
    assert root == root_from_leaves(leaves)
