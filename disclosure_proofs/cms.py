"""Verify the bundle's detached CMS signature (tagmanifest-sha256.txt.p7s) over the tag manifest.

Accepted: one DER CMS SignedData, detached, one signer with signed attributes, ECDSA P-256 with SHA-256, the
signer certificate issued directly by a given CA, valid now, usable for signing, and not revoked when the CA's
revocation lists are given. Invariants: the .p7s is hostile input, so every error becomes SignatureProblem
(never a crash), and every byte of it is checked, unsigned parts included, so no byte can change unnoticed.
cryptography has no CMS verify API: this is the verifier, over disclosure_proofs.der.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from .bundle_format import MAX_CERTS_IN_SIGNATURE, TAGMANIFEST
from .der import (
    TAG_INTEGER,
    TAG_OCTETS,
    TAG_OID,
    TAG_SEQUENCE,
    TAG_SET,
    DerError,
    DerNode,
    der_time,
    encode_oid,
    expect,
    parse_one,
)

OID_SIGNED_DATA = encode_oid("1.2.840.113549.1.7.2")
OID_DATA = encode_oid("1.2.840.113549.1.7.1")
OID_CONTENT_TYPE = encode_oid("1.2.840.113549.1.9.3")
OID_MESSAGE_DIGEST = encode_oid("1.2.840.113549.1.9.4")
OID_SIGNING_TIME = encode_oid("1.2.840.113549.1.9.5")
OID_SHA256 = encode_oid("2.16.840.1.101.3.4.2.1")
OID_ECDSA_SHA256 = encode_oid("1.2.840.10045.4.3.2")
#: The exact AlgorithmIdentifier encodings accepted: SHA-256 with or without NULL parameters, and
#: ecdsa-with-SHA256 without parameters (RFC 5758). Anything else in the signature is refused, unsigned parts
#: included, so that no byte of a .p7s can change without failing verification.
SHA256_ALGORITHMS = (
    bytes([0x30, 0x0D, 0x06, 0x09]) + OID_SHA256 + b"\x05\x00",
    bytes([0x30, 0x0B, 0x06, 0x09]) + OID_SHA256,
)
ECDSA_SHA256_ALGORITHM = bytes([0x30, 0x0A, 0x06, 0x08]) + OID_ECDSA_SHA256


@dataclass(frozen=True)
class SignatureInfo:
    """Who signed, under which CA, and when the signature says it was made."""

    signer_subject: str
    signer_fingerprint: str
    ca_subject: str
    signing_time: dt.datetime | None


class SignatureProblem(Exception):
    """The detached signature is missing, malformed, untrusted or does not verify."""


def _describe(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def _check_signer_certificate(
    cert: x509.Certificate, anchors: Sequence[x509.Certificate], now: dt.datetime
) -> x509.Certificate:
    """Return the anchor that issued cert, or raise SignatureProblem naming what is wrong."""
    issuer = None
    for ca in anchors:
        if ca.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue
        issuer = ca
        break
    if issuer is None:
        names = "; ".join(_describe(ca) for ca in anchors)
        raise SignatureProblem(
            f"untrusted signer: the signer certificate {_describe(cert)} (issuer "
            f"{cert.issuer.rfc4514_string()}) "
            f"is not issued by the given CA ({names})"
        )
    try:
        if not issuer.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise SignatureProblem(f"the given CA certificate {_describe(issuer)} is not a CA certificate")
    except x509.ExtensionNotFound:
        raise SignatureProblem(
            f"the given CA certificate {_describe(issuer)} has no basicConstraints CA:true"
        ) from None
    if not issuer.not_valid_before_utc <= now <= issuer.not_valid_after_utc:
        raise SignatureProblem(
            f"the CA certificate {_describe(issuer)} is not valid now (valid "
            f"{issuer.not_valid_before_utc:%Y-%m-%d} to {issuer.not_valid_after_utc:%Y-%m-%d})"
        )
    if now > cert.not_valid_after_utc:
        raise SignatureProblem(
            f"the signer certificate {_describe(cert)} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
        )
    if now < cert.not_valid_before_utc:
        raise SignatureProblem(
            f"the signer certificate {_describe(cert)} is not valid before "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        )
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.EMAIL_PROTECTION not in eku:
            raise SignatureProblem(f"the signer certificate {_describe(cert)} lacks the emailProtection key usage")
    except x509.ExtensionNotFound:
        pass
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not (usage.digital_signature or usage.content_commitment):
            raise SignatureProblem(f"the signer certificate {_describe(cert)} is not allowed to sign")
    except x509.ExtensionNotFound:
        pass
    return issuer


def _check_revocation(
    cert: x509.Certificate,
    issuer: x509.Certificate,
    crls: Sequence[x509.CertificateRevocationList],
    now: dt.datetime,
) -> None:
    """With revocation lists given, one of them must be the issuing CA's, current, and not list cert."""
    usable: list[x509.CertificateRevocationList] = []
    for crl in crls:
        if crl.issuer != issuer.subject:
            continue
        try:
            # The CA may hold any key type; a type is_signature_valid cannot take raises TypeError below.
            valid = crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
        except (TypeError, ValueError, UnsupportedAlgorithm):
            valid = False
        if not valid:
            raise SignatureProblem(f"the revocation list of {_describe(issuer)} is not signed by that CA")
        usable.append(crl)
    if not usable:
        raise SignatureProblem(f"none of the given revocation lists is issued by the CA {_describe(issuer)}")
    for crl in usable:
        next_update = crl.next_update_utc
        if crl.last_update_utc > now or (next_update is not None and next_update < now):
            raise SignatureProblem(
                f"the revocation list of {_describe(issuer)} is out of date (next update was due "
                f"{next_update:%Y-%m-%d}); get a current one"
                if next_update is not None and next_update < now
                else f"the revocation list of {_describe(issuer)} is not valid yet"
            )
        entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        if entry is not None:
            raise SignatureProblem(
                f"the signer certificate {_describe(cert)} was revoked on {entry.revocation_date_utc:%Y-%m-%d}"
            )


def verify_detached_signature(
    content: bytes,
    signature: bytes,
    anchors: Sequence[x509.Certificate],
    now: dt.datetime,
    crls: Sequence[x509.CertificateRevocationList] = (),
) -> SignatureInfo:
    """Verify a DER CMS SignedData (detached, one signer, signed attributes, ECDSA/SHA-256) over content.

    Raises SignatureProblem, whatever is wrong: the signature file is hostile input, so any error that the
    certificate parser raises on it means the signature is refused, never a crash.
    """
    try:
        return _verify_detached_signature(content, signature, anchors, now, crls)
    except SignatureProblem:
        raise
    except Exception as error:  # see the docstring
        raise SignatureProblem(f"the signature cannot be processed ({type(error).__name__}: {error})") from None


def _verify_detached_signature(
    content: bytes,
    signature: bytes,
    anchors: Sequence[x509.Certificate],
    now: dt.datetime,
    crls: Sequence[x509.CertificateRevocationList],
) -> SignatureInfo:
    try:
        top = parse_one(signature, 0, len(signature))
        if top.end != len(signature):
            raise DerError("trailing bytes after the ContentInfo")
        info = expect(top, TAG_SEQUENCE, "ContentInfo").children()
        if len(info) != 2 or expect(info[0], TAG_OID, "contentType").content != OID_SIGNED_DATA:
            raise DerError("not a CMS SignedData")
        wrapped = expect(info[1], 0xA0, "content").children()
        if len(wrapped) != 1:
            raise DerError("SignedData wrapper")
        items = expect(wrapped[0], TAG_SEQUENCE, "SignedData").children()
        if len(items) < 4:
            raise DerError("SignedData is too short")
        version = expect(items[0], TAG_INTEGER, "version").content
        digest_algorithms = expect(items[1], TAG_SET, "digestAlgorithms").children()
        if len(digest_algorithms) != 1 or digest_algorithms[0].raw not in SHA256_ALGORITHMS:
            raise SignatureProblem("the signature's digest algorithms are not exactly SHA-256")
        encap = expect(items[2], TAG_SEQUENCE, "encapContentInfo").children()
        if not encap or expect(encap[0], TAG_OID, "eContentType").content != OID_DATA:
            raise DerError("encapsulated content type is not id-data")
        if len(encap) != 1:
            raise SignatureProblem("the signature is not detached (it embeds content)")
        index = 3
        cert_nodes: list[DerNode] = []
        if index < len(items) and items[index].tag == 0xA0:
            cert_nodes = items[index].children()
            index += 1
        if index < len(items) and items[index].tag == 0xA1:
            raise SignatureProblem("the signature carries revocation lists, which this format does not use")
        if index != len(items) - 1:
            raise DerError("unexpected elements in SignedData")
        signer_infos = expect(items[index], TAG_SET, "signerInfos").children()
        if len(signer_infos) != 1:
            raise SignatureProblem(f"expected exactly one signer, found {len(signer_infos)}")
        fields = expect(signer_infos[0], TAG_SEQUENCE, "SignerInfo").children()
        if len(fields) < 6:
            raise DerError("SignerInfo is too short")
        signer_version = expect(fields[0], TAG_INTEGER, "SignerInfo version").content
        sid = fields[1]
        # RFC 5652 5.1/5.3: version 1 with an issuer-and-serial signer identifier, 3 with a key identifier.
        expected_version = b"\x01" if sid.tag == TAG_SEQUENCE else b"\x03"
        if signer_version != expected_version or version != expected_version:
            raise SignatureProblem("the SignedData or SignerInfo version does not match the signer identifier")
        attrs = fields[3]
        if attrs.tag != 0xA0:
            raise SignatureProblem("the signature has no signed attributes")
        signature_value = expect(fields[5], TAG_OCTETS, "signature").content
        if len(fields) != 6:
            raise SignatureProblem("the signature carries unsigned attributes, which this format does not use")
        if fields[2].raw not in SHA256_ALGORITHMS:
            raise SignatureProblem("the digest algorithm is not SHA-256")
        if fields[4].raw != ECDSA_SHA256_ALGORITHM:
            raise SignatureProblem("the signature algorithm is not ECDSA with SHA-256")

        message_digest = None
        content_type = None
        signing_time = None
        seen: set[bytes] = set()
        for attribute in attrs.children():
            parts = expect(attribute, TAG_SEQUENCE, "Attribute").children()
            if len(parts) != 2:
                raise DerError("Attribute")
            kind = expect(parts[0], TAG_OID, "attrType").content
            if kind in seen:
                raise SignatureProblem("a signed attribute occurs twice")
            seen.add(kind)
            values = expect(parts[1], TAG_SET, "attrValues").children()
            if kind in (OID_CONTENT_TYPE, OID_MESSAGE_DIGEST, OID_SIGNING_TIME) and len(values) != 1:
                raise SignatureProblem("a signed attribute must have exactly one value")
            if kind == OID_MESSAGE_DIGEST:
                message_digest = expect(values[0], TAG_OCTETS, "messageDigest").content
            elif kind == OID_CONTENT_TYPE:
                content_type = expect(values[0], TAG_OID, "contentType").content
            elif kind == OID_SIGNING_TIME:
                signing_time = der_time(values[0])
        if message_digest is None or content_type != OID_DATA:
            raise SignatureProblem("the signed attributes lack the message digest or the id-data content type")

        if len(cert_nodes) > MAX_CERTS_IN_SIGNATURE:
            raise SignatureProblem("too many certificates in the signature")
        certs: list[x509.Certificate] = []
        raws: list[bytes] = []
        for node in cert_nodes:
            if node.tag != TAG_SEQUENCE:
                raise SignatureProblem("the signature embeds something other than X.509 certificates")
            parts = node.children()
            if len(parts) != 3 or parts[2].tag != 0x03 or parts[2].content[:1] != b"\x00":
                # A signature BIT STRING with unused bits is a different encoding of the same signature bytes
                # to some parsers: refuse it, so that no byte of the .p7s can change unnoticed.
                raise SignatureProblem("an embedded certificate is not strictly DER-encoded")
            try:
                certs.append(x509.load_der_x509_certificate(node.raw))
                raws.append(node.raw)
            except ValueError as error:
                raise SignatureProblem(f"an embedded certificate cannot be parsed ({error})") from None
        signer = None
        if sid.tag == TAG_SEQUENCE:
            issuer_and_serial = sid.children()
            if len(issuer_and_serial) != 2:
                raise DerError("IssuerAndSerialNumber")
            issuer_der = expect(issuer_and_serial[0], TAG_SEQUENCE, "issuer").raw
            serial = int.from_bytes(expect(issuer_and_serial[1], TAG_INTEGER, "serial").content, "big", signed=True)
            for cert in certs:
                if cert.serial_number == serial and cert.issuer.public_bytes() == issuer_der:
                    signer = cert
                    break
        elif sid.tag == 0x80:
            for cert in certs:
                try:
                    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
                except x509.ExtensionNotFound:
                    continue
                if ski == sid.content:
                    signer = cert
                    break
        else:
            raise DerError("signer identifier")
    except DerError as error:
        raise SignatureProblem(f"not a valid DER CMS signature ({error})") from None
    if signer is None:
        raise SignatureProblem("the signer's certificate is not included in the signature")

    public = signer.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise SignatureProblem(f"the signer certificate {_describe(signer)} does not hold an ECDSA key")
    signed_bytes = b"\x31" + signature[attrs.start + 1 : attrs.end]  # [0] IMPLICIT -> SET OF, as RFC 5652 5.4 says
    try:
        public.verify(signature_value, signed_bytes, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise SignatureProblem(
            "the ECDSA signature does not verify: the signature or its signed attributes were altered"
        ) from None
    if not hmac.compare_digest(message_digest, hashlib.sha256(content).digest()):
        raise SignatureProblem(f"the signed message digest does not match {TAGMANIFEST}: the tag manifest was altered")
    issuer = _check_signer_certificate(signer, anchors, now)
    if crls:
        _check_revocation(signer, issuer, crls, now)
    # The embedded CA copy is not what we trust (the given CA file is), but it is part of the signature file:
    # it must be the given CA exactly, so that no byte of the .p7s can change unnoticed.
    anchor_der = {ca.public_bytes(serialization.Encoding.DER) for ca in anchors}
    for cert, der in zip(certs, raws, strict=True):
        if cert is not signer and der not in anchor_der:
            raise SignatureProblem(
                f"the embedded certificate {_describe(cert)} is neither the signer's nor the given CA certificate"
            )
    return SignatureInfo(
        signer_subject=_describe(signer),
        signer_fingerprint=signer.fingerprint(hashes.SHA256()).hex(),
        ca_subject=_describe(issuer),
        signing_time=signing_time,
    )
