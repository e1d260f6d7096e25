"""keys.enc: the documented format, opened only by its passphrase, refusing anything altered or out of bounds."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from disclosure.backup import keyfile
from disclosure.backup.keyfile import ArchivedFile, KeyFileError, WeakPassphrase, open_sealed, seal

PASSPHRASE = "a passphrase of some length"
FILES = [
    ArchivedFile("keys/audit-log-ed25519.pem", 0o600, b"-----BEGIN PRIVATE KEY-----\n"),
    ArchivedFile("keys/storage/0123456789abcdef.key", 0o600, bytes(range(32))),
    ArchivedFile("secret_key", 0o600, b"s3cret\n"),
]


@pytest.fixture(autouse=True)
def cheap_scrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cheapest cost a reader accepts, in tests only: the format carries the cost, so reading is unchanged."""
    monkeypatch.setattr(keyfile, "SCRYPT_LOG2_N", 14)


def test_round_trip() -> None:
    opened = open_sealed(seal(FILES, PASSPHRASE, {"parts": [["blobs/ab/ab", "blob", 1, "00"]]}), PASSPHRASE)
    assert opened.files == FILES
    assert opened.vouches == {"parts": [["blobs/ab/ab", "blob", 1, "00"]]}


def test_the_format_is_what_the_docstring_says() -> None:
    sealed = seal(FILES, PASSPHRASE)
    assert sealed[:8] == b"DSKEYS1\n" and sealed[8:11] == bytes([14, 8, 1])
    salt, nonce, header = sealed[11:27], sealed[27:39], sealed[:39]
    key = Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive(PASSPHRASE.encode())
    document = json.loads(AESGCM(key).decrypt(nonce, sealed[39:], header))
    assert document["format"] == "disclosure-backup-keys/1"
    assert [(entry["path"], base64.b64decode(entry["data"])) for entry in document["files"]] == [
        (item.path, item.data) for item in FILES
    ]


def test_no_plaintext_in_the_file() -> None:
    sealed = seal(FILES, PASSPHRASE)
    assert b"PRIVATE KEY" not in sealed and b"s3cret" not in sealed and bytes(range(32)) not in sealed


def test_a_wrong_passphrase_opens_nothing() -> None:
    with pytest.raises(KeyFileError, match="does not open with this passphrase"):
        open_sealed(seal(FILES, PASSPHRASE), PASSPHRASE + "!")


@pytest.mark.parametrize("offset", [11, 30, 45, -1])
def test_any_altered_byte_opens_nothing(offset: int) -> None:
    sealed = bytearray(seal(FILES, PASSPHRASE))
    sealed[offset] ^= 1
    with pytest.raises(KeyFileError):
        open_sealed(bytes(sealed), PASSPHRASE)


def test_a_cost_changed_in_the_header_is_refused_by_the_tag() -> None:
    sealed = bytearray(seal(FILES, PASSPHRASE))
    sealed[8] = 15
    with pytest.raises(KeyFileError, match="does not open"):
        open_sealed(bytes(sealed), PASSPHRASE)


def test_an_unbounded_cost_is_refused_before_any_work() -> None:
    sealed = bytearray(seal(FILES, PASSPHRASE))
    sealed[8] = 40
    with pytest.raises(KeyFileError, match="refuses"):
        open_sealed(bytes(sealed), PASSPHRASE)


def test_not_a_keys_file() -> None:
    with pytest.raises(KeyFileError, match="not a Disclosure keys file"):
        open_sealed(b"Salted__" + bytes(64), PASSPHRASE)


@pytest.mark.parametrize("path", ["../etc/passwd", "keys/../../x", "/etc/passwd", "keys/.hidden", "other/x"])
def test_an_archive_naming_a_path_outside_the_keys_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="cannot be archived"):
        seal([ArchivedFile(path, 0o600, b"x")], PASSPHRASE)
    # And when someone seals one by hand, reading refuses it.
    salt, nonce = bytes(16), bytes(12)
    header = b"DSKEYS1\n" + bytes([14, 8, 1]) + salt + nonce
    key = Scrypt(salt=salt, length=32, n=2**14, r=8, p=1).derive(PASSPHRASE.encode())
    plaintext = json.dumps(
        {"format": "disclosure-backup-keys/1", "files": [{"path": path, "mode": 384, "data": "eA=="}]}
    ).encode()
    with pytest.raises(KeyFileError, match="names a file it may not"):
        open_sealed(header + AESGCM(key).encrypt(nonce, plaintext, header), PASSPHRASE)


def test_a_short_passphrase_is_refused() -> None:
    with pytest.raises(WeakPassphrase, match="at least 16"):
        seal(FILES, "short")
