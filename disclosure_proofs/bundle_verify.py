"""The recipient side of disclosure-bundle/1: verify a bundle and, given a key or passphrase, decrypt it.

verify_bundle() checks, in order: the ZIP's shape (bag), the detached CMS signature (cms), the signed
manifests and bag-info (bag); then, with credentials, the passphrase (key.p7m, or given), the inner manifest
against the payload files, the audit checkpoint (note) and inclusion proofs (merkle), and each payload file's
plaintext size and SHA-256. decrypt_bundle() does the same and writes the plaintext out.

Invariants: nothing is trusted before the signature and the manifests verify; every failure is BundleInvalid
(where and what) or UsageProblem; decrypt_bundle writes all files or none and never replaces an existing one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from .bag import Bag, check_manifests, check_structure, parse_manifest
from .bundle_format import (
    CHECKPOINT,
    FORMAT,
    INNER_ENC,
    INNER_P7M,
    KEY_P7M,
    MANIFEST,
    MAX_INNER,
    MAX_SIGNATURE,
    MAX_SMALL,
    MAX_TAG_FILE,
    PAYLOAD_PREFIX,
    SAFE_NAME_RE,
    SIGNATURE,
    TAGMANIFEST,
    BundleInvalid,
    UsageProblem,
)
from .cms import SignatureInfo, SignatureProblem, verify_detached_signature
from .merkle import verify_inclusion
from .note import Checkpoint, CheckpointSignatureError, read_unverified_checkpoint, verify_checkpoint_with_vkey
from .openssl_enc import ENC_HEADER_SIZE, ENC_MAGIC, aes_ctr, openssl_decrypt_bytes, read_passphrase_line


@dataclass
class Credentials:
    """How to open the bundle: a recipient key and certificate, or a passphrase-only bundle's passphrase."""

    key: rsa.RSAPrivateKey | None = None
    cert: x509.Certificate | None = None
    passphrase: bytes | None = None


@dataclass
class VerifyReport:
    """What verification found: the signer, the files checked and, with credentials, the contents and proofs."""

    bag: str
    mode: str  # "recipients" or "passphrase-only"
    signature: SignatureInfo
    file_count: int = 0
    byte_count: int = 0
    decrypted: bool = False
    payload_files: int = 0
    checkpoint: Checkpoint | None = None
    checkpoint_signature_checked: bool = False
    events_checked: int = 0
    inner: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The report as the command prints it."""
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


def _open_envelope(bag: Bag, rel: str, creds: Credentials) -> bytes:
    data = bag.read(rel, MAX_INNER)
    assert creds.key is not None and creds.cert is not None
    try:
        return pkcs7.pkcs7_decrypt_der(data, creds.cert, creds.key, [])
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise BundleInvalid(
            rel,
            f"cannot be decrypted with this key and certificate (not a recipient, or a mismatched key: {error})",
        ) from None


def _passphrase(bag: Bag, mode: str, creds: Credentials) -> bytes:
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


def _inner_manifest(bag: Bag, mode: str, creds: Credentials, passphrase: bytes, payload: list[str]) -> dict[str, Any]:
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
    listed: set[str] = set()
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


def _check_audit(bag: Bag, inner: dict[str, Any], log_vkey: str | None, report: VerifyReport) -> None:
    note_bytes = bag.read(CHECKPOINT, MAX_SMALL)
    try:
        note = note_bytes.decode("utf-8")
        checkpoint = read_unverified_checkpoint(note)
    except (UnicodeDecodeError, ValueError) as error:
        raise BundleInvalid(CHECKPOINT, f"not a signed checkpoint ({error})") from None
    report.checkpoint = checkpoint
    metadata = inner.get("metadata") or {}
    vkey = log_vkey or metadata.get("log_vkey")
    if vkey is not None:
        if not isinstance(vkey, str):
            raise BundleInvalid(INNER_P7M if report.mode == "recipients" else INNER_ENC, "log_vkey is not a string")
        try:
            signed = verify_checkpoint_with_vkey(note, vkey)
        except CheckpointSignatureError as error:
            raise BundleInvalid(
                CHECKPOINT, f"the checkpoint carries no signature by the log key that verifies ({error})"
            ) from None
        except ValueError as error:
            raise BundleInvalid(CHECKPOINT, str(error)) from None
        if signed != checkpoint:  # cannot happen: both read the same text; kept so that only signed data counts
            raise BundleInvalid(CHECKPOINT, "the signed checkpoint differs from the one read")
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
    bag: Bag, rel: str, passphrase: bytes, expected_manifest: str, sink: IO[bytes] | None
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
            decryptor = aes_ctr(passphrase, header[len(ENC_MAGIC) : ENC_HEADER_SIZE]).decryptor()
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
    bag = Bag(Path(path))
    try:
        mode, payload = check_structure(bag)
        tagmanifest = bag.read(TAGMANIFEST, MAX_TAG_FILE)
        try:
            signature = verify_detached_signature(tagmanifest, bag.read(SIGNATURE, MAX_SIGNATURE), anchors, now, crls)
        except SignatureProblem as problem:
            raise BundleInvalid(SIGNATURE, str(problem)) from None
        report = VerifyReport(bag=bag.root, mode=mode, signature=signature)
        report.file_count, report.byte_count = check_manifests(bag, tagmanifest)
        if creds is None:
            return report
        manifest = parse_manifest(bag.read(MANIFEST, MAX_TAG_FILE), MANIFEST)
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


def _write_out(bag: Bag, inner: dict[str, Any], passphrase: bytes, manifest: dict[str, str], out_dir: Path) -> None:
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


def load_trust_anchors(pem: bytes) -> list[x509.Certificate]:
    """The CA certificates (PEM) a bundle's signer must be issued by."""
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
