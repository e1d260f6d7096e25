"""The storage keys that encrypt files at rest: `<KEYS_DIR>/storage/<key_id>.key`, 32 random bytes, mode 0600.

The `current` file names the key new blobs are written under; it is replaced atomically (temporary file,
fsync, rename). A key file is created once with O_EXCL and never rewritten; old keys stay readable until they
are retired. A key file that group or others could read is refused rather than used.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.cobblestone import Cobblestone256Encryptor

KEY_SIZE = 32
KEY_SUFFIX = ".key"
CURRENT_FILE = "current"
KEY_ID = re.compile(r"[0-9a-f]{16}")
_MAX_KEY_FILE = 4096
_CREATE_PRIVATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW


class StorageKeyError(Exception):
    """A storage key cannot be used as it is."""


class StorageKeyMissing(StorageKeyError):
    """No storage key exists (or not the one asked for); run `flask keys init`."""


class StorageKeyInsecure(StorageKeyError):
    """A storage key file is readable by group or others, or is not a plain file."""


class StorageKeyInUse(StorageKeyError):
    """A storage key cannot be retired while it is current or a blob is still encrypted under it."""


def fsync_directory(folder: Path) -> None:
    """Make a rename, creation or removal inside folder durable."""
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def is_key_id(value: object) -> bool:
    return isinstance(value, str) and KEY_ID.fullmatch(value) is not None


class StorageKeyring:
    """The storage keys in one folder; see the module docstring for the layout."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def __repr__(self) -> str:
        return f"StorageKeyring({str(self.folder)!r})"

    def key_ids(self) -> list[str]:
        """Every key id in the folder, sorted."""
        if not self.folder.is_dir():
            return []
        return sorted(
            entry.name.removesuffix(KEY_SUFFIX)
            for entry in os.scandir(self.folder)
            if entry.name.endswith(KEY_SUFFIX) and is_key_id(entry.name.removesuffix(KEY_SUFFIX))
        )

    def current_id(self) -> str:
        path = self.folder / CURRENT_FILE
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            if self.key_ids():
                raise StorageKeyMissing(
                    f"{path} is missing although storage keys exist in {self.folder}; "
                    "restore it from a backup (it holds the id of the newest key)."
                ) from None
            raise StorageKeyMissing(f"There is no storage key in {self.folder}; run `flask keys init`.") from None
        except (OSError, UnicodeDecodeError) as error:
            raise StorageKeyMissing(f"{path} cannot be read: {error}") from error
        if not is_key_id(text):
            raise StorageKeyMissing(f"{path} does not name a storage key id (16 hex digits)")
        return text

    def current(self) -> tuple[str, bytes]:
        """The id and bytes of the key new blobs are encrypted under."""
        key_id = self.current_id()
        return key_id, self.get(key_id)

    def get(self, key_id: str) -> bytes:
        """The key with this id; refuses a key file that group or others could read."""
        if not is_key_id(key_id):
            raise StorageKeyMissing(f"{key_id!r} is not a storage key id (16 hex digits)")
        path = self.folder / f"{key_id}{KEY_SUFFIX}"
        try:
            descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise StorageKeyMissing(
                f"Storage key {key_id} is not in {self.folder} (retired, or the folder was not restored)."
            ) from None
        except OSError as error:  # ELOOP: a symbolic link where the key should be
            raise StorageKeyInsecure(f"{path} cannot be opened as a plain file: {error}") from error
        with os.fdopen(descriptor, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise StorageKeyInsecure(f"{path} is not a plain file")
            if info.st_mode & 0o077:
                raise StorageKeyInsecure(
                    f"{path} has mode {stat.S_IMODE(info.st_mode):04o}: group or others may read it. "
                    f"Run `chmod 600 {path}`, and consider the key exposed: "
                    "rotate with `flask storage rotate-key`."
                )
            key = handle.read(_MAX_KEY_FILE)
        if len(key) != KEY_SIZE:
            raise StorageKeyError(f"{path} holds {len(key)} bytes; a storage key is {KEY_SIZE}")
        return key

    def create(self) -> str:
        """Create a new key, make it current and return its id."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = Cobblestone256Encryptor.generate_key()
        while True:
            key_id = secrets.token_hex(8)
            try:
                descriptor = os.open(self.folder / f"{key_id}{KEY_SUFFIX}", _CREATE_PRIVATE, 0o600)
            except FileExistsError:
                continue
            break
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        fsync_directory(self.folder)
        self._set_current(key_id)
        return key_id

    def init(self) -> str | None:
        """Create the first key if there is none; return a line saying so, or None when nothing was done."""
        if self.key_ids():
            self.current()  # a keyring without a readable current key is an error, not "nothing to do"
            return None
        return f"created storage key {self.create()} in {self.folder}"

    def remove(self, key_id: str) -> None:
        """Delete a key file. Only BlobStore.retire() should call this: it knows whether a blob needs it."""
        if key_id == self.current_id():
            raise StorageKeyInUse(f"Storage key {key_id} is the current key; rotate to a new key first.")
        if not is_key_id(key_id):
            raise StorageKeyMissing(f"{key_id!r} is not a storage key id (16 hex digits)")
        try:
            (self.folder / f"{key_id}{KEY_SUFFIX}").unlink()
        except FileNotFoundError:
            raise StorageKeyMissing(f"Storage key {key_id} is not in {self.folder}.") from None
        fsync_directory(self.folder)

    def _set_current(self, key_id: str) -> None:
        temporary = self.folder / f".{CURRENT_FILE}.{secrets.token_hex(8)}"
        descriptor = os.open(temporary, _CREATE_PRIVATE, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(f"{key_id}\n".encode("ascii"))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.folder / CURRENT_FILE)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        fsync_directory(self.folder)


def keyring_for_config(config: Mapping[str, Any]) -> StorageKeyring:
    """The app's storage keyring: `<KEYS_DIR>/storage`."""
    keys_dir = config.get("KEYS_DIR")
    if not keys_dir:
        raise StorageKeyMissing("KEYS_DIR is not configured; the storage keys live in <KEYS_DIR>/storage")
    return StorageKeyring(Path(keys_dir) / "storage")
