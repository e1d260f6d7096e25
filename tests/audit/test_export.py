"""The export's proof builder: the reference's proofs, without rehashing the whole tree for every event."""

from __future__ import annotations

import hashlib

import pytest

from disclosure.audit import export
from disclosure.audit.merkle import inclusion_proof, node_hash


def leaves_of(count: int) -> list[bytes]:
    return [hashlib.sha256(b"\x00" + str(index).encode()).digest() for index in range(count)]


@pytest.mark.parametrize("memo_min_width", [2, 3, export.MEMO_MIN_WIDTH])
def test_proofs_match_the_reference_for_every_size_and_index(
    monkeypatch: pytest.MonkeyPatch, memo_min_width: int
) -> None:
    # Small widths make the remembered subtrees take part even in small trees.
    monkeypatch.setattr(export, "MEMO_MIN_WIDTH", memo_min_width)
    for size in range(1, 70):
        leaves = leaves_of(size)
        builder = export.ProofBuilder(leaves)
        # Out of order on purpose: a proof must not depend on which were asked for before it.
        for index in [*range(size - 1, -1, -2), *range(0, size, 2)]:
            assert builder.inclusion_proof(index) == inclusion_proof(leaves, index), (size, index)


def test_proofs_for_many_events_hash_each_large_subtree_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0

    def counting_node_hash(left: bytes, right: bytes) -> bytes:
        nonlocal calls
        calls += 1
        return node_hash(left, right)

    monkeypatch.setattr(export, "node_hash", counting_node_hash)
    size = 5_000
    builder = export.ProofBuilder(leaves_of(size))
    proofs = 200
    for index in range(0, size, size // proofs):
        builder.inclusion_proof(index)
    # Rebuilding the tree per proof would take about proofs * size hashes (a million here); the builder hashes
    # the tree once, plus per proof the few subtrees too small to remember.
    assert calls < size + proofs * 2 * export.MEMO_MIN_WIDTH


def test_out_of_range_index_is_refused() -> None:
    with pytest.raises(ValueError, match="outside tree of size 3"):
        export.ProofBuilder(leaves_of(3)).inclusion_proof(3)
