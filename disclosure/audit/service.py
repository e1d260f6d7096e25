"""`record()` is the one way to write the audit log; checkpoints are signed here too.

A service calls record() inside the transaction of the change it records and never commits; the request
commits once, so the change and its event land together or not at all; so do the tree's frontier (in the head
row) and its full tiles (audit_tile, once every 256 appends). Appends are serialized by the head row:
SELECT ... FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE (disclosure.database) on SQLite.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from flask import current_app, has_app_context
from sqlalchemy import Connection, Engine, event, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from disclosure.audit.actions import AuditAction
from disclosure.audit.canonical import canonical_json, chain_hash, leaf_hash
from disclosure.audit.merkle import fill_tiles
from disclosure.audit.models import AuditCheckpoint, AuditEvent, AuditHead
from disclosure.clock import utcnow
from disclosure.database import execute_on_driver
from disclosure.extensions import db
from disclosure.keyring import KeyMissing, load_log_key, log_key_name
from disclosure.permissions import Permission
from disclosure.services import Actor, SystemActor, require
from disclosure_proofs.merkle import decode_frontier, encode_frontier, frontier_append, frontier_root
from disclosure_proofs.note import sign_checkpoint
from disclosure_proofs.tiles import TILE_WIDTH

Projection = Callable[[Connection, int, datetime, str, "str | None", dict[str, Any]], None]
#: Told of each appended event in its transaction: (session, seq, actor, action, subject, data, outcome).
Listener = Callable[[Session, int, Actor | None, str, str | None, dict[str, Any], str], None]

log = logging.getLogger(__name__)

BODY_VERSION = 1
#: session.info key: notes of checkpoints made in the open transaction, written to files once it commits.
PENDING_NOTES = "pending_checkpoint_notes"


def _actor_fields(actor: Actor | None) -> tuple[dict[str, Any] | None, int | None]:
    if actor is None:
        return None, None
    if isinstance(actor, SystemActor):
        return {"kind": "system", "name": actor.name}, None
    return {"kind": "user", "id": actor.id, "email": actor.email}, actor.id


@dataclass(frozen=True)
class HeadState:
    """The head row as read under the append lock: what the next event chains to and the tree's frontier."""

    size: int
    chain_tip: bytes
    frontier: bytes


@dataclass(frozen=True)
class RecordedEvent:
    """What record() appended: the values that were hashed and stored."""

    seq: int
    ts: datetime
    body: bytes
    leaf_hash: bytes
    chain_hash: bytes


class _AppendStatements:
    """The three statements of an append, as DBAPI SQL for one dialect, run on the session's own connection.

    An append is the hottest write path: through the ORM, and even through Core, SQLAlchemy's per-statement
    machinery cost more than the hashing and the commit together. The statements run inside the session's
    transaction (same connection, same BEGIN IMMEDIATE or FOR UPDATE lock); values pass through the columns'
    own bind processors, so what is stored is byte for byte what SQLAlchemy would store.
    """

    def __init__(self, dialect: Any) -> None:
        postgres = dialect.name == "postgresql"
        mark = "%s" if dialect.paramstyle in ("format", "pyformat") else "?"
        marks = ", ".join([mark] * 8)
        # SQLite: BEGIN IMMEDIATE already holds the write lock (see disclosure.database).
        # Only placeholders are interpolated below: every value travels as a bound parameter.
        lock = " FOR UPDATE" if postgres else ""
        self.read_head = f"SELECT size, chain_tip, frontier FROM audit_head WHERE id = 1{lock}"  # noqa: S608
        insert = (
            "INSERT INTO audit_event (seq, ts, body, leaf_hash, chain_hash, action, actor_id, subject) "  # noqa: S608
            f"VALUES ({marks})"
        )
        update = (
            f"UPDATE audit_head SET size = {mark}, chain_tip = {mark}, frontier = {mark}, "  # noqa: S608
            f"updated_at = {mark} WHERE id = 1"
        )
        # PostgreSQL: one round trip for both writes (a data-modifying WITH runs exactly once).
        self.writes = [f"WITH appended AS ({insert}) {update}"] if postgres else [insert, update]
        self.split = not postgres
        # dialect_impl: the column type as this dialect stores it, so SQLite gets SQLAlchemy's own text form
        # (always with microseconds; sqlite3's adapter drops ".000000" at a whole second, which sorts earlier).
        ts_type = AuditEvent.__table__.c.ts.type
        processor = ts_type.dialect_impl(dialect).bind_processor(dialect)
        self.timestamp = processor if processor is not None else (lambda value: value)

    def append(
        self,
        connection: Connection,
        seq: int,
        now: datetime,
        body: bytes,
        leaf: bytes,
        chain: bytes,
        action: str,
        actor_id: int | None,
        subject: str | None,
        frontier: bytes,
    ) -> None:
        ts = self.timestamp(now)
        event = (seq, ts, body, leaf, chain, action, actor_id, subject)
        head = (seq, chain, frontier, ts)
        if self.split:
            _execute(connection, self.writes[0], event)
            _execute(connection, self.writes[1], head)
        else:
            _execute(connection, self.writes[0], event + head)


# DBAPI SQL on the session's own driver connection; errors (a lost connection included) reach SQLAlchemy as from Core.
_execute = execute_on_driver


#: One set of statements per dialect object (an engine's dialect lives as long as the engine).
_statements: WeakKeyDictionary[Any, _AppendStatements] = WeakKeyDictionary()
_LATEST_CHECKPOINT = (
    select(AuditCheckpoint.__table__.c.created_at).order_by(AuditCheckpoint.__table__.c.id.desc()).limit(1)
)

#: Per engine, the creation time of a checkpoint known to be committed. Checkpoints are never deleted, so the
#: latest one is at least this recent: while it is younger than the interval, appends need not ask again.
_checkpoint_seen: WeakKeyDictionary[Engine, datetime] = WeakKeyDictionary()


def _append_statements(connection: Connection) -> _AppendStatements:
    dialect = connection.dialect
    statements = _statements.get(dialect)
    if statements is None:
        statements = _statements[dialect] = _AppendStatements(dialect)
    return statements


def lock_head(session: Session) -> HeadState:
    """Read the head row, locked against other appends until this transaction ends."""
    return _lock_head(session.connection())


def _lock_head(connection: Connection) -> HeadState:
    row = _execute(connection, _append_statements(connection).read_head).fetchone()
    if row is None:
        raise RuntimeError("the audit head row is missing: the schema was not created by `flask db upgrade`")
    return HeadState(row[0], bytes(row[1]), bytes(row[2]))


def require_schema() -> None:
    """For commands: fail with a clear message when `flask db upgrade` has not been run.

    Reads the head on a connection of its own and takes no lock: a command that goes on to encrypt a large file
    must not hold the audit log's head (every audited write waits for it) while it does."""
    import click

    missing = click.ClickException("The database has no schema yet; run `flask db upgrade` first.")
    try:
        with db.engine.connect() as connection:
            head = connection.execute(select(AuditHead.size).where(AuditHead.id == 1)).first()
    except DBAPIError as error:
        raise missing from error
    if head is None:
        raise missing


def record(
    actor: Actor | None,
    action: AuditAction,
    subject: str | None = None,
    data: dict[str, Any] | None = None,
    ip: str | None = None,
    outcome: str = "success",
) -> RecordedEvent:
    """Append one event in the current transaction and return it. Never put secrets in data."""
    session = db.session()
    connection = session.connection()
    head = _lock_head(connection)
    now = utcnow()
    seq = head.size + 1
    actor_body, actor_id = _actor_fields(actor)
    body = canonical_json(
        {
            "v": BODY_VERSION,
            "seq": seq,
            "ts": now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "actor": actor_body,
            "action": str(action),
            "subject": subject,
            "ip": ip,
            "outcome": outcome,
            "data": data or {},
        }
    )
    leaf = leaf_hash(body)
    chain = chain_hash(head.chain_tip, leaf)
    frontier = encode_frontier(frontier_append(decode_frontier(head.frontier, head.size), head.size, leaf))
    statements = _append_statements(connection)
    statements.append(connection, seq, now, body, leaf, chain, str(action), actor_id, subject, frontier)
    if seq % TILE_WIDTH == 0:  # this leaf fills a tile: stored with it, so proofs never need every leaf
        fill_tiles(connection, seq, leaf)
    for project in _projections.get(str(action), ()):
        project(connection, seq, now, str(action), subject, data or {})
    for listen in _listeners:
        listen(session, seq, actor, str(action), subject, data or {}, outcome)
    _checkpoint_if_due(session, connection, HeadState(seq, chain, frontier), action)
    return RecordedEvent(seq, now, body, leaf, chain)


#: Derived tables kept in step with the log: action -> functions called with each such event, in its transaction.
_projections: dict[str, list[Projection]] = {}
_projection_names: set[str] = set()


def register_projection(name: str, actions: Iterable[str], project: Projection) -> None:
    """Have `project(connection, seq, ts, action, subject, data)` called for every new event with one of the actions.

    A projection is derived data: it must be recomputable from the event bodies (and checked against them).
    """
    if name in _projection_names:
        return
    _projection_names.add(name)
    for action in actions:
        _projections.setdefault(action, []).append(project)


#: Told of every event as it is appended (disclosure.notifications collects the ones people are told of).
_listeners: list[Listener] = []


def add_listener(listen: Listener) -> None:
    """Have `listen` called with every event appended from now on, in the event's transaction. It must only note
    the event (in session.info, say) and act at commit: it runs inside the append, holding the log's lock."""
    if listen not in _listeners:
        _listeners.append(listen)


def current_root(head: Any) -> bytes:
    """The tree root of a head (a HeadState or an AuditHead row)."""
    return frontier_root(decode_frontier(bytes(head.frontier), head.size), head.size)


def _checkpoint_if_due(session: Session, connection: Connection, head: HeadState, action: AuditAction) -> None:
    if action == AuditAction.AUDIT_CHECKPOINT or not has_app_context():
        return
    every = int(current_app.config["AUDIT_CHECKPOINT_EVERY"])
    if every > 0 and head.size % every == 0:
        reason = "count"
    elif _interval_due(session, connection, _interval()):
        reason = "interval"
    else:
        return
    try:
        create_checkpoint(session, head, reason)
    except KeyMissing:
        log.warning("audit checkpoint due (%s) but the log key is missing; run `flask keys init`", reason)


def _interval() -> timedelta:
    return timedelta(minutes=int(current_app.config["AUDIT_CHECKPOINT_MINUTES"]))


def _interval_due(session: Session, connection: Connection, interval: timedelta) -> bool:
    engine = connection.engine
    now = utcnow()
    seen = _checkpoint_seen.get(engine)
    if seen is not None and now - seen < interval:
        return False
    latest = connection.execute(_LATEST_CHECKPOINT).scalar_one_or_none()
    # Remember only what is committed: a checkpoint of this very transaction could still be rolled back.
    if latest is not None and not session.info.get(PENDING_NOTES):
        _checkpoint_seen[engine] = latest
    return latest is None or now - latest >= interval


def create_checkpoint(session: Session, head: HeadState, reason: str) -> AuditCheckpoint:
    """Sign the current head; the note is appended to the checkpoint file once the transaction commits."""
    root = current_root(head)
    origin = str(current_app.config["AUDIT_ORIGIN"])
    note = sign_checkpoint(origin, head.size, root, load_log_key(), log_key_name())
    checkpoint = AuditCheckpoint(size=head.size, root=root, note=note, reason=reason, created_at=utcnow())
    session.add(checkpoint)
    session.flush()
    pending = session.info.setdefault(PENDING_NOTES, [])
    pending.append((Path(current_app.config["AUDIT_CHECKPOINT_DIR"]), head.size, note))
    return checkpoint


def checkpoint_now(
    actor: Actor, reason: str = "manual", ip: str | None = None, *, permission: Permission = Permission.AUDIT_CHECKPOINT
) -> AuditCheckpoint:
    """Record the request for a checkpoint, then sign the head that includes that event.

    An export or a report signs the checkpoint it carries under its own permission (`permission`), since pinning
    what it shows to the log changes nothing; asked for on its own, a checkpoint needs audit:checkpoint.
    """
    require(actor, permission)
    record(actor, AuditAction.AUDIT_CHECKPOINT, subject="audit", data={"reason": reason}, ip=ip)
    return create_checkpoint(db.session(), lock_head(db.session()), reason)


def checkpoint_file_name(size: int) -> str:
    return f"checkpoint-{size:012d}.txt"


@event.listens_for(Session, "after_commit")
def _write_checkpoint_files(session: Session) -> None:
    # Only committed checkpoints reach the file system: a rolled-back one would claim a tree that never was. The
    # transaction has committed by now, so nothing here may raise: a file that cannot be written (a full or
    # read-only folder, a WORM mount that did not come up) is logged, and the job that writes missing checkpoint
    # files (disclosure.jobs.tasks) writes it once the folder is back. The person is told their change was saved.
    for folder, size, note in session.info.pop(PENDING_NOTES, []):
        try:
            write_checkpoint_file(folder, size, note)
        except OSError as error:
            log.error("checkpoint of size %d was committed but its file could not be written: %s", size, error)


def write_checkpoint_file(folder: Path, size: int, note: str) -> bool:
    """Write a committed checkpoint's file unless it is there already; True when a file was written."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / checkpoint_file_name(size)
    # One new file per checkpoint: nothing is ever rewritten, so the folder may live on WORM storage.
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(note)
        return True
    except FileExistsError:
        if path.read_text(encoding="utf-8") == note:
            return False
        # Another tree of this size was signed before (a database restored or replaced under the same folder).
        # The transaction has committed, so raising would only lose this note: keep both files.
        if any(p.read_text(encoding="utf-8") == note for p in folder.glob(f"{path.stem}-*.txt")):
            return False
        log.error(
            "checkpoint file %s already holds a different tree of size %d; writing %s beside it",
            path,
            size,
            path.stem + "-*.txt",
        )
        beside = path.with_name(f"{path.stem}-{secrets.token_hex(4)}.txt")
        with beside.open("x", encoding="utf-8") as handle:
            handle.write(note)
        return True


def missing_checkpoint_files(folder: Path) -> list[AuditCheckpoint]:
    """The stored checkpoints whose file is not in the checkpoint folder."""
    present = set()
    if folder.is_dir():
        for path in folder.glob("checkpoint-*.txt"):
            try:
                present.add(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                continue
    stored = db.session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id)).scalars()
    return [checkpoint for checkpoint in stored if checkpoint.note not in present]


@event.listens_for(Session, "after_rollback")
def _forget_checkpoint_files(session: Session) -> None:
    session.info.pop(PENDING_NOTES, None)
