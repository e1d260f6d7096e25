"""Private keys kept in PEM files (PKCS#8), encrypted with a passphrase when the operator sets one.

The one way the organisation's private keys are turned into file contents and read back: the audit-log key
(disclosure.keyring) and the bundle CA's and bundle signer's (disclosure.exports.pki). With a passphrase a key is
PKCS#8 encrypted with the best encryption cryptography offers (PBES2: PBKDF2-SHA256 and AES-256-CBC, which
`openssl pkey` reads too); reading it back, a missing, wrong or superfluous passphrase is a message naming the
file and the setting to fix, never cryptography's own error. Writing the file (mode 0600) is the caller's, through
disclosure.instance.write_private_file. Pure: cryptography only.
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

#: The shortest passphrase accepted for a key file: PKCS#8's key derivation is cheap (PBKDF2, 2,048 rounds), so
#: a copied file is only as safe as a passphrase too long to guess.
MIN_PASSPHRASE_LENGTH = 16


class KeyFileError(ValueError):
    """A private key's PEM cannot be read as configured; the message names the file and the setting to fix."""


def passphrase_bytes(value: object) -> bytes | None:
    """A passphrase setting as bytes (UTF-8), or None when it is unset or empty."""
    return str(value).encode("utf-8") if value else None


def private_key_pem(key: PrivateKeyTypes, passphrase: bytes | None) -> bytes:
    """The key as PKCS#8 PEM: encrypted with the passphrase when one is given, else plain."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def read_private_key(data: bytes, passphrase: bytes | None, what: str, setting: str | None) -> PrivateKeyTypes:
    """Load a PEM private key. `what` names it with its path; `setting` is the environment variable holding its
    passphrase, or None for a file given for import (which must be unencrypted)."""
    try:
        return serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as error:
        # cryptography: a passphrase given for a plain PEM, or none for an encrypted one.
        if setting is None:
            raise KeyFileError(f"{what} is encrypted; give an unencrypted PEM private key") from error
        hint = f"it is encrypted: set {setting}" if passphrase is None else f"it is not encrypted: unset {setting}"
        raise KeyFileError(f"cannot read {what}: {hint}") from error
    except (ValueError, UnsupportedAlgorithm) as error:
        if setting is None:
            raise KeyFileError(f"{what} is not a PEM private key ({error})") from error
        raise KeyFileError(f"cannot read {what}: wrong passphrase ({setting}) or not a PEM private key") from error
