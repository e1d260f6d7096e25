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
only when complete. Pure: no Flask, no database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import secrets
import tempfile
import threading
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from disclosure.exports import bundle_cli as fmt
from disclosure.exports.pki import PKIError, Signer, validate_signer

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
#: A ZIP entry needs zip64 fields past 4 GiB; decided up front because the local header is written first.
_ZIP64_LIMIT = (1 << 32) - 1 - 1024


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


# -- README --------------------------------------------------------------------------------------------------


def readme_text(bag_name: str, mode: str, example_file: str | None) -> str:
    """README.txt: what the bundle is and the stock commands that open it, literally (tests run them)."""
    example = example_file or "FILE"
    passphrase_only = mode == "passphrase-only"
    lines = [
        f"Disclosure export bundle, format {fmt.FORMAT}",
        "",
        f"This ZIP holds one BagIt bag (RFC 8493), {bag_name}/, signed by the organisation that produced it.",
        "Every file under data/payload/ is encrypted. The SHA-256 of each encrypted file is in manifest-sha256.txt;",
        "tagmanifest-sha256.txt covers that manifest and the other tag files; tagmanifest-sha256.txt.p7s is a detached",
        "CMS signature (ECDSA P-256, SHA-256) over the tag manifest. Check the signature and the manifests before you",
        "decrypt anything: a changed byte anywhere fails them.",
        "",
    ]
    if passphrase_only:
        lines += [
            "This bundle is passphrase-only: you received its passphrase separately, by another channel.",
            "The inner manifest (data/inner-manifest.json.enc) is encrypted with that passphrase, like the files.",
        ]
    else:
        lines += [
            "data/key.p7m holds the bundle passphrase, encrypted (CMS EnvelopedData) to each recipient's certificate.",
            "The inner manifest (data/inner-manifest.json.p7m) is encrypted to the same certificates.",
        ]
    lines += [
        "The inner manifest holds the plaintext SHA-256 and size of each file, the case metadata, and the audit-log",
        "events of the case with their inclusion proofs, which lead to the signed checkpoint in",
        "data/audit-checkpoint.txt.",
        "",
        "You need: OpenSSL 1.1.1 or 3.x (not LibreSSL), unzip and sha256sum (on macOS: `shasum -a 256`).",
        "Put these files in one folder and run the commands below in it, one after the other:",
        "  BUNDLE.zip   this bundle (rename it, or change the name in the first command)",
        "  ca.pem       the organisation's CA certificate, obtained from it directly (not from this bundle)",
    ]
    if passphrase_only:
        lines.append("  passphrase.txt  the passphrase you were given, on one line")
    else:
        lines += [
            "  me.pem       your certificate (the one the bundle was encrypted to)",
            "  me.key       your private key (openssl asks for its password if it has one)",
        ]
    lines += [
        "",
        "1. Unpack, and go into the bag (umask 077 keeps what you decrypt readable by you alone):",
        "",
        "  $ umask 077",
        "  $ unzip -q BUNDLE.zip",
        f"  $ cd {bag_name}",
        "",
        "2. Check the signature against the organisation's CA (prints 'Verification successful'):",
        "",
        "  $ openssl cms -verify -binary -inform DER -in tagmanifest-sha256.txt.p7s -content "
        "tagmanifest-sha256.txt"
        " -CAfile ../ca.pem -out /dev/null",
        "",
        "   If the organisation publishes a certificate revocation list (crl.pem, next to ca.pem), check the",
        "   signer against it too (this fails with 'certificate revoked' for a revoked signing certificate):",
        "",
        "      $ cat ../ca.pem ../crl.pem > ../ca-crl.pem",
        "      $ openssl cms -verify -binary -inform DER -in tagmanifest-sha256.txt.p7s -content "
        "tagmanifest-sha256.txt"
        " -CAfile ../ca-crl.pem -crl_check -out /dev/null",
        "",
        "3. Check every file against the signed manifests (each line must say OK):",
        "",
        "  $ sha256sum -c tagmanifest-sha256.txt && sha256sum -c manifest-sha256.txt",
        "",
    ]
    if passphrase_only:
        lines += [
            "4. Decrypt the inner manifest with the passphrase:",
            "",
            "  $ openssl enc -d -aes-256-ctr -pbkdf2 -iter 10000 -md sha256 -in data/inner-manifest.json.enc"
            " -out ../inner-manifest.json -pass file:../passphrase.txt",
            "",
        ]
    else:
        lines += [
            "4. Recover the bundle passphrase and the inner manifest with your key:",
            "",
            "  $ openssl cms -decrypt -binary -inform DER -in data/key.p7m -recip ../me.pem -inkey ../me.key"
            " -out ../passphrase.txt",
            "  $ openssl cms -decrypt -binary -inform DER -in data/inner-manifest.json.p7m -recip ../me.pem"
            " -inkey ../me.key -out ../inner-manifest.json",
            "",
        ]
    lines += [
        "5. Decrypt the files into ../plaintext/ (one command per file, or the loop that does them all):",
        "",
        "  $ mkdir ../plaintext",
        f"  $ openssl enc -d -aes-256-ctr -pbkdf2 -iter 10000 -md sha256 -in data/payload/{example}.enc"
        f" -out ../plaintext/{example} -pass file:../passphrase.txt",
        '  $ for f in data/payload/*.enc; do n="${f##*/}"; openssl enc -d -aes-256-ctr -pbkdf2 -iter 10000'
        ' -md sha256 -in "$f" -out "../plaintext/${n%.enc}" -pass file:../passphrase.txt || break; done',
        "",
        '6. Compare the plaintext hashes with the "sha256" of each file in ../inner-manifest.json:',
        "",
        "  $ sha256sum ../plaintext/*",
        "",
        "The passphrase file holds one line; `-pass file:` reads the first line without its line ending.",
        "Delete ../passphrase.txt when you are done, and keep the plaintext as safely as the law requires.",
        "",
        "The same checks and more (the plaintext hashes and the audit inclusion proofs) in one command, with the",
        "organisation's `disclosure-bundle` tool (Python 3.11+ and the `cryptography` package):",
        "",
    ]
    if passphrase_only:
        lines.append("  disclosure-bundle decrypt BUNDLE.zip --ca ca.pem --passphrase-file passphrase.txt --out DIR")
    else:
        lines.append("  disclosure-bundle decrypt BUNDLE.zip --ca ca.pem --key me.key --cert me.pem --out DIR")
    lines += ["", "(add --crl crl.pem to check the signer against the revocation list)", ""]
    return "\n".join(lines)


# -- payload streaming ---------------------------------------------------------------------------------------


class _Worker:
    """Runs one job at a time on its own thread. hashlib releases the GIL on large buffers, so hashing the
    plaintext and the ciphertext on two workers overlaps with encrypting, CRCing and writing on the caller."""

    def __init__(self, name: str) -> None:
        self._cond = threading.Condition()
        self._job: tuple[Callable[..., Any], tuple[Any, ...]] | None = None
        self._stop = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self._stop:
                    self._cond.wait()
                if self._job is None:
                    return
                function, args = self._job
            try:
                function(*args)
            except BaseException as error:  # re-raised in the submitting thread by wait()
                self._error = error
            with self._cond:
                self._job = None
                self._cond.notify_all()

    def submit(self, function: Callable[..., Any], *args: Any) -> None:
        """Start function(*args); buffers passed in must stay untouched until wait() returns."""
        with self._cond:
            while self._job is not None:
                self._cond.wait()
            self._job = (function, args)
            self._cond.notify_all()

    def wait(self) -> None:
        with self._cond:
            while self._job is not None:
                self._cond.wait()
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join()


class _TrailingHasher:
    """SHA-256 of the ZIP while it is written.

    A thread reads back (from the page cache) each region the writer has declared final, and hashes it.
    zipfile rewrites an entry's local header when the entry closes, so a region is final only then; reading
    back lets the hash follow one entry behind instead of hashing the whole file again at the end."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self._digest = hashlib.sha256()
        self._buffer = bytearray(CHUNK)
        self._done = 0
        self._target = 0
        self._closing = False
        self._abort = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="bundle-zip-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        view = memoryview(self._buffer)
        try:
            while True:
                with self._cond:
                    while self._done >= self._target and not self._closing and not self._abort:
                        self._cond.wait()
                    if self._abort or self._done >= self._target:
                        return
                    want = min(CHUNK, self._target - self._done)
                count = os.preadv(self._fd, [view[:want]], self._done)
                if count <= 0:
                    raise OSError(f"the bundle file ended at {self._done} bytes while being hashed")
                self._digest.update(view[:count])
                with self._cond:
                    self._done += count
                    self._cond.notify_all()
        except BaseException as error:  # re-raised by finish()
            with self._cond:
                self._error = error
                self._cond.notify_all()

    def advance(self, offset: int) -> None:
        """Bytes before offset are final (flushed to the OS, never rewritten)."""
        with self._cond:
            if offset > self._target:
                self._target = offset
                self._cond.notify_all()

    def finish(self, size: int) -> str:
        """Hash up to size (the finished file's length) and return the hex digest."""
        self.advance(size)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        self.close()
        if self._error is not None:
            raise self._error
        if self._done != size:
            raise OSError(f"hashed {self._done} of {size} bytes of the bundle")
        return self._digest.hexdigest()

    def close(self) -> None:
        """Stop (abandoning any hashing still to do) and release the file."""
        with self._cond:
            self._abort = True
            self._cond.notify_all()
        self._thread.join()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _chunks_of(source: Any, buffers: Sequence[bytearray]) -> Iterable[memoryview]:
    """Yield memoryviews of at most CHUNK bytes; file objects are read into the given buffers in turn."""
    if hasattr(source, "readinto"):
        index = 0
        while True:
            buffer = buffers[index]
            count = source.readinto(buffer)
            if not count:
                return
            yield memoryview(buffer)[:count]
            index = (index + 1) % len(buffers)
    elif hasattr(source, "read"):
        while chunk := source.read(CHUNK):
            yield memoryview(chunk)
    else:
        for chunk in source:
            view = memoryview(chunk).cast("B")
            for start in range(0, len(view), CHUNK):
                yield view[start : start + CHUNK]


def _zip_info(arcname: str, when: tuple[int, int, int, int, int, int]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(arcname, date_time=when)
    info.compress_type = zipfile.ZIP_STORED
    info.external_attr = 0o100644 << 16  # a regular file, rw-r--r--
    info.create_system = 3  # Unix, so that unzip applies the mode
    return info


def _encrypt_into_zip(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    source: Any,
    passphrase: bytes,
    workers: tuple[_Worker, _Worker],
    buffers: Sequence[bytearray],
    out_buffer: bytearray,
    expected_size: int | None,
) -> tuple[int, str, str]:
    """Stream one source into the ZIP in openssl enc format.

    Returns (plaintext size, plaintext SHA-256, ciphertext SHA-256). Per 1 MiB chunk: one worker hashes the
    plaintext while this thread encrypts it (AES-256-CTR into a preallocated buffer); the other worker hashes
    the ciphertext while this thread CRCs and writes it."""
    salt = secrets.token_bytes(fmt.SALT_SIZE)
    key, iv = fmt.derive_key_iv(passphrase, salt)
    encryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    plain_digest = hashlib.sha256()
    cipher_digest = hashlib.sha256()
    plain_worker, cipher_worker = workers
    header = fmt.ENC_MAGIC + salt
    cipher_digest.update(header)
    out_view = memoryview(out_buffer)
    size = 0
    force_zip64 = expected_size is None or expected_size + fmt.ENC_HEADER_SIZE >= _ZIP64_LIMIT
    with zf.open(info, "w", force_zip64=force_zip64) as out:
        out.write(header)
        try:
            for chunk in _chunks_of(source, buffers):
                plain_worker.submit(plain_digest.update, chunk)
                count = encryptor.update_into(chunk, out_buffer)
                ciphertext = out_view[:count]
                cipher_worker.submit(cipher_digest.update, ciphertext)
                out.write(ciphertext)
                size += len(chunk)
                # both buffers are reused for the next chunk
                plain_worker.wait()
                cipher_worker.wait()
        finally:
            plain_worker.wait()
            cipher_worker.wait()
        tail = encryptor.finalize()  # empty for CTR
        if tail:
            cipher_digest.update(tail)
            out.write(tail)
    if expected_size is not None and size != expected_size:
        raise BundleError(f"{info.filename}: read {size} bytes, expected {expected_size} (did the file change?)")
    return size, plain_digest.hexdigest(), cipher_digest.hexdigest()


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


def _openssl_encrypt_bytes(data: bytes, passphrase: bytes) -> bytes:
    salt = secrets.token_bytes(fmt.SALT_SIZE)
    key, iv = fmt.derive_key_iv(passphrase, salt)
    encryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return fmt.ENC_MAGIC + salt + encryptor.update(data) + encryptor.finalize()


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
        checkpoint = fmt.parse_checkpoint_note(checkpoint_note)
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
    workers = (_Worker("bundle-plaintext-hash"), _Worker("bundle-ciphertext-hash"))
    trailing = _TrailingHasher(temporary)
    try:
        entries: list[BundleFile] = []
        manifest: list[tuple[str, str]] = []
        payload_total = 0
        buffers = [bytearray(CHUNK)]
        out_buffer = bytearray(CHUNK + 32)
        with open(descriptor, "wb") as raw, zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_STORED) as zf:

            def put(rel: str, data: bytes) -> None:
                zf.writestr(_zip_info(f"{bag_name}/{rel}", when), data)

            taken: set[str] = set()
            for item in files:
                safe = _unique(safe_file_name(item.name), taken)
                rel = f"{fmt.PAYLOAD_PREFIX}{safe}.enc"
                source = item.open()
                try:
                    size, plain_sha, cipher_sha = _encrypt_into_zip(
                        zf,
                        _zip_info(f"{bag_name}/{rel}", when),
                        source,
                        secret,
                        workers,
                        buffers,
                        out_buffer,
                        item.size,
                    )
                    raw.flush()
                    trailing.advance(raw.tell())  # the entry is closed: its header will not change again
                finally:
                    close = getattr(source, "close", None)
                    if close is not None:
                        close()
                entries.append(BundleFile(item.name, safe, rel, size, plain_sha, cipher_sha))
                manifest.append((cipher_sha, rel))
                payload_total += size + fmt.ENC_HEADER_SIZE

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
                small.append((fmt.INNER_ENC, _openssl_encrypt_bytes(inner_bytes, secret)))
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
                fmt.verify_detached_signature(tagmanifest, signature, [signer.ca_cert], now)
            except fmt.SignatureProblem as problem:
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
