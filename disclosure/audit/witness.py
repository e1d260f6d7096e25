"""Witness cosignatures on the log's checkpoints (c2sp.org/tlog-cosignature, cosignature/v1, Ed25519).

A witness is someone outside the operator's reach (another team, another host) holding its own key. It checks a
checkpoint's log signature, refuses one smaller than (or, at the same size, different from) the last it cosigned,
cosigns a larger one only with an RFC 9162 consistency proof that it extends the last one, and appends a
cosignature line to the signed note: whoever later holds the database, the instance folder and even the log key
cannot make a cosigned checkpoint disappear from the witness's copy, nor get a shorter log, or a rewritten one
grown past what the witness saw, vouched for. Verification counts a cosignature only from a configured witness
key (WITNESS_KEYS).

Wire format, as the spec gives it: the signed message is "cosignature/v1\\ntime <T>\\n" followed by the
checkpoint's note text; the signature line is "— <name> base64(key ID ‖ uint64 big-endian T ‖ signature)", the key
ID being SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4]; a verifier key is "<name>+<hex key ID>+base64(0x04 ‖ key)".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from disclosure_proofs.merkle import HASH_SIZE, verify_consistency
from disclosure_proofs.note import Checkpoint, MalformedKey, NoteError, parse_checkpoint

COSIGNATURE_TYPE: Final[int] = 0x04
_SIG_PREFIX: Final[str] = "\u2014 "
_PRIVATE_PREFIX: Final[str] = "PRIVATE+KEY+"
_NAME: Final[re.Pattern[str]] = re.compile(r"[^\s+]+")


class WitnessError(NoteError):
    """A witness key, a cosignature or a witness's refusal to cosign."""


class ProofNeeded(WitnessError):
    """A witness asked to cosign a larger checkpoint than the last it cosigned was given no consistency proof."""

    def __init__(self, message: str, last_size: int) -> None:
        super().__init__(message)
        self.last_size = last_size


@dataclass(frozen=True)
class Witness:
    """A witness's verifier key."""

    name: str
    public_key: Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        return cosignature_key_id(self.name, self.public_key)

    @property
    def vkey(self) -> str:
        raw = bytes([COSIGNATURE_TYPE]) + _raw(self.public_key)
        return f"{self.name}+{self.key_id.hex()}+{base64.b64encode(raw).decode('ascii')}"


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature: which witness, and when (seconds since the epoch) it saw the checkpoint."""

    witness: str
    timestamp: int


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _require_name(name: str) -> None:
    if not _NAME.fullmatch(name) or any(c < " " for c in name):
        raise MalformedKey(f"invalid witness name {name!r}: must be non-empty, without spaces or '+'")


def cosignature_key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    _require_name(name)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([COSIGNATURE_TYPE]) + _raw(public_key)).digest()[:4]


def _split_key(text: str) -> tuple[str, bytes, bytes]:
    name, _, rest = text.strip().partition("+")
    hex_id, _, encoded = rest.partition("+")
    _require_name(name)
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id):
        raise MalformedKey("key ID must be 8 lowercase hex digits")
    try:
        raw = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as error:
        raise MalformedKey("key material is not base64") from error
    if len(raw) != 33 or raw[0] != COSIGNATURE_TYPE:
        raise MalformedKey("a witness key is a cosignature/v1 Ed25519 key (type 0x04, 32 bytes)")
    return name, bytes.fromhex(hex_id), raw[1:]


def parse_witness_vkey(text: str) -> Witness:
    name, kid, raw = _split_key(text)
    witness = Witness(name, Ed25519PublicKey.from_public_bytes(raw))
    if witness.key_id != kid:
        raise MalformedKey(f"witness key {name}: the key ID does not match the name and key")
    return witness


def new_witness_key(name: str) -> tuple[str, str]:
    """A new witness key pair: (the private key string, kept by the witness alone; its verifier key)."""
    _require_name(name)
    private_key = Ed25519PrivateKey.generate()
    return private_key_string(name, private_key), Witness(name, private_key.public_key()).vkey


def private_key_string(name: str, private_key: Ed25519PrivateKey) -> str:
    seed = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    kid = cosignature_key_id(name, private_key.public_key())
    return f"{_PRIVATE_PREFIX}{name}+{kid.hex()}+{base64.b64encode(bytes([COSIGNATURE_TYPE]) + seed).decode()}"


def parse_witness_private_key(text: str) -> tuple[str, Ed25519PrivateKey]:
    if not text.startswith(_PRIVATE_PREFIX):
        raise MalformedKey(f"a witness's private key starts with {_PRIVATE_PREFIX}")
    name, kid, seed = _split_key(text.removeprefix(_PRIVATE_PREFIX))
    private_key = Ed25519PrivateKey.from_private_bytes(seed)
    if cosignature_key_id(name, private_key.public_key()) != kid:
        raise MalformedKey(f"witness key {name}: the key ID does not match the name and key")
    return name, private_key


def _message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def _text_and_lines(note: str) -> tuple[str, list[str]]:
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise WitnessError("not a signed note: no blank line before the signatures")
    return note[: split + 1], note[split + 2 : -1].split("\n")


def cosign(note: str, name: str, private_key: Ed25519PrivateKey, timestamp: int) -> str:
    """The note with this witness's cosignature line appended (one it already carries is replaced)."""
    text, lines = _text_and_lines(note)
    parse_checkpoint(text)
    kid = cosignature_key_id(name, private_key.public_key())
    signature = private_key.sign(_message(text, timestamp))
    line = f"{_SIG_PREFIX}{name} {base64.b64encode(kid + timestamp.to_bytes(8, 'big') + signature).decode()}"
    kept = [existing for existing in lines if not _is_line_of(existing, name, kid)]
    return text + "\n" + "\n".join([*kept, line]) + "\n"


def _is_line_of(line: str, name: str, kid: bytes) -> bool:
    if not line.startswith(f"{_SIG_PREFIX}{name} "):
        return False
    try:
        raw = base64.b64decode(line.rsplit(" ", 1)[1], validate=True)
    except binascii.Error:
        return False
    return raw[:4] == kid


def verified_cosignatures(note: str, witnesses: Iterable[Witness]) -> list[Cosignature]:
    """The cosignatures on the note by the given witnesses that verify; a forged one raises WitnessError."""
    text, lines = _text_and_lines(note)
    by_id = {(w.name, w.key_id): w for w in witnesses}
    found: list[Cosignature] = []
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            continue
        name, _, encoded = line[len(_SIG_PREFIX) :].partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            continue
        witness = by_id.get((name, raw[:4]))
        if witness is None:
            continue  # the log's own signature, or a witness not configured here
        if len(raw) != 4 + 8 + 64:
            raise WitnessError(f"cosignature by witness {name} is malformed")
        timestamp = int.from_bytes(raw[4:12], "big")
        try:
            witness.public_key.verify(raw[12:], _message(text, timestamp))
        except InvalidSignature:
            raise WitnessError(f"cosignature by witness {name} does not verify; the checkpoint was altered") from None
        found.append(Cosignature(name, timestamp))
    return found


def load_witnesses(setting: str | Iterable[str] | None) -> list[Witness]:
    """WITNESS_KEYS: a folder of *.vkey files, a file of verifier keys (one a line), or a list of verifier keys."""
    if not setting:
        return []
    if isinstance(setting, str):
        path = Path(setting)
        if path.is_dir():
            lines = [p.read_text(encoding="utf-8") for p in sorted(path.glob("*.vkey")) if p.is_file()]
        elif path.is_file():
            lines = path.read_text(encoding="utf-8").splitlines()
        else:
            raise WitnessError(f"WITNESS_KEYS: {setting} is neither a folder of .vkey files nor a file of keys")
    else:
        lines = list(setting)
    return [parse_witness_vkey(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]


@dataclass(frozen=True)
class WitnessState:
    """The last checkpoint a witness cosigned for an origin: it never cosigns a smaller or a different one."""

    origin: str
    size: int
    root: bytes

    def line(self) -> str:
        return f"{self.origin} {self.size} {base64.b64encode(self.root).decode()}"


def read_state(path: Path) -> dict[str, WitnessState]:
    if not path.exists():
        return {}
    states = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        origin, size, root = line.split(" ")
        states[origin] = WitnessState(origin, int(size), base64.b64decode(root))
    return states


def check_against_state(checkpoint: Checkpoint, states: Mapping[str, WitnessState]) -> None:
    """Refuse to cosign a checkpoint that would vouch for a log shorter than, or forked from, one cosigned before."""
    last = states.get(checkpoint.origin)
    if last is None:
        return
    if checkpoint.size < last.size:
        raise WitnessError(
            f"refused: this witness cosigned {checkpoint.origin} at size {last.size}; a checkpoint at size "
            f"{checkpoint.size} would mean the log lost its tail"
        )
    if checkpoint.size == last.size and checkpoint.root != last.root:
        raise WitnessError(
            f"refused: this witness cosigned a different root for {checkpoint.origin} at size {last.size}: "
            "the log was forked or rewritten"
        )


#: A consistency proof has at most about 2·log2(size) hashes: 128 covers any log that fits in 64 bits.
_MAX_PROOF_HASHES: Final[int] = 128


@dataclass(frozen=True)
class ConsistencyProof:
    """PROOF(old_size, D[new_size]) as a witness is handed it, in the form of the c2sp.org/tlog-witness request's
    preamble: a line "old <size>", then one base64 hash a line; the new size and root are the checkpoint's."""

    old_size: int
    hashes: tuple[bytes, ...]

    def text(self) -> str:
        return "".join([f"old {self.old_size}\n", *(base64.b64encode(h).decode("ascii") + "\n" for h in self.hashes)])


def parse_consistency_proof(text: str) -> ConsistencyProof:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    first = lines[0] if lines else ""
    if not re.fullmatch(r"old (0|[1-9][0-9]{0,19})", first):
        raise WitnessError("not a consistency proof: its first line must be 'old <size>'")
    if len(lines) - 1 > _MAX_PROOF_HASHES:
        raise WitnessError(f"not a consistency proof: more than {_MAX_PROOF_HASHES} hashes")
    hashes = []
    for number, line in enumerate(lines[1:], start=2):
        try:
            node = base64.b64decode(line.encode("ascii"), validate=True)
        except (UnicodeEncodeError, binascii.Error):
            node = b""
        if len(node) != HASH_SIZE:
            raise WitnessError(f"not a consistency proof: line {number} is not a base64 SHA-256 hash")
        hashes.append(node)
    return ConsistencyProof(int(first.removeprefix("old ")), tuple(hashes))


def check_extends(checkpoint: Checkpoint, states: Mapping[str, WitnessState], proof: ConsistencyProof | None) -> bool:
    """Refuse to cosign unless the checkpoint is the last one this witness cosigned for its origin, or extends it:
    never smaller, never another root at the same size, and a larger one only with a consistency proof from the
    last size that verifies. True when such a proof was checked."""
    check_against_state(checkpoint, states)
    last = states.get(checkpoint.origin)
    if last is None or checkpoint.size == last.size:
        return False
    if proof is None:
        raise ProofNeeded(
            f"refused: this witness cosigned {checkpoint.origin} at size {last.size}; to cosign size "
            f"{checkpoint.size} it needs a consistency proof from size {last.size} showing that the log extends it",
            last.size,
        )
    if proof.old_size != last.size:
        raise WitnessError(
            f"refused: the consistency proof given is a proof from size {proof.old_size}, but this witness last "
            f"cosigned size {last.size}: ask for a proof from size {last.size}"
        )
    if not verify_consistency(last.size, checkpoint.size, last.root, checkpoint.root, proof.hashes):
        raise WitnessError(
            f"refused: the checkpoint at size {checkpoint.size} does not extend the checkpoint this witness cosigned "
            f"at size {last.size} (the consistency proof does not verify): the log was forked or rewritten"
        )
    return True
