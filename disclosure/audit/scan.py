"""Checking audit rows in order of seq: every leaf and chain hash, the seq, the copied columns, and the tree.

Rows are (seq, body, leaf_hash, chain_hash, action, subject, actor_id, ts) as EVENTS_SQL reads them; the copied
columns (action, subject, actor_id, ts) must say what the hashed body says. A batch is checked whole first, in
comprehensions and C-level maps over the body's bytes; only a batch that fails is gone through row by row, to
name the first bad seq and what is wrong with it (parsing a body only there). Standard library only (no
SQLAlchemy, no Flask), so that a worker process checking a part of a large log (disclosure.audit.scan_worker)
starts in milliseconds. The tree the scan rebuilds as it goes is disclosure.audit.scan_tree.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

from disclosure.audit.canonical import chain_hash, leaf_hash
from disclosure.audit.scan_tree import PartTree

Row = tuple[Any, ...]

#: The columns every check reads, in the order of Row, per database. ts comes as the text SQLite stores
#: ("2026-01-02 03:04:05.678901"); PostgreSQL's timestamp (without time zone, so no session setting can shift it)
#: is formatted the same way, and before year 1, which that format cannot tell from AD, comes as NULL.
EVENTS_SQL = {
    "sqlite": "SELECT seq, body, leaf_hash, chain_hash, action, subject, actor_id, ts FROM audit_event",
    "postgresql": (
        "SELECT seq, body, leaf_hash, chain_hash, action, subject, actor_id, "
        "CASE WHEN ts >= '0001-01-01' THEN to_char(ts, 'YYYY-MM-DD HH24:MI:SS.US') END FROM audit_event"
    ),
}

_CHAIN_DOMAIN = b"disclosure-audit-v1\0"
_SEQ_KEY = b'"seq":'
_SEQ_SUBJECT = b'"seq":%d,"subject":%s,'
#: How a body of version 1 (disclosure.audit.service.BODY_VERSION) ends. The subject is a JSON literal and the ts
#: holds no quote nor backslash (see _TS_AS_IN_BODY): nothing here can open or close a string or an object, so
#: these are the last members of the top-level object.
_TAIL = b'"seq":%d,"subject":%s,"ts":"%sZ","v":1}'
#: The ts column's text as the body writes it: the space becomes "T"; a "T" (which SQLAlchemy never stores, and
#: which sorts apart from the rest), a quote or a backslash becomes NUL, which no canonical body holds.
#: "2026-01-02 03:04:05.678901" is b"2026-01-02T03:04:05.678901"; "2026-01-02T03:04:05.678901" matches nothing.
_TS_AS_IN_BODY = bytes.maketrans(b' T"\\', b"T\0\0\0")
_USER_EMAIL = b'{"email":"'
#: Actors that have an id, per the id: what follows the email, to the end of the actor.
_USER_REST = b'","id":%d,"kind":"user"},'


@dataclass(frozen=True)
class Finding:
    """One problem: the seq it concerns (None for the log as a whole) and what is wrong."""

    seq: int | None
    problem: str

    def __str__(self) -> str:
        return f"seq {self.seq}: {self.problem}" if self.seq is not None else self.problem


# -- The columns copied out of the body -----------------------------------------------------------------------
#
# Canonical JSON sorts keys, so a body record() wrote reads
#   {"action":…,"actor":…,"data":…,"ip":…,"outcome":…,"seq":…,"subject":…,"ts":"2026-01-02T03:04:05.678901Z","v":1}
# with the actor null, {"kind":"system","name":…} or {"email":…,"id":…,"kind":"user"}. Each column is tied to
# the body by bytes at a place the sorted keys fix: the action and actor at the start, seq, subject and ts at the
# end. A row whose body has another shape (or another version) is not taken for tampered on that account:
# diagnose() compares it exactly, after the last '"seq":' (the top-level one: "data" comes before it) or by
# parsing the body.


class _ActionPrefixes(dict[Any, bytes]):
    """action -> the bytes a canonical body must start with; computed once per distinct action."""

    def __missing__(self, action: Any) -> bytes:
        if not isinstance(action, str):
            raise TypeError("action is not text")
        prefix = self[action] = b'{"action":' + json.dumps(action, ensure_ascii=False).encode() + b","
        return prefix


class _ActorBeginnings(dict[tuple[Any, Any], tuple[bytes, ...]]):
    """(action, actor_id) -> beginnings of a body, to the end of its actor, known to agree with both columns.

    actor_id NULL: the actor is null, or an object whose first key is "kind" (so, keys being sorted, without an
    "id"); both are known at once. actor_id N: {"email":…,"id":N,"kind":"user"}, whose email only a body tells:
    learn() checks the first body of each (action, user, email) and remembers its beginning. Kept bounded:
    actions times users are many.
    """

    def __init__(self, actions: _ActionPrefixes) -> None:
        super().__init__()
        self._actions = actions

    def __missing__(self, key: tuple[Any, Any]) -> tuple[bytes, ...]:
        action, actor_id = key
        if actor_id is not None and type(actor_id) is not int:  # a bool, or a REAL that SQLite kept as such
            raise TypeError("actor_id is not an integer")
        start = self._actions[action] + b'"actor":'
        if len(self) > 100_000:
            self.clear()
        beginnings = self[key] = (start + b"null,", start + b'{"kind":') if actor_id is None else ()
        return beginnings

    def learn(self, body: bytes, action: Any, actor_id: Any) -> bool:
        """Whether the body begins with the action and an actor that agree with the columns; remembers it if so.

        The first '"' after the email's opening quote is its closing one, or the rest cannot follow it: a quote
        inside is escaped, and ',"' after it would end the string where canonical JSON has ',' or '}' next, never
        'id'. So the id read there is the actor's own.
        """
        beginnings = self[action, actor_id]
        if body.startswith(beginnings):
            return True
        if actor_id is None:
            return False
        start = self._actions[action] + b'"actor":' + _USER_EMAIL
        rest = _USER_REST % actor_id
        close = body.find(b'"', len(start))
        if not (body.startswith(start) and body.startswith(rest, close)):
            return False
        # A user's email rarely changes: a few beginnings per key are plenty; the newest replace the oldest.
        self[action, actor_id] = (*beginnings[-3:], body[: close + len(rest)])
        return True


class _SubjectLiterals(dict[Any, bytes]):
    """subject -> its JSON literal as it appears in a canonical body; kept bounded, subjects are many."""

    def __missing__(self, subject: Any) -> bytes:
        if subject is not None and not isinstance(subject, str):
            raise TypeError("subject is not text")
        if len(self) > 100_000:
            self.clear()
        literal = self[subject] = json.dumps(subject, ensure_ascii=False).encode()
        return literal


def _column_stamps(stamp: Any) -> tuple[str, ...]:
    """The texts the ts column may hold for a body's ts: its instant with a space and no "Z"; for a whole second
    also without the fraction, as Python's sqlite3 adapter writes the datetimes record() passes it."""
    if type(stamp) is not str or len(stamp) != 27 or stamp[10] != "T" or not stamp.endswith("Z"):
        return ()
    text = f"{stamp[:10]} {stamp[11:26]}"
    return (text, text[:19]) if text.endswith(".000000") else (text,)


def _parsed(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


class IndexedFields:
    """The byte patterns that tie the action, subject, actor_id and ts columns to the hashed body."""

    def __init__(self) -> None:
        self.actions = _ActionPrefixes()
        self.actors = _ActorBeginnings(self.actions)
        self.subjects = _SubjectLiterals()

    def match(self, body: bytes, seq: int, action: Any, subject: Any) -> bool:
        """Whether the action and subject columns say what the body says."""
        try:
            return body.startswith(self.actions[action]) and body.startswith(
                _SEQ_SUBJECT % (seq, self.subjects[subject]), body.rfind(_SEQ_KEY)
            )
        except TypeError:
            return False

    def actor_matches(self, body: bytes, action: Any, actor_id: Any) -> bool:
        """Whether actor_id is the id of the body's actor (NULL for an actor without one), exactly."""
        try:
            if self.actors.learn(body, action, actor_id):
                return True
        except TypeError:
            pass
        actor = _parsed(body).get("actor")
        expected = actor.get("id") if isinstance(actor, dict) else None
        return (actor_id is None and expected is None) or (
            type(actor_id) is int and type(expected) is int and actor_id == expected
        )

    def ts_matches(self, body: bytes, seq: int, subject: Any, ts: Any) -> bool:
        """Whether the ts column holds the body's ts, exactly, as it is stored (see _column_stamps)."""
        try:
            if body.endswith(_TAIL % (seq, self.subjects[subject], ts.encode().translate(_TS_AS_IN_BODY))):
                return True
        except (TypeError, AttributeError):
            pass
        return type(ts) is str and ts in _column_stamps(_parsed(body).get("ts"))


def _columns_edited(columns: list[str]) -> str:
    if len(columns) == 1:
        return f"index column {columns[0]} edited: it differs from the hashed body"
    return f"index columns ({', '.join(columns)}) edited: they differ from the hashed body"


# -- Rows: a whole batch at once, or one row exactly ----------------------------------------------------------


def sound_batch(
    rows: Sequence[Row], expected: int, previous: bytes, fields: IndexedFields
) -> tuple[list[bytes], bytes] | None:
    """The leaf hashes and last chain hash of a batch whose rows are all sound; None if any is not, or does not fit.

    Sound: the seqs run on from `expected`, every leaf and chain hash recomputes (the first chaining to
    `previous`), and the action, subject, actor_id and ts columns match the body's bytes where they must. None
    promises nothing about which row is bad, nor that any is: diagnose() says that.
    """
    sha256, domain = hashlib.sha256, _CHAIN_DOMAIN
    try:
        seqs, bodies, stored_leaves, stored_chains, actions, subjects, actor_ids, stamps = zip(*rows, strict=True)
        leaves = [sha256(b"\x00" + body).digest() for body in bodies]
        chain = previous
        chains = [chain := sha256(domain + chain + leaf).digest() for leaf in leaves]
        tails = map(
            _TAIL.__mod__,
            zip(
                seqs,
                map(fields.subjects.__getitem__, subjects),
                map(bytes.translate, map(str.encode, stamps), repeat(_TS_AS_IN_BODY)),
                strict=True,
            ),
        )
        sound = (
            seqs == tuple(range(expected, expected + len(rows)))
            and leaves == list(stored_leaves)
            and chains == list(stored_chains)
            and (
                all(map(bytes.startswith, bodies, map(fields.actors.__getitem__, zip(actions, actor_ids, strict=True))))
                # Users first seen in this batch (or with a new email) are checked one by one, and remembered.
                or all(map(fields.actors.learn, bodies, actions, actor_ids))
            )
            and all(map(bytes.endswith, bodies, tails))
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
    action, subject, actor_id, ts = row[4:8]
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
    edited = [
        column
        for column, matches in (
            ("actor_id", fields.actor_matches(body, action, actor_id)),
            ("ts", fields.ts_matches(body, seq, subject, ts)),
        )
        if not matches
    ]
    if edited:
        return Finding(seq, _columns_edited(edited)), b"", b""
    return None, leaf, stored_chain


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
