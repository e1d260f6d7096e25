"""The one way files are stored at rest: encrypted, under generated names, written atomically, in one of two backends.

A blob's stored bytes are b"DSB1", the 16-hex id of its storage key, then a Cobblestone-256 stream (C2SP chunked
encryption: AES-256-GCM over 16 KiB chunks) whose context is b"disclosure-blob-v1:" + name, so a blob moved to
another name does not decrypt. BlobStore holds the encryption and authentication, written once; where the
ciphertext lives is its backend's business (BlobBackend, disclosure.storage.backend):
- FileBackend (the default, and the only one on SQLite): `root/<first 2 hex>/<name>`. Every path goes through
  FileBackend.path(). Writes go to `.tmp/`, are fsynced, then renamed into place: a crash leaves no file or a
  complete one under a blob's name.
- DatabaseBackend (disclosure.storage.database_backend): the same bytes in PostgreSQL rows, so that several app
  hosts sharing one database share the blobs too. A blob appears only once complete, as with the files.

What Cobblestone guarantees, checked by experiment (cryptography 50.0) and relied on here:
- Decryptor.update() returns only plaintext of chunks whose tag verified, but the message can still turn out
  truncated (at a chunk boundary, or its final chunk dropped or altered): only finalize() proves it complete.
- Decryptor.update_into() may leave unauthenticated plaintext of a forged chunk in its buffer when it raises.
So open() authenticates the whole blob (a pass that discards the plaintext into a private buffer) before
handing out a byte, and the second, streaming pass over the same open file is authenticated chunk by chunk and
finalized; read_all() and sha256() return only after finalize().
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from io import BufferedReader
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from cryptography.cobblestone import Cobblestone256Decryptor, Cobblestone256Encryptor
from cryptography.exceptions import InvalidTag

from disclosure.storage.backend import (
    BLOB_NAME,
    HEADER_SIZE,
    MAGIC,
    BlobBackend,
    BlobCorrupted,
    BlobMissing,
    BlobTooLarge,
    CiphertextReader,
    CiphertextWriter,
    PartialWrite,
    Replacement,
    Rewrite,
    StorageError,
    UnsafeBlobName,
)
from disclosure.storage.keys import (
    StorageKeyInUse,
    StorageKeyMissing,
    StorageKeyring,
    fsync_directory,
    is_key_id,
    keyring_for_config,
)

CONTEXT_PREFIX = b"disclosure-blob-v1:"
CHUNK_SIZE = 1 << 20
SHARD = re.compile(r"[0-9a-f]{2}")
TEMPORARY_DIR = ".tmp"
TEMPORARY_SUFFIX = ".part"
# Sizes the cryptography documentation gives as always large enough for update_into's output.
_ENCRYPT_BUFFER = CHUNK_SIZE + CHUNK_SIZE // 1024 + 16456
_DECRYPT_BUFFER = CHUNK_SIZE + 16400

PlaintextSource = Iterable[bytes] | BinaryIO


class _Digest(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...


class RotationIncomplete(StorageError):
    """A key rotation re-encrypted what it could; some blobs were corrupted and still use their old key."""

    def __init__(self, rotation: Rotation) -> None:
        self.rotation = rotation
        super().__init__(
            f"rotated to storage key {rotation.key_id}: {rotation.rotated} blobs re-encrypted, "
            f"{len(rotation.corrupted)} corrupted and left under their old key: " + "; ".join(rotation.corrupted)
        )


@dataclass(frozen=True)
class StoredBlob:
    #: The generated name: the only handle on the file; keep it with the record that owns the file.
    name: str
    #: Plaintext bytes.
    size: int
    #: Hex SHA-256 of the plaintext, computed while it was stored.
    sha256: str


@dataclass(frozen=True)
class Rotation:
    #: The new current key.
    key_id: str
    #: Blobs re-encrypted under it.
    rotated: int
    #: One message per blob that could not be re-encrypted because it failed authentication.
    corrupted: tuple[str, ...] = ()


def new_blob_name() -> str:
    """A fresh blob name: 128 random bits, so that no two writers ever choose the same."""
    return secrets.token_hex(16)


def blob_context(name: str) -> bytes:
    return CONTEXT_PREFIX + name.encode("ascii")


def _plaintext_pieces(source: PlaintextSource) -> Iterator[memoryview]:
    """The source as pieces of at most CHUNK_SIZE bytes; a file is read into one reused buffer."""
    if hasattr(source, "readinto"):
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        while count := source.readinto(buffer):
            yield view[:count]
        return
    if hasattr(source, "read"):
        while data := source.read(CHUNK_SIZE):
            yield memoryview(data)
        return
    for chunk in source:
        if isinstance(chunk, str):
            raise TypeError("blob content must be bytes, not str")
        whole = memoryview(chunk).cast("B")
        for start in range(0, len(whole), CHUNK_SIZE):
            yield whole[start : start + CHUNK_SIZE]



# -- the file backend ------------------------------------------------------------------------------------------


class FileBackend:
    """Blobs as files under one root; see the module docstring."""

    kind = "file"

    def __init__(self, root: Path) -> None:
        root = Path(root)
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        (root / TEMPORARY_DIR).mkdir(mode=0o700, exist_ok=True)
        self.root = root.resolve(strict=True)
        self.location = f"the blob folder {self.root}"

    def __repr__(self) -> str:
        return f"FileBackend({str(self.root)!r})"

    def path(self, name: str) -> Path:
        """The file for a blob name; refuses any name or path that leads anywhere but root/<xx>/<name>."""
        if not isinstance(name, str) or BLOB_NAME.fullmatch(name) is None:
            raise UnsafeBlobName(f"{name!r} is not a blob name (32 lowercase hex digits)")
        expected = self.root / name[:2] / name
        resolved = Path(os.path.realpath(expected))
        if not resolved.is_relative_to(self.root):
            raise UnsafeBlobName(f"blob {name} resolves to {resolved}, outside the storage root {self.root}")
        if resolved != expected:  # a symbolic link inside the root: never followed either
            raise UnsafeBlobName(f"blob {name} is reached through a symbolic link; refused")
        return expected

    def check_name(self, name: str) -> None:
        self.path(name)

    def exists(self, name: str) -> bool:
        try:
            info = os.stat(self.path(name), follow_symlinks=False)
        except FileNotFoundError:
            return False
        return stat.S_ISREG(info.st_mode)

    def names(self) -> Iterator[str]:
        for shard in sorted(
            entry.name
            for entry in os.scandir(self.root)
            if SHARD.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False)
        ):
            for entry in sorted(os.scandir(self.root / shard), key=lambda entry: entry.name):
                if (
                    BLOB_NAME.fullmatch(entry.name)
                    and entry.name.startswith(shard)
                    and entry.is_file(follow_symlinks=False)
                ):
                    yield entry.name

    def listing(self) -> dict[str, datetime]:
        found = {}
        for name in self.names():
            try:
                found[name] = _timestamp((self.root / name[:2] / name).stat(follow_symlinks=False).st_mtime)
            except FileNotFoundError:
                continue
        return found

    def open(self, name: str) -> BufferedReader:
        path = self.path(name)
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise BlobMissing(f"blob {name} does not exist") from None
        except OSError as error:  # ELOOP: a symbolic link appeared after path() looked
            raise UnsafeBlobName(f"blob {name} cannot be opened as a plain file: {error}") from error
        return os.fdopen(descriptor, "rb")

    @contextmanager
    def create(self, name: str, key_id: str) -> Iterator[CiphertextWriter]:
        final = self.path(name)
        with self._temporary() as (temporary, out):
            yield out
            self._commit(temporary, out, final)

    def delete(self, name: str) -> bool:
        path = self.path(name)
        handle = self._lock_blob(path)
        if handle is None:
            return False
        with handle:
            path.unlink()
            fsync_directory(path.parent)
        return True

    @contextmanager
    def rewrite(self, name: str) -> Iterator[Rewrite | None]:
        path = self.path(name)
        handle = self._lock_blob(path)
        if handle is None:
            yield None
            return
        with handle:
            yield _FileRewrite(self, path, handle)

    @contextmanager
    def lock(self, exclusive: bool) -> Iterator[None]:
        descriptor = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(descriptor)

    def temporary_files(self) -> list[Path]:
        return sorted((self.root / TEMPORARY_DIR).glob(f"*{TEMPORARY_SUFFIX}"))

    def partial_writes(self) -> list[PartialWrite]:
        found = []
        for path in self.temporary_files():
            try:
                modified = _timestamp(path.stat(follow_symlinks=False).st_mtime)
            except FileNotFoundError:
                continue
            found.append(PartialWrite(path.relative_to(self.root).as_posix(), modified, partial(_unlink, path)))
        return found

    def _lock_blob(self, path: Path) -> BufferedReader | None:
        """Open a blob and lock it, making sure the lock is on the file its name still points to.

        Rotation and deletion of the same blob take this lock, so a rotation never brings a deleted blob back.
        """
        while True:
            try:
                descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            except FileNotFoundError:
                return None
            handle = os.fdopen(descriptor, "rb")
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            try:
                on_disk = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                handle.close()
                return None
            if os.path.samestat(on_disk, os.fstat(descriptor)):
                return handle
            handle.close()  # replaced while we waited: lock the new file instead

    @contextmanager
    def _temporary(self) -> Iterator[tuple[Path, BinaryIO]]:
        """A new file in .tmp/ (mode 0600), removed again unless _commit() renamed it into place."""
        temporary = self.root / TEMPORARY_DIR / f"{secrets.token_hex(16)}{TEMPORARY_SUFFIX}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as out:
                yield temporary, out
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def _commit(self, temporary: Path, out: BinaryIO, final: Path) -> None:
        out.flush()
        os.fsync(out.fileno())
        if not final.parent.is_dir():
            final.parent.mkdir(mode=0o700, exist_ok=True)
            fsync_directory(self.root)
        os.replace(temporary, final)
        fsync_directory(final.parent)


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _timestamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass
class _FileRewrite:
    backend: FileBackend
    path: Path
    reader: BufferedReader

    @contextmanager
    def replacement(self) -> Iterator[Replacement]:
        with self.backend._temporary() as (temporary, out):
            replacement = _FileReplacement(self.backend, temporary, out, self.path)
            yield replacement
            if not replacement.installed:
                temporary.unlink(missing_ok=True)


@dataclass
class _FileReplacement:
    backend: FileBackend
    temporary: Path
    out: BinaryIO
    final: Path
    installed: bool = False

    def written(self) -> CiphertextReader:
        self.out.flush()
        return open(self.temporary, "rb")

    def install(self) -> bool:
        self.backend._commit(self.temporary, self.out, self.final)
        self.installed = True
        return True


# -- the store -------------------------------------------------------------------------------------------------


class BlobStore:
    """Encrypted blobs in one backend; see the module docstring for the format and the guarantees.

    `BlobStore(root, keyring)` keeps the blobs as files under root; `BlobStore(backend, keyring)` in any backend.
    """

    def __init__(self, where: Path | str | BlobBackend, keyring: StorageKeyring) -> None:
        self.backend: BlobBackend = FileBackend(Path(where)) if isinstance(where, str | Path) else where
        self.keyring = keyring

    def __repr__(self) -> str:
        return f"BlobStore({self.backend!r}, {self.keyring!r})"

    @property
    def kind(self) -> str:
        """"file" or "database"."""
        return self.backend.kind

    @property
    def location(self) -> str:
        return self.backend.location

    @property
    def root(self) -> Path:
        """The folder of a file store; a database store has none."""
        return self._files().root

    def path(self, name: str) -> Path:
        """The file of a blob in a file store (FileBackend.path: the chokepoint); a database store has none."""
        return self._files().path(name)

    def _files(self) -> FileBackend:
        if not isinstance(self.backend, FileBackend):
            raise StorageError(f"the blobs are kept in {self.backend.location}, not in files")
        return self.backend

    # -- writing ---------------------------------------------------------------------------------------------

    def put(self, source: PlaintextSource, max_bytes: int, name: str | None = None) -> StoredBlob:
        """Encrypt source under a new name; return once the blob is durable. Refuses more than max_bytes.

        `name`, from new_blob_name(), lets the caller record the name before the blob exists (a pending_file row);
        a blob of that name must not exist yet.
        """
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        name = new_blob_name() if name is None else name
        self.backend.check_name(name)
        if self.exists(name):
            raise StorageError(f"blob {name} exists already; a new blob takes a new name")
        with self.backend.lock(exclusive=False):  # a key cannot be retired while a put may still use it
            key_id, key = self.keyring.current()
            with self.backend.create(name, key_id) as out:
                out.write(MAGIC + key_id.encode("ascii"))
                encryptor = Cobblestone256Encryptor(key, blob_context(name))
                digest = hashlib.sha256()
                buffer = bytearray(_ENCRYPT_BUFFER)
                view = memoryview(buffer)
                size = 0
                for piece in _plaintext_pieces(source):
                    size += len(piece)
                    if size > max_bytes:
                        raise BlobTooLarge(f"the file is larger than the limit of {max_bytes} bytes")
                    digest.update(piece)
                    out.write(view[: encryptor.update_into(piece, buffer)])
                out.write(encryptor.finalize())
        return StoredBlob(name=name, size=size, sha256=digest.hexdigest())

    # -- reading ---------------------------------------------------------------------------------------------

    def open(self, name: str) -> Iterator[bytes]:
        """The plaintext in chunks, once the whole blob authenticated; raises BlobCorrupted or BlobMissing.

        The check happens here, before the iterator is returned, so a caller can turn a corrupted blob into an
        error response before sending anything. Should the blob change in place between the check and the end
        of the stream, the stream stops with BlobCorrupted; every chunk it did yield was authenticated.
        """
        handle, key = self._open_blob(name)
        try:
            self._authenticate(name, handle, key, None)
            handle.seek(HEADER_SIZE)
        except BaseException:
            handle.close()
            raise
        return self._stream(name, handle, key)

    def read_all(self, name: str) -> bytes:
        """The whole plaintext, for small files; returned only once the blob authenticated as a whole."""
        handle, key = self._open_blob(name)
        with closing(handle):
            return b"".join(self._decrypt(name, handle, key))

    def sha256(self, name: str) -> str:
        """Recompute the plaintext's SHA-256 (and so authenticate the whole blob)."""
        handle, key = self._open_blob(name)
        digest = hashlib.sha256()
        with closing(handle):
            self._authenticate(name, handle, key, digest)
        return digest.hexdigest()

    def exists(self, name: str) -> bool:
        return self.backend.exists(name)

    def key_id(self, name: str) -> str:
        """The id of the storage key a blob is encrypted under, from its header."""
        handle, _ = self._open_blob(name, with_key=False)
        with closing(handle):
            return self._read_header(name, handle)

    def names(self) -> Iterator[str]:
        """Every blob name in the store, sorted."""
        return self.backend.names()

    def listing(self) -> dict[str, datetime]:
        """Every blob's name and when it was written."""
        return self.backend.listing()

    # -- removing --------------------------------------------------------------------------------------------

    def delete(self, name: str) -> bool:
        """Remove a blob; False if there was none. Delete its record first: no record may point at nothing."""
        return self.backend.delete(name)

    def temporary_files(self) -> list[Path]:
        """A file store's leftovers of writers that were killed (ciphertext only), and writes in progress."""
        return self._files().temporary_files() if isinstance(self.backend, FileBackend) else []

    def partial_writes(self) -> list[PartialWrite]:
        """Leftovers of writers that were killed (ciphertext only), and writes in progress, in either backend."""
        return self.backend.partial_writes()

    def remove_stale_temporaries(self, older_than_seconds: float = 24 * 3600) -> int:
        """Remove leftovers of killed writers; younger ones may belong to a write in progress."""
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
        removed = 0
        for leftover in self.partial_writes():
            if leftover.modified < cutoff:
                leftover.remove()
                removed += 1
        return removed

    # -- keys ------------------------------------------------------------------------------------------------

    def rotate(self, progress: Callable[[str], None] | None = None) -> int:
        """Re-encrypt every blob under a new current key; return how many, or raise RotationIncomplete."""
        rotation = self.rotate_key(progress)
        if rotation.corrupted:
            raise RotationIncomplete(rotation)
        return rotation.rotated

    def rotate_key(self, progress: Callable[[str], None] | None = None) -> Rotation:
        """Create a new key and re-encrypt every blob under it, each atomically and checked against its hash.

        Old keys stay until retire(); a blob that fails authentication is left as it is and reported.
        """
        self.keyring.current()  # no key yet: say `flask keys init` instead of inventing a first key here
        rotated = 0
        corrupted = []
        with self.backend.lock(exclusive=False):
            key_id = self.keyring.create()
            key = self.keyring.get(key_id)
            for name in list(self.names()):
                try:
                    if self._reencrypt(name, key_id, key):
                        rotated += 1
                except BlobCorrupted as error:
                    corrupted.append(str(error))
                if progress is not None:
                    progress(name)
        return Rotation(key_id=key_id, rotated=rotated, corrupted=tuple(corrupted))

    def retire(self, key_id: str) -> None:
        """Delete an old key; refused while it is current or any blob is still encrypted under it."""
        with self.backend.lock(exclusive=True):
            if key_id == self.keyring.current_id():
                raise StorageKeyInUse(f"storage key {key_id} is the current key; rotate to a new key first")
            users = []
            for name in self.names():
                try:
                    if self.key_id(name) == key_id:
                        users.append(name)
                except (BlobCorrupted, BlobMissing):
                    continue  # unreadable without any key, or deleted meanwhile
            if users:
                raise StorageKeyInUse(
                    f"storage key {key_id} still encrypts {len(users)} blob(s), e.g. {users[0]}; "
                    "run `flask storage rotate-key` first"
                )
            self.keyring.remove(key_id)

    # -- internals -------------------------------------------------------------------------------------------

    def _open_blob(self, name: str, with_key: bool = True) -> tuple[CiphertextReader, bytes]:
        handle = self.backend.open(name)
        try:
            key_id = self._read_header(name, handle)
            return handle, self._key(name, key_id) if with_key else b""
        except BaseException:
            handle.close()
            raise

    def _read_header(self, name: str, handle: CiphertextReader) -> str:
        handle.seek(0)
        header = handle.read(HEADER_SIZE)
        if len(header) < HEADER_SIZE or not header.startswith(MAGIC):
            raise BlobCorrupted(f"blob {name} is corrupted: it does not start with a {MAGIC.decode()} header")
        key_id = header[len(MAGIC) :].decode("ascii", errors="replace")
        if not is_key_id(key_id):
            raise BlobCorrupted(f"blob {name} is corrupted: its header names no valid storage key id")
        return key_id

    def _key(self, name: str, key_id: str) -> bytes:
        try:
            return self.keyring.get(key_id)
        except StorageKeyMissing as error:
            raise BlobCorrupted(
                f"blob {name} is encrypted under storage key {key_id}, which is not in {self.keyring.folder}"
            ) from error

    @staticmethod
    def _corrupted(name: str) -> BlobCorrupted:
        return BlobCorrupted(
            f"blob {name} is corrupted: it failed authentication (altered, truncated, or moved from another name)"
        )

    def _authenticate(self, name: str, handle: CiphertextReader, key: bytes, digest: _Digest | None) -> int:
        """Decrypt the rest of handle into a private buffer, hashing if asked; return the plaintext size."""
        decryptor = Cobblestone256Decryptor(key, blob_context(name))
        source = bytearray(CHUNK_SIZE)
        source_view = memoryview(source)
        plain = bytearray(_DECRYPT_BUFFER)
        plain_view = memoryview(plain)
        size = 0
        try:
            while count := handle.readinto(source):
                produced = decryptor.update_into(source_view[:count], plain)
                if digest is not None:
                    digest.update(plain_view[:produced])
                size += produced
            tail = decryptor.finalize()
        except InvalidTag:
            plain[:] = bytes(len(plain))  # update_into may have left a forged chunk's plaintext here
            raise self._corrupted(name) from None
        if digest is not None:
            digest.update(tail)
        return size + len(tail)

    def _decrypt(self, name: str, handle: CiphertextReader, key: bytes) -> Iterator[bytes]:
        """Authenticated plaintext chunks of the rest of handle; the last only once finalize() succeeded."""
        decryptor = Cobblestone256Decryptor(key, blob_context(name))
        source = bytearray(CHUNK_SIZE)
        source_view = memoryview(source)
        while True:
            count = handle.readinto(source)
            try:
                plaintext = decryptor.update(source_view[:count]) if count else decryptor.finalize()
            except InvalidTag:
                raise self._corrupted(name) from None
            if plaintext:
                yield plaintext
            if not count:
                return

    def _stream(self, name: str, handle: CiphertextReader, key: bytes) -> Iterator[bytes]:
        with closing(handle):
            yield from self._decrypt(name, handle, key)

    def _reencrypt(self, name: str, key_id: str, key: bytes) -> bool:
        """Re-encrypt one blob under key_id, unless it is already; False when it was deleted meanwhile."""
        with self.backend.rewrite(name) as rewrite:
            if rewrite is None:
                return False
            old_key_id = self._read_header(name, rewrite.reader)
            if old_key_id == key_id:
                return False
            old_key = self._key(name, old_key_id)
            before = hashlib.sha256()
            with rewrite.replacement() as replacement:
                out = replacement.out
                out.write(MAGIC + key_id.encode("ascii"))
                encryptor = Cobblestone256Encryptor(key, blob_context(name))
                buffer = bytearray(_ENCRYPT_BUFFER)
                view = memoryview(buffer)
                for plaintext in self._decrypt(name, rewrite.reader, old_key):
                    before.update(plaintext)
                    out.write(view[: encryptor.update_into(plaintext, buffer)])
                out.write(encryptor.finalize())
                after = hashlib.sha256()
                with closing(replacement.written()) as check:
                    if self._read_header(name, check) != key_id:
                        raise StorageError(f"re-encrypting blob {name} wrote the wrong key id")
                    self._authenticate(name, check, key, after)
                if after.digest() != before.digest():
                    raise StorageError(f"re-encrypting blob {name} changed its content; the old one is kept")
                return replacement.install()


BLOB_BACKENDS = ("file", "database")


def store_for_app(config: Mapping[str, Any], instance_path: str | os.PathLike[str] | None = None) -> BlobStore:
    """The app's store, keys in `<KEYS_DIR>/storage`. BLOB_BACKEND "file" (the default): root BLOB_DIR (default
    `<instance>/blobs`); "database": the app's PostgreSQL database (disclosure.storage.database_backend).

    Call it as `store_for_app(app.config, app.instance_path)`.
    """
    kind = config.get("BLOB_BACKEND") or "file"
    if kind == "database":
        from disclosure.storage.database_backend import backend_for_config

        return BlobStore(backend_for_config(config), keyring_for_config(config))
    if kind != "file":
        raise StorageError(f"BLOB_BACKEND is {kind!r}; choose one of {', '.join(BLOB_BACKENDS)}")
    blob_dir = config.get("BLOB_DIR")
    if blob_dir:
        root = Path(blob_dir)
    elif instance_path is not None:
        root = Path(instance_path) / "blobs"
    else:
        raise StorageError("set BLOB_DIR or pass the instance path: the blobs live in <instance>/blobs")
    return BlobStore(root, keyring_for_config(config))
