"""The `openssl enc -aes-256-ctr -pbkdf2 -iter 10000 -md sha256` file format, for the builder and the verifier.

A file is b"Salted__", an 8-byte random salt, then the AES-256-CTR ciphertext; PBKDF2-HMAC-SHA256 over the
passphrase and salt gives the key and the IV. The bundle's payload files and a passphrase-only bundle's inner
manifest use it, so stock OpenSSL opens them.

Invariants: every salt is fresh (secrets.token_bytes); key and IV come only from derive_key_iv. The builder
(disclosure.exports) and the verifier (bundle_verify) share it.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Final

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

ENC_MAGIC: Final = b"Salted__"
SALT_SIZE: Final = 8
PBKDF2_ITERATIONS: Final = 10_000
KEY_SIZE: Final = 32
IV_SIZE: Final = 16
ENC_HEADER_SIZE: Final = len(ENC_MAGIC) + SALT_SIZE


def derive_key_iv(passphrase: bytes, salt: bytes) -> tuple[bytes, bytes]:
    """`openssl enc -pbkdf2 -iter 10000 -md sha256` for AES-256: PBKDF2-HMAC-SHA256 gives key || IV."""
    material = hashlib.pbkdf2_hmac("sha256", passphrase, salt, PBKDF2_ITERATIONS, KEY_SIZE + IV_SIZE)
    return material[:KEY_SIZE], material[KEY_SIZE:]


def aes_ctr(passphrase: bytes, salt: bytes) -> Cipher[modes.CTR]:
    """The AES-256-CTR cipher for passphrase and salt (call .encryptor() or .decryptor() on it)."""
    key, iv = derive_key_iv(passphrase, salt)
    return Cipher(algorithms.AES(key), modes.CTR(iv))


def openssl_encrypt_bytes(data: bytes, passphrase: bytes) -> bytes:
    """Encrypt a small file held in memory, with a fresh salt."""
    salt = secrets.token_bytes(SALT_SIZE)
    encryptor = aes_ctr(passphrase, salt).encryptor()
    return ENC_MAGIC + salt + encryptor.update(data) + encryptor.finalize()


def openssl_decrypt_bytes(data: bytes, passphrase: bytes) -> bytes:
    """Decrypt a small `openssl enc -aes-256-ctr -pbkdf2 -iter 10000 -md sha256` file held in memory."""
    if len(data) < ENC_HEADER_SIZE or not data.startswith(ENC_MAGIC):
        raise ValueError("not in openssl enc format (no Salted__ header)")
    decryptor = aes_ctr(passphrase, data[len(ENC_MAGIC) : ENC_HEADER_SIZE]).decryptor()
    return decryptor.update(data[ENC_HEADER_SIZE:]) + decryptor.finalize()


def read_passphrase_line(data: bytes) -> bytes:
    """The passphrase as `openssl enc -pass file:F` reads it: the first line, without its line ending."""
    line = data.split(b"\n", 1)[0]
    return line[:-1] if line.endswith(b"\r") else line
