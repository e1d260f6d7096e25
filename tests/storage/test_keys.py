"""Storage keys: created once with mode 0600, the current one named atomically, refused if others can read."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from disclosure.storage.keys import (
    StorageKeyError,
    StorageKeyInsecure,
    StorageKeyMissing,
    StorageKeyring,
    keyring_for_config,
)
from disclosure.storage.store import BlobStore


def test_init_creates_one_private_key_and_names_it_current(tmp_path: Path) -> None:
    ring = StorageKeyring(tmp_path / "keys" / "storage")
    line = ring.init()
    assert line is not None and line.startswith("created storage key ")
    (key_id,) = ring.key_ids()
    assert key_id in line and len(key_id) == 16 and int(key_id, 16) >= 0
    path = ring.folder / f"{key_id}.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(ring.folder.stat().st_mode) == 0o700
    assert len(path.read_bytes()) == 32
    assert (ring.folder / "current").read_text() == f"{key_id}\n"
    assert ring.current() == (key_id, path.read_bytes())


def test_init_again_changes_nothing(keyring: StorageKeyring) -> None:
    before = {path.name: path.read_bytes() for path in keyring.folder.iterdir()}
    assert keyring.init() is None
    assert {path.name: path.read_bytes() for path in keyring.folder.iterdir()} == before


def test_create_makes_the_new_key_current_and_keeps_the_old_one(keyring: StorageKeyring) -> None:
    old_id, old_key = keyring.current()
    new_id = keyring.create()
    assert new_id != old_id
    assert keyring.current_id() == new_id
    assert keyring.get(old_id) == old_key
    assert keyring.get(new_id) != old_key
    # The current file was replaced by a rename: no temporary file is left beside the keys.
    assert sorted(path.name for path in keyring.folder.iterdir()) == sorted(
        ["current", f"{old_id}.key", f"{new_id}.key"]
    )


def test_no_key_says_run_flask_keys_init(tmp_path: Path) -> None:
    ring = StorageKeyring(tmp_path / "nothing-here")
    with pytest.raises(StorageKeyMissing, match="flask keys init"):
        ring.current()
    store = BlobStore(tmp_path / "blobs", ring)
    with pytest.raises(StorageKeyMissing, match="flask keys init"):
        store.put([b"data"], max_bytes=100)


def test_a_lost_current_file_is_an_error_not_a_reason_to_invent_a_key(keyring: StorageKeyring) -> None:
    (keyring.folder / "current").unlink()
    with pytest.raises(StorageKeyMissing, match="current"):
        keyring.current()
    with pytest.raises(StorageKeyMissing):
        keyring.init()
    assert len(keyring.key_ids()) == 1


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_key_others_may_read_is_refused(keyring: StorageKeyring, store: BlobStore, mode: int) -> None:
    key_id = keyring.current_id()
    path = keyring.folder / f"{key_id}.key"
    os.chmod(path, mode)
    with pytest.raises(StorageKeyInsecure, match="chmod 600"):
        keyring.get(key_id)
    with pytest.raises(StorageKeyInsecure):
        store.put([b"a secret"], max_bytes=100)
    assert list(store.names()) == []
    os.chmod(path, 0o600)
    assert store.read_all(store.put([b"a secret"], max_bytes=100).name) == b"a secret"


def test_a_symbolic_link_in_place_of_a_key_is_refused(keyring: StorageKeyring, tmp_path: Path) -> None:
    key_id = keyring.current_id()
    path = keyring.folder / f"{key_id}.key"
    elsewhere = tmp_path / "elsewhere.key"
    elsewhere.write_bytes(path.read_bytes())
    os.chmod(elsewhere, 0o600)
    path.unlink()
    path.symlink_to(elsewhere)
    with pytest.raises(StorageKeyInsecure):
        keyring.get(key_id)


def test_a_key_of_the_wrong_size_is_refused(keyring: StorageKeyring) -> None:
    key_id = keyring.current_id()
    path = keyring.folder / f"{key_id}.key"
    path.write_bytes(path.read_bytes()[:16])
    with pytest.raises(StorageKeyError, match="16 bytes"):
        keyring.get(key_id)


@pytest.mark.parametrize("key_id", ["../current", "0123456789abcdeF", "0123456789abcde", "0123456789abcdef\n", ""])
def test_key_ids_are_never_paths(keyring: StorageKeyring, key_id: str) -> None:
    with pytest.raises(StorageKeyMissing, match="not a storage key id"):
        keyring.get(key_id)


def test_a_current_file_naming_no_key_id_is_refused(keyring: StorageKeyring) -> None:
    (keyring.folder / "current").write_text("../../etc/passwd\n")
    with pytest.raises(StorageKeyMissing, match="16 hex digits"):
        keyring.current()


def test_keyring_for_config_lives_under_keys_dir(tmp_path: Path) -> None:
    assert keyring_for_config({"KEYS_DIR": str(tmp_path / "keys")}).folder == tmp_path / "keys" / "storage"
    with pytest.raises(StorageKeyMissing, match="KEYS_DIR"):
        keyring_for_config({})
