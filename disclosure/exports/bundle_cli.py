"""disclosure-bundle: verify and decrypt export bundles (format disclosure-bundle/1).

    disclosure-bundle verify  BUNDLE.zip --ca ca.pem [--key me.key --cert me.pem | --passphrase-file F]
    disclosure-bundle decrypt BUNDLE.zip --ca ca.pem (--key me.key --cert me.pem | --passphrase-file F)
                              --out DIR
    (both also take --crl crl.pem, --log-vkey VKEY and --key-password-file F)

This file stands alone: it imports only the Python standard library and `cryptography`, so a recipient can
run it without the server (`python bundle_cli.py verify …` works too). Exit status: 0 verified, 1 the bundle
failed (the message names the file and what is wrong), 2 a usage problem (bad options, unreadable key or CA).

What `verify` checks, in order:
  1. the ZIP: stored (not deflated) entries only, no unsafe or duplicate names, no links, one bag folder;
  2. the detached CMS signature tagmanifest-sha256.txt.p7s over tagmanifest-sha256.txt: the ECDSA
     P-256/SHA-256 signature over the signed attributes, their message digest against the tag manifest, and
     the signer certificate: issued directly by the given CA, valid now, extended key usage emailProtection
     (or none), and not revoked when the CA's revocation list is given (--crl);
  3. every file against tagmanifest-sha256.txt and manifest-sha256.txt, nothing missing and nothing extra,
     bagit.txt and bag-info.txt's Payload-Oxum;
  4. given a key or passphrase: the inner manifest, each payload file's plaintext SHA-256 and size, and each
     audit event's RFC 9162 inclusion proof against the checkpoint in data/audit-checkpoint.txt, whose
     Ed25519 signed-note signature is checked too when the log's verifier key is known (inner manifest
     "log_vkey", or --log-vkey).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import datetime as dt
import getpass
import hashlib
import hmac
import json
import os
import re
import stat
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID

__all__ = [
    "FORMAT",
    "BundleInvalid",
    "Credentials",
    "UsageProblem",
    "VerifyReport",
    "decrypt_bundle",
    "derive_key_iv",
    "load_crls",
    "load_trust_anchors",
    "main",
    "openssl_decrypt_bytes",
    "parse_checkpoint_note",
    "verify_bundle",
    "verify_inclusion",
]

# -- the format (bundle.py imports these, so builder and verifier cannot drift apart) ------------------------

FORMAT: Final = "disclosure-bundle/1"
CHUNK: Final = 1 << 20
ENC_MAGIC: Final = b"Salted__"
SALT_SIZE: Final = 8
PBKDF2_ITERATIONS: Final = 10_000
KEY_SIZE: Final = 32
IV_SIZE: Final = 16
ENC_HEADER_SIZE: Final = len(ENC_MAGIC) + SALT_SIZE

BAGIT_TXT: Final = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
BAGIT: Final = "bagit.txt"
BAG_INFO: Final = "bag-info.txt"
README: Final = "README.txt"
MANIFEST: Final = "manifest-sha256.txt"
TAGMANIFEST: Final = "tagmanifest-sha256.txt"
SIGNATURE: Final = "tagmanifest-sha256.txt.p7s"
KEY_P7M: Final = "data/key.p7m"
INNER_P7M: Final = "data/inner-manifest.json.p7m"
INNER_ENC: Final = "data/inner-manifest.json.enc"
CHECKPOINT: Final = "data/audit-checkpoint.txt"
PAYLOAD_PREFIX: Final = "data/payload/"
#: The tag files the signed tag manifest must cover.
REQUIRED_TAG_FILES: Final = (BAGIT, BAG_INFO, MANIFEST, README)

#: Bag folder and payload file names: safe in every shell and file system, never an option or a dot file.
SAFE_NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")

MAX_TAG_FILE: Final = 64 << 20
MAX_SIGNATURE: Final = 1 << 20
MAX_SMALL: Final = 1 << 20  # key.p7m, audit-checkpoint.txt
MAX_INNER: Final = 256 << 20
MAX_CERTS_IN_SIGNATURE: Final = 16


def derive_key_iv(passphrase: bytes, salt: bytes) -> tuple[bytes, bytes]:
    """`openssl enc -pbkdf2 -iter 10000 -md sha256` for AES-256: PBKDF2-HMAC-SHA256 gives key || IV."""
    material = hashlib.pbkdf2_hmac("sha256", passphrase, salt, PBKDF2_ITERATIONS, KEY_SIZE + IV_SIZE)
    return material[:KEY_SIZE], material[KEY_SIZE:]


def _ctr(passphrase: bytes, salt: bytes) -> Any:
    key, iv = derive_key_iv(passphrase, salt)
    return Cipher(algorithms.AES(key), modes.CTR(iv))


def openssl_decrypt_bytes(data: bytes, passphrase: bytes) -> bytes:
    """Decrypt a small `openssl enc -aes-256-ctr -pbkdf2 -iter 10000 -md sha256` file held in memory."""
    if len(data) < ENC_HEADER_SIZE or not data.startswith(ENC_MAGIC):
        raise ValueError("not in openssl enc format (no Salted__ header)")
    decryptor = _ctr(passphrase, data[len(ENC_MAGIC) : ENC_HEADER_SIZE]).decryptor()
    return decryptor.update(data[ENC_HEADER_SIZE:]) + decryptor.finalize()


def read_passphrase_line(data: bytes) -> bytes:
    """The passphrase as `openssl enc -pass file:F` reads it: the first line, without its line ending."""
    line = data.split(b"\n", 1)[0]
    return line[:-1] if line.endswith(b"\r") else line


# -- errors --------------------------------------------------------------------------------------------------


class BundleInvalid(Exception):
    """The bundle failed verification. str() is "<file in the bag>: <what is wrong>"."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where}: {what}")
        self.where = where
        self.what = what


class UsageProblem(Exception):
    """Bad options or unreadable key, certificate or CA files (exit status 2)."""


# -- a minimal DER reader (enough for CMS SignedData) --------------------------------------------------------


class DerError(ValueError):
    pass


class _Node:
    """One DER element inside a buffer: its tag and where its header and content are."""

    __slots__ = ("buf", "cstart", "end", "start", "tag")

    def __init__(self, buf: bytes, tag: int, start: int, cstart: int, end: int) -> None:
        self.buf, self.tag, self.start, self.cstart, self.end = buf, tag, start, cstart, end

    @property
    def content(self) -> bytes:
        return self.buf[self.cstart : self.end]

    @property
    def raw(self) -> bytes:
        return self.buf[self.start : self.end]

    def children(self) -> list[_Node]:
        if not self.tag & 0x20:
            raise DerError(f"element with tag 0x{self.tag:02x} is not constructed")
        return _parse_all(self.buf, self.cstart, self.end)


def _parse_one(buf: bytes, pos: int, end: int) -> _Node:
    start = pos
    if pos >= end:
        raise DerError("truncated element")
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise DerError("high tag numbers do not occur in CMS")
    pos += 1
    if pos >= end:
        raise DerError("truncated length")
    first = buf[pos]
    pos += 1
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise DerError("indefinite length is not DER")
    else:
        count = first & 0x7F
        if count > 4 or pos + count > end:
            raise DerError("bad length")
        length = int.from_bytes(buf[pos : pos + count], "big")
        if buf[pos] == 0 or length < 0x80:
            raise DerError("non-minimal length encoding")
        pos += count
    if length > end - pos:
        raise DerError("element runs past its container")
    return _Node(buf, tag, start, pos, pos + length)


def _parse_all(buf: bytes, pos: int, end: int) -> list[_Node]:
    nodes = []
    while pos < end:
        node = _parse_one(buf, pos, end)
        nodes.append(node)
        pos = node.end
    return nodes


def _oid(dotted: str) -> bytes:
    """DER content octets of an OBJECT IDENTIFIER."""
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


_SEQUENCE, _SET, _INTEGER, _OCTETS, _OID, _UTCTIME, _GENTIME = 0x30, 0x31, 0x02, 0x04, 0x06, 0x17, 0x18
OID_SIGNED_DATA = _oid("1.2.840.113549.1.7.2")
OID_DATA = _oid("1.2.840.113549.1.7.1")
OID_CONTENT_TYPE = _oid("1.2.840.113549.1.9.3")
OID_MESSAGE_DIGEST = _oid("1.2.840.113549.1.9.4")
OID_SIGNING_TIME = _oid("1.2.840.113549.1.9.5")
OID_SHA256 = _oid("2.16.840.1.101.3.4.2.1")
OID_ECDSA_SHA256 = _oid("1.2.840.10045.4.3.2")
#: The exact AlgorithmIdentifier encodings accepted: SHA-256 with or without NULL parameters, and
#: ecdsa-with-SHA256 without parameters (RFC 5758). Anything else in the signature is refused, unsigned parts
#: included, so that no byte of a .p7s can change without failing verification.
SHA256_ALGORITHMS = (
    bytes([0x30, 0x0D, 0x06, 0x09]) + OID_SHA256 + b"\x05\x00",
    bytes([0x30, 0x0B, 0x06, 0x09]) + OID_SHA256,
)
ECDSA_SHA256_ALGORITHM = bytes([0x30, 0x0A, 0x06, 0x08]) + OID_ECDSA_SHA256


def _expect(node: _Node, tag: int, what: str) -> _Node:
    if node.tag != tag:
        raise DerError(f"{what}: expected tag 0x{tag:02x}, found 0x{node.tag:02x}")
    return node


def _der_time(node: _Node) -> dt.datetime | None:
    try:
        text = node.content.decode("ascii")
        if node.tag == _UTCTIME:
            return dt.datetime.strptime(text, "%y%m%d%H%M%SZ").replace(tzinfo=dt.UTC)
        if node.tag == _GENTIME:
            return dt.datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=dt.UTC)
    except (UnicodeDecodeError, ValueError):
        return None
    return None


# -- CMS detached signature ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignatureInfo:
    signer_subject: str
    signer_fingerprint: str
    ca_subject: str
    signing_time: dt.datetime | None


class SignatureProblem(Exception):
    pass


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
    usable = []
    for crl in crls:
        if crl.issuer != issuer.subject:
            continue
        try:
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
        top = _parse_one(signature, 0, len(signature))
        if top.end != len(signature):
            raise DerError("trailing bytes after the ContentInfo")
        info = _expect(top, _SEQUENCE, "ContentInfo").children()
        if len(info) != 2 or _expect(info[0], _OID, "contentType").content != OID_SIGNED_DATA:
            raise DerError("not a CMS SignedData")
        wrapped = _expect(info[1], 0xA0, "content").children()
        if len(wrapped) != 1:
            raise DerError("SignedData wrapper")
        items = _expect(wrapped[0], _SEQUENCE, "SignedData").children()
        if len(items) < 4:
            raise DerError("SignedData is too short")
        version = _expect(items[0], _INTEGER, "version").content
        digest_algorithms = _expect(items[1], _SET, "digestAlgorithms").children()
        if len(digest_algorithms) != 1 or digest_algorithms[0].raw not in SHA256_ALGORITHMS:
            raise SignatureProblem("the signature's digest algorithms are not exactly SHA-256")
        encap = _expect(items[2], _SEQUENCE, "encapContentInfo").children()
        if not encap or _expect(encap[0], _OID, "eContentType").content != OID_DATA:
            raise DerError("encapsulated content type is not id-data")
        if len(encap) != 1:
            raise SignatureProblem("the signature is not detached (it embeds content)")
        index = 3
        cert_nodes: list[_Node] = []
        if index < len(items) and items[index].tag == 0xA0:
            cert_nodes = items[index].children()
            index += 1
        if index < len(items) and items[index].tag == 0xA1:
            raise SignatureProblem("the signature carries revocation lists, which this format does not use")
        if index != len(items) - 1:
            raise DerError("unexpected elements in SignedData")
        signer_infos = _expect(items[index], _SET, "signerInfos").children()
        if len(signer_infos) != 1:
            raise SignatureProblem(f"expected exactly one signer, found {len(signer_infos)}")
        fields = _expect(signer_infos[0], _SEQUENCE, "SignerInfo").children()
        if len(fields) < 6:
            raise DerError("SignerInfo is too short")
        signer_version = _expect(fields[0], _INTEGER, "SignerInfo version").content
        sid = fields[1]
        # RFC 5652 5.1/5.3: version 1 with an issuer-and-serial signer identifier, 3 with a key identifier.
        expected_version = b"\x01" if sid.tag == _SEQUENCE else b"\x03"
        if signer_version != expected_version or version != expected_version:
            raise SignatureProblem("the SignedData or SignerInfo version does not match the signer identifier")
        attrs = fields[3]
        if attrs.tag != 0xA0:
            raise SignatureProblem("the signature has no signed attributes")
        signature_value = _expect(fields[5], _OCTETS, "signature").content
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
            parts = _expect(attribute, _SEQUENCE, "Attribute").children()
            if len(parts) != 2:
                raise DerError("Attribute")
            kind = _expect(parts[0], _OID, "attrType").content
            if kind in seen:
                raise SignatureProblem("a signed attribute occurs twice")
            seen.add(kind)
            values = _expect(parts[1], _SET, "attrValues").children()
            if kind in (OID_CONTENT_TYPE, OID_MESSAGE_DIGEST, OID_SIGNING_TIME) and len(values) != 1:
                raise SignatureProblem("a signed attribute must have exactly one value")
            if kind == OID_MESSAGE_DIGEST:
                message_digest = _expect(values[0], _OCTETS, "messageDigest").content
            elif kind == OID_CONTENT_TYPE:
                content_type = _expect(values[0], _OID, "contentType").content
            elif kind == OID_SIGNING_TIME:
                signing_time = _der_time(values[0])
        if message_digest is None or content_type != OID_DATA:
            raise SignatureProblem("the signed attributes lack the message digest or the id-data content type")

        if len(cert_nodes) > MAX_CERTS_IN_SIGNATURE:
            raise SignatureProblem("too many certificates in the signature")
        certs: list[x509.Certificate] = []
        raws: list[bytes] = []
        for node in cert_nodes:
            if node.tag != _SEQUENCE:
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
        if sid.tag == _SEQUENCE:
            issuer_and_serial = sid.children()
            if len(issuer_and_serial) != 2:
                raise DerError("IssuerAndSerialNumber")
            issuer_der = _expect(issuer_and_serial[0], _SEQUENCE, "issuer").raw
            serial = int.from_bytes(_expect(issuer_and_serial[1], _INTEGER, "serial").content, "big", signed=True)
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


# -- signed-note checkpoints and RFC 9162 inclusion proofs (same rules as disclosure.audit.note / merkle) ----


@dataclass(frozen=True)
class CheckpointInfo:
    origin: str
    size: int
    root: bytes
    body: str


def _b64_strict(text: str) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise ValueError("invalid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("non-canonical base64")
    return raw


def _valid_key_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() or c < " " for c in name)


def parse_checkpoint_note(note: str) -> CheckpointInfo:
    """Split a signed checkpoint note and parse its body (origin, size, root). Raises ValueError."""
    if any(c < " " and c != "\n" for c in note):
        raise ValueError("control characters in the checkpoint")
    split = note.rfind("\n\n")
    if split < 0:
        raise ValueError("not a signed note (no blank line before the signatures)")
    body = note[: split + 1]
    lines = body[:-1].split("\n")
    if len(lines) != 3:
        raise ValueError(f"checkpoint body must have 3 lines, found {len(lines)}")
    origin, size_text, root_text = lines
    if not _valid_key_name(origin):
        raise ValueError(f"invalid origin line {origin!r}")
    if not re.fullmatch(r"0|[1-9][0-9]{0,19}", size_text) or int(size_text) >= 2**64:
        raise ValueError(f"invalid tree size {size_text!r}")
    root = _b64_strict(root_text)
    if len(root) != 32:
        raise ValueError("the root hash is not 32 bytes")
    return CheckpointInfo(origin=origin, size=int(size_text), root=root, body=body)


def _parse_vkey(text: str) -> tuple[str, bytes, ed25519.Ed25519PublicKey]:
    parts = text.strip().split("+")
    if len(parts) < 3:
        raise ValueError("a verifier key is <name>+<hex key ID>+<base64 key>")
    name, hex_id, encoded = parts[0], parts[1], "+".join(parts[2:])
    if not _valid_key_name(name) or not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise ValueError("malformed verifier key")
    raw = _b64_strict(encoded)
    if len(raw) != 33 or raw[0] != 0x01:
        raise ValueError("only Ed25519 verifier keys are supported")
    key_id = hashlib.sha256(name.encode("utf-8") + b"\n" + raw).digest()[:4]
    if key_id.hex() != hex_id:
        raise ValueError("the verifier key's ID does not match its name and key")
    return name, key_id, ed25519.Ed25519PublicKey.from_public_bytes(raw[1:])


def verify_checkpoint_signature(note: str, vkey: str) -> None:
    """Raise ValueError unless note carries a valid Ed25519 signature by the log key vkey
    (c2sp.org/signed-note)."""
    name, key_id, public = _parse_vkey(vkey)
    split = note.rfind("\n\n")
    if split < 0:
        raise ValueError("not a signed note")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise ValueError("the signature block must end with a newline")
    found = False
    for line in block[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise ValueError("malformed signature line")
        signer, _, encoded = line[2:].partition(" ")
        raw = _b64_strict(encoded)
        if signer != name or raw[:4] != key_id:
            continue
        found = True
        try:
            public.verify(raw[4:], text.encode("utf-8"))
        except InvalidSignature:
            raise ValueError(
                f"the signature by {name}+{key_id.hex()} does not verify: the checkpoint was altered"
            ) from None
    if not found:
        raise ValueError(f"the checkpoint carries no signature by the log key {name}+{key_id.hex()}")


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2, as disclosure.audit.merkle.verify_inclusion."""
    if len(leaf_hash) != 32 or len(root) != 32 or any(len(p) != 32 for p in proof):
        return False
    if index < 0 or index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# -- reading the bag -----------------------------------------------------------------------------------------


class _Bag:
    """The ZIP, checked for shape: one bag folder, stored entries, safe unique names."""

    def __init__(self, path: Path) -> None:
        self.label = path.name
        try:
            self.zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise UsageProblem(f"{path}: no such file") from None
        except (zipfile.BadZipFile, OSError) as error:
            raise BundleInvalid(path.name, f"not a readable ZIP file ({error})") from None
        try:
            self._check()
        except BaseException:
            self.zip.close()
            raise

    def _check(self) -> None:
        self.files: dict[str, zipfile.ZipInfo] = {}
        roots: set[str] = set()
        seen: set[str] = set()
        for info in self.zip.infolist():
            name = info.filename
            where = name or "(empty name)"
            if not name or "\\" in name or "\x00" in name or name.startswith("/") or ":" in name:
                raise BundleInvalid(where, "unsafe entry name in the ZIP")
            if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
                raise BundleInvalid(where, "entry name contains control characters")
            parts = name.split("/")
            is_dir = name.endswith("/")
            if is_dir:
                parts = parts[:-1]
            if any(part in ("", ".", "..") for part in parts):
                raise BundleInvalid(where, "unsafe entry name in the ZIP (empty, '.' or '..' path component)")
            if name.lower() in seen:
                raise BundleInvalid(where, "duplicate entry in the ZIP")
            seen.add(name.lower())
            if info.flag_bits & 0x1:
                raise BundleInvalid(where, "encrypted ZIP entry (not part of the format)")
            if info.compress_type != zipfile.ZIP_STORED:
                raise BundleInvalid(where, "compressed ZIP entry (the format stores every file uncompressed)")
            kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the tool that wrote the entry records no type
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise BundleInvalid(where, "ZIP entry is a link or special file")
            if len(parts) == 1 and not is_dir:
                raise BundleInvalid(where, "file outside the bag folder")
            roots.add(parts[0])
            if not is_dir:
                self.files["/".join(parts[1:])] = info
        if self.zip.comment:
            raise BundleInvalid(self.label, "the ZIP has an archive comment, which this format never writes")
        if self.zip.infolist() and min(i.header_offset for i in self.zip.infolist()) != 0:
            raise BundleInvalid(self.label, "data precedes the first ZIP entry")
        if len(roots) != 1:
            raise BundleInvalid(self.label, f"expected exactly one bag folder, found {len(roots)}")
        self.root = roots.pop()
        if not SAFE_NAME_RE.fullmatch(self.root):
            raise BundleInvalid(self.root, "unsafe bag folder name")

    def close(self) -> None:
        self.zip.close()

    def has(self, rel: str) -> bool:
        return rel in self.files

    def read(self, rel: str, limit: int) -> bytes:
        info = self.files.get(rel)
        if info is None:
            raise BundleInvalid(rel, "missing from the bundle")
        if info.file_size > limit:
            raise BundleInvalid(rel, f"too large ({info.file_size} bytes)")
        try:
            return self.zip.read(info)
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise BundleInvalid(rel, f"damaged inside the ZIP ({error})") from None

    def chunks(self, rel: str) -> Iterator[bytes]:
        info = self.files[rel]
        try:
            with self.zip.open(info) as handle:
                while chunk := handle.read(CHUNK):
                    yield chunk
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise BundleInvalid(rel, f"damaged inside the ZIP ({error})") from None

    def sha256(self, rel: str) -> str:
        digest = hashlib.sha256()
        for chunk in self.chunks(rel):
            digest.update(chunk)
        return digest.hexdigest()


_MANIFEST_LINE = re.compile(r"([0-9a-f]{64})  ([A-Za-z0-9._/-]+)")


def _parse_manifest(data: bytes, which: str) -> dict[str, str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BundleInvalid(which, "not UTF-8") from None
    if text and not text.endswith("\n"):
        raise BundleInvalid(which, "does not end with a newline")
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = _MANIFEST_LINE.fullmatch(line)
        if not match:
            raise BundleInvalid(which, f"line {number} is not '<sha256>  <path>'")
        digest, path = match.groups()
        if any(part in ("", ".", "..") for part in path.split("/")):
            raise BundleInvalid(which, f"line {number}: unsafe path {path!r}")
        if path in entries:
            raise BundleInvalid(which, f"line {number}: {path} is listed twice")
        entries[path] = digest
    return entries


def _parse_bag_info(data: bytes) -> dict[str, str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BundleInvalid(BAG_INFO, "not UTF-8") from None
    fields: dict[str, str] = {}
    label = None
    for number, line in enumerate(text.splitlines(), 1):
        if line[:1] in (" ", "\t") and label is not None:
            fields[label] += " " + line.strip()
            continue
        label, sep, value = line.partition(":")
        if not sep or not label or label != label.strip():
            raise BundleInvalid(BAG_INFO, f"line {number} is not 'Label: value'")
        fields.setdefault(label, value.strip())
    return fields


# -- verification --------------------------------------------------------------------------------------------


@dataclass
class Credentials:
    """How to open the bundle: a recipient key and certificate, or a passphrase-only bundle's passphrase."""

    key: rsa.RSAPrivateKey | None = None
    cert: x509.Certificate | None = None
    passphrase: bytes | None = None


@dataclass
class VerifyReport:
    bag: str
    mode: str  # "recipients" or "passphrase-only"
    signature: SignatureInfo
    file_count: int = 0
    byte_count: int = 0
    decrypted: bool = False
    payload_files: int = 0
    checkpoint: CheckpointInfo | None = None
    checkpoint_signature_checked: bool = False
    events_checked: int = 0
    inner: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        sig = self.signature
        when = f", signed {sig.signing_time:%Y-%m-%d %H:%M} UTC" if sig.signing_time else ""
        out = [
            f"verified: bag {self.bag} ({FORMAT}, {self.mode})",
            f"  signature: {sig.signer_subject}, issued by {sig.ca_subject}{when}",
            f"  manifests: {self.file_count} files ({self.byte_count} bytes) match the signed manifests",
        ]
        if self.decrypted:
            out.append(
                f"  contents: {self.payload_files} payload files decrypted; sizes and SHA-256 match the inner manifest"
            )
            if self.checkpoint is not None:
                how = "signature verified" if self.checkpoint_signature_checked else "signature not checked: no log key"
                out.append(
                    f"  audit: {self.events_checked} events included in checkpoint {self.checkpoint.origin} "
                    f"size {self.checkpoint.size} ({how})"
                )
        else:
            out.append("  contents: not decrypted (give --key and --cert, or --passphrase-file, to check them)")
        return out


def _structure(bag: _Bag) -> tuple[str, list[str]]:
    """Check which files exist under data/; return the mode and the payload paths."""
    payload = []
    for rel in bag.files:
        if not rel.startswith("data/"):
            continue
        if rel in (KEY_P7M, INNER_P7M, INNER_ENC, CHECKPOINT):
            continue
        name = rel[len(PAYLOAD_PREFIX) :]
        if rel.startswith(PAYLOAD_PREFIX) and name.endswith(".enc") and SAFE_NAME_RE.fullmatch(name[:-4]):
            payload.append(rel)
            continue
        raise BundleInvalid(rel, "unexpected file in the payload (not part of the format)")
    if bag.has(INNER_P7M) and bag.has(INNER_ENC):
        raise BundleInvalid(INNER_ENC, "both an enveloped and a passphrase-encrypted inner manifest are present")
    if bag.has(INNER_P7M):
        if not bag.has(KEY_P7M):
            raise BundleInvalid(KEY_P7M, "missing from the bundle (required next to inner-manifest.json.p7m)")
        mode = "recipients"
    elif bag.has(INNER_ENC):
        if bag.has(KEY_P7M):
            raise BundleInvalid(KEY_P7M, "unexpected in a passphrase-only bundle")
        mode = "passphrase-only"
    else:
        raise BundleInvalid(INNER_P7M, "missing from the bundle (no inner manifest)")
    if not bag.has(CHECKPOINT):
        raise BundleInvalid(CHECKPOINT, "missing from the bundle")
    return mode, sorted(payload)


def _check_manifests(bag: _Bag, tagmanifest: bytes) -> tuple[int, int]:
    tags = _parse_manifest(tagmanifest, TAGMANIFEST)
    for rel in tags:
        if "/" in rel or rel in (TAGMANIFEST, SIGNATURE):
            raise BundleInvalid(TAGMANIFEST, f"lists {rel}, which is not a tag file it may cover")
    for rel in REQUIRED_TAG_FILES:
        if rel not in tags:
            raise BundleInvalid(rel, f"not covered by {TAGMANIFEST}")
    for rel in bag.files:
        if "/" not in rel and rel not in tags and rel not in (TAGMANIFEST, SIGNATURE):
            raise BundleInvalid(rel, f"unexpected file: not listed in the signed {TAGMANIFEST}")
    for rel, digest in tags.items():
        if not bag.has(rel):
            raise BundleInvalid(rel, f"listed in {TAGMANIFEST} but missing from the bundle")
        if bag.sha256(rel) != digest:
            raise BundleInvalid(rel, f"SHA-256 does not match {TAGMANIFEST}")
    if bag.read(BAGIT, MAX_TAG_FILE) != BAGIT_TXT:
        raise BundleInvalid(BAGIT, "not the BagIt 1.0 declaration this format uses")

    manifest = _parse_manifest(bag.read(MANIFEST, MAX_TAG_FILE), MANIFEST)
    for rel in manifest:
        if not rel.startswith("data/"):
            raise BundleInvalid(MANIFEST, f"lists {rel}, which is outside data/")
    for rel in bag.files:
        if rel.startswith("data/") and rel not in manifest:
            raise BundleInvalid(rel, f"unexpected file: not listed in {MANIFEST}")
    total = 0
    for rel, digest in manifest.items():
        if not bag.has(rel):
            raise BundleInvalid(rel, f"listed in {MANIFEST} but missing from the bundle")
        if bag.sha256(rel) != digest:
            raise BundleInvalid(rel, f"SHA-256 does not match {MANIFEST}")
        total += bag.files[rel].file_size

    info = _parse_bag_info(bag.read(BAG_INFO, MAX_TAG_FILE))
    if info.get("Bundle-Format") != FORMAT:
        raise BundleInvalid(BAG_INFO, f"Bundle-Format is {info.get('Bundle-Format')!r}; this tool reads {FORMAT}")
    oxum = f"{total}.{len(manifest)}"
    if info.get("Payload-Oxum") != oxum:
        raise BundleInvalid(BAG_INFO, f"Payload-Oxum is {info.get('Payload-Oxum')!r}, the payload is {oxum}")
    return len(tags) + len(manifest), total


def _open_envelope(bag: _Bag, rel: str, creds: Credentials) -> bytes:
    data = bag.read(rel, MAX_INNER)
    assert creds.key is not None and creds.cert is not None
    try:
        return pkcs7.pkcs7_decrypt_der(data, creds.cert, creds.key, [])
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise BundleInvalid(
            rel,
            f"cannot be decrypted with this key and certificate (not a recipient, or a mismatched key: {error})",
        ) from None


def _passphrase(bag: _Bag, mode: str, creds: Credentials) -> bytes:
    if creds.passphrase is not None:
        if mode == "recipients":
            raise UsageProblem("this bundle is encrypted to recipient certificates: give --key and --cert")
        return creds.passphrase
    if mode == "passphrase-only":
        raise UsageProblem("this bundle is passphrase-only: give --passphrase-file, not a key and certificate")
    passphrase = read_passphrase_line(_open_envelope(bag, KEY_P7M, creds))
    if not passphrase:
        raise BundleInvalid(KEY_P7M, "holds an empty passphrase")
    return passphrase


def _inner_manifest(bag: _Bag, mode: str, creds: Credentials, passphrase: bytes, payload: list[str]) -> dict[str, Any]:
    if mode == "recipients":
        rel, raw = INNER_P7M, _open_envelope(bag, INNER_P7M, creds)
    else:
        rel = INNER_ENC
        try:
            raw = openssl_decrypt_bytes(bag.read(INNER_ENC, MAX_INNER), passphrase)
        except ValueError as error:
            raise BundleInvalid(rel, str(error)) from None
    try:
        inner = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        if mode == "passphrase-only":
            raise BundleInvalid(rel, "cannot be decrypted with this passphrase (wrong passphrase?)") from None
        raise BundleInvalid(rel, "does not hold a JSON inner manifest") from None
    if not isinstance(inner, dict) or inner.get("format") != FORMAT:
        raise BundleInvalid(rel, f"is not a {FORMAT} inner manifest")
    if inner.get("bag") != bag.root:
        raise BundleInvalid(rel, f"belongs to bag {inner.get('bag')!r}, not {bag.root!r}")
    files = inner.get("files")
    if not isinstance(files, list):
        raise BundleInvalid(rel, "has no file list")
    listed = set()
    for entry in files:
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("path"), str)
            and isinstance(entry.get("file"), str)
            and isinstance(entry.get("size"), int)
            and isinstance(entry.get("sha256"), str)
            and re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])
        ):
            raise BundleInvalid(rel, f"malformed file entry {entry!r:.200}")
        if entry["path"] != f"{PAYLOAD_PREFIX}{entry['file']}.enc" or not SAFE_NAME_RE.fullmatch(entry["file"]):
            raise BundleInvalid(rel, f"file entry with an unsafe or inconsistent name: {entry['path']!r:.200}")
        if entry["path"] in listed:
            raise BundleInvalid(rel, f"lists {entry['path']} twice")
        listed.add(entry["path"])
    for path in payload:
        if path not in listed:
            raise BundleInvalid(path, f"not listed in the inner manifest ({rel})")
    for path in sorted(listed):
        if path not in payload:
            raise BundleInvalid(path, f"listed in the inner manifest ({rel}) but missing from the bundle")
    metadata = inner.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BundleInvalid(rel, "metadata is not an object")
    return inner


def _check_audit(bag: _Bag, inner: dict[str, Any], log_vkey: str | None, report: VerifyReport) -> None:
    note_bytes = bag.read(CHECKPOINT, MAX_SMALL)
    try:
        note = note_bytes.decode("utf-8")
        checkpoint = parse_checkpoint_note(note)
    except (UnicodeDecodeError, ValueError) as error:
        raise BundleInvalid(CHECKPOINT, f"not a signed checkpoint ({error})") from None
    report.checkpoint = checkpoint
    metadata = inner.get("metadata") or {}
    vkey = log_vkey or metadata.get("log_vkey")
    if vkey is not None:
        if not isinstance(vkey, str):
            raise BundleInvalid(INNER_P7M if report.mode == "recipients" else INNER_ENC, "log_vkey is not a string")
        try:
            verify_checkpoint_signature(note, vkey)
        except ValueError as error:
            raise BundleInvalid(CHECKPOINT, str(error)) from None
        report.checkpoint_signature_checked = True
    events = metadata.get("audit_events") or []
    where = INNER_P7M if report.mode == "recipients" else INNER_ENC
    if not isinstance(events, list):
        raise BundleInvalid(where, "audit_events is not a list")
    for event in events:
        try:
            seq = event["seq"]
            proof = [bytes.fromhex(h) for h in event["inclusion_proof"]]
            body = event.get("body")
            leaf = bytes.fromhex(event["leaf_hash"]) if "leaf_hash" in event else None
        except (TypeError, KeyError, ValueError, AttributeError):
            raise BundleInvalid(where, f"malformed audit event {event!r:.200}") from None
        if type(seq) is not int or seq < 1:
            raise BundleInvalid(where, f"audit event with invalid seq {seq!r}")
        if body is not None:
            if not isinstance(body, str):
                raise BundleInvalid(where, f"audit event {seq}: body is not a string")
            computed = hashlib.sha256(b"\x00" + body.encode("utf-8")).digest()
            if leaf is not None and leaf != computed:
                raise BundleInvalid(where, f"audit event {seq}: body does not match its leaf hash")
            leaf = computed
        if leaf is None:
            raise BundleInvalid(where, f"audit event {seq} has neither a body nor a leaf hash")
        if seq > checkpoint.size:
            raise BundleInvalid(CHECKPOINT, f"audit event {seq} is beyond the checkpoint's tree size {checkpoint.size}")
        if not verify_inclusion(leaf, seq - 1, checkpoint.size, proof, checkpoint.root):
            raise BundleInvalid(where, f"audit event {seq}: inclusion proof does not lead to the checkpoint root")
        report.events_checked += 1


def _decrypt_stream(
    bag: _Bag, rel: str, passphrase: bytes, expected_manifest: str, sink: IO[bytes] | None
) -> tuple[int, str]:
    """Decrypt one payload file, hashing its ciphertext (again) and plaintext: (size, plaintext SHA-256)."""
    cipher_digest = hashlib.sha256()
    plain_digest = hashlib.sha256()
    header = b""
    decryptor = None
    size = 0
    for chunk in bag.chunks(rel):
        cipher_digest.update(chunk)
        if decryptor is None:
            header += chunk
            if len(header) < ENC_HEADER_SIZE:
                continue
            if not header.startswith(ENC_MAGIC):
                raise BundleInvalid(rel, "not in openssl enc format (no Salted__ header)")
            decryptor = _ctr(passphrase, header[len(ENC_MAGIC) : ENC_HEADER_SIZE]).decryptor()
            chunk, header = header[ENC_HEADER_SIZE:], b""
        plain = decryptor.update(chunk)
        plain_digest.update(plain)
        size += len(plain)
        if sink is not None:
            sink.write(plain)
    if decryptor is None:
        raise BundleInvalid(rel, "too short for the openssl enc format")
    if cipher_digest.hexdigest() != expected_manifest:
        raise BundleInvalid(rel, f"SHA-256 does not match {MANIFEST} (changed while reading)")
    return size, plain_digest.hexdigest()


def _verify(
    path: Path,
    anchors: Sequence[x509.Certificate],
    creds: Credentials | None,
    *,
    log_vkey: str | None = None,
    now: dt.datetime | None = None,
    out_dir: Path | None = None,
    crls: Sequence[x509.CertificateRevocationList] = (),
) -> VerifyReport:
    now = now or dt.datetime.now(dt.UTC)
    bag = _Bag(Path(path))
    try:
        mode, payload = _structure(bag)
        tagmanifest = bag.read(TAGMANIFEST, MAX_TAG_FILE)
        try:
            signature = verify_detached_signature(tagmanifest, bag.read(SIGNATURE, MAX_SIGNATURE), anchors, now, crls)
        except SignatureProblem as problem:
            raise BundleInvalid(SIGNATURE, str(problem)) from None
        report = VerifyReport(bag=bag.root, mode=mode, signature=signature)
        report.file_count, report.byte_count = _check_manifests(bag, tagmanifest)
        if creds is None:
            return report
        manifest = _parse_manifest(bag.read(MANIFEST, MAX_TAG_FILE), MANIFEST)
        passphrase = _passphrase(bag, mode, creds)
        inner = _inner_manifest(bag, mode, creds, passphrase, payload)
        report.inner = inner
        _check_audit(bag, inner, log_vkey, report)
        if out_dir is None:
            for entry in inner["files"]:
                size, digest = _decrypt_stream(bag, entry["path"], passphrase, manifest[entry["path"]], None)
                _compare(entry, size, digest)
        else:
            _write_out(bag, inner, passphrase, manifest, out_dir)
        report.payload_files = len(inner["files"])
        report.decrypted = True
        return report
    finally:
        bag.close()


def _compare(entry: dict[str, Any], size: int, digest: str) -> None:
    if size != entry["size"]:
        raise BundleInvalid(entry["path"], f"decrypted size {size} differs from the inner manifest's {entry['size']}")
    if digest != entry["sha256"]:
        raise BundleInvalid(entry["path"], "decrypted content does not match its SHA-256 in the inner manifest")


def _publish(temporary: Path, target: Path) -> None:
    """Give a complete, checked temporary file its final name, never replacing an existing file."""
    try:
        os.link(temporary, target)
    except FileExistsError:
        raise UsageProblem(f"{target} already exists; choose an empty --out folder") from None
    except OSError:  # a file system without hard links: check, then rename
        if target.exists() or target.is_symlink():
            raise UsageProblem(f"{target} already exists; choose an empty --out folder") from None
        os.replace(temporary, target)


def _write_out(bag: _Bag, inner: dict[str, Any], passphrase: bytes, manifest: dict[str, str], out_dir: Path) -> None:
    """Decrypt each payload file into out_dir/payload/, the inner manifest into out_dir; all or nothing."""
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    payload_dir = out_dir / "payload"
    targets = [(entry, payload_dir / entry["file"]) for entry in inner["files"]]
    manifest_target = out_dir / "inner-manifest.json"
    root = out_dir.resolve()
    for _, target in [*targets, (None, manifest_target)]:
        if target.resolve().parent not in (root, root / "payload"):
            raise UsageProblem(f"{target}: outside the output folder")
        if target.exists() or target.is_symlink():
            raise UsageProblem(f"{target} already exists; choose an empty --out folder")
    created_dir = not payload_dir.exists()
    payload_dir.mkdir(mode=0o700, exist_ok=True)
    written: list[Path] = []
    try:
        for entry, target in targets:
            with tempfile.NamedTemporaryFile(dir=payload_dir, prefix=".", suffix=".part", delete=False) as handle:
                temporary = Path(handle.name)
                try:
                    size, digest = _decrypt_stream(bag, entry["path"], passphrase, manifest[entry["path"]], handle)
                    handle.flush()
                    os.fsync(handle.fileno())
                except BaseException:
                    temporary.unlink(missing_ok=True)
                    raise
            try:
                _compare(entry, size, digest)
                _publish(temporary, target)
                written.append(target)
            finally:
                temporary.unlink(missing_ok=True)
        data = (json.dumps(inner, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        descriptor = os.open(manifest_target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        written.append(manifest_target)
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        for target in written:
            target.unlink(missing_ok=True)
        if created_dir:
            with contextlib.suppress(OSError):
                payload_dir.rmdir()
        raise


# -- public Python API ---------------------------------------------------------------------------------------


def load_trust_anchors(pem: bytes) -> list[x509.Certificate]:
    try:
        anchors = x509.load_pem_x509_certificates(pem)
    except ValueError as error:
        raise UsageProblem(f"the CA file holds no PEM certificate ({error})") from None
    return anchors


def verify_bundle(
    path: Path,
    anchors: Sequence[x509.Certificate],
    credentials: Credentials | None = None,
    *,
    log_vkey: str | None = None,
    now: dt.datetime | None = None,
    crls: Sequence[x509.CertificateRevocationList] = (),
) -> VerifyReport:
    """Verify a bundle; raise BundleInvalid (what and where) or UsageProblem.

    Credentials add the content checks; revocation lists (crls) make a revoked signer fail."""
    return _verify(path, anchors, credentials, log_vkey=log_vkey, now=now, crls=crls)


def decrypt_bundle(
    path: Path,
    anchors: Sequence[x509.Certificate],
    credentials: Credentials,
    out_dir: Path,
    *,
    log_vkey: str | None = None,
    now: dt.datetime | None = None,
    crls: Sequence[x509.CertificateRevocationList] = (),
) -> VerifyReport:
    """Verify, then write out_dir/payload/<file> for each payload file and out_dir/inner-manifest.json."""
    return _verify(path, anchors, credentials, log_vkey=log_vkey, now=now, out_dir=Path(out_dir), crls=crls)


def load_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    """One revocation list, PEM or DER."""
    try:
        if b"-----BEGIN" in data:
            return [x509.load_pem_x509_crl(data)]
        return [x509.load_der_x509_crl(data)]
    except ValueError as error:
        raise UsageProblem(f"the revocation list cannot be parsed ({error})") from None


# -- command line --------------------------------------------------------------------------------------------


def _read_option_file(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise UsageProblem(f"cannot read {what} {path}: {error.strerror}") from None


def _load_credentials(args: argparse.Namespace) -> Credentials | None:
    if args.passphrase_file:
        passphrase = read_passphrase_line(_read_option_file(args.passphrase_file, "--passphrase-file"))
        if not passphrase:
            raise UsageProblem(f"{args.passphrase_file}: the first line is empty")
        return Credentials(passphrase=passphrase)
    if not args.key:
        return None
    try:
        cert = x509.load_pem_x509_certificate(_read_option_file(args.cert, "--cert"))
    except ValueError as error:
        raise UsageProblem(f"{args.cert}: not a PEM certificate ({error})") from None
    key_data = _read_option_file(args.key, "--key")
    password = None
    if args.key_password_file:
        password = read_passphrase_line(_read_option_file(args.key_password_file, "--key-password-file"))
    try:
        try:
            key = serialization.load_pem_private_key(key_data, password=password)
        except TypeError:
            if password is not None or not sys.stdin.isatty():
                raise
            key = serialization.load_pem_private_key(
                key_data, password=getpass.getpass(f"Password for {args.key}: ").encode("utf-8")
            )
    except TypeError:
        raise UsageProblem(f"{args.key} is encrypted: give --key-password-file (or run in a terminal)") from None
    except (ValueError, UnsupportedAlgorithm) as error:
        raise UsageProblem(f"{args.key}: not a usable PEM private key ({error})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise UsageProblem(f"{args.key}: recipient keys are RSA")
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*der) != cert.public_key().public_bytes(*der):
        raise UsageProblem(f"{args.key} does not match the certificate {args.cert}")
    return Credentials(key=key, cert=cert)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="disclosure-bundle",
        description=f"Verify and decrypt {FORMAT} export bundles. Needs only Python and `cryptography`.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{verify,decrypt}")

    def common(sub: argparse.ArgumentParser, need_secret: bool) -> None:
        sub.add_argument("bundle", metavar="BUNDLE.zip")
        sub.add_argument("--ca", required=True, metavar="ca.pem", help="the issuing organisation's CA certificate")
        secret = sub.add_mutually_exclusive_group(required=need_secret)
        secret.add_argument("--key", metavar="me.key", help="your RSA private key (PEM), with --cert")
        secret.add_argument("--passphrase-file", metavar="F", help="the passphrase of a passphrase-only bundle")
        sub.add_argument("--cert", metavar="me.pem", help="your certificate (PEM), with --key")
        sub.add_argument("--key-password-file", metavar="F", help="password of an encrypted --key")
        sub.add_argument("--log-vkey", metavar="VKEY", help="the audit log's verifier key (name+id+base64)")
        sub.add_argument(
            "--crl",
            metavar="crl.pem",
            action="append",
            default=[],
            help="the CA's certificate revocation list: a revoked signer then fails",
        )

    common(
        commands.add_parser("verify", help="check the signature, the manifests and (with a key) the contents"),
        False,
    )
    decrypt = commands.add_parser("decrypt", help="verify, then write the decrypted files into --out")
    common(decrypt, True)
    decrypt.add_argument("--out", required=True, metavar="DIR", help="folder for payload/ and inner-manifest.json")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if bool(args.key) != bool(args.cert):
        parser.error("--key and --cert go together")
    try:
        anchors = load_trust_anchors(_read_option_file(args.ca, "--ca"))
        crls = [crl for name in args.crl for crl in load_crls(_read_option_file(name, "--crl"))]
        creds = _load_credentials(args)
        path = Path(args.bundle)
        if args.command == "verify":
            report = verify_bundle(path, anchors, creds, log_vkey=args.log_vkey, crls=crls)
        else:
            assert creds is not None
            report = decrypt_bundle(path, anchors, creds, Path(args.out), log_vkey=args.log_vkey, crls=crls)
    except UsageProblem as problem:
        print(f"disclosure-bundle: error: {problem}", file=sys.stderr)
        return 2
    except BundleInvalid as problem:
        print(f"NOT VERIFIED: {problem}", file=sys.stderr)
        return 1
    for line in report.lines():
        print(line)
    if args.command == "decrypt":
        print(
            f"decrypted: {report.payload_files} files into {Path(args.out) / 'payload'}; inner manifest in "
            f"{Path(args.out) / 'inner-manifest.json'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
