"""Fixtures for the files-at-rest tests: a real keyring and store on a temporary folder, no app needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from disclosure.storage.keys import StorageKeyring
from disclosure.storage.store import BlobStore


@pytest.fixture
def keyring(tmp_path: Path) -> StorageKeyring:
    ring = StorageKeyring(tmp_path / "keys" / "storage")
    ring.init()
    return ring


@pytest.fixture
def store(tmp_path: Path, keyring: StorageKeyring) -> BlobStore:
    return BlobStore(tmp_path / "blobs", keyring)


def files_under(folder: Path) -> list[Path]:
    """Every file (not directory) below folder, symbolic links included."""
    return sorted(path for path in folder.rglob("*") if path.is_symlink() or path.is_file())
