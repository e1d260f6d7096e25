"""Key rotation end to end: every blob re-encrypted under the new key, readable throughout; retiring keys."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.cobblestone import Cobblestone256Encryptor

from disclosure.storage import store as store_module
from disclosure.storage.keys import StorageKeyInUse, StorageKeyMissing, StorageKeyring
from disclosure.storage.store import (
    CHUNK_SIZE,
    HEADER_SIZE,
    BlobCorrupted,
    BlobStore,
    RotationIncomplete,
    StorageError,
)
from tests.storage.conftest import files_under


def test_rotation_end_to_end(store: BlobStore, keyring: StorageKeyring) -> None:
    first_key = keyring.current_id()
    contents = [b"", b"small", os.urandom(3 * CHUNK_SIZE + 99)]
    blobs = [store.put([content], max_bytes=len(content)) for content in contents]
    before = {blob.name: store.path(blob.name).read_bytes() for blob in blobs}
    seen: list[str] = []

    assert store.rotate(progress=seen.append) == 3

    second_key = keyring.current_id()
    assert second_key != first_key
    assert sorted(seen) == sorted(blob.name for blob in blobs)
    for blob, content in zip(blobs, contents, strict=True):
        raw = store.path(blob.name).read_bytes()
        assert raw[4:HEADER_SIZE] == second_key.encode() == store.key_id(blob.name).encode()
        assert raw[HEADER_SIZE:] != before[blob.name][HEADER_SIZE:]
        assert store.read_all(blob.name) == content
        assert store.sha256(blob.name) == blob.sha256
    assert files_under(store.root) == sorted(store.path(blob.name) for blob in blobs)

    # New blobs use the new key; the old key is still there until retired.
    assert store.key_id(store.put([b"after"], max_bytes=10).name) == second_key
    assert first_key in keyring.key_ids()
    store.retire(first_key)
    assert keyring.key_ids() == [second_key]
    for blob, content in zip(blobs, contents, strict=True):
        assert store.read_all(blob.name) == content


def test_retire_refuses_while_a_blob_uses_the_key(store: BlobStore, keyring: StorageKeyring) -> None:
    first_key = keyring.current_id()
    blob = store.put([b"old"], max_bytes=10)
    with pytest.raises(StorageKeyInUse, match="current"):
        store.retire(first_key)
    keyring.create()  # a new key without re-encrypting: the blob still needs the first one
    with pytest.raises(StorageKeyInUse, match=blob.name):
        store.retire(first_key)
    assert store.read_all(blob.name) == b"old"
    assert store.rotate() == 1
    store.retire(first_key)
    assert first_key not in keyring.key_ids()
    assert store.read_all(blob.name) == b"old"
    with pytest.raises(StorageKeyMissing):
        store.retire(first_key)


def test_each_rotation_re_encrypts_everything(store: BlobStore, keyring: StorageKeyring) -> None:
    names = [store.put([os.urandom(1000)], max_bytes=1000).name for _ in range(5)]
    assert store.rotate() == 5
    assert store.rotate() == 5
    keys = keyring.key_ids()
    assert len(keys) == 3
    for old in keys:
        if old != keyring.current_id():
            store.retire(old)
    assert {store.key_id(name) for name in names} == {keyring.current_id()}


def test_rotation_needs_a_key_to_start_from(store: BlobStore, keyring: StorageKeyring) -> None:
    empty = BlobStore(store.root, StorageKeyring(keyring.folder.parent / "other"))
    with pytest.raises(StorageKeyMissing, match="flask keys init"):
        empty.rotate()
    assert empty.keyring.key_ids() == []


def test_a_corrupted_blob_is_reported_and_left_alone(store: BlobStore, keyring: StorageKeyring) -> None:
    first_key = keyring.current_id()
    good = store.put([b"good"], max_bytes=10)
    bad = store.put([b"bad" * 10_000], max_bytes=10**6)
    path = store.path(bad.name)
    damaged = bytearray(path.read_bytes())
    damaged[-3] ^= 1
    path.write_bytes(damaged)
    with pytest.raises(RotationIncomplete, match=bad.name) as raised:
        store.rotate()
    assert raised.value.rotation.rotated == 1
    assert store.key_id(good.name) == keyring.current_id() != first_key
    assert path.read_bytes() == damaged  # not rewritten, not "repaired"
    with pytest.raises(BlobCorrupted):
        store.read_all(bad.name)
    with pytest.raises(StorageKeyInUse):
        store.retire(first_key)
    assert files_under(store.root / ".tmp") == []


class Worker(threading.Thread):
    """Runs one store call in a thread, keeping its result or error; `done` is set when it has returned."""

    def __init__(self, work: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self.work = work
        self.results: list[object] = []
        self.errors: list[BaseException] = []
        self.done = threading.Event()

    def run(self) -> None:
        try:
            self.results.append(self.work())
        except BaseException as error:
            self.errors.append(error)
        finally:
            self.done.set()


def wait_for(event: threading.Event, other: Worker) -> None:
    """Wait until event is set; give up as soon as the other worker returned, so a broken lock fails an assert."""
    while not event.wait(0.01):
        if other.done.is_set():
            return


def is_file_at(path: Path, descriptor: int) -> bool:
    try:
        return os.path.samestat(os.fstat(descriptor), path.stat())
    except FileNotFoundError:
        return False


def on_blob_lock(
    monkeypatch: pytest.MonkeyPatch,
    path: Path,
    before: dict[threading.Thread, Callable[[], None]],
    after: dict[threading.Thread, Callable[[], None]],
) -> None:
    """Call a thread's hook just before it asks for the exclusive lock on the file at path, or just after it got it."""
    real_flock = store_module.fcntl.flock

    def flock(descriptor: int, operation: int) -> None:
        me = threading.current_thread()
        on_blob = operation == fcntl.LOCK_EX and is_file_at(path, descriptor)
        if on_blob and me in before:
            before[me]()
        real_flock(descriptor, operation)
        if on_blob and me in after:
            after[me]()

    monkeypatch.setattr(store_module.fcntl, "flock", flock)


def test_a_delete_that_lands_during_re_encryption_is_not_undone(
    store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rotation holds the blob's lock and is writing the new file when the delete comes: the delete wins.

    The interleaving is forced, not raced for: the rotation pauses with its temporary file open until the delete
    has opened the blob and is about to wait for its lock.
    """
    blob = store.put([os.urandom(3 * CHUNK_SIZE)], max_bytes=10**9)
    path = store.path(blob.name)
    reencrypting = threading.Event()
    delete_waits = threading.Event()
    rotator = Worker(store.rotate)
    deleter = Worker(lambda: store.delete(blob.name))
    real_encryptor = Cobblestone256Encryptor

    class Pausing:
        def __init__(self, key: bytes, context: bytes) -> None:
            reencrypting.set()
            wait_for(delete_waits, deleter)
            self.inner = real_encryptor(key, context)

        def update_into(self, data: bytes, buffer: bytearray) -> int:
            return self.inner.update_into(data, buffer)

        def finalize(self) -> bytes:
            return self.inner.finalize()

    monkeypatch.setattr(store_module, "Cobblestone256Encryptor", Pausing)
    on_blob_lock(monkeypatch, path, before={deleter: delete_waits.set}, after={})
    rotator.start()
    assert reencrypting.wait(10)
    assert len(store.temporary_files()) == 1  # the new ciphertext is being written, not yet in place
    deleter.start()
    rotator.join(30)
    deleter.join(30)
    assert rotator.done.is_set() and deleter.done.is_set()
    assert rotator.errors == [] and deleter.errors == []
    assert rotator.results == [1] and deleter.results == [True]
    assert not store.exists(blob.name)
    assert files_under(store.root) == []


def test_a_rotation_that_reaches_a_blob_being_deleted_does_not_bring_it_back(
    store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The delete holds the blob's lock when the rotation, which listed the blob, opens it and waits: it stays gone."""
    blob = store.put([b"to be deleted"], max_bytes=100)
    path = store.path(blob.name)
    delete_holds = threading.Event()
    rotation_waits = threading.Event()
    rotator = Worker(store.rotate)
    deleter = Worker(lambda: store.delete(blob.name))

    def hold_until_the_rotation_waits() -> None:
        delete_holds.set()
        wait_for(rotation_waits, rotator)

    on_blob_lock(
        monkeypatch, path, before={rotator: rotation_waits.set}, after={deleter: hold_until_the_rotation_waits}
    )
    deleter.start()
    assert delete_holds.wait(10)
    rotator.start()
    deleter.join(30)
    rotator.join(30)
    assert rotator.done.is_set() and deleter.done.is_set()
    assert rotator.errors == [] and deleter.errors == []
    assert deleter.results == [True] and rotator.results == [0]
    assert not store.exists(blob.name)
    assert files_under(store.root) == []


def test_retire_waits_for_a_put_still_using_the_old_key(store: BlobStore, keyring: StorageKeyring) -> None:
    first_key = keyring.current_id()
    halfway = threading.Event()
    go_on = threading.Event()
    stored: list[str] = []
    outcome: list[BaseException | None] = []

    def slow_upload() -> Iterator[bytes]:
        yield b"first half, "
        halfway.set()
        go_on.wait(10)
        yield b"second half"

    def upload() -> None:
        stored.append(store.put(slow_upload(), max_bytes=100).name)

    def retire() -> None:
        try:
            store.retire(first_key)
            outcome.append(None)
        except StorageKeyInUse as error:
            outcome.append(error)

    uploader = threading.Thread(target=upload)
    uploader.start()
    assert halfway.wait(10)
    assert store.rotate() == 0
    retirer = threading.Thread(target=retire)
    retirer.start()
    time.sleep(0.3)
    assert retirer.is_alive(), "retire did not wait for the upload still using the old key"
    go_on.set()
    uploader.join(10)
    retirer.join(10)
    assert isinstance(outcome[0], StorageKeyInUse)
    assert store.key_id(stored[0]) == first_key
    assert store.read_all(stored[0]) == b"first half, second half"


def test_a_re_encryption_that_changes_the_content_is_not_installed(
    store: BlobStore, keyring: StorageKeyring, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new ciphertext authenticates, but its plaintext hash differs: the old file must stay."""
    content = b"the original production record"
    blob = store.put([content], max_bytes=100)
    before = store.path(blob.name).read_bytes()
    real_encryptor = Cobblestone256Encryptor

    class Garbling:
        def __init__(self, key: bytes, context: bytes) -> None:
            self.inner = real_encryptor(key, context)

        def update_into(self, data: bytes, buffer: bytearray) -> int:
            return self.inner.update_into(bytes(data).replace(b"original", b"ALTERED!"), buffer)

        def finalize(self) -> bytes:
            return self.inner.finalize()

    monkeypatch.setattr(store_module, "Cobblestone256Encryptor", Garbling)
    with pytest.raises(StorageError, match="changed its content"):
        store.rotate()
    monkeypatch.undo()
    assert store.path(blob.name).read_bytes() == before
    assert store.read_all(blob.name) == content
    assert store.temporary_files() == []


def test_an_exposed_key_can_be_rotated_away_and_retired(store: BlobStore, keyring: StorageKeyring) -> None:
    exposed = keyring.current_id()
    blob = store.put([b"was under the exposed key"], max_bytes=100)
    assert store.rotate() == 1
    os.chmod(keyring.folder / f"{exposed}.key", 0o644)
    store.retire(exposed)
    assert exposed not in keyring.key_ids()
    assert store.read_all(blob.name) == b"was under the exposed key"
    with pytest.raises(StorageKeyMissing, match="not a storage key id"):
        store.retire("../current")
    assert (keyring.folder / "current").exists()
