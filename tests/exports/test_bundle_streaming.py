"""Streaming: the builder's memory does not grow with the size of the production."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
from pathlib import Path

from disclosure.exports.bundle import PayloadFile, build_bundle

MB = 1 << 20


class Pattern(io.RawIOBase):
    """size bytes of a fixed pattern, produced without allocating (readinto copies from one 1 MiB block)."""

    _block = memoryview(bytes(range(256)) * 4096)

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        count = min(len(buffer), self.left, len(self._block))
        memoryview(buffer)[:count] = self._block[:count]
        self.left -= count
        return count


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(MB):
            digest.update(chunk)
    return digest.hexdigest()


def _peak(tmp_path: Path, signer, audit, recipients, sizes: list[int]) -> int:
    files = [PayloadFile(f"part-{i}.bin", lambda size=size: Pattern(size), size) for i, size in enumerate(sizes)]
    tracemalloc.reset_peak()
    result = build_bundle(
        tmp_path / f"{sum(sizes)}.zip",
        bag_name="memory",
        files=files,
        recipients=recipients,
        signer=signer,
        checkpoint_note=audit.note,
        inner_metadata={"audit_events": audit.events},
    )
    peak = tracemalloc.get_traced_memory()[1]
    assert result.payload_bytes == sum(sizes)
    assert result.sha256 == _sha256_of(tmp_path / f"{sum(sizes)}.zip")
    (tmp_path / f"{sum(sizes)}.zip").unlink()
    return peak


def test_peak_memory_does_not_grow_from_10_to_200_mb(tmp_path, signer, audit, recipient) -> None:
    tracemalloc.start()
    try:
        small = _peak(tmp_path, signer, audit, [recipient.cert], [10 * MB])
        large = _peak(tmp_path, signer, audit, [recipient.cert], [50 * MB] * 4)
    finally:
        tracemalloc.stop()
    assert large <= small + 8 * MB, f"peak {small / MB:.1f} MB for 10 MB, {large / MB:.1f} MB for 200 MB"
    assert large < 16 * MB, f"peak {large / MB:.1f} MB"


def test_plaintext_is_read_in_bounded_chunks(tmp_path, signer, audit) -> None:
    sizes: list[int] = []

    class Spy(Pattern):
        def readinto(self, buffer) -> int:  # type: ignore[override]
            sizes.append(len(buffer))
            return super().readinto(buffer)

    build_bundle(
        tmp_path / "b.zip",
        bag_name="spy",
        files=[PayloadFile("x", lambda: Spy(5 * MB + 3))],
        recipients=None,
        signer=signer,
        checkpoint_note=audit.note,
        inner_metadata={},
    )
    assert sizes and max(sizes) == MB
