"""The organisation's keys under instance/keys/ (mode 0600): for now the Ed25519 audit-log key.

Keys are created once by `flask keys init` or imported from PEM files; they are never overwritten. The log key
can be kept out of the instance folder (LOG_KEY_FILE, e.g. on a separately mounted volume) and encrypted with a
passphrase (LOG_KEY_PASSPHRASE, from DISCLOSURE_LOG_KEY_PASSPHRASE): whoever copies the instance folder or the
database then holds no key that could re-sign the log's checkpoints.
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


def log_key_path() -> Path:
    """LOG_KEY_FILE when set (a path outside the instance folder), else the keys folder's audit-log-ed25519.pem."""
    configured = current_app.config.get("LOG_KEY_FILE")
    return Path(configured) if configured else keys_dir() / LOG_KEY_FILE


def _log_key_passphrase() -> bytes | None:
    passphrase = current_app.config.get("LOG_KEY_PASSPHRASE")
    return str(passphrase).encode("utf-8") if passphrase else None


def load_log_key() -> Ed25519PrivateKey:
    path = log_key_path()
    if not path.exists():
        raise KeyMissing(f"The audit-log signing key {path} does not exist; run `flask keys init`.")
    passphrase = _log_key_passphrase()
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=passphrase)
    except TypeError as error:
        # cryptography: a passphrase for a plain PEM, or none for an encrypted one.
        hint = (
            "it is encrypted: set DISCLOSURE_LOG_KEY_PASSPHRASE"
            if passphrase is None
            else "it is not encrypted: unset DISCLOSURE_LOG_KEY_PASSPHRASE"
        )
        raise KeyMissing(f"cannot read the audit-log signing key {path}: {hint}") from error
    except ValueError as error:
        raise KeyMissing(
            f"cannot read the audit-log signing key {path}: wrong passphrase (DISCLOSURE_LOG_KEY_PASSPHRASE) "
            "or not a PEM private key"
        ) from error
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyMissing(f"{path} does not hold an Ed25519 private key.")
    return key


def log_public_key() -> Ed25519PublicKey:
    return load_log_key().public_key()


def init_log_key(import_from: Path | None = None) -> str | None:
    """Create (or import) the log key if missing; return a line describing what was done, or None."""
    path = log_key_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
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
    passphrase = _log_key_passphrase()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    write_private_file(path, pem)
    os.chmod(path, 0o600)
    return f"{'imported' if import_from else 'created'} the audit-log key {path}"
