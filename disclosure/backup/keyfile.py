"""The keys of a backup, encrypted to a passphrase: `keys.enc`, format `disclosure-backup-keys/1`.

    offset  size  field
    0       8     magic b"DSKEYS1\\n"
    8       1     scrypt cost, log2(N): 17 when written; 14 to 20 accepted when read
    9       1     scrypt r: 8
    10      1     scrypt p: 1
    11      16    salt, random
    27      12    nonce, random
    39      ...   AES-256-GCM ciphertext followed by its 16-byte tag

The key is scrypt(passphrase as UTF-8, salt, N, r, p) of 32 bytes; the 39 header bytes are the associated data,
so a changed cost, salt or nonce fails like a changed ciphertext. The plaintext is UTF-8 JSON:
`{"format": "disclosure-backup-keys/1", "files": [{"path": "keys/audit-log-ed25519.pem", "mode": 384,
"data": "<base64>"}, ...], "vouches": {...}}`: every file of the keys folder under `keys/`, the instance's
`secret_key` (which the second-factor secrets are encrypted under) when it is a file, and what the backup's
manifest says of every other part and of the audit log (its time, dialect, size and root, and each part's path,
kind, size and SHA-256), so that whoever lacks the passphrase cannot alter a part and the manifest together.
A wrong passphrase and an altered file are the same failure: nothing is decrypted.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"DSKEYS1\n"
FORMAT = "disclosure-backup-keys/1"
#: scrypt cost as log2(N): 2**17 with r=8 uses 128 MiB and about half a second here (OWASP's recommendation).
SCRYPT_LOG2_N = 17
SCRYPT_R = 8
SCRYPT_P = 1
#: What a file may ask of the reader: cheaper than 2**14 was never written; dearer than 2**20 (1 GiB) is refused.
ACCEPTED_LOG2_N = range(14, 21)
SALT_SIZE = 16
NONCE_SIZE = 12
HEADER_SIZE = len(MAGIC) + 3 + SALT_SIZE + NONCE_SIZE
#: A passphrase shorter than this is refused when a backup is made.
MIN_PASSPHRASE_LENGTH = 16
#: Relative paths of the archived files: "secret_key", or "keys/" and a path of plain names below it.
_ARCHIVE_PATH = re.compile(r"secret_key|keys(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}){1,8}")


class KeyFileError(ValueError):
    """keys.enc cannot be opened: a wrong passphrase, an altered file, or not a keys file at all."""


class WeakPassphrase(ValueError):
    """The passphrase chosen for a backup is too short."""


@dataclass(frozen=True)
class ArchivedFile:
    #: "secret_key", or "keys/<path inside the keys folder>".
    path: str
    #: Permission bits to restore (at most 0700: keys are never readable by group or others).
    mode: int
    data: bytes


def check_passphrase(passphrase: str) -> None:
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise WeakPassphrase(
            f"the passphrase is {len(passphrase)} characters long; use at least {MIN_PASSPHRASE_LENGTH}, e.g. "
            "from `openssl rand -base64 32`"
        )


def is_archive_path(path: str) -> bool:
    return _ARCHIVE_PATH.fullmatch(path) is not None and ".." not in path.split("/")


def _derive(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=1 << log2_n, r=r, p=p).derive(passphrase.encode("utf-8"))


@dataclass(frozen=True)
class Opened:
    files: list[ArchivedFile]
    #: What the manifest said when the backup was made (see the module docstring).
    vouches: dict[str, Any]


def seal(files: list[ArchivedFile], passphrase: str, vouches: dict[str, Any] | None = None) -> bytes:
    """keys.enc for these files, vouching for the manifest's account of the other parts (see the docstring)."""
    check_passphrase(passphrase)
    for item in files:
        if not is_archive_path(item.path):
            raise ValueError(f"{item.path!r} cannot be archived: not a plain relative path under keys/")
    plaintext = json.dumps(
        {
            "format": FORMAT,
            "files": [
                {"path": item.path, "mode": item.mode & 0o700, "data": base64.b64encode(item.data).decode("ascii")}
                for item in files
            ],
            "vouches": vouches or {},
        },
        sort_keys=True,
    ).encode("utf-8")
    salt, nonce = secrets.token_bytes(SALT_SIZE), secrets.token_bytes(NONCE_SIZE)
    header = MAGIC + bytes([SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P]) + salt + nonce
    key = _derive(passphrase, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P)
    return header + AESGCM(key).encrypt(nonce, plaintext, header)


def open_sealed(sealed: bytes, passphrase: str) -> Opened:
    """The files in keys.enc; KeyFileError when the passphrase is wrong or anything was altered."""
    if len(sealed) < HEADER_SIZE + 16 or not sealed.startswith(MAGIC):
        raise KeyFileError("keys.enc is not a Disclosure keys file (format disclosure-backup-keys/1)")
    log2_n, r, p = sealed[len(MAGIC)], sealed[len(MAGIC) + 1], sealed[len(MAGIC) + 2]
    if log2_n not in ACCEPTED_LOG2_N or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise KeyFileError(f"keys.enc asks for scrypt parameters this reader refuses (N=2**{log2_n}, r={r}, p={p})")
    salt = sealed[len(MAGIC) + 3 : len(MAGIC) + 3 + SALT_SIZE]
    nonce = sealed[HEADER_SIZE - NONCE_SIZE : HEADER_SIZE]
    key = _derive(passphrase, salt, log2_n, r, p)
    try:
        plaintext = AESGCM(key).decrypt(nonce, sealed[HEADER_SIZE:], sealed[:HEADER_SIZE])
    except InvalidTag:
        raise KeyFileError(
            "keys.enc does not open with this passphrase (a wrong passphrase, or the file was altered)"
        ) from None
    return _parse(plaintext)


def _parse(plaintext: bytes) -> Opened:
    try:
        document = json.loads(plaintext)
        if document.get("format") != FORMAT or not isinstance(document.get("files"), list):
            raise KeyFileError(f"keys.enc holds no {FORMAT} archive")
        files = []
        for entry in document["files"]:
            path, mode, data = entry["path"], entry["mode"], entry["data"]
            if not isinstance(path, str) or not is_archive_path(path) or not isinstance(mode, int):
                raise KeyFileError(f"keys.enc names a file it may not: {path!r}")
            files.append(ArchivedFile(path, mode & 0o700, base64.b64decode(data, validate=True)))
        vouches = document.get("vouches", {})
        if not isinstance(vouches, dict):
            raise KeyFileError("keys.enc holds a malformed account of the backup")
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as error:
        if isinstance(error, KeyFileError):
            raise
        raise KeyFileError(f"keys.enc decrypted but its content is malformed ({error.__class__.__name__})") from error
    return Opened(files, vouches)


def permission_bits(mode: int) -> int:
    """The bits a restored key file gets: the owner's only, and at least read and write."""
    return (mode & 0o700) | 0o600
