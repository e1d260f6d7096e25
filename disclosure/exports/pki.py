"""The bundle-signing PKI: an org CA, the bundle-signing certificate it issues, recipient-certificate checks.

Layout of the key folder (normally instance/keys/pki/), every file created once and never overwritten,
except where revoking the signer or reissuing the revocation list says otherwise:

    bundle-ca.pem           the org CA certificate (ECDSA P-256, CA:true, keyCertSign/cRLSign, 10 years)
    bundle-ca-key.pem       its private key (mode 0600); absent when an organisation imports a CA without it
    bundle-signer.pem       the signing certificate (ECDSA P-256, digitalSignature, EKU emailProtection, 2 y)
    bundle-signer-key.pem   its private key (mode 0600)

Both private keys are PKCS#8 PEM, encrypted with the passphrase the caller gives (DISCLOSURE_CA_KEY_PASSPHRASE, read
by disclosure.keyring.bundle_key_passphrase) and plain without one; disclosure.key_files writes and reads them, as
it does the audit-log key, and names the setting to fix when the passphrase is missing or wrong.
    bundle-ca.crl.pem       the CA's revocation list, once a signing certificate has been revoked (30 days)
    bundle-signer-revoked-<SERIAL>.pem   each revoked signing certificate, kept for the record

The emailProtection extended key usage is what `openssl cms -verify` needs (its default purpose is S/MIME
signing). The revocation list and the signer's replacement are pki_revocation.py's; the certificates
themselves are made by pki_issue.py, and recipient certificates are checked by recipient_certs.py (its names
are re-exported here).
Pure: no Flask, no database.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from disclosure.exports.pki_issue import make_ca, make_signer
from disclosure.exports.recipient_certs import (
    CertificateError,
    CertInfo,
    certificate_info,
    check_recipient_certificate,
    load_one_certificate,
)
from disclosure.exports.recipient_certs import recipient_certificates as recipient_certificates
from disclosure.key_files import KeyFileError, private_key_pem, read_private_key

__all__ = [
    "CA_CERT_FILE",
    "CA_KEY_FILE",
    "SIGNER_CERT_FILE",
    "SIGNER_KEY_FILE",
    "CertInfo",
    "CertificateError",
    "PKIError",
    "Signer",
    "ca_pem",
    "certificate_info",
    "check_recipient_certificate",
    "init_pki",
    "load_signer",
    "serial_hex",
    "validate_signer",
    "write_file_atomically",
]

CA_CERT_FILE = "bundle-ca.pem"
CA_KEY_FILE = "bundle-ca-key.pem"
SIGNER_CERT_FILE = "bundle-signer.pem"
SIGNER_KEY_FILE = "bundle-signer-key.pem"
#: Where the passphrase of the two private keys comes from, as an operator sets it.
PASSPHRASE_SETTING = "DISCLOSURE_CA_KEY_PASSPHRASE"  # noqa: S105 - a setting's name


class PKIError(ValueError):
    """The signing keys or certificates are missing, inconsistent or unusable; the message says which file."""


@dataclass(frozen=True)
class Signer:
    """What build_bundle signs with: the signing key, its certificate and the org CA certificate."""

    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    ca_cert: x509.Certificate


# -- helpers -------------------------------------------------------------------------------------------------


def _utc(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    return now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)


def write_private_file(path: Path, content: bytes) -> None:
    """disclosure.instance.write_private_file (mode 0600 from the first byte, never replacing a file).

    Imported when needed: disclosure.instance pulls in the app's configuration (and Flask), which the bundle
    builder and its benchmark do not need."""
    from disclosure.instance import write_private_file as write

    write(path, content)


def _write_public_file(path: Path, content: bytes) -> None:
    """Create a certificate file (mode 0644); refuse to replace an existing file."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def write_file_atomically(path: Path, content: bytes, mode: int = 0o644) -> None:
    """Write content to a temporary file beside path, fsync it, rename it over path and fsync the folder:
    a crash leaves the old file or the new one, never half of one. OSError says why it could not."""
    path = Path(path)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def serial_hex(serial: int) -> str:
    """A certificate serial as `openssl x509 -serial` prints it (upper-case hex, whole bytes)."""
    return serial.to_bytes(max(1, (serial.bit_length() + 7) // 8), "big").hex().upper()


def _key_pem(key: ec.EllipticCurvePrivateKey, passphrase: bytes | None = None) -> bytes:
    return private_key_pem(key, passphrase)


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _public_der(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise PKIError(f"{what} {path} does not exist; run `flask keys init`") from None
    except OSError as error:
        raise PKIError(f"{what} {path} cannot be read: {error.strerror}") from None


def _load_cert_file(path: Path, what: str) -> x509.Certificate:
    try:
        return load_one_certificate(_read(path, what), f"{what} {path}")
    except CertificateError as error:
        raise PKIError(str(error)) from None


def _load_key_file(
    path: Path, what: str, passphrase: bytes | None = None, *, stored: bool = True
) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key: one of ours (`stored`, encrypted with the passphrase when one is set), or a file
    given for import (unencrypted)."""
    data = _read(path, what)
    try:
        key = read_private_key(data, passphrase, f"{what} {path}", PASSPHRASE_SETTING if stored else None)
    except KeyFileError as error:
        raise PKIError(str(error)) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise PKIError(f"{what} {path} must be an ECDSA P-256 private key")
    return key


def _encrypted(passphrase: bytes | None) -> str:
    return f", encrypted with {PASSPHRASE_SETTING}" if passphrase else ""


def _org_name(org_name: str) -> str:
    name = " ".join(org_name.split())
    if not name:
        raise PKIError("the organisation name is empty")
    if len(name) > 64:
        raise PKIError("the organisation name is longer than 64 characters (the X.509 limit for O and CN)")
    return name


# -- validation ----------------------------------------------------------------------------------------------


def _check_ca(ca_cert: x509.Certificate, where: str, now: dt.datetime) -> None:
    try:
        constraints = ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise PKIError(f"{where} is not a CA certificate (basicConstraints CA:true is missing)")
    try:
        usage = ca_cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.key_cert_sign:
            raise PKIError(f"{where}: the CA certificate's key usage does not allow signing certificates")
    except x509.ExtensionNotFound:
        pass
    if now > ca_cert.not_valid_after_utc:
        raise PKIError(f"{where}: the CA certificate expired on {ca_cert.not_valid_after_utc:%Y-%m-%d}")


def validate_signer(
    key: ec.EllipticCurvePrivateKey,
    cert: x509.Certificate,
    ca_cert: x509.Certificate,
    *,
    now: dt.datetime | None = None,
    where: str = "the bundle-signing certificate",
) -> None:
    """Raise PKIError unless cert is a usable bundle-signing certificate for key, issued by ca_cert itself."""
    now = _utc(now)
    _check_ca(ca_cert, "the CA certificate", now)
    public = cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
        raise PKIError(f"{where} must hold an ECDSA P-256 key (format disclosure-bundle/1)")
    if _public_der(public) != _public_der(key.public_key()):
        raise PKIError(f"{where} does not match its private key")
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, InvalidSignature, TypeError):
        raise PKIError(f"{where} is not issued by the CA certificate (issuer or CA signature does not match)") from None
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise PKIError(
            f"{where} has no extended key usage; it needs emailProtection for `openssl cms -verify`"
        ) from None
    if ExtendedKeyUsageOID.EMAIL_PROTECTION not in eku:
        raise PKIError(f"{where} lacks the emailProtection extended key usage that `openssl cms -verify` needs")
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not (usage.digital_signature or usage.content_commitment):
            raise PKIError(f"{where}: its key usage does not allow digital signatures")
    except x509.ExtensionNotFound:
        pass
    try:
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise PKIError(f"{where} is a CA certificate; use an end-entity certificate for signing")
    except x509.ExtensionNotFound:
        pass
    if now < cert.not_valid_before_utc:
        raise PKIError(f"{where} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    if now > cert.not_valid_after_utc:
        raise PKIError(
            f"{where} expired on {cert.not_valid_after_utc:%Y-%m-%d}; issue a new one (move the old files "
            "away "
            "and run `flask keys init`)"
        )


# -- public API ----------------------------------------------------------------------------------------------


def init_pki(
    folder: Path,
    org_name: str,
    *,
    import_ca_cert: Path | None = None,
    import_ca_key: Path | None = None,
    import_signer_cert: Path | None = None,
    import_signer_key: Path | None = None,
    now: dt.datetime | None = None,
    passphrase: bytes | None = None,
) -> list[str]:
    """Create (or import) the CA and the bundle-signing certificate under folder; return a line per file.

    Existing files are never overwritten: with nothing to do the list is empty. Importing needs the CA
    certificate, the signing certificate and its key (the CA key is optional); they are validated before
    anything is written. The private keys are written encrypted with `passphrase` when one is given.
    """
    folder = Path(folder)
    now = _utc(now)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths = {name: folder / name for name in (CA_CERT_FILE, CA_KEY_FILE, SIGNER_CERT_FILE, SIGNER_KEY_FILE)}
    imports = (import_ca_cert, import_ca_key, import_signer_cert, import_signer_key)
    if any(p is not None for p in imports):
        return _import_pki(
            folder, paths, import_ca_cert, import_ca_key, import_signer_cert, import_signer_key, now, passphrase
        )

    created: list[str] = []
    ca_cert_path, ca_key_path = paths[CA_CERT_FILE], paths[CA_KEY_FILE]
    signer_cert_path, signer_key_path = paths[SIGNER_CERT_FILE], paths[SIGNER_KEY_FILE]
    if signer_cert_path.exists() != signer_key_path.exists():
        present = signer_cert_path if signer_cert_path.exists() else signer_key_path
        raise PKIError(f"{present} exists without its partner file; restore it or move it away, then run again")
    if ca_cert_path.exists():
        ca_cert = _load_cert_file(ca_cert_path, "the CA certificate")
        ca_key = _load_key_file(ca_key_path, "the CA private key", passphrase) if ca_key_path.exists() else None
        if ca_key is not None and _public_der(ca_key.public_key()) != _public_der(ca_cert.public_key()):
            raise PKIError(f"{ca_key_path} does not match {ca_cert_path}")
    else:
        if ca_key_path.exists():
            raise PKIError(f"{ca_key_path} exists without {ca_cert_path}; restore it or move the key away")
        if signer_cert_path.exists():
            raise PKIError(f"{signer_cert_path} exists without the CA certificate {ca_cert_path}")
        org = _org_name(org_name)
        ca_key, ca_cert = make_ca(org, now)
        write_private_file(ca_key_path, _key_pem(ca_key, passphrase))
        _write_public_file(ca_cert_path, _cert_pem(ca_cert))
        created.append(f"created the bundle CA key {ca_key_path} (mode 0600{_encrypted(passphrase)})")
        created.append(
            f"created the bundle CA certificate {ca_cert_path} (valid until {ca_cert.not_valid_after_utc:%Y-%m-%d})"
        )

    if not signer_cert_path.exists():
        if ca_key is None:
            raise PKIError(
                f"cannot issue a bundle-signing certificate: the CA key {ca_key_path} is absent "
                "(import a signing certificate issued by your CA instead)"
            )
        org = _org_name(org_name)
        key, cert = make_signer(org, ca_key, ca_cert, now)
        write_private_file(signer_key_path, _key_pem(key, passphrase))
        _write_public_file(signer_cert_path, _cert_pem(cert))
        created.append(f"created the bundle-signing key {signer_key_path} (mode 0600{_encrypted(passphrase)})")
        created.append(
            f"created the bundle-signing certificate {signer_cert_path} (ECDSA P-256, emailProtection, "
            f"valid until {cert.not_valid_after_utc:%Y-%m-%d})"
        )
    return created


def _import_pki(
    folder: Path,
    paths: dict[str, Path],
    ca_cert_src: Path | None,
    ca_key_src: Path | None,
    signer_cert_src: Path | None,
    signer_key_src: Path | None,
    now: dt.datetime,
    passphrase: bytes | None,
) -> list[str]:
    missing = [
        flag
        for flag, value in (
            ("the CA certificate", ca_cert_src),
            ("the signing certificate", signer_cert_src),
            ("the signing key", signer_key_src),
        )
        if value is None
    ]
    if missing:
        raise PKIError(f"importing needs {', '.join(missing)} as well")
    assert ca_cert_src is not None and signer_cert_src is not None and signer_key_src is not None
    existing = [str(p) for name, p in paths.items() if p.exists() and (name != CA_KEY_FILE or ca_key_src)]
    if existing:
        raise PKIError(f"refusing to overwrite {', '.join(existing)}; move the existing files away first")
    ca_cert = _load_cert_file(Path(ca_cert_src), "the CA certificate")
    signer_cert = _load_cert_file(Path(signer_cert_src), "the signing certificate")
    signer_key = _load_key_file(Path(signer_key_src), "the signing key", stored=False)
    ca_key = _load_key_file(Path(ca_key_src), "the CA key", stored=False) if ca_key_src is not None else None
    if ca_key is not None and _public_der(ca_key.public_key()) != _public_der(ca_cert.public_key()):
        raise PKIError(f"the CA key {ca_key_src} does not match the CA certificate {ca_cert_src}")
    validate_signer(signer_key, signer_cert, ca_cert, now=now, where=f"the signing certificate {signer_cert_src}")
    lines = []
    if ca_key is not None:
        write_private_file(paths[CA_KEY_FILE], _key_pem(ca_key, passphrase))
        lines.append(f"imported the bundle CA key into {paths[CA_KEY_FILE]} (mode 0600{_encrypted(passphrase)})")
    _write_public_file(paths[CA_CERT_FILE], _cert_pem(ca_cert))
    lines.append(f"imported the bundle CA certificate into {paths[CA_CERT_FILE]}")
    write_private_file(paths[SIGNER_KEY_FILE], _key_pem(signer_key, passphrase))
    lines.append(f"imported the bundle-signing key into {paths[SIGNER_KEY_FILE]} (mode 0600{_encrypted(passphrase)})")
    _write_public_file(paths[SIGNER_CERT_FILE], _cert_pem(signer_cert))
    lines.append(f"imported the bundle-signing certificate into {paths[SIGNER_CERT_FILE]}")
    return lines


def load_signer(folder: Path, *, now: dt.datetime | None = None, passphrase: bytes | None = None) -> Signer:
    """Load and check the signing key (encrypted with `passphrase`, if one is given), its certificate and the CA
    certificate; PKIError says what is wrong."""
    folder = Path(folder)
    ca_cert = _load_cert_file(folder / CA_CERT_FILE, "the CA certificate")
    cert = _load_cert_file(folder / SIGNER_CERT_FILE, "the bundle-signing certificate")
    key = _load_key_file(folder / SIGNER_KEY_FILE, "the bundle-signing key", passphrase)
    validate_signer(key, cert, ca_cert, now=now, where=f"the bundle-signing certificate {folder / SIGNER_CERT_FILE}")
    return Signer(key=key, cert=cert, ca_cert=ca_cert)


def ca_pem(folder: Path) -> bytes:
    """The org CA certificate as PEM, for recipients (`flask keys export-ca`)."""
    return _cert_pem(_load_cert_file(Path(folder) / CA_CERT_FILE, "the CA certificate"))
