"""Check audit evidence without the audit module: signed-note checkpoints (c2sp.org/signed-note, Ed25519) and
RFC 9162 inclusion proofs.

Invariants: the same rules as disclosure.audit.note and disclosure.audit.merkle (the stand-alone tests compare
them on many inputs), re-implemented here because the stand-alone verifier (see bundle_cli.py) loads this
module and may import only the standard library and `cryptography`. Base64 must be canonical; malformed input
raises ValueError (or, for proofs, returns False), never anything else.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519


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
