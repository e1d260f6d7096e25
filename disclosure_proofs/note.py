"""C2SP signed notes and tlog checkpoints with Ed25519 (c2sp.org/signed-note, /tlog-checkpoint).

Wire formats are byte-compatible with golang.org/x/mod/sumdb/note. Parsing is strict:
anything not exactly as specified raises MalformedNote, and note text is only handed
out after a signature by the expected key has verified. Only Ed25519 (type 0x01) is supported.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "ED25519_TYPE",
    "MAX_SIGNATURES",
    "Checkpoint",
    "CheckpointOriginError",
    "CheckpointSignatureError",
    "MalformedKey",
    "MalformedNote",
    "NoteError",
    "checkpoint_body",
    "key_id",
    "parse_checkpoint",
    "parse_signer_key",
    "parse_vkey",
    "read_unverified_checkpoint",
    "sign_checkpoint",
    "sign_note",
    "signer_key_string",
    "verify_checkpoint",
    "verify_checkpoint_with_vkey",
    "verify_note",
    "vkey_string",
]

ED25519_TYPE: Final[int] = 0x01
# The spec requires accepting at least 16; Go's reference stops at 100. Bounds the work
# an attacker can make us do per note.
MAX_SIGNATURES: Final[int] = 100

_SIG_PREFIX: Final[str] = "\u2014 "  # em dash, space
_SIZE_RE: Final[re.Pattern[str]] = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_MAX_SIZE: Final[int] = 2**64 - 1  # tree sizes are uint64 everywhere else in the ecosystem


class NoteError(ValueError):
    """Base class for signed-note and checkpoint failures."""


class MalformedNote(NoteError):
    """The note or checkpoint text does not follow the specified format."""


class MalformedKey(NoteError):
    """A key name or encoded key string is invalid."""


class CheckpointSignatureError(NoteError):
    """The note carries no valid signature by the expected key."""


class CheckpointOriginError(NoteError):
    """A validly signed checkpoint names a different log origin than expected."""


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin line, tree size and RFC 6962 root hash."""

    origin: str
    size: int
    root: bytes


def _valid_name(name: str) -> bool:
    # Spec: non-empty, no Unicode spaces, no '+'. Control characters are excluded too
    # because they are illegal anywhere in a note.
    return bool(name) and "+" not in name and not any(c.isspace() or c < " " for c in name)


def _require_name(name: str) -> None:
    if not _valid_name(name):
        raise MalformedKey(f"invalid key name {name!r}: must be non-empty, without spaces or '+'")


def _b64decode_strict(text: str) -> bytes:
    """Standard base64 with padding, rejecting any non-canonical spelling."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise ValueError("invalid base64") from exc
    # Non-zero padding bits decode fine but give a second spelling of the same bytes.
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError("non-canonical base64")
    return raw


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    _require_name(name)
    material = name.encode("utf-8") + b"\n" + bytes([ED25519_TYPE]) + _raw_public(public_key)
    return hashlib.sha256(material).digest()[:4]


def vkey_string(name: str, public_key: Ed25519PublicKey) -> str:
    """Encode a verifier key as "<name>+<hex key ID>+<base64(0x01 || public key)>"."""
    encoded = base64.b64encode(bytes([ED25519_TYPE]) + _raw_public(public_key)).decode("ascii")
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def _parse_key_string(text: str) -> tuple[str, bytes, bytes]:
    """Split "<name>+<hex8>+<base64(0x01 || 32 bytes)>" into (name, key ID, 32 key bytes)."""
    parts = text.split("+")
    # Base64 may itself contain '+', so only the first two separators are structural.
    if len(parts) < 3:
        raise MalformedKey("key string must be <name>+<hex key ID>+<base64 key>")
    name, hex_id, encoded = parts[0], parts[1], "+".join(parts[2:])
    _require_name(name)
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise MalformedKey("key ID must be 8 lowercase hex digits")
    try:
        raw = _b64decode_strict(encoded)
    except ValueError as exc:
        raise MalformedKey(f"key material: {exc}") from exc
    if len(raw) != 33 or raw[0] != ED25519_TYPE:
        raise MalformedKey("only Ed25519 keys (type 0x01, 32 bytes) are supported")
    return name, bytes.fromhex(hex_id), raw[1:]


def parse_vkey(text: str) -> tuple[str, Ed25519PublicKey]:
    """Parse a verifier key string, checking its key ID; returns (name, public key)."""
    name, kid, raw = _parse_key_string(text)
    public_key = Ed25519PublicKey.from_public_bytes(raw)
    if key_id(name, public_key) != kid:
        raise MalformedKey("key ID does not match name and public key")
    return name, public_key


def signer_key_string(name: str, private_key: Ed25519PrivateKey) -> str:
    """Encode a signing key in the Go note format "PRIVATE+KEY+<name>+<hex8>+<base64(0x01||seed)>"."""
    seed = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    encoded = base64.b64encode(bytes([ED25519_TYPE]) + seed).decode("ascii")
    return f"PRIVATE+KEY+{name}+{key_id(name, private_key.public_key()).hex()}+{encoded}"


def parse_signer_key(text: str) -> tuple[str, Ed25519PrivateKey]:
    """Parse a Go-format signing key, checking its key ID; returns (name, private key)."""
    if not text.startswith("PRIVATE+KEY+"):
        raise MalformedKey("signer key must start with PRIVATE+KEY+")
    name, kid, seed = _parse_key_string(text.removeprefix("PRIVATE+KEY+"))
    private_key = Ed25519PrivateKey.from_private_bytes(seed)
    # The ID commits to the public key, so a corrupted seed is caught here.
    if key_id(name, private_key.public_key()) != kid:
        raise MalformedKey("key ID does not match name and derived public key")
    return name, private_key


def _check_note_chars(text: str) -> None:
    if any(c < " " and c != "\n" for c in text):
        raise MalformedNote("control characters other than newline are not allowed")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedNote("note is not valid UTF-8") from exc


def sign_note(text: str, private_key: Ed25519PrivateKey, key_name: str) -> str:
    """Sign note text (which must end in a newline) and return the complete signed note."""
    _require_name(key_name)
    _check_note_chars(text)
    if not text.endswith("\n"):
        raise MalformedNote("note text must end with a newline")
    signature = private_key.sign(text.encode("utf-8"))
    encoded = base64.b64encode(key_id(key_name, private_key.public_key()) + signature).decode("ascii")
    return f"{text}\n{_SIG_PREFIX}{key_name} {encoded}\n"


def _split_note(note: str | bytes) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """Parse a signed note into its text and (name, key ID, signature) triples."""
    if isinstance(note, bytes):
        try:
            note = note.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedNote("note is not valid UTF-8") from exc
    _check_note_chars(note)
    # The text ends at the *last* blank line; it may contain blank lines itself.
    split = note.rfind("\n\n")
    if split < 0:
        raise MalformedNote("no blank line separating text from signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block or not block.endswith("\n"):
        raise MalformedNote("signature block must be non-empty and end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNote(f"more than {MAX_SIGNATURES} signatures")
    sigs: list[tuple[str, bytes, bytes]] = []
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise MalformedNote(f"signature line does not start with an em dash and space: {line!r}")
        name, _, encoded = line[len(_SIG_PREFIX) :].partition(" ")
        if not _valid_name(name):
            raise MalformedNote(f"invalid key name in signature line: {name!r}")
        try:
            raw = _b64decode_strict(encoded)
        except ValueError as exc:
            raise MalformedNote(f"signature by {name!r}: {exc}") from exc
        if len(raw) < 5:
            raise MalformedNote(f"signature by {name!r} is too short")
        sigs.append((name, raw[:4], raw[4:]))
    return text, sigs


def verify_note(note: str | bytes, public_key: Ed25519PublicKey, key_name: str) -> str:
    """Return the note text if it carries a valid signature by (key_name, public_key)."""
    text, sigs = _split_note(note)
    kid = key_id(key_name, public_key)
    message = text.encode("utf-8")
    matched = False
    for name, sig_id, signature in sigs:
        # Other signatures (witness cosignatures, rotated keys) are ignored, as the spec requires.
        if name != key_name or sig_id != kid:
            continue
        matched = True
        try:
            public_key.verify(signature, message)
        except InvalidSignature:
            # A known key with a bad signature means tampering: reject the whole note.
            raise CheckpointSignatureError(
                f"signature by {key_name}+{kid.hex()} does not verify; the note was altered"
            ) from None
    if not matched:
        raise CheckpointSignatureError(f"note has no signature by key {key_name}+{kid.hex()}")
    return text


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    """The checkpoint note text: origin, decimal size and base64 root, each newline-terminated."""
    # The spec only RECOMMENDS key-name syntax for origins; we require it because the
    # origin doubles as our key name and a space or '+' would make lines ambiguous.
    if not _valid_name(origin):
        raise MalformedNote(f"invalid origin {origin!r}: must be non-empty, without spaces or '+'")
    if type(size) is not int or not 0 <= size <= _MAX_SIZE:
        raise MalformedNote(f"tree size {size!r} is out of range")
    if len(root) != 32:
        raise MalformedNote("root must be a 32-byte SHA-256 hash")
    return f"{origin}\n{size}\n{base64.b64encode(root).decode('ascii')}\n"


def sign_checkpoint(origin: str, size: int, root: bytes, private_key: Ed25519PrivateKey, key_name: str) -> str:
    """Sign a checkpoint for (origin, size, root) and return the full signed note."""
    return sign_note(checkpoint_body(origin, size, root), private_key, key_name)


def parse_checkpoint(note_text: str) -> Checkpoint:
    """Parse checkpoint *note text* (the signed body, not the whole note) strictly.

    Extension lines are rejected: this log never emits them, and accepting them would
    let signed content pass through unexamined.
    """
    _check_note_chars(note_text)
    if not note_text.endswith("\n"):
        raise MalformedNote("checkpoint text must end with a newline")
    lines = note_text[:-1].split("\n")
    if len(lines) != 3:
        raise MalformedNote(f"checkpoint must have exactly 3 lines, got {len(lines)}")
    origin, size_text, root_text = lines
    if not _valid_name(origin):
        raise MalformedNote(f"invalid origin line {origin!r}")
    if not _SIZE_RE.fullmatch(size_text) or int(size_text) > _MAX_SIZE:
        raise MalformedNote(f"invalid tree size line {size_text!r}")
    try:
        root = _b64decode_strict(root_text)
    except ValueError as exc:
        raise MalformedNote(f"root hash line: {exc}") from exc
    if len(root) != 32:
        raise MalformedNote(f"root hash is {len(root)} bytes, expected 32")
    return Checkpoint(origin=origin, size=int(size_text), root=root)


def verify_checkpoint(
    note: str | bytes,
    public_key: Ed25519PublicKey,
    key_name: str,
    *,
    expected_origin: str | None = None,
) -> Checkpoint:
    """Verify a signed checkpoint note and return its contents.

    Raises CheckpointSignatureError without a valid signature by the key, MalformedNote
    for bad syntax, and CheckpointOriginError if expected_origin is given and differs.
    """
    # Verify first: the spec says unverified text must not be interpreted.
    cp = parse_checkpoint(verify_note(note, public_key, key_name))
    if expected_origin is not None and cp.origin != expected_origin:
        raise CheckpointOriginError(f"checkpoint is for origin {cp.origin!r}, expected {expected_origin!r}")
    return cp


def read_unverified_checkpoint(note: str | bytes) -> Checkpoint:
    """The checkpoint a signed note claims, parsed strictly but *without* checking any signature.

    Only for showing what a note says, or checking proofs against it when no log key is at hand: callers
    must say that the signature was not checked.
    """
    text, _signatures = _split_note(note)
    return parse_checkpoint(text)


def verify_checkpoint_with_vkey(note: str | bytes, vkey: str, *, expected_origin: str | None = None) -> Checkpoint:
    """verify_checkpoint with the key given as a verifier key string "<name>+<hex key ID>+<base64 key>"."""
    name, public_key = parse_vkey(vkey.strip())
    return verify_checkpoint(note, public_key, name, expected_origin=expected_origin)
