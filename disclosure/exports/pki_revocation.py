"""The CA's revocation list for bundle-signing certificates: issue it, revoke the signer, reissue it.

issue_crl() makes the list; prepare_signer_revocation() and apply_signer_revocation() withdraw the signing
certificate: the list is cumulative (an earlier revocation is never dropped), and the list, the signing key and
its certificate are each replaced atomically (temporary file, fsync, rename); the revoked key is overwritten,
never kept. The list expires CRL_LIFETIME after issue: prepare_crl_reissue() and write_crl() sign it again with
the same entries and fresh dates. The CA, the signer and the file helpers are pki.py's.
Pure: no Flask, no database.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from disclosure.exports.pki import (
    CA_CERT_FILE,
    CA_KEY_FILE,
    SIGNER_CERT_FILE,
    SIGNER_KEY_FILE,
    PKIError,
    _cert_pem,
    _check_ca,
    _key_pem,
    _load_cert_file,
    _load_key_file,
    _org_name,
    _public_der,
    _utc,
    _write_public_file,
    serial_hex,
    validate_signer,
    write_file_atomically,
)
from disclosure.exports.pki_issue import BACKDATE, make_signer

CRL_FILE = "bundle-ca.crl.pem"
CRL_LIFETIME = dt.timedelta(days=30)
REVOKED_SIGNER_PREFIX = "bundle-signer-revoked-"

#: The reasons an operator may give for revoking the signing certificate, as RFC 5280 CRL reason codes.
REVOCATION_REASONS: dict[str, x509.ReasonFlags] = {
    "key_compromise": x509.ReasonFlags.key_compromise,
    "superseded": x509.ReasonFlags.superseded,
    "cessation_of_operation": x509.ReasonFlags.cessation_of_operation,
}


class NoRevocationList(PKIError):
    """No signing certificate has been revoked yet, so the CA has issued no revocation list."""


@dataclass(frozen=True)
class Revocation:
    """One entry of the CA's revocation list."""

    serial: int
    revoked_at: dt.datetime
    reason: x509.ReasonFlags | None = None


@dataclass(frozen=True)
class SignerReplacement:
    """A prepared revocation of the signing certificate: the new list and the new signer, not written yet."""

    folder: Path
    revoked: x509.Certificate
    #: The reason the list gives for it (an interrupted earlier run may already have listed it with its own).
    reason: x509.ReasonFlags
    #: True when the list already named the certificate: an earlier run wrote it but stopped before the rest.
    already_listed: bool
    crl: x509.CertificateRevocationList
    key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    #: The new key as it will be stored: PKCS#8 PEM, encrypted with the passphrase the CA key has.
    key_pem: bytes


def _ca_for_signing(
    folder: Path,
    without_key: str = "revoke the signing certificate with your own CA",
    passphrase: bytes | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The CA certificate and its private key (encrypted with `passphrase`, if one is given); without_key says
    what to do instead when the key is absent."""
    ca_cert_path, ca_key_path = folder / CA_CERT_FILE, folder / CA_KEY_FILE
    ca_cert = _load_cert_file(ca_cert_path, "the CA certificate")
    if not ca_key_path.exists():
        raise PKIError(
            f"the CA private key {ca_key_path} is absent (e.g. the CA was imported without its key), so this "
            f"system cannot sign a revocation list; {without_key}"
        )
    ca_key = _load_key_file(ca_key_path, "the CA private key", passphrase)
    if _public_der(ca_key.public_key()) != _public_der(ca_cert.public_key()):
        raise PKIError(f"{ca_key_path} does not match {ca_cert_path}")
    return ca_cert, ca_key


def _sign_crl(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    revoked: Sequence[tuple[int, dt.datetime] | Revocation],
    now: dt.datetime,
    lifetime: dt.timedelta,
    min_number: int = 0,
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - BACKDATE)
        .next_update(now + lifetime)
    )
    for item in revoked:
        entry = item if isinstance(item, Revocation) else Revocation(*item)
        revoked_builder = (
            x509.RevokedCertificateBuilder().serial_number(entry.serial).revocation_date(_utc(entry.revoked_at))
        )
        if entry.reason is not None:
            revoked_builder = revoked_builder.add_extension(x509.CRLReason(entry.reason), critical=False)
        builder = builder.add_revoked_certificate(revoked_builder.build())
    try:
        ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False)
    except x509.ExtensionNotFound:
        pass
    # RFC 5280 wants CRL numbers to grow: two lists issued within one second must still differ.
    builder = builder.add_extension(x509.CRLNumber(max(int(now.timestamp()), min_number)), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def issue_crl(
    folder: Path,
    revoked: Sequence[tuple[int, dt.datetime] | Revocation] = (),
    *,
    now: dt.datetime | None = None,
    lifetime: dt.timedelta = CRL_LIFETIME,
    passphrase: bytes | None = None,
) -> bytes:
    """A PEM CRL signed by the org CA, listing (serial, revocation time) pairs or Revocations (which may carry
    a reason): e.g. a leaked bundle-signing certificate. Recipients check it with `disclosure-bundle verify
    --crl crl.pem`, or with `openssl cms -verify … -CAfile ca-crl.pem -crl_check` where ca-crl.pem is the CA
    certificate followed by the list (`openssl cms` has no -CRLfile option). Nothing is stored here:
    `flask keys revoke-signer` keeps the list at CRL_FILE and `flask keys reissue-crl` signs it again before
    its next_update (now + lifetime)."""
    folder = Path(folder)
    ca_cert, ca_key = _ca_for_signing(folder, passphrase=passphrase)
    crl = _sign_crl(ca_cert, ca_key, revoked, _utc(now), lifetime)
    return crl.public_bytes(serialization.Encoding.PEM)


def _read_crl(folder: Path, ca_cert: x509.Certificate) -> x509.CertificateRevocationList | None:
    """The stored revocation list, checked against the CA; None when no certificate was ever revoked."""
    path = folder / CRL_FILE
    restore = "restore it from a backup: a new list must keep every earlier revocation"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise PKIError(f"the revocation list {path} cannot be read: {error.strerror}") from None
    try:
        crl = x509.load_pem_x509_crl(data)
    except ValueError:
        raise PKIError(f"the revocation list {path} is not a PEM CRL; {restore}") from None
    try:
        signed = crl.issuer == ca_cert.subject and crl.is_signature_valid(ca_cert.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError, UnsupportedAlgorithm):
        signed = False
    if not signed:
        raise PKIError(f"the revocation list {path} is not signed by the CA {folder / CA_CERT_FILE}; {restore}")
    return crl


def stored_crl(folder: Path) -> x509.CertificateRevocationList:
    """The CA's current revocation list (what `flask keys export-crl` writes), checked against the CA.

    NoRevocationList when no signing certificate has been revoked; PKIError when the list is damaged."""
    folder = Path(folder)
    crl = _read_crl(folder, _load_cert_file(folder / CA_CERT_FILE, "the CA certificate"))
    if crl is None:
        raise NoRevocationList(f"no bundle-signing certificate has been revoked, so there is no {folder / CRL_FILE}")
    return crl


def has_revocation_list(folder: Path) -> bool:
    """Whether the CA has issued a revocation list (a signing certificate was revoked); not whether it is sound."""
    return (Path(folder) / CRL_FILE).is_file()


def _entry(revoked: x509.RevokedCertificate) -> Revocation:
    try:
        reason: x509.ReasonFlags | None = revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        reason = None
    return Revocation(revoked.serial_number, revoked.revocation_date_utc, reason)


def _next_crl_number(previous: x509.CertificateRevocationList) -> int:
    """The least number the list issued after previous may carry (RFC 5280: CRL numbers only grow)."""
    try:
        return previous.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
    except x509.ExtensionNotFound:
        return 0


def prepare_signer_revocation(
    folder: Path, org_name: str, reason: str, *, now: dt.datetime | None = None, passphrase: bytes | None = None
) -> SignerReplacement:
    """Check everything and make, in memory, the CA's new revocation list (the earlier entries plus the current
    signing certificate) and a new signing certificate; apply_signer_revocation() writes them. `passphrase`
    unlocks the CA key and encrypts the new signing key.

    PKIError when a key or certificate is missing or damaged, when the CA key is absent (an imported CA) or
    when the key folder is not writable: nothing has been written then."""
    folder = Path(folder)
    now = _utc(now)
    if reason not in REVOCATION_REASONS:
        raise PKIError(f"unknown revocation reason {reason!r}; choose one of {', '.join(REVOCATION_REASONS)}")
    ca_cert, ca_key = _ca_for_signing(folder, passphrase=passphrase)
    _check_ca(ca_cert, f"the CA certificate {folder / CA_CERT_FILE}", now)
    current_path = folder / SIGNER_CERT_FILE
    current = _load_cert_file(current_path, "the bundle-signing certificate")
    try:
        current.verify_directly_issued_by(ca_cert)
    except (ValueError, InvalidSignature, TypeError):
        raise PKIError(
            f"the bundle-signing certificate {current_path} is not issued by the CA {folder / CA_CERT_FILE}, "
            "so that CA's revocation list cannot withdraw it"
        ) from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PKIError(f"the key folder {folder} is not writable; run the command as the user that owns it")
    previous = _read_crl(folder, ca_cert)
    entries = [] if previous is None else [_entry(revoked) for revoked in previous]
    listed = next((entry for entry in entries if entry.serial == current.serial_number), None)
    already_listed = listed is not None
    if listed is None:
        listed = Revocation(current.serial_number, now, REVOCATION_REASONS[reason])
        entries.append(listed)
    min_number = 0 if previous is None else _next_crl_number(previous)
    crl = _sign_crl(ca_cert, ca_key, entries, now, CRL_LIFETIME, min_number)
    key, cert = make_signer(_org_name(org_name), ca_key, ca_cert, now)
    validate_signer(key, cert, ca_cert, now=now, where="the new bundle-signing certificate")
    return SignerReplacement(
        folder=folder,
        revoked=current,
        reason=listed.reason or REVOCATION_REASONS[reason],
        already_listed=already_listed,
        crl=crl,
        key=key,
        cert=cert,
        key_pem=_key_pem(key, passphrase),
    )


def apply_signer_revocation(plan: SignerReplacement) -> list[str]:
    """Write what prepare_signer_revocation() made; return a line per file.

    Order: the revoked certificate is kept for the record, then the list, then the new key, then its
    certificate, each replaced atomically. A run stopped half-way leaves the current certificate listed as
    revoked; running the command again notices that, keeps the entry and finishes with a new signer. OSError
    when a write fails."""
    folder = plan.folder
    archive = folder / f"{REVOKED_SIGNER_PREFIX}{serial_hex(plan.revoked.serial_number)}.pem"
    lines = []
    if not archive.exists():
        _write_public_file(archive, _cert_pem(plan.revoked))
        lines.append(f"kept the revoked certificate as {archive}")
    crl_path = write_crl(folder, plan.crl)
    lines.append(
        f"wrote the revocation list {crl_path} ({len(plan.crl)} revoked certificate(s), "
        f"next update due {plan.crl.next_update_utc:%Y-%m-%d})"
    )
    write_file_atomically(folder / SIGNER_KEY_FILE, plan.key_pem, 0o600)
    write_file_atomically(folder / SIGNER_CERT_FILE, _cert_pem(plan.cert), 0o644)
    lines.append(
        f"created the bundle-signing certificate {folder / SIGNER_CERT_FILE}, serial "
        f"{serial_hex(plan.cert.serial_number)} (valid until {plan.cert.not_valid_after_utc:%Y-%m-%d}); "
        "its key replaced the revoked one"
    )
    return lines


def prepare_crl_reissue(
    folder: Path, *, now: dt.datetime | None = None, passphrase: bytes | None = None
) -> x509.CertificateRevocationList:
    """The stored revocation list signed again, in memory: the same entries (serial, revocation date, reason), a
    this-update of now, a next update CRL_LIFETIME later and a higher CRL number; write_crl() stores it.

    NoRevocationList when no signing certificate has been revoked; PKIError when the stored list is damaged or
    not signed by the CA (it is never re-signed then: that would vouch for whatever it lists), when the CA key
    is absent, or when the key folder is not writable. Reissuing an expired list is what this is for."""
    folder = Path(folder)
    now = _utc(now)
    previous = stored_crl(folder)
    ca_cert, ca_key = _ca_for_signing(
        folder, "put the key back and run the command again, or reissue the list with your own CA", passphrase
    )
    _check_ca(ca_cert, f"the CA certificate {folder / CA_CERT_FILE}", now)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PKIError(f"the key folder {folder} is not writable; run the command as the user that owns it")
    entries = [_entry(revoked) for revoked in previous]
    return _sign_crl(ca_cert, ca_key, entries, now, CRL_LIFETIME, _next_crl_number(previous))


def write_crl(folder: Path, crl: x509.CertificateRevocationList) -> Path:
    """Replace the stored revocation list with crl atomically (a reader sees the old list or the new one);
    return its path. OSError when the write fails, leaving the old list in place."""
    path = Path(folder) / CRL_FILE
    write_file_atomically(path, crl.public_bytes(serialization.Encoding.PEM), 0o644)
    return path
