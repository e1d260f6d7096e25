"""What a blob store backend is (BlobBackend and the readers and writers it hands out), the stored format's header,
and the storage errors, shared by the store (disclosure.storage.store) and its backends.

A backend keeps stored bytes only; it never sees a key or a plaintext byte. It shows a blob (exists, names, open)
only once the blob is completely written, and keeps what a writer that died left behind apart, as a PartialWrite,
for `flask storage reconcile`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

MAGIC = b"DSB1"
KEY_ID_SIZE = 16
HEADER_SIZE = len(MAGIC) + KEY_ID_SIZE
BLOB_NAME = re.compile(r"[0-9a-f]{32}")


class StorageError(Exception):
    """A blob could not be stored, read or managed."""


class UnsafeBlobName(StorageError, ValueError):
    """A blob name is not 32 lowercase hex digits, or its path leads outside the storage root."""


class BlobTooLarge(StorageError):
    """A file is larger than the limit it was stored under; nothing was kept."""


class BlobMissing(StorageError):
    """No blob exists under that name."""


class BlobCorrupted(StorageError):
    """A blob failed authentication: altered, truncated, moved from another name, or its key is gone."""


class CiphertextReader(Protocol):
    """A blob's stored bytes, read front to back (seek only to re-read from a known offset)."""

    def read(self, size: int, /) -> bytes: ...
    def readinto(self, buffer: bytearray, /) -> int: ...
    def seek(self, offset: int, /) -> int: ...
    def close(self) -> None: ...


class CiphertextWriter(Protocol):
    def write(self, data: bytes | memoryview, /) -> Any: ...


class Replacement(Protocol):
    """New stored bytes for an existing blob (a re-encryption), installed atomically or not at all."""

    @property
    def out(self) -> CiphertextWriter: ...

    def written(self) -> CiphertextReader:
        """What was written so far, to be checked before install()."""
        ...

    def install(self) -> bool:
        """Make the new bytes the blob's; False (and nothing changed) when the blob was deleted meanwhile."""
        ...


class Rewrite(Protocol):
    """An existing blob opened for re-encryption; deleting it waits, or makes install() a no-op."""

    @property
    def reader(self) -> CiphertextReader: ...

    def replacement(self) -> AbstractContextManager[Replacement]: ...


@dataclass(frozen=True)
class PartialWrite:
    """What a writer that never finished left behind: ciphertext that no blob name shows."""

    #: How a person finds it: a path below the store's root, or the database's name for it.
    label: str
    #: When it was last written to.
    modified: datetime
    #: Removes it (only if it is still unfinished).
    remove: Callable[[], None] = field(compare=False, repr=False)


class BlobBackend(Protocol):
    """Where a blob's stored bytes live. A blob is visible (exists, names, open) only once completely written."""

    #: "file" or "database".
    kind: str
    #: For messages: where the blobs are.
    location: str

    def check_name(self, name: str) -> None: ...
    def exists(self, name: str) -> bool: ...
    def listing(self) -> dict[str, datetime]:
        """Every blob's name and when it was written."""
        ...

    def names(self) -> Iterator[str]: ...
    def open(self, name: str) -> CiphertextReader: ...
    def create(self, name: str, key_id: str) -> AbstractContextManager[CiphertextWriter]:
        """Write a new blob: durable and visible under its name once the block ends, gone if it raises."""
        ...

    def delete(self, name: str) -> bool: ...
    def rewrite(self, name: str) -> AbstractContextManager[Rewrite | None]: ...
    def lock(self, exclusive: bool) -> AbstractContextManager[None]:
        """Puts and rotations hold it shared, retire alone. Readers never lock."""
        ...

    def partial_writes(self) -> list[PartialWrite]: ...
