"""Certificates that people hand in: read exactly one PEM certificate, summarise it for an admin (CertInfo),
and accept or refuse a recipient certificate for the bundle's CMS envelopes.

Invariants: a recipient certificate is one PEM certificate holding an RSA key of MIN_RSA_BITS to MAX_RSA_BITS
bits, valid now, not a CA, and usable for key encipherment when it says; anything else is CertificateError
with a message for the admin. Pure: no Flask, no database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

MIN_RSA_BITS = 2048
MAX_RSA_BITS = 16384


class CertificateError(ValueError):
    """A certificate given by a person (recipient certificate, import) is refused; the message says why."""


@dataclass(frozen=True)
class CertInfo:
    """What an admin sees of a certificate."""

    subject: str
    issuer: str
    serial: str  # hex
    fingerprint_sha256: str  # upper-case hex pairs separated by colons, as `openssl x509 -fingerprint -sha256` shows
    not_before: dt.datetime  # aware, UTC
    not_after: dt.datetime  # aware, UTC
    is_rsa: bool
    key_size: int  # bits (the curve size for EC keys)

    @property
    def fingerprint_hex(self) -> str:
        """The fingerprint as plain lower-case hex."""
        return self.fingerprint_sha256.replace(":", "").lower()


def _utc(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    return now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)


def load_one_certificate(data: bytes, what: str) -> x509.Certificate:
    if b"-----BEGIN" not in data:
        raise CertificateError(f"{what} is not a PEM certificate (expected a -----BEGIN CERTIFICATE----- block)")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise CertificateError(f"{what} cannot be parsed as a PEM certificate: {error}") from None
    if len(certs) != 1:
        raise CertificateError(f"{what} holds {len(certs)} certificates; give exactly one")
    return certs[0]


def _fingerprint(cert: x509.Certificate) -> str:
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def _info(cert: x509.Certificate) -> CertInfo:
    public = cert.public_key()
    key_size = int(getattr(public, "key_size", 0) or 0)
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=f"{cert.serial_number:x}",
        fingerprint_sha256=_fingerprint(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        is_rsa=isinstance(public, rsa.RSAPublicKey),
        key_size=key_size,
    )


def certificate_info(pem_bytes: bytes) -> CertInfo:
    """Subject, fingerprint, validity and key of one PEM certificate; CertificateError if it is not one."""
    return _info(load_one_certificate(pem_bytes, "the file"))


def check_recipient_certificate(pem_bytes: bytes, now: dt.datetime | None = None) -> CertInfo:
    """Accept a recipient certificate for key.p7m: one PEM certificate, RSA >= 2048 bits, valid now, usable
    for key encipherment. Raise CertificateError with a message for the admin otherwise."""
    now = _utc(now)
    try:
        cert = load_one_certificate(pem_bytes, "the file")
        public = cert.public_key()
    except CertificateError:
        raise
    except (ValueError, UnsupportedAlgorithm) as error:
        raise CertificateError(f"the certificate's key cannot be read: {error}") from None
    if not isinstance(public, rsa.RSAPublicKey):
        kind = type(public).__name__.removesuffix("PublicKey").removeprefix("_")
        raise CertificateError(
            f"recipient certificates must hold an RSA key (CMS envelopes support RSA only); this one holds {kind}"
        )
    if public.key_size < MIN_RSA_BITS:
        raise CertificateError(f"the RSA key has {public.key_size} bits; at least {MIN_RSA_BITS} are required")
    if public.key_size > MAX_RSA_BITS:
        raise CertificateError(f"the RSA key has {public.key_size} bits; at most {MAX_RSA_BITS} are accepted")
    if now < cert.not_valid_before_utc:
        raise CertificateError(f"the certificate is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    if now > cert.not_valid_after_utc:
        raise CertificateError(f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}")
    try:
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise CertificateError("this is a CA certificate; give the recipient's own (end-entity) certificate")
    except x509.ExtensionNotFound:
        pass
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.key_encipherment:
            raise CertificateError(
                "the certificate's key usage does not include keyEncipherment, so it is not meant for encryption"
            )
    except x509.ExtensionNotFound:
        pass
    return _info(cert)


def recipient_certificates(pems: Sequence[bytes], now: dt.datetime | None = None) -> list[x509.Certificate]:
    """Check and load recipient certificates for build_bundle."""
    certs = []
    for pem in pems:
        check_recipient_certificate(pem, now)
        certs.append(x509.load_pem_x509_certificate(pem))
    return certs
