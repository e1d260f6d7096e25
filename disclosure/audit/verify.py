"""Verification of the whole log without trusting the database: every hash, the chain, the tree, checkpoints.

Each row's copies of body fields (action, subject, actor_id, ts: what the auditor's views filter on) must say
exactly what its hashed body says, so that an edited column cannot hide an event from a filtered view. The
first problem found is reported with the seq it concerns and what is wrong, in plain words. Given
checkpoints (files kept outside the database, or the copies in it) must verify with the log key and must
match the root recomputed at their size: a rewritten history or a truncated tail cannot hide from them. The
stored tiles (audit_tile), which bundles' proofs are read from, must be exactly the recomputed tree's: the scan
notes each full level-0 tile's root and the digest of its leaf hashes as it goes, so the check reads no leaf
again (see _check_tiles).
Everything is read from one snapshot (REPEATABLE READ on PostgreSQL, one deferred read transaction on SQLite),
so appends committed while a verification runs can never look like tampering, and verification never takes
SQLite's write lock. Rows are checked by disclosure.audit.scan. The later parts of a large SQLite log are
checked by worker processes (disclosure.audit.scan_worker) in snapshots of their own, over ranges that end at
this snapshot's last seq; a worker only vouches for a part whose rows are all sound and that starts from the
chain hash the part before it ended with, and whatever it does not vouch for is checked here, in this snapshot.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from disclosure.audit import scan_worker
from disclosure.audit.canonical import GENESIS_CHAIN
from disclosure.audit.merkle import StoredTiles
from disclosure.audit.scan import EVENTS_SQL, Finding, Scan, as_bytes
from disclosure.audit.scan_tree import PartTree, Tree, combine, join_digests
from disclosure.audit.witness import Witness, WitnessError, verified_cosignatures
from disclosure_proofs.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    FrontierError,
    ProofError,
    decode_frontier,
    fold_perfect,
    frontier_root,
    verify_consistency,
)
from disclosure_proofs.note import Checkpoint, NoteError, verify_checkpoint
from disclosure_proofs.tiles import TILE_BYTES, TILE_HEIGHT, TILE_WIDTH, TileTree, split_hashes

#: Rows checked together: a power of two keeps batches aligned to perfect subtrees, and a batch this small
#: stays in the CPU cache (measured: 512 rows verify a quarter faster than 2,048, far faster than 20,000).
BATCH = 512
#: Rows per round trip to PostgreSQL's server-side cursor, handed on BATCH at a time.
POSTGRES_FETCH = 8_192
_CHECKPOINTS_SQL = "SELECT id, note FROM audit_checkpoint ORDER BY id"
_HEAD_SQL = "SELECT size, chain_tip, frontier FROM audit_head WHERE id = 1"
_LARGEST_SEQ_SQL = "SELECT max(seq) FROM audit_event"
#: Every stored tile in order, with its root and its hashes' SHA-256: PostgreSQL hashes them where they lie (so
#: 32 bytes per tile cross the wire, not 8 KB), SQLite hands over the blob to hash here.
_TILES_SQL = {
    "sqlite": 'SELECT level, "index", root, hashes FROM audit_tile ORDER BY level, "index"',
    "postgresql": 'SELECT level, "index", root, sha256(hashes) FROM audit_tile ORDER BY level, "index"',
}
#: Tile rows per fetch.
TILE_FETCH = 1_024


@dataclass
class VerifyResult:
    size: int = 0
    root: bytes = b""
    findings: list[Finding] = field(default_factory=list)
    checkpoints_checked: int = 0
    #: How many signed checkpoints the database holds (its own copies, whatever the folder outside it holds).
    stored_checkpoints: int = 0
    #: Whether any witness key was configured, the largest size a configured witness cosigned, and by whom.
    witnessed: bool = False
    cosigned_size: int | None = None
    cosigned_by: tuple[str, ...] = ()
    #: The root the newest cosigned checkpoint signed, and whether a consistency proof read from the stored tree
    #: leads from it to the recomputed root of the whole log (None: the log is that checkpoint, or no witness).
    cosigned_root: bytes | None = None
    extends_cosigned: bool | None = None

    @property
    def intact(self) -> bool:
        return not self.findings

    def witness_line(self) -> str:
        if self.cosigned_size is None:
            return "no checkpoint cosigned by a configured witness"
        line = f"newest cosigned checkpoint: size {self.cosigned_size}, by {', '.join(self.cosigned_by)}"
        if self.extends_cosigned:
            line += (
                f"; the log of {self.size} events extends it (consistency proof from {self.cosigned_size} to "
                f"{self.size} verified)"
            )
        return line

    def summary(self) -> str:
        verdict = (
            f"intact: {self.size} events, root {self.root.hex()}" if self.intact else f"NOT intact: {self.findings[0]}"
        )
        if self.witnessed and self.intact:
            verdict += f"; {self.witness_line()}"
        return verdict


@dataclass(frozen=True)
class GivenCheckpoint:
    """A checkpoint to check against, with a label saying where it came from."""

    label: str
    note: str


class _Snapshot:
    """Raw DBAPI reads in one snapshot: the verify loop is hot, and an ORM row costs more than its hashes."""

    def __init__(self, driver_connection: Any, dialect: str, own: bool) -> None:
        self._raw = driver_connection
        self._dialect = dialect
        self._postgres = dialect == "postgresql"
        self._own = own

    def all(self, sql: str) -> list[tuple[Any, ...]]:
        cursor = self._raw.cursor()
        try:
            cursor.execute(sql)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def event_batches(self, after: int | None = None, upto: int | None = None) -> Iterator[list[tuple[Any, ...]]]:
        """Rows (see scan.Row) in order of seq, BATCH at a time: all of them, or those after and/or up to a seq."""
        mark = "%s" if self._postgres else "?"
        conditions: list[str] = []
        parameters: list[int] = []
        if after is not None:
            conditions.append(f"seq > {mark}")
            parameters.append(after)
        if upto is not None:
            conditions.append(f"seq <= {mark}")
            parameters.append(upto)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        # PostgreSQL: a server-side cursor in binary, so a million rows never sit in memory at once and bytea
        # arrives as bytes rather than hex text. SQLite steps its cursor lazily anyway.
        cursor = self._raw.cursor(name="audit_verify", binary=True) if self._postgres else self._raw.cursor()
        try:
            cursor.execute(f"{EVENTS_SQL[self._dialect]}{where} ORDER BY seq", parameters)
            if not self._postgres:
                while rows := cursor.fetchmany(BATCH):
                    yield rows
                return
            # The next rows are fetched while these are checked, so that the server's work (reading them,
            # formatting ts) overlaps with the hashing here: at 1M events, about 200k/s without, 260-295k/s with.
            # Leaving the `with` waits for that fetch, so the cursor is never closed under it.
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-verify-fetch") as fetcher:
                pending = fetcher.submit(cursor.fetchmany, POSTGRES_FETCH)
                while rows := pending.result():
                    pending = fetcher.submit(cursor.fetchmany, POSTGRES_FETCH)
                    for start in range(0, len(rows), BATCH):
                        yield rows[start : start + BATCH]
        finally:
            cursor.close()

    def rows(self, sql: str, parameters: tuple[int, ...]) -> list[tuple[Any, ...]]:
        """The rows of sql, its "?" marks bound to parameters."""
        if self._postgres:
            sql = sql.replace("?", "%s")
        cursor = self._raw.cursor()
        try:
            cursor.execute(sql, parameters)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def tiles(self) -> Generator[tuple[int, int, bytes, bytes], None, None]:
        """Every stored tile in order of (level, index): (level, index, root, SHA-256 of its hashes)."""
        cursor = self._raw.cursor(name="audit_verify_tiles", binary=True) if self._postgres else self._raw.cursor()
        sha256 = hashlib.sha256
        try:
            cursor.execute(_TILES_SQL[self._dialect])
            while rows := cursor.fetchmany(TILE_FETCH):
                for level, index, root, hashes in rows:
                    digest = as_bytes(hashes) if self._postgres else sha256(as_bytes(hashes)).digest()
                    yield int(level), int(index), as_bytes(root), digest
        finally:
            cursor.close()

    def shareable_file(self) -> str | None:
        """The SQLite database file, if worker processes may read parts of it: not when the caller's
        transaction decides what is visible (it may hold uncommitted appends), nor for an in-memory database."""
        if self._postgres or not self._own:
            return None
        files = {name: path for _seq, name, path in self.all("PRAGMA database_list")}
        return files.get("main") or None

    def largest_seq(self) -> int:
        return int(self.all(_LARGEST_SEQ_SQL)[0][0] or 0)


@contextmanager
def _snapshot(connection: Connection) -> Iterator[_Snapshot]:
    dialect = connection.dialect.name
    raw = connection.connection.driver_connection
    if raw is None:  # the pool detached it: SQLAlchemy's own error for a closed connection would say no more
        raise RuntimeError("the connection to the database is closed")
    if connection.in_transaction() or (dialect == "sqlite" and raw.in_transaction):
        # The caller's transaction decides what is visible; it may even hold uncommitted appends to check.
        yield _Snapshot(raw, dialect, own=False)
        return
    if dialect == "postgresql":
        # Under READ COMMITTED each statement sees newer commits: the head, read after the events, would run
        # ahead of them and report a truncated tail that is not there. Set per transaction, not on the
        # connection, so the caller's connection keeps its own settings afterwards.
        if raw.autocommit:
            raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield _Snapshot(raw, dialect, own=True)
            finally:
                raw.execute("ROLLBACK")
            return
        with connection.begin() as transaction:
            raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield _Snapshot(raw, dialect, own=True)
            transaction.rollback()  # nothing was written; ending it releases the snapshot
        return
    # A deferred BEGIN, not the app's BEGIN IMMEDIATE: a WAL reader gets a stable snapshot and never blocks,
    # nor waits for, the writers (including the caller's own session, which may hold the write lock).
    raw.execute("BEGIN")
    try:
        yield _Snapshot(raw, dialect, own=True)
    finally:
        raw.execute("ROLLBACK")


def verify_log(
    connection: Connection,
    public_key: Ed25519PublicKey | None,
    key_name: str,
    origin: str,
    given: Iterable[GivenCheckpoint] = (),
    witnesses: Sequence[Witness] = (),
) -> VerifyResult:
    """Check the whole log on this connection: in the caller's transaction if one is open, else in a snapshot.

    Database errors (no schema, a lost connection) are raised as SQLAlchemy's DBAPIError, as Core would.
    """
    dbapi_error = connection.dialect.loaded_dbapi.Error
    try:
        return _verify(connection, public_key, key_name, origin, given, witnesses)
    except dbapi_error as error:
        raise DBAPIError.instance("(reading the audit tables)", None, error, dbapi_error) from error


def _verify(
    connection: Connection,
    public_key: Ed25519PublicKey | None,
    key_name: str,
    origin: str,
    given: Iterable[GivenCheckpoint],
    witnesses: Sequence[Witness] = (),
) -> VerifyResult:
    result = VerifyResult(witnessed=bool(witnesses))
    with _snapshot(connection) as snapshot:
        checkpoints = _load_checkpoints(snapshot, public_key, key_name, origin, given, result, witnesses)
        if result.findings:
            result.root = EMPTY_ROOT
            return result
        tree, chain_tip, roots_at, tiles = _scan(snapshot, {cp.size for _label, cp in checkpoints}, result)
        result.size = tree.size
        result.root = tree.root()
        if not result.findings:
            _check_head(snapshot, result, chain_tip)
        if not result.findings:
            _check_tiles(snapshot, result, tiles)
        extends = _extends_cosigned(connection, result) if not result.findings else None
    if not result.findings:
        _check_against_checkpoints(checkpoints, roots_at, result)
    if extends is not None and not result.findings:
        result.findings.append(extends)
    return result


def _extends_cosigned(connection: Connection, result: VerifyResult) -> Finding | None:
    """Show that the log extends the newest checkpoint a witness cosigned: an RFC 9162 consistency proof read
    from the stored tree (in this snapshot) must lead from the root the witness saw to the recomputed root of the
    whole log, as the witness itself would check it. A finding when it does not."""
    cosigned, root = result.cosigned_size, result.cosigned_root
    if cosigned is None or root is None or not 0 < cosigned < result.size:
        return None
    try:
        proof = TileTree(StoredTiles(connection), result.size).consistency_proof(cosigned)
    except ProofError:
        proof = []
    result.extends_cosigned = verify_consistency(cosigned, result.size, root, result.root, proof)
    if result.extends_cosigned:
        return None
    return Finding(
        None,
        f"the log of {result.size} events does not extend the checkpoint cosigned by "
        f"{', '.join(result.cosigned_by)} at size {cosigned}: the consistency proof from {cosigned} to {result.size} "
        "does not verify",
    )


@dataclass(frozen=True)
class LevelZero:
    """What the scan noted of the full level-0 tiles, in order of index: their roots and the SHA-256 of their
    256 leaf hashes concatenated (as a tile's `hashes` holds them), 32 bytes each."""

    roots: bytes
    digests: bytes


def _scan(
    snapshot: _Snapshot, wanted_sizes: set[int], result: VerifyResult
) -> tuple[Tree, bytes, dict[int, bytes], LevelZero]:
    """Recompute every leaf and chain hash and the tree; stop at the first bad row.

    Returns the tree of the rows found sound, the last chain hash, the root at each wanted size reached, and
    the level-0 tiles seen.
    """
    marks = sorted(size for size in wanted_sizes if size > 0)
    scan = Scan(1, GENESIS_CHAIN, PartTree(0, scan_worker.BLOCK, marks))
    database = snapshot.shareable_file()
    cuts = scan_worker.split_points(snapshot.largest_seq(), scan_worker.available_cpus()) if database else []
    if database and len(cuts) > 2:
        parts, chain_tip, finding = _scan_in_parts(snapshot, scan, database, cuts, marks)
    else:
        finding = scan.check(snapshot.event_batches())
        parts, chain_tip = [scan.tree], scan.previous
    if finding is not None:
        result.findings.append(finding)
    tree, roots_at = combine(parts)
    roots_at[0] = EMPTY_ROOT
    return tree, chain_tip, roots_at, LevelZero(bytes(tree.tile_roots or b""), join_digests(parts))


def _scan_in_parts(
    snapshot: _Snapshot, scan: Scan, database: str, cuts: list[int], marks: list[int]
) -> tuple[list[PartTree], bytes, Finding | None]:
    """Check the first part here while workers check the others: (the parts' trees, the chain tip, a finding).

    If any worker's part is not sound, or the parts do not join up, everything after the first part is checked
    here after all, in this snapshot, so that the finding is named exactly as one scan in order of seq names it.
    """
    workers = scan_worker.start_workers(database, cuts, marks, BATCH)
    try:
        started = time.monotonic()
        finding = scan.check(snapshot.event_batches(upto=cuts[1]))
        own_seconds = time.monotonic() - started
        joined = None if finding else scan_worker.join_parts(workers, scan.expected, scan.previous, own_seconds)
    finally:
        for worker in workers:
            worker.stop()
    if joined is not None:
        trees, chain_tip = joined
        return [scan.tree, *trees], chain_tip, None
    if finding is None:
        finding = scan.check(snapshot.event_batches(after=cuts[1]))
    return [scan.tree], scan.previous, finding


def _load_checkpoints(
    snapshot: _Snapshot,
    public_key: Ed25519PublicKey | None,
    key_name: str,
    origin: str,
    given: Iterable[GivenCheckpoint],
    result: VerifyResult,
    witnesses: Sequence[Witness] = (),
) -> list[tuple[str, Checkpoint]]:
    stored = snapshot.all(_CHECKPOINTS_SQL)
    result.stored_checkpoints = len(stored)
    sources = [*given, *(GivenCheckpoint(f"stored checkpoint #{row_id}", note) for row_id, note in stored)]
    checked = []
    for source in sources:
        if public_key is None:
            problem = (
                "the audit-log key is missing, but checkpoints signed with it exist: restore the keys from your "
                "backup (`flask backup restore DIR --keys-only`, or copy the keys folder back); `flask keys init` "
                "would make a new key that can never verify them"
            )
            result.findings.append(Finding(None, problem))
            break
        try:
            checkpoint = verify_checkpoint(source.note, public_key, key_name, expected_origin=origin)
            label = source.label
            if witnesses:
                cosigners = sorted({c.witness for c in verified_cosignatures(source.note, witnesses)})
                if cosigners:
                    label = f"{label} (cosigned by {', '.join(cosigners)})"
                    _note_cosigned(result, checkpoint, cosigners)
            checked.append((label, checkpoint))
        except WitnessError as error:
            result.findings.append(Finding(None, f"{source.label}: {error}"))
            break
        except NoteError as error:
            problem = f"{source.label}: checkpoint signature invalid or forged ({error})"
            result.findings.append(Finding(None, problem))
            break
    result.checkpoints_checked = len(checked)
    return checked


def _note_cosigned(result: VerifyResult, checkpoint: Checkpoint, cosigners: list[str]) -> None:
    size = checkpoint.size
    if result.cosigned_size is None or size > result.cosigned_size:
        result.cosigned_size, result.cosigned_by = size, tuple(cosigners)
        result.cosigned_root = checkpoint.root
    elif size == result.cosigned_size:
        result.cosigned_by = tuple(sorted({*result.cosigned_by, *cosigners}))


def _check_head(snapshot: _Snapshot, result: VerifyResult, chain_tip: bytes) -> None:
    rows = snapshot.all(_HEAD_SQL)
    if not rows:
        result.findings.append(Finding(None, "the head row is missing"))
        return
    size, head_tip, head_frontier = rows[0][0], as_bytes(rows[0][1]), as_bytes(rows[0][2])
    if size > result.size:
        result.findings.append(
            Finding(result.size + 1, f"tail truncated: the head records {size} events, the table holds {result.size}")
        )
    elif size < result.size:
        result.findings.append(Finding(size + 1, f"rows appended behind the head's back (head size {size})"))
    elif head_tip != (chain_tip if result.size else bytes(32)):
        result.findings.append(Finding(None, "the head's chain tip differs from the last event's chain hash"))
    else:
        try:
            head_root = frontier_root(decode_frontier(head_frontier, size), size)
        except FrontierError:
            head_root = None
        if head_root != result.root:
            result.findings.append(Finding(None, "the head's tree frontier differs from the recomputed tree"))


def _tile_label(level: int, index: int) -> str:
    width = TILE_WIDTH << (TILE_HEIGHT * level)
    return f"tile level {level}, index {index} (events {index * width + 1} to {(index + 1) * width})"


def _expected_tiles(level_zero: LevelZero) -> Iterator[tuple[int, int, bytes, bytes]]:
    """Every full tile of the recomputed tree in order of (level, index): (level, index, root, SHA-256 of hashes).

    Level 0 is as the scan noted it. A tile above holds the roots of the 256 tiles below it, so its root and
    digest come from those: 256 hashes per 65,536 leaves, nothing to read.
    """
    roots, digests, level, sha256 = level_zero.roots, level_zero.digests, 0, hashlib.sha256
    while roots:
        for index, at in enumerate(range(0, len(roots), HASH_SIZE)):
            yield level, index, roots[at : at + HASH_SIZE], digests[at : at + HASH_SIZE]
        below = [roots[at : at + TILE_BYTES] for at in range(0, len(roots) - TILE_BYTES + 1, TILE_BYTES)]
        roots = b"".join(fold_perfect(split_hashes(hashes)) for hashes in below)
        digests = b"".join(sha256(hashes).digest() for hashes in below)
        level += 1


def _check_tiles(snapshot: _Snapshot, result: VerifyResult, level_zero: LevelZero) -> None:
    """Compare the stored tiles with the recomputed tree's, in order of (level, index), reading no leaf again.

    A stored root must be the recomputed tree's node; a stored tile's hashes must have the SHA-256 of the nodes
    below it (at level 0, of the leaf hashes the scan recomputed; above, of the roots of the tiles below): equal
    digests mean equal hashes, as equal leaf hashes mean equal bodies. One pass over (level, index, root, digest)
    rows, in the order of the primary key; memory is 64 bytes per level-0 tile. The first tile that is missing,
    extra or different is reported with its level and index.
    """
    full = result.size // TILE_WIDTH
    if len(level_zero.roots) != full * HASH_SIZE or len(level_zero.digests) != full * HASH_SIZE:
        raise RuntimeError(f"the scan noted {len(level_zero.roots) // HASH_SIZE} tiles of a log of {result.size}")
    with closing(snapshot.tiles()) as stored:
        found = next(stored, None)
        for level, index, root, digest in _expected_tiles(level_zero):
            if found is not None and found[:2] < (level, index):
                break  # stored, but not in the tree
            if found is None or found[:2] > (level, index):
                problem = f"{_tile_label(level, index)} is missing from the stored tree"
            elif found[2] != root:
                problem = f"{_tile_label(level, index)} differs from the recomputed tree: its root"
            elif found[3] != digest:
                problem = f"{_tile_label(level, index)} differs from the recomputed tree: its hashes"
            else:
                found = next(stored, None)
                continue
            result.findings.append(Finding(None, problem))
            return
        if found is not None:
            problem = f"{_tile_label(*found[:2])} is stored, but the log of {result.size} events has no such tile"
            result.findings.append(Finding(None, problem))


def _check_against_checkpoints(
    checkpoints: list[tuple[str, Checkpoint]], roots_at: dict[int, bytes], result: VerifyResult
) -> None:
    for label, checkpoint in sorted(checkpoints, key=lambda item: item[1].size):
        if checkpoint.size > result.size:
            result.findings.append(
                Finding(
                    result.size + 1,
                    f"tail truncated: {label} covers {checkpoint.size} events, the log holds {result.size}",
                )
            )
            return
        if roots_at.get(checkpoint.size) != checkpoint.root:
            result.findings.append(
                Finding(
                    None,
                    f"history rewritten: the first {checkpoint.size} events no longer give the root signed in {label}",
                )
            )
            return
