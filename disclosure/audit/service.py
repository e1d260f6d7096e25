"""`record()` is the one way to write the audit log; checkpoints are signed here too.

A service calls record() inside the transaction of the change it records and never commits; the request
commits once, so the change and its event land together or not at all. Appends are serialized by the head
row: SELECT ... FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE (disclosure.database) on SQLite.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from disclosure.audit.actions import AuditAction
from disclosure.audit.canonical import canonical_json, chain_hash, leaf_hash
from disclosure.audit.merkle import decode_frontier, encode_frontier, frontier_append, frontier_root
from disclosure.audit.models import AuditCheckpoint, AuditEvent, AuditHead
from disclosure.audit.note import sign_checkpoint
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.keyring import KeyMissing, load_log_key, log_key_name

log = logging.getLogger(__name__)

BODY_VERSION = 1


@dataclass(frozen=True)
class SystemActor:
    """An actor that is not a signed-in user: a CLI command or a scheduled job."""

    name: str


def _actor_fields(actor: Any) -> tuple[dict[str, Any] | None, int | None]:
    if actor is None:
        return None, None
    if isinstance(actor, SystemActor):
        return {"kind": "system", "name": actor.name}, None
    return {"kind": "user", "id": actor.id, "email": actor.email}, actor.id


def lock_head(session: Session) -> AuditHead:
    statement = select(AuditHead).where(AuditHead.id == 1)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    head = session.execute(statement).scalar_one_or_none()
    if head is None:
        raise RuntimeError("the audit head row is missing: the schema was not created by `flask db upgrade`")
    return head


def require_schema() -> None:
    """For commands: fail with a clear message when `flask db upgrade` has not been run."""
    import click
    from sqlalchemy.exc import DBAPIError

    try:
        lock_head(db.session)
    except (DBAPIError, RuntimeError) as error:
        db.session.rollback()
        raise click.ClickException("The database has no schema yet; run `flask db upgrade` first.") from error


def record(
    actor: Any,
    action: AuditAction,
    subject: str | None = None,
    data: dict[str, Any] | None = None,
    ip: str | None = None,
    outcome: str = "success",
) -> AuditEvent:
    """Append one event in the current transaction and return it. Never put secrets in data."""
    session = db.session
    head = lock_head(session)
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
    frontier = frontier_append(decode_frontier(head.frontier, head.size), head.size, leaf)
    entry = AuditEvent(
        seq=seq, ts=now, body=body, leaf_hash=leaf, chain_hash=chain,
        action=str(action), actor_id=actor_id, subject=subject,
    )
    session.add(entry)
    head.size, head.chain_tip, head.frontier, head.updated_at = seq, chain, encode_frontier(frontier), now
    session.flush()
    _checkpoint_if_due(session, head, action)
    return entry


def current_root(head: AuditHead) -> bytes:
    return frontier_root(decode_frontier(head.frontier, head.size), head.size)


def _checkpoint_if_due(session: Session, head: AuditHead, action: AuditAction) -> None:
    if action == AuditAction.AUDIT_CHECKPOINT or not has_app_context():
        return
    every = int(current_app.config["AUDIT_CHECKPOINT_EVERY"])
    reason = None
    if every > 0 and head.size % every == 0:
        reason = "count"
    else:
        latest = session.execute(
            select(AuditCheckpoint.created_at).order_by(AuditCheckpoint.id.desc()).limit(1)
        ).scalar_one_or_none()
        interval = timedelta(minutes=int(current_app.config["AUDIT_CHECKPOINT_MINUTES"]))
        if latest is None or utcnow() - latest >= interval:
            reason = "interval"
    if reason is None:
        return
    try:
        create_checkpoint(session, head, reason)
    except KeyMissing:
        log.warning("audit checkpoint due (%s) but the log key is missing; run `flask keys init`", reason)


def create_checkpoint(session: Session, head: AuditHead, reason: str) -> AuditCheckpoint:
    """Sign the current head; the note is appended to the checkpoint file once the transaction commits."""
    root = current_root(head)
    note = sign_checkpoint(str(current_app.config["AUDIT_ORIGIN"]), head.size, root, load_log_key(), log_key_name())
    checkpoint = AuditCheckpoint(size=head.size, root=root, note=note, reason=reason, created_at=utcnow())
    session.add(checkpoint)
    session.flush()
    pending = session.info.setdefault("pending_checkpoint_notes", [])
    pending.append((Path(current_app.config["AUDIT_CHECKPOINT_DIR"]), head.size, note))
    return checkpoint


def checkpoint_now(actor: Any, reason: str = "manual", ip: str | None = None) -> AuditCheckpoint:
    """Record the request for a checkpoint, then sign the head that includes that event."""
    record(actor, AuditAction.AUDIT_CHECKPOINT, subject="audit", data={"reason": reason}, ip=ip)
    return create_checkpoint(db.session, lock_head(db.session), reason)


def checkpoint_file_name(size: int) -> str:
    return f"checkpoint-{size:012d}.txt"


@event.listens_for(Session, "after_commit")
def _write_checkpoint_files(session: Session) -> None:
    # Only committed checkpoints reach the file system: a rolled-back one would claim a tree that never was.
    for folder, size, note in session.info.pop("pending_checkpoint_notes", []):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # One new file per checkpoint: nothing is ever rewritten, so the folder may live on WORM storage.
        with (folder / checkpoint_file_name(size)).open("x", encoding="utf-8") as handle:
            handle.write(note)


@event.listens_for(Session, "after_rollback")
def _forget_checkpoint_files(session: Session) -> None:
    session.info.pop("pending_checkpoint_notes", None)
