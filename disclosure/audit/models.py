"""The audit tables: append-only events, the head row that keeps the tree's frontier, the tree's full tiles,
and signed checkpoints.

The database refuses UPDATE and DELETE on events, tiles and checkpoints (triggers from disclosure.audit.ddl and
the migration); an ORM listener refuses them earlier with a clear error. The head row and the tiles are derived
state: `flask audit verify` recomputes them from the events and reports any difference.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, LargeBinary, String, Text, event
from sqlalchemy.orm import Mapped, Session, mapped_column

from disclosure.extensions import db


class AuditEvent(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "audit_event"
    __table_args__ = (
        CheckConstraint("seq >= 1", name="seq_positive"),
        Index("ix_audit_event_action_seq", "action", "seq"),
        Index("ix_audit_event_subject_seq", "subject", "seq"),
        Index("ix_audit_event_actor_seq", "actor_id", "seq"),
        Index("ix_audit_event_ts", "ts"),
    )

    #: Gapless from 1; assigned under the head-row lock, never from a sequence.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[datetime]
    #: Canonical JSON, exactly the bytes that were hashed.
    body: Mapped[bytes] = mapped_column(LargeBinary)
    #: SHA-256(0x00 || body).
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    #: SHA-256("disclosure-audit-v1\0" || previous chain_hash || leaf_hash).
    chain_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    #: Copies of body fields for filtering; verification checks that they match the body.
    action: Mapped[str] = mapped_column(String(60))
    actor_id: Mapped[int | None] = mapped_column(default=None)
    subject: Mapped[str | None] = mapped_column(String(120), default=None)


class AuditHead(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"), CheckConstraint("size >= 0", name="size"))

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(default=0)
    chain_tip: Mapped[bytes] = mapped_column(LargeBinary(32))
    #: The roots of the perfect subtrees of the tree (one per set bit of size), concatenated.
    frontier: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    updated_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditTile(db.Model):  # type: ignore[name-defined,misc]
    """A full tile of the Merkle tree (disclosure_proofs.tiles), stored by record() when its last node exists."""

    __tablename__ = "audit_tile"
    __table_args__ = (
        CheckConstraint("level >= 0", name="level"),
        CheckConstraint('"index" >= 0', name="index"),
        CheckConstraint("length(hashes) = 8192", name="full"),
        CheckConstraint("length(root) = 32", name="root_size"),
    )

    #: Tile level L: its hashes are the nodes of height 8*L (level 0: the leaf hashes).
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: Tile N holds the nodes numbered 256*N to 256*N+255 of its height.
    index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    #: The 256 node hashes, concatenated (8,192 bytes).
    hashes: Mapped[bytes] = mapped_column(LargeBinary)
    #: The tile's own root: the node of height 8*(L+1) numbered N, so partial tiles above need no rehashing.
    root: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditCheckpoint(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    size: Mapped[int]
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    #: The C2SP signed note, exactly as written to the checkpoint file.
    note: Mapped[str] = mapped_column(Text)
    #: count, interval, manual or export.
    reason: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]


#: Models whose rows are never changed or deleted; disclosure.audit.ddl.protect() adds to it.
APPEND_ONLY: set[type] = {AuditEvent, AuditCheckpoint, AuditTile}


class AppendOnlyViolation(RuntimeError):
    """Something tried to change or delete a row of an append-only audit table."""


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(session: Session, _context: Any, _instances: Any) -> None:
    for instance in list(session.dirty) + list(session.deleted):
        if isinstance(instance, tuple(APPEND_ONLY)) and (
            instance in session.deleted or session.is_modified(instance, include_collections=False)
        ):
            raise AppendOnlyViolation(f"{type(instance).__tablename__} is append-only")  # type: ignore[attr-defined]
