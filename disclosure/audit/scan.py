"""Checking audit rows in order of seq: every leaf and chain hash, the seq, the copied columns, and the tree.

Rows are (seq, body, leaf_hash, chain_hash, action, subject) as EVENTS_SQL reads them. A batch is checked whole
first, in comprehensions and C-level maps; only a batch that fails is gone through row by row, to name the first
bad seq and what is wrong with it. Standard library only (no SQLAlchemy, no Flask), so that a worker process
checking a part of a large log (disclosure.audit.scan_worker) starts in milliseconds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from disclosure.audit.canonical import chain_hash, leaf_hash
from disclosure.audit.merkle import frontier_root

Row = tuple[Any, ...]

#: The columns every check reads, in the order of Row.
EVENTS_SQL = "SELECT seq, body, leaf_hash, chain_hash, action, subject FROM audit_event"

_CHAIN_DOMAIN = b"disclosure-audit-v1\0"
_SEQ_KEY = b'"seq":'
_SEQ_SUBJECT = b'"seq":%d,"subject":%s,'


@dataclass(frozen=True)
class Finding:
    """One problem: the seq it concerns (None for the log as a whole) and what is wrong."""

    seq: int | None
    problem: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.problem}" if self.seq is not None else self.problem


# -- The columns copied out of the body -----------------------------------------------------------------------


class _ActionPrefixes(dict[Any, bytes]):
    """action -> the bytes a canonical body must start with; computed once per distinct action."""

    def __missing__(self, action: Any) -> bytes:
        if not isinstance(action, str):
            raise TypeError("action is not text")
        prefix = self[action] = b'{"action":' + json.dumps(action, ensure_ascii=False).encode() + b","
        return prefix


class _SubjectLiterals(dict[Any, bytes]):
    """subject -> its JSON literal as it appears in a canonical body; kept bounded, subjects are many."""

    def __missing__(self, subject: Any) -> bytes:
        if subject is not None and not isinstance(subject, str):
            raise TypeError("subject is not text")
        if len(self) > 100_000:
            self.clear()
        literal = self[subject] = json.dumps(subject, ensure_ascii=False).encode()
        return literal


class IndexedFields:
    """The byte patterns that tie the action and subject columns to the hashed body."""

    def __init__(self) -> None:
        self.actions = _ActionPrefixes()
        self.subjects = _SubjectLiterals()

    def match(self, body: bytes, seq: int, action: Any, subject: Any) -> bool:
        try:
            return body.startswith(self.actions[action]) and body.startswith(
                _SEQ_SUBJECT % (seq, self.subjects[subject]), body.rfind(_SEQ_KEY)
            )
        except TypeError:
            return False


# -- Rows: a whole batch at once, or one row exactly ----------------------------------------------------------


def sound_batch(
    rows: Sequence[Row], expected: int, previous: bytes, fields: IndexedFields
) -> tuple[list[bytes], bytes] | None:
    """The leaf hashes and last chain hash of a batch whose rows are all sound; None if any is not, or does not fit.

    Sound: the seqs run on from `expected`, every leaf and chain hash recomputes (the first chaining to
    `previous`), and the action and subject columns match the body. None promises nothing about which row is
    bad: diagnose() says that.
    """
    sha256, domain = hashlib.sha256, _CHAIN_DOMAIN
    try:
        seqs, bodies, stored_leaves, stored_chains, actions, subjects = zip(*rows, strict=True)
        leaves = [sha256(b"\x00" + body).digest() for body in bodies]
        chain = previous
        chains = [chain := sha256(domain + chain + leaf).digest() for leaf in leaves]
        sound = (
            seqs == tuple(range(expected, expected + len(rows)))
            and leaves == list(stored_leaves)
            and chains == list(stored_chains)
            and all(map(bytes.startswith, bodies, map(fields.actions.__getitem__, actions)))
            and all(
                map(
                    bytes.startswith,
                    bodies,
                    map(_SEQ_SUBJECT.__mod__, zip(seqs, map(fields.subjects.__getitem__, subjects), strict=True)),
                    map(bytes.rfind, bodies, repeat(_SEQ_KEY)),
                )
            )
        )
    except (TypeError, ValueError, AttributeError):  # a column stored by hand as another type
        return None
    return (leaves, chain) if sound else None


def as_bytes(value: Any) -> bytes:
    """A hash or body column as bytes, however it was stored."""
    if isinstance(value, str):  # a value stored as TEXT by hand: compare it as the bytes it claims to be
        return value.encode("utf-8")
    return b"" if value is None else bytes(value)


def _body_seq(body: bytes) -> int | None:
    # Canonical JSON sorts keys: top-level "seq" follows "data", so the last '"seq":' is the top-level one
    # (inside strings a quote is escaped, so the pattern cannot occur there).
    at = body.rfind(_SEQ_KEY)
    if at < 0:
        return None
    end = body.find(b",", at)
    try:
        return int(body[at + 6 : end])
    except ValueError:
        return None


def diagnose(row: Row, expected: int, previous: bytes, fields: IndexedFields) -> tuple[Finding | None, bytes, bytes]:
    """Check one row exactly and say what is wrong with it, in the order an auditor would want to know.

    Returns (finding or None, the row's leaf hash, its chain hash) so that a sound row can be carried on with.
    """
    seq = row[0]
    body, stored_leaf, stored_chain = as_bytes(row[1]), as_bytes(row[2]), as_bytes(row[3])
    action, subject = row[4], row[5]
    if seq != expected:
        return Finding(expected, f"row missing: the log jumps from seq {expected - 1} to seq {seq}"), b"", b""
    body_seq = _body_seq(body)
    leaf = leaf_hash(body)
    if body_seq != seq and body_seq is not None and leaf == stored_leaf:
        return Finding(seq, f"rows reordered: row {seq} holds the event recorded as seq {body_seq}"), b"", b""
    if leaf != stored_leaf:
        return Finding(seq, "body edited: its SHA-256 no longer matches the stored leaf hash"), b"", b""
    if body_seq != seq:
        return Finding(seq, f"body names seq {body_seq}, not {seq}"), b"", b""
    if len(stored_chain) != 32 or chain_hash(previous, stored_leaf) != stored_chain:
        return Finding(seq, "chain broken: the chain hash does not follow from the previous event"), b"", b""
    if not fields.match(body, seq, action, subject):
        problem = "index columns (action, subject) edited: they differ from the hashed body"
        return Finding(seq, problem), b"", b""
    return None, leaf, stored_chain


# -- The tree -------------------------------------------------------------------------------------------------


class Tree:
    """RFC 6962 root of leaves appended in order; the stack is the frontier, as in merkle.RootBuilder.

    Aligned runs are hashed level by level in list comprehensions: that is what keeps verification near the
    pace of hashlib itself."""

    __slots__ = ("size", "stack")

    def __init__(self, stack: Sequence[bytes] = (), size: int = 0) -> None:
        self.stack: list[bytes] = list(stack)
        self.size = size

    def extend(self, leaves: list[bytes]) -> None:
        sha256 = hashlib.sha256
        at, count = 0, len(leaves)
        while at < count:
            size = self.size
            # The widest perfect subtree starting here: aligned to the tree size, within the leaves left.
            height = min((size & -size).bit_length() - 1 if size else 62, (count - at).bit_length() - 1)
            if height < 4:
                self.push(leaves[at], 0)
                at += 1
                continue
            level = leaves[at : at + (1 << height)]
            while len(level) > 1:
                pairs = iter(level)
                level = [sha256(b"\x01" + left + right).digest() for left, right in zip(pairs, pairs, strict=True)]
            self.push(level[0], height)
            at += 1 << height

    def push(self, node: bytes, height: int) -> None:
        """Append a perfect subtree of 2**height leaves; the size must be a multiple of 2**height."""
        # Binary addition of 2**height to the size: each carry merges two equal perfect subtrees.
        stack, sha256 = self.stack, hashlib.sha256
        carry = self.size >> height
        while carry & 1:
            node = sha256(b"\x01" + stack.pop() + node).digest()
            carry >>= 1
        stack.append(node)
        self.size += 1 << height

    def attach(self, other: Tree) -> None:
        """Append the leaves of a smaller tree, from its frontier, at a size aligned to it."""
        heights = [bit for bit in reversed(range(other.size.bit_length())) if other.size >> bit & 1]
        for node, height in zip(other.stack, heights, strict=True):
            self.push(node, height)

    def root(self) -> bytes:
        return frontier_root(self.stack, self.size)


class PartTree:
    """The tree over one part of the log: the roots of its whole blocks, then the tree of the block in progress.

    A part starts at a multiple of the block size (a power of two), so each whole block is a perfect subtree of
    the log's tree wherever the part lies: parts checked apart, in other processes, combine into the log's tree
    (combine()). At each checkpoint size inside the part it notes how far it had got, for that size's root.
    """

    def __init__(self, start: int, block: int, marks: Iterable[int]) -> None:
        if block & (block - 1) or start % block:
            raise ValueError("a part starts at a multiple of the block size, a power of two")
        self.start = start
        self.block = block
        self.blocks: list[bytes] = []
        self.current = Tree()
        #: size -> (whole blocks by then, the frontier of the block in progress).
        self.at_marks: dict[int, tuple[int, list[bytes]]] = {}
        self._marks = sorted((size for size in marks if size > start), reverse=True)  # next one last

    @property
    def size(self) -> int:
        """The log size this part has reached: its start plus the leaves appended."""
        return self.start + len(self.blocks) * self.block + self.current.size

    def extend(self, leaves: list[bytes]) -> None:
        at, count, marks = 0, len(leaves), self._marks
        while at < count:
            take = min(count - at, self.block - self.current.size)
            if marks:
                take = min(take, marks[-1] - self.size)
            self.current.extend(leaves if take == count else leaves[at : at + take])
            at += take
            if self.current.size == self.block:
                self.blocks.append(self.current.stack[0])
                self.current = Tree()
            if marks and marks[-1] == self.size:
                self.at_marks[marks.pop()] = (len(self.blocks), list(self.current.stack))


def combine(parts: Iterable[PartTree]) -> tuple[Tree, dict[int, bytes]]:
    """The log's tree from its parts in order, and its root at every checkpoint size the parts noted."""
    tree, roots_at = Tree(), {}
    for part in parts:
        if part.start != tree.size:
            raise ValueError(f"a part starting at {part.start} does not follow the {tree.size} leaves before it")
        height = part.block.bit_length() - 1
        pushed = 0
        for size, (whole, frontier) in sorted(part.at_marks.items()):
            for node in part.blocks[pushed:whole]:
                tree.push(node, height)
            pushed = whole
            roots_at[size] = frontier_root(tree.stack + frontier, size)
        for node in part.blocks[pushed:]:
            tree.push(node, height)
        tree.attach(part.current)
    return tree, roots_at


# -- A scan -------------------------------------------------------------------------------------------------


class Scan:
    """Where a scan stands: the next seq expected, the chain hash it must follow from, and the tree so far."""

    def __init__(self, expected: int, previous: bytes, tree: PartTree) -> None:
        self.expected = expected
        self.previous = previous
        self.tree = tree
        self.fields = IndexedFields()

    def check(self, batches: Iterable[Sequence[Row]]) -> Finding | None:
        """Take every row in order; stop at the first bad one and say what is wrong with it."""
        for rows in batches:
            if self.take_if_sound(rows):
                continue
            finding = self._take_one_by_one(rows)  # a batch that merely did not fit the fast check goes on
            if finding is not None:
                return finding
        return None

    def take_if_sound(self, rows: Sequence[Row]) -> bool:
        """Take a batch whose rows are all sound; leave the scan as it was if any is not."""
        sound = sound_batch(rows, self.expected, self.previous, self.fields)
        if sound is None:
            return False
        self.tree.extend(sound[0])
        self.expected += len(rows)
        self.previous = sound[1]
        return True

    def _take_one_by_one(self, rows: Sequence[Row]) -> Finding | None:
        good: list[bytes] = []
        finding = None
        for row in rows:
            finding, leaf, chain = diagnose(row, self.expected, self.previous, self.fields)
            if finding is not None:
                break
            good.append(leaf)
            self.expected, self.previous = self.expected + 1, chain
        self.tree.extend(good)
        return finding
