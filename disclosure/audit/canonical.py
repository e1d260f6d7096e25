"""Canonical byte encoding and hash chaining of audit event bodies.

Invariant: equal JSON values always encode to identical bytes (sorted keys, no
whitespace, UTF-8, integers only), and anything that could encode two ways is refused.
Leaf hashes are RFC 6962 leaf hashes; the chain hash links each event to its predecessor.
"""

from __future__ import annotations

import hashlib
import json
from typing import Final

__all__ = [
    "GENESIS_CHAIN",
    "MAX_DEPTH",
    "NonCanonicalValue",
    "canonical_json",
    "chain_hash",
    "leaf_hash",
]

# The "previous" chain value of the very first event: there is nothing before it.
GENESIS_CHAIN: Final[bytes] = bytes(32)

# Deep enough for any real event body, shallow enough that a hostile or cyclic
# structure fails with our error instead of a RecursionError.
MAX_DEPTH: Final[int] = 64

_CHAIN_DOMAIN: Final[bytes] = b"disclosure-audit-v1\0"

_ALLOWED_TYPES: Final[frozenset[type]] = frozenset({dict, list, tuple, str, int, bool, type(None)})


class NonCanonicalValue(ValueError):
    """The value has no single canonical JSON encoding and is refused."""


def _check(obj: object, depth: int) -> None:
    """Raise NonCanonicalValue unless obj is built only from canonical JSON types."""
    if depth > MAX_DEPTH:
        raise NonCanonicalValue(f"nesting deeper than {MAX_DEPTH} levels (or a cycle)")
    # Exact types, not isinstance: a subclass could override how it serialises
    # (e.g. an IntEnum or a str subclass), which would make "equal" values diverge.
    kind = type(obj)
    if kind not in _ALLOWED_TYPES:
        if kind is float:
            # Floats (and NaN/Infinity) have several textual forms across platforms.
            raise NonCanonicalValue(f"float {obj!r} is not allowed; use an int or a str")
        raise NonCanonicalValue(f"type {kind.__name__} is not allowed in an audit body")
    if isinstance(obj, str):
        # Lone surrogates cannot be encoded as UTF-8, so they have no byte form at all.
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise NonCanonicalValue("string is not encodable as UTF-8") from exc
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if type(key) is not str:
                raise NonCanonicalValue(f"dict key {key!r} is not a str")
            _check(key, depth + 1)
            _check(value, depth + 1)
    elif isinstance(obj, list | tuple):
        for item in obj:
            _check(item, depth + 1)


def canonical_json(obj: object) -> bytes:
    """Encode obj as canonical JSON bytes, or raise NonCanonicalValue."""
    _check(obj, 0)
    try:
        text = json.dumps(
            obj,
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    except ValueError as exc:
        # Only reachable for ints beyond Python's int-to-str digit limit.
        raise NonCanonicalValue(str(exc)) from exc
    return text.encode("utf-8")


def leaf_hash(body: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || body)."""
    return hashlib.sha256(b"\x00" + body).digest()


def chain_hash(previous: bytes, leaf: bytes) -> bytes:
    """Link leaf to the previous chain value: SHA-256(domain || previous || leaf)."""
    # Fixed widths make the concatenation unambiguous without length prefixes.
    if len(previous) != 32 or len(leaf) != 32:
        raise ValueError("chain_hash inputs must be 32-byte hashes")
    return hashlib.sha256(_CHAIN_DOMAIN + previous + leaf).digest()
