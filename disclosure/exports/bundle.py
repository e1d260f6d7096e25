"""Build export bundles (format disclosure-bundle/1): one stored ZIP holding one signed, encrypted BagIt bag.

    <bag>/bagit.txt, bag-info.txt, manifest-sha256.txt, tagmanifest-sha256.txt, README.txt
    <bag>/tagmanifest-sha256.txt.p7s     detached CMS signature (ECDSA P-256, SHA-256) over the tag manifest
    <bag>/data/key.p7m                   CMS EnvelopedData (AES-256-CBC, RSA recipients): the passphrase
    <bag>/data/inner-manifest.json.p7m   enveloped the same way (passphrase-only: inner-manifest.json.enc)
    <bag>/data/audit-checkpoint.txt      the signed checkpoint the inner manifest's inclusion proofs lead to
    <bag>/data/payload/<name>.enc        `openssl enc -aes-256-ctr -pbkdf2 -iter 10000 -md sha256`, own salt

Encrypt, then hash, then sign: manifest-sha256.txt lists the SHA-256 of every ciphertext, the tag manifest
covers it, and the detached CMS signature covers the tag manifest. Plaintext hashes travel only inside the
envelope.

Payload files stream through in 1 MiB chunks (read, hash the plaintext, AES-CTR into a preallocated buffer,
hash the ciphertext, CRC and write into the ZIP), so memory does not grow with the production. The ZIP is
written to a temporary file beside the destination, hashed as it is written, fsynced, and renamed into place
only when complete (the streaming is bundle_stream.py, the README text bundle_readme.py; the format's names
and limits are disclosure_proofs.bundle_format, shared with the verifier). Pure: no Flask, no database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from disclosure.exports.bundle_readme import readme_text
from disclosure.exports.bundle_stream import TrailingHasher, Worker, encrypt_into_zip, zip_info
from disclosure.exports.pki import PKIError, Signer, validate_signer
from disclosure_proofs import bundle_format as fmt
from disclosure_proofs.cms import SignatureProblem, verify_detached_signature
from disclosure_proofs.note import read_unverified_checkpoint
from disclosure_proofs.openssl_enc import ENC_HEADER_SIZE, openssl_encrypt_bytes

__all__ = [
    "BuildResult",
    "BundleError",
    "BundleFile",
    "PayloadFile",
    "build_bundle",
    "readme_text",
    "safe_file_name",
]

CHUNK = fmt.CHUNK
#: Passphrases we accept from callers: at least 22 URL-safe characters (>= 128 bits when random), one line.
_PASSPHRASE_RE = re.compile(r"[A-Za-z0-9._~+/=-]{22,256}")
_LABEL_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,63}")
_COMPUTED_LABELS = frozenset(
    {
        "Bagging-Date",
        "Payload-Oxum",
        "External-Identifier",
        "Bundle-Format",
        "Bundle-Mode",
        "Bag-Software-Agent",
    }
)


class BundleError(ValueError):
    """The bundle cannot be built as asked; the message says why. Nothing is left at the destination."""


@dataclass(frozen=True)
class PayloadFile:
    """One file to put in the bundle.

    open() returns a binary file object (anything with readinto() or read()) or an iterable of bytes
    chunks; it is called once, and closed afterwards if it has close(). size, when known, is checked against
    what was read.
    """

    name: str
    open: Callable[[], Any]
    size: int | None = None


@dataclass(frozen=True)
class BundleFile:
    """One payload file as it went into the bundle."""

    name: str  # as given
    file: str  # the safe name it decrypts to
    path: str  # bag-relative, data/payload/<file>.enc
    size: int  # plaintext bytes
    sha256: str  # plaintext (recorded only inside the envelope)
    ciphertext_sha256: str  # as in manifest-sha256.txt


@dataclass(frozen=True)
class BuildResult:
    path: Path
    sha256: str  # of the whole ZIP
    size: int  # bytes of the whole ZIP
    bag_name: str
    mode: str  # "recipients" or "passphrase-only"
    #: Only in passphrase-only mode: show it once to the person who built the bundle; never store or log it.
    passphrase: str | None
    file_count: int
    payload_bytes: int  # plaintext bytes of the payload files
    files: tuple[BundleFile, ...]
    recipient_fingerprints: tuple[str, ...]  # SHA-256 of each recipient certificate, hex
    signer_fingerprint: str
    checkpoint_origin: str
    checkpoint_size: int


# -- names ---------------------------------------------------------------------------------------------------


def safe_file_name(name: str) -> str:
    """A name safe in every shell, file system and ZIP tool: [A-Za-z0-9][A-Za-z0-9._-]*, at most 120 chars."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-")
    if not base:
        base = "file"
    if len(base) > 120:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: 119 - len(ext)] + dot + ext) if dot and 0 < len(ext) <= 16 and stem else base[:120]
        base = base.strip("._-") or "file"
    return base


def _unique(name: str, taken: set[str]) -> str:
    candidate, counter = name, 1
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, dot, ext = name, "", ""
    while candidate.lower() in taken:  # case-insensitive: the recipient's file system may be
        counter += 1
        candidate = f"{stem}-{counter}{dot}{ext}"
    taken.add(candidate.lower())
    return candidate


# -- the builder ---------------------------------------------------------------------------------------------


def _check_bag_info(bag_info: Mapping[str, str]) -> list[tuple[str, str]]:
    fields = []
    for label, value in bag_info.items():
        if not isinstance(label, str) or not _LABEL_RE.fullmatch(label):
            raise BundleError(f"bag-info label {label!r} must be letters, digits and hyphens")
        if label in _COMPUTED_LABELS:
            raise BundleError(f"bag-info label {label} is set by the builder")
        text = str(value).strip()
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
            raise BundleError(f"bag-info {label}: line breaks and control characters are not allowed")
        fields.append((label, text))
    return fields


def _envelope(data: bytes, recipients: Sequence[x509.Certificate]) -> bytes:
    builder = pkcs7.PKCS7EnvelopeBuilder().set_data(data).set_content_encryption_algorithm(algorithms.AES256)
    for cert in recipients:
        builder = builder.add_recipient(cert)
    return builder.encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])


def _sign(content: bytes, signer: Signer) -> bytes:
    # set_data first: in cryptography 50 set_data() drops certificates added before it.
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(content)
        .add_signer(signer.cert, signer.key, hashes.SHA256())
        .add_certificate(signer.ca_cert)
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    )


def _organisation(cert: x509.Certificate) -> str | None:
    names = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return str(names[0].value) if names else None


def _fsync_dir(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def build_bundle(
    out_path: Path,
    *,
    bag_name: str,
    files: Iterable[PayloadFile],
    recipients: Sequence[x509.Certificate] | None,
    signer: Signer,
    checkpoint_note: str,
    inner_metadata: Mapping[str, Any],
    bag_info: Mapping[str, str] | None = None,
    passphrase: str | None = None,
    now: dt.datetime | None = None,
) -> BuildResult:
    """Build a disclosure-bundle/1 ZIP at out_path; see the module docstring.

    recipients: RSA certificates to envelope the passphrase and the inner manifest to; None or empty makes the
    bundle passphrase-only (the result then carries the passphrase, to be shown once). inner_metadata
    (JSON-serialisable) goes inside the envelope: case metadata, "audit_events" ([{seq, body, leaf_hash,
    inclusion_proof}], the proofs leading to checkpoint_note) and "log_vkey" (the log's verifier key).
    Raises BundleError (or the source's own error), and leaves nothing at out_path, if anything fails.
    """
    out_path = Path(out_path)
    now = now or dt.datetime.now(dt.UTC)
    recipients = list(recipients or [])
    mode = "recipients" if recipients else "passphrase-only"
    if not fmt.SAFE_NAME_RE.fullmatch(bag_name):
        raise BundleError(
            f"bag name {bag_name!r} must be letters, digits, '.', '_' and '-', starting with one of the first two"
        )
    try:
        checkpoint = read_unverified_checkpoint(checkpoint_note)
    except ValueError as error:
        raise BundleError(f"the checkpoint is not a signed checkpoint note: {error}") from None
    for cert in recipients:
        if not isinstance(cert.public_key(), rsa.RSAPublicKey):
            raise BundleError(f"recipient {cert.subject.rfc4514_string()}: CMS envelopes support RSA keys only")
    try:
        validate_signer(signer.key, signer.cert, signer.ca_cert, now=now)
    except PKIError as error:
        raise BundleError(str(error)) from None
    extra_info = _check_bag_info(bag_info or {})
    try:
        json.dumps(inner_metadata, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise BundleError(f"inner_metadata is not JSON-serialisable: {error}") from None
    if passphrase is None:
        passphrase = secrets.token_urlsafe(24)  # 192 bits
    elif not _PASSPHRASE_RE.fullmatch(passphrase):
        raise BundleError("a given passphrase must be 22 to 256 URL-safe characters on one line (>= 128 bits)")
    secret = passphrase.encode("ascii")

    out_path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary_name = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.", suffix=".partial")
    temporary = Path(temporary_name)
    when = now.astimezone(dt.UTC).timetuple()[:6]
    if when[0] < 1980:
        when = (1980, 1, 1, 0, 0, 0)
    workers = (Worker("bundle-plaintext-hash"), Worker("bundle-ciphertext-hash"))
    trailing = TrailingHasher(temporary)
    try:
        entries: list[BundleFile] = []
        manifest: list[tuple[str, str]] = []
        payload_total = 0
        buffers = [bytearray(CHUNK)]
        out_buffer = bytearray(CHUNK + 32)
        with open(descriptor, "wb") as raw, zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_STORED) as zf:

            def put(rel: str, data: bytes) -> None:
                zf.writestr(zip_info(f"{bag_name}/{rel}", when), data)

            taken: set[str] = set()
            for item in files:
                safe = _unique(safe_file_name(item.name), taken)
                rel = f"{fmt.PAYLOAD_PREFIX}{safe}.enc"
                source = item.open()
                try:
                    info = zip_info(f"{bag_name}/{rel}", when)
                    size, plain_sha, cipher_sha = encrypt_into_zip(
                        zf, info, source, secret, workers, buffers, out_buffer, item.size
                    )
                    if item.size is not None and size != item.size:
                        raise BundleError(
                            f"{info.filename}: read {size} bytes, expected {item.size} (did the file change?)"
                        )
                    raw.flush()
                    trailing.advance(raw.tell())  # the entry is closed: its header will not change again
                finally:
                    close = getattr(source, "close", None)
                    if close is not None:
                        close()
                entries.append(BundleFile(item.name, safe, rel, size, plain_sha, cipher_sha))
                manifest.append((cipher_sha, rel))
                payload_total += size + ENC_HEADER_SIZE

            inner = {
                "format": fmt.FORMAT,
                "bag": bag_name,
                "created": now.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                "files": [
                    {"name": e.name, "file": e.file, "path": e.path, "size": e.size, "sha256": e.sha256}
                    for e in entries
                ],
                "metadata": inner_metadata,
            }
            inner_bytes = (
                json.dumps(inner, indent=2, ensure_ascii=False, sort_keys=True, allow_nan=False) + "\n"
            ).encode("utf-8")
            small: list[tuple[str, bytes]] = []
            if recipients:
                small.append((fmt.KEY_P7M, _envelope(secret + b"\n", recipients)))
                small.append((fmt.INNER_P7M, _envelope(inner_bytes, recipients)))
            else:
                small.append((fmt.INNER_ENC, openssl_encrypt_bytes(inner_bytes, secret)))
            small.append((fmt.CHECKPOINT, checkpoint_note.encode("utf-8")))
            for rel, data in small:
                put(rel, data)
                manifest.append((hashlib.sha256(data).hexdigest(), rel))
                payload_total += len(data)
            del inner_bytes

            source_org = dict(extra_info).get("Source-Organization") or _organisation(signer.cert)
            info_fields = [
                ("Bagging-Date", now.astimezone(dt.UTC).date().isoformat()),
                ("Bag-Software-Agent", f"disclosure ({fmt.FORMAT})"),
                ("Bundle-Format", fmt.FORMAT),
                ("Bundle-Mode", mode),
                ("External-Identifier", bag_name),
                ("Payload-Oxum", f"{payload_total}.{len(manifest)}"),
            ]
            if source_org and "Source-Organization" not in dict(extra_info):
                info_fields.append(("Source-Organization", source_org))
            info_fields += extra_info
            tag_files = [
                (fmt.BAGIT, fmt.BAGIT_TXT),
                (fmt.BAG_INFO, "".join(f"{k}: {v}\n" for k, v in info_fields).encode("utf-8")),
                (fmt.MANIFEST, "".join(f"{digest}  {rel}\n" for digest, rel in manifest).encode("ascii")),
                (
                    fmt.README,
                    readme_text(bag_name, mode, entries[0].file if entries else None).encode("utf-8"),
                ),
            ]
            for rel, data in tag_files:
                put(rel, data)
            tagmanifest = "".join(f"{hashlib.sha256(data).hexdigest()}  {rel}\n" for rel, data in tag_files).encode(
                "ascii"
            )
            put(fmt.TAGMANIFEST, tagmanifest)
            signature = _sign(tagmanifest, signer)
            # Check our own signature with the recipient's verifier before anything leaves.
            try:
                verify_detached_signature(tagmanifest, signature, [signer.ca_cert], now)
            except SignatureProblem as problem:
                raise BundleError(f"the bundle signature does not verify: {problem}") from None
            put(fmt.SIGNATURE, signature)
            zf.close()
            raw.flush()
            os.fsync(raw.fileno())
            size = raw.tell()
        digest = trailing.finish(size)
        os.replace(temporary, out_path)
        _fsync_dir(out_path.parent)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    finally:
        trailing.close()
        for worker in workers:
            worker.close()

    return BuildResult(
        path=out_path,
        sha256=digest,
        size=size,
        bag_name=bag_name,
        mode=mode,
        passphrase=passphrase if mode == "passphrase-only" else None,
        file_count=len(entries),
        payload_bytes=sum(e.size for e in entries),
        files=tuple(entries),
        recipient_fingerprints=tuple(c.fingerprint(hashes.SHA256()).hex() for c in recipients),
        signer_fingerprint=signer.cert.fingerprint(hashes.SHA256()).hex(),
        checkpoint_origin=checkpoint.origin,
        checkpoint_size=checkpoint.size,
    )
