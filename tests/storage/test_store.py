"""BlobStore: round trips, no plaintext on disk, tampering fails closed, sizes capped, names kept in the root.

Real encryption and real files throughout. "Fails closed" means: BlobCorrupted naming the blob, raised by
open() itself, before a single plaintext byte reaches the caller.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from disclosure.storage.keys import StorageKeyring
from disclosure.storage.store import (
    CHUNK_SIZE,
    HEADER_SIZE,
    MAGIC,
    BlobCorrupted,
    BlobMissing,
    BlobStore,
    BlobTooLarge,
    UnsafeBlobName,
    store_for_app,
)
from tests.storage.conftest import files_under

# The Cobblestone layout (C2SP chunked encryption): a 56-byte preamble, then 16 KiB chunks with 16-byte tags.
PREAMBLE = 56
SEGMENT = 16 * 1024 + 16


def every_read(store: BlobStore, name: str) -> dict[str, object]:
    """What each way of reading returns, or the exception it raised; chunks yielded before a failure too."""
    results: dict[str, object] = {}
    yielded: list[bytes] = []
    try:
        for chunk in store.open(name):
            yielded.append(chunk)
        results["open"] = b"".join(yielded)
    except Exception as error:
        results["open"] = error
        results["open-yielded"] = yielded
    for method in ("read_all", "sha256"):
        try:
            results[method] = getattr(store, method)(name)
        except Exception as error:
            results[method] = error
    return results


def assert_fails_closed(store: BlobStore, name: str) -> None:
    results = every_read(store, name)
    for method in ("open", "read_all", "sha256"):
        assert isinstance(results[method], BlobCorrupted), (method, results[method])
        assert name in str(results[method])
    assert results["open-yielded"] == []
    with pytest.raises(BlobCorrupted):
        store.open(name)  # raised by the call itself, not by the first next()


def in_pieces(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


# -- round trips ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [0, 1, 16383, 16384, 16385, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 12345]
)
def test_round_trip(store: BlobStore, size: int) -> None:
    data = os.urandom(size)
    blob = store.put(in_pieces(data, 7919), max_bytes=size)
    assert blob.size == size
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert store.read_all(blob.name) == data
    chunks = list(store.open(blob.name))
    assert b"".join(chunks) == data
    assert all(0 < len(chunk) <= CHUNK_SIZE + SEGMENT for chunk in chunks)
    assert store.sha256(blob.name) == blob.sha256
    assert store.exists(blob.name)


def test_round_trip_from_files_and_big_pieces(store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(5 * CHUNK_SIZE + 3)
    from_memory = store.put(io.BytesIO(data), max_bytes=len(data))
    source = tmp_path / "upload.bin"
    source.write_bytes(data)
    with source.open("rb") as handle:
        from_file = store.put(handle, max_bytes=len(data))
    in_one_piece = store.put([data], max_bytes=len(data))
    names = {from_memory.name, from_file.name, in_one_piece.name}
    assert len(names) == 3
    for name in names:
        assert store.read_all(name) == data


def test_strings_are_refused_and_leave_nothing(store: BlobStore) -> None:
    with pytest.raises(TypeError):
        store.put(["text is not bytes"], max_bytes=100)  # type: ignore[list-item]
    assert files_under(store.root) == []


def test_layout_header_and_modes(store: BlobStore, keyring: StorageKeyring) -> None:
    blob = store.put([b"x" * 100], max_bytes=100)
    path = store.root / blob.name[:2] / blob.name
    assert store.path(blob.name) == path
    assert files_under(store.root) == [path]
    raw = path.read_bytes()
    assert raw[:4] == MAGIC == b"DSB1"
    assert raw[4:HEADER_SIZE].decode() == keyring.current_id() == store.key_id(blob.name)
    assert len(raw) == HEADER_SIZE + PREAMBLE + 100 + 16
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    assert list(store.names()) == [blob.name]


def test_names_are_generated_and_unguessable(store: BlobStore) -> None:
    names = [store.put([b"same content"], max_bytes=100).name for _ in range(20)]
    assert len(set(names)) == 20
    assert sorted(store.names()) == sorted(names)
    ciphertexts = {store.path(name).read_bytes()[HEADER_SIZE:] for name in names}
    assert len(ciphertexts) == 20  # same plaintext, different ciphertext


def test_no_plaintext_marker_on_disk(store: BlobStore, keyring: StorageKeyring, tmp_path: Path) -> None:
    marker = b"DISCLOSURE-PLAINTEXT-MARKER-" + secrets.token_hex(8).encode()
    # The marker sits at chunk boundaries and everywhere between, in small and large blobs.
    content = (marker + os.urandom(997)) * 4000
    names = [
        store.put(in_pieces(content, 65536), max_bytes=len(content)).name,
        store.put([marker], max_bytes=len(marker)).name,
    ]

    def boom() -> Iterator[bytes]:
        yield content
        raise RuntimeError("the upload broke off")

    with pytest.raises(RuntimeError):
        store.put(boom(), max_bytes=10 * len(content))
    store.rotate()
    assert sorted(store.names()) == sorted(names)
    for path in files_under(tmp_path):
        data = path.read_bytes()
        assert marker not in data, path
        assert marker.hex().encode() not in data, path
    assert store.read_all(names[1]) == marker


# -- tampering fails closed ----------------------------------------------------------------------------------


def test_every_flipped_byte_of_a_small_blob_fails_closed(store: BlobStore) -> None:
    blob = store.put([b"the account holder is alice@example.org"], max_bytes=1000)
    path = store.path(blob.name)
    original = path.read_bytes()
    for position in range(len(original)):
        tampered = bytearray(original)
        tampered[position] ^= 1 << (position % 8)
        path.write_bytes(tampered)
        assert_fails_closed(store, blob.name)
    path.write_bytes(original)
    assert store.read_all(blob.name) == b"the account holder is alice@example.org"


def test_a_flipped_bit_late_in_a_large_blob_releases_nothing(store: BlobStore) -> None:
    """A naive stream would already have handed out every chunk before the damaged one."""
    data = os.urandom(2 * CHUNK_SIZE + 50_000)
    blob = store.put([data], max_bytes=len(data))
    path = store.path(blob.name)
    original = path.read_bytes()
    segments = (len(original) - HEADER_SIZE - PREAMBLE) // SEGMENT
    positions = {
        0,
        3,
        4,
        HEADER_SIZE - 1,
        HEADER_SIZE,
        HEADER_SIZE + PREAMBLE - 1,
        len(original) - 1,
        len(original) - 17,
        len(original) // 2,
    }
    for index in range(0, segments, 17):
        start = HEADER_SIZE + PREAMBLE + index * SEGMENT
        positions |= {start, start + SEGMENT - 1}
    for position in sorted(positions):
        tampered = bytearray(original)
        tampered[position] ^= 0x80
        path.write_bytes(tampered)
        assert_fails_closed(store, blob.name)


@pytest.mark.parametrize("size", [100, 3 * 16384, 3 * 16384 + 100, CHUNK_SIZE + 7])
def test_truncated_or_extended_blobs_fail_closed(store: BlobStore, size: int) -> None:
    blob = store.put([os.urandom(size)], max_bytes=size)
    path = store.path(blob.name)
    original = path.read_bytes()
    body = len(original) - HEADER_SIZE - PREAMBLE
    cuts = {0, 1, 3, HEADER_SIZE, HEADER_SIZE + 10, HEADER_SIZE + PREAMBLE, len(original) - 1, len(original) - 16}
    # Chunk boundaries: the cuts a truncating attacker would choose, which only finalize() can detect.
    cuts |= {HEADER_SIZE + PREAMBLE + k * SEGMENT for k in range(1, body // SEGMENT + 1)}
    for cut in sorted(c for c in cuts if 0 <= c < len(original)):
        path.write_bytes(original[:cut])
        assert_fails_closed(store, blob.name)
    for extra in (b"\x00", original[-SEGMENT:]):
        path.write_bytes(original + extra)
        assert_fails_closed(store, blob.name)


def test_reordered_chunks_fail_closed(store: BlobStore) -> None:
    blob = store.put([os.urandom(4 * 16384 + 5)], max_bytes=10**6)
    path = store.path(blob.name)
    raw = path.read_bytes()
    start = HEADER_SIZE + PREAMBLE
    first, second = raw[start : start + SEGMENT], raw[start + SEGMENT : start + 2 * SEGMENT]
    path.write_bytes(raw[:start] + second + first + raw[start + 2 * SEGMENT :])
    assert_fails_closed(store, blob.name)


def test_a_blob_moved_to_another_name_fails_closed(store: BlobStore) -> None:
    one = store.put([b"A" * 5000], max_bytes=10_000)
    two = store.put([b"B" * 5000], max_bytes=10_000)
    shutil.copyfile(store.path(one.name), store.path(two.name))
    assert_fails_closed(store, two.name)
    os.replace(store.path(one.name), store.path(two.name))
    assert_fails_closed(store, two.name)
    with pytest.raises(BlobMissing):
        store.open(one.name)


def test_a_header_naming_another_key_fails_closed(store: BlobStore, keyring: StorageKeyring) -> None:
    blob = store.put([b"under the first key"], max_bytes=100)
    first = keyring.current_id()
    second = keyring.create()
    path = store.path(blob.name)
    path.write_bytes(path.read_bytes().replace(first.encode(), second.encode(), 1))
    assert_fails_closed(store, blob.name)


def test_a_blob_whose_key_is_gone_says_which(store: BlobStore, keyring: StorageKeyring) -> None:
    blob = store.put([b"orphaned"], max_bytes=100)
    key_id = keyring.current_id()
    keyring.create()
    (keyring.folder / f"{key_id}.key").unlink()
    error = every_read(store, blob.name)["read_all"]
    assert isinstance(error, BlobCorrupted)
    assert key_id in str(error) and blob.name in str(error)
    assert_fails_closed(store, blob.name)


def test_missing_blobs_are_missing_not_corrupted(store: BlobStore) -> None:
    name = secrets.token_hex(16)
    assert not store.exists(name)
    for method in (store.open, store.read_all, store.sha256, store.key_id):
        with pytest.raises(BlobMissing, match=name):
            method(name)


def test_delete(store: BlobStore) -> None:
    blob = store.put([b"to be deleted"], max_bytes=100)
    keep = store.put([b"to be kept"], max_bytes=100)
    assert store.delete(blob.name) is True
    assert not store.exists(blob.name)
    assert store.delete(blob.name) is False
    assert list(store.names()) == [keep.name]
    assert files_under(store.root) == [store.path(keep.name)]


# -- size cap ------------------------------------------------------------------------------------------------


def test_exactly_the_limit_is_accepted(store: BlobStore) -> None:
    assert store.put([b"x" * 1000], max_bytes=1000).size == 1000
    assert store.put([], max_bytes=0).size == 0


@pytest.mark.parametrize("kind", ["pieces", "file"])
@pytest.mark.parametrize("size,limit", [(1001, 1000), (5 * CHUNK_SIZE, 3 * CHUNK_SIZE + 5), (1, 0)])
def test_over_the_limit_is_refused_and_leaves_nothing(store: BlobStore, kind: str, size: int, limit: int) -> None:
    data = os.urandom(size)
    source = in_pieces(data, 65536) if kind == "pieces" else io.BytesIO(data)
    with pytest.raises(BlobTooLarge, match=str(limit)):
        store.put(source, max_bytes=limit)
    assert files_under(store.root) == []
    assert list(store.names()) == []


# -- the chokepoint ------------------------------------------------------------------------------------------

UNSAFE_NAMES = [
    "../x",
    "../" + "0" * 29,
    "/etc/passwd",
    "/" + "0" * 31,
    "0" * 31,
    "0" * 33,
    "A" * 32,
    "g" * 32,
    "0" * 31 + "\x00",
    "\x00" + "0" * 31,
    "0" * 32 + "\n",
    "0" * 32 + "/..",
    "00/" + "0" * 29,
    "",
    " " + "0" * 31,
    "0" * 16 + "\u202e" + "0" * 15,
    b"0" * 32,
    None,
    12345,
]


@pytest.mark.parametrize("name", UNSAFE_NAMES, ids=repr)
def test_unsafe_names_are_refused_everywhere(store: BlobStore, name: Any) -> None:
    methods = (store.path, store.open, store.read_all, store.sha256, store.exists, store.delete, store.key_id)
    for method in methods:
        with pytest.raises(UnsafeBlobName):
            method(name)


def test_a_symbolic_link_out_of_the_root_is_refused(store: BlobStore, tmp_path: Path) -> None:
    victim = store.put([b"a real blob"], max_bytes=100)
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "target"
    shutil.copyfile(store.path(victim.name), target)
    name = secrets.token_hex(16)
    (store.root / name[:2]).mkdir(exist_ok=True)
    (store.root / name[:2] / name).symlink_to(target)
    for method in (store.path, store.open, store.read_all, store.exists, store.delete):
        with pytest.raises(UnsafeBlobName, match="outside"):
            method(name)
    assert target.exists()
    assert name not in list(store.names())


def test_a_shard_directory_linked_out_of_the_root_is_refused(store: BlobStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    name = secrets.token_hex(16)
    (outside / name).write_bytes(b"DSB1" + b"0" * 100)
    shard = store.root / name[:2]
    if shard.exists():
        shutil.rmtree(shard)
    shard.symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafeBlobName, match="outside"):
        store.open(name)
    assert name not in list(store.names())


def test_a_symbolic_link_inside_the_root_is_refused_too(store: BlobStore) -> None:
    real = store.put([b"the real one"], max_bytes=100)
    name = secrets.token_hex(16)
    (store.root / name[:2]).mkdir(exist_ok=True)
    (store.root / name[:2] / name).symlink_to(store.path(real.name))
    for method in (store.path, store.read_all):
        with pytest.raises(UnsafeBlobName, match="symbolic link"):
            method(name)


# -- crash consistency in process ----------------------------------------------------------------------------


@pytest.mark.parametrize("error", [RuntimeError("client went away"), KeyboardInterrupt()])
def test_a_writer_that_fails_halfway_leaves_nothing(store: BlobStore, error: BaseException) -> None:
    kept = store.put([b"already stored"], max_bytes=100)

    def upload() -> Iterator[bytes]:
        yield os.urandom(3 * CHUNK_SIZE)
        raise error

    with pytest.raises(type(error)):
        store.put(upload(), max_bytes=10 * CHUNK_SIZE)
    assert list(store.names()) == [kept.name]
    assert files_under(store.root) == [store.path(kept.name)]
    assert store.read_all(kept.name) == b"already stored"


def test_a_failing_disk_leaves_nothing(store: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        store.put([os.urandom(100_000)], max_bytes=10**6)
    assert files_under(store.root) == []


def test_the_file_is_durable_before_its_name(store: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """fsync the data, rename, then fsync the directory: the order that survives a power cut."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{descriptor}")))
        real_fsync(descriptor)

    def replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        events.append(("replace", str(target)))
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    blob = store.put([b"durable"], max_bytes=100)
    final = str(store.path(blob.name))
    replaced = events.index(("replace", final))
    assert any(kind == "fsync" and "/.tmp/" in path for kind, path in events[:replaced])
    assert ("fsync", str(store.path(blob.name).parent)) in events[replaced + 1 :]


# -- the app factory -----------------------------------------------------------------------------------------


def test_store_for_app_uses_the_instance_and_keys_dir(tmp_path: Path) -> None:
    config = {"KEYS_DIR": str(tmp_path / "instance" / "keys")}
    store = store_for_app(config, tmp_path / "instance")
    assert store.root == (tmp_path / "instance" / "blobs").resolve()
    assert store.keyring.folder == tmp_path / "instance" / "keys" / "storage"
    moved = store_for_app({**config, "BLOB_DIR": str(tmp_path / "elsewhere")}, tmp_path / "instance")
    assert moved.root == (tmp_path / "elsewhere").resolve()
