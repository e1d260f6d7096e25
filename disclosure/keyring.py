"""The organisation's keys under instance/keys/ (mode 0600): the Ed25519 audit-log key, and where the passphrases
of the private keys come from.

Keys are created once by `flask keys init` or imported from PEM files; they are never overwritten. The log key
can be kept out of the instance folder (LOG_KEY_FILE, e.g. on a separately mounted volume) and encrypted with a
passphrase (LOG_KEY_PASSPHRASE, from DISCLOSURE_LOG_KEY_PASSPHRASE); the bundle CA's and signer's keys with theirs
(CA_KEY_PASSPHRASE, from DISCLOSURE_CA_KEY_PASSPHRASE; disclosure.exports.pki): whoever copies the instance folder
or the database then holds no key that could re-sign the log's checkpoints or vouch for a bundle. Every private key
is written and read by disclosure.key_files.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import current_app

from disclosure.instance import write_private_file
from disclosure.key_files import KeyFileError, passphrase_bytes, private_key_pem, read_private_key

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


#: The setting that holds the log key's passphrase, as an operator sets it.
LOG_KEY_PASSPHRASE_SETTING = "DISCLOSURE_LOG_KEY_PASSPHRASE"  # noqa: S105 - a setting's name


def _log_key_passphrase() -> bytes | None:
    return passphrase_bytes(current_app.config.get("LOG_KEY_PASSPHRASE"))


def bundle_key_passphrase() -> bytes | None:
    """The passphrase of the bundle CA's and signer's private keys (CA_KEY_PASSPHRASE), or None: plain PEM."""
    return passphrase_bytes(current_app.config.get("CA_KEY_PASSPHRASE"))


def load_log_key() -> Ed25519PrivateKey:
    path = log_key_path()
    if not path.exists():
        raise KeyMissing(f"The audit-log signing key {path} does not exist; run `flask keys init`.")
    try:
        key = read_private_key(
            path.read_bytes(), _log_key_passphrase(), f"the audit-log signing key {path}", LOG_KEY_PASSPHRASE_SETTING
        )
    except KeyFileError as error:
        raise KeyMissing(str(error)) from error
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
    write_private_file(path, private_key_pem(key, _log_key_passphrase()))
    os.chmod(path, 0o600)
    return f"{'imported' if import_from else 'created'} the audit-log key {path}"
