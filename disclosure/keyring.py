"""The organisation's keys under instance/keys/ (mode 0600): for now the Ed25519 audit-log key.

Keys are created once by `flask keys init` or imported from PEM files; they are never overwritten.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app

from disclosure.instance import write_private_file

LOG_KEY_FILE = "audit-log-ed25519.pem"


class KeyMissing(RuntimeError):
    """A key the operation needs has not been created; run `flask keys init`."""


class KeyImportError(ValueError):
    """A key file given for import is unreadable or of the wrong kind."""


def keys_dir() -> Path:
    return Path(current_app.config["KEYS_DIR"])


def log_key_name() -> str:
    """The signed-note key name: the log's origin, which names whose log this is."""
    return str(current_app.config["AUDIT_ORIGIN"])


def load_log_key() -> Ed25519PrivateKey:
    path = keys_dir() / LOG_KEY_FILE
    if not path.exists():
        raise KeyMissing(f"The audit-log signing key {path} does not exist; run `flask keys init`.")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyMissing(f"{path} does not hold an Ed25519 private key.")
    return key


def log_public_key() -> Ed25519PublicKey:
    return load_log_key().public_key()


def init_log_key(import_from: Path | None = None) -> str | None:
    """Create (or import) the log key if missing; return a line describing what was done, or None."""
    folder = keys_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / LOG_KEY_FILE
    if path.exists():
        return None
    if import_from is not None:
        try:
            key = serialization.load_pem_private_key(import_from.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as error:
            raise KeyImportError(f"{import_from}: not an unencrypted PEM private key ({error})") from error
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyImportError(f"{import_from}: the audit-log key must be Ed25519")
    else:
        key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_private_file(path, pem)
    os.chmod(path, 0o600)
    return f"{'imported' if import_from else 'created'} the audit-log key {path}"
