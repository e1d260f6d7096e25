"""Audit extracts: the events of a period as JSON Lines, each with its inclusion proof, under a fresh checkpoint.

Line 1 is a header with the signed checkpoint (which the proofs lead to) and a consistency proof from the
previous checkpoint; then one line per event with its body exactly as hashed. Proofs come from the stored tiles
(disclosure.audit.merkle), so memory does not grow with the log. The file is written to a temporary name and
renamed into place only when complete.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import select

from disclosure.audit.actions import AuditAction
from disclosure.audit.merkle import stored_tree
from disclosure.audit.models import AuditCheckpoint, AuditEvent
from disclosure.audit.service import checkpoint_now, record
from disclosure.extensions import db
from disclosure.permissions import Permission
from disclosure.services import Actor, ServiceError, require

FORMAT = "disclosure-audit-extract/1"


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The UTC instants [first day 00:00, day after the last 00:00) of a period of whole days."""
    return datetime.combine(start, time.min, UTC), datetime.combine(end + timedelta(days=1), time.min, UTC)


def export_events(actor: Actor, start: date, end: date, out: Path, origin: str, ip: str | None = None) -> int:
    """Write the extract and return the number of events in it. The caller commits."""
    require(actor, Permission.AUDIT_EXPORT)
    if end < start:
        raise ServiceError("--to is before --from: give the period's first day, then its last.")
    record(
        actor,
        AuditAction.AUDIT_EXPORTED,
        subject="audit",
        data={"from": start.isoformat(), "to": end.isoformat(), "file": out.name},
        ip=ip,
    )
    checkpoint = checkpoint_now(actor, reason="export", ip=ip, permission=Permission.AUDIT_EXPORT)
    return write_extract(start, end, out, origin, checkpoint)


def write_extract(start: date, end: date, out: Path, origin: str, checkpoint: AuditCheckpoint) -> int:
    """Write the period's events with inclusion proofs to `checkpoint` (and a consistency proof from the
    checkpoint before it) to `out`, atomically; return the number of events. Records nothing."""
    low, high = day_bounds(start, end)
    previous = db.session.execute(
        select(AuditCheckpoint).where(AuditCheckpoint.id < checkpoint.id).order_by(AuditCheckpoint.id.desc()).limit(1)
    ).scalar()
    proofs = stored_tree(db.session.connection(), checkpoint.size, bytes(checkpoint.root))
    events = db.session.execute(
        select(AuditEvent)
        .where(AuditEvent.ts >= low, AuditEvent.ts < high, AuditEvent.seq <= checkpoint.size)
        .order_by(AuditEvent.seq)
    ).scalars()
    header = {
        "type": "header",
        "format": FORMAT,
        "origin": origin,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "tree_size": checkpoint.size,
        "root": checkpoint.root.hex(),
        "checkpoint": checkpoint.note,
        "previous_checkpoint": previous.note if previous else None,
        "consistency_proof": [h.hex() for h in proofs.consistency_proof(previous.size)] if previous else [],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    count = 0
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(header, sort_keys=True) + "\n")
            for event in events:
                line = {
                    "type": "event",
                    "seq": event.seq,
                    "body": event.body.decode("utf-8"),
                    "leaf_hash": event.leaf_hash.hex(),
                    "chain_hash": event.chain_hash.hex(),
                    "inclusion_proof": [h.hex() for h in proofs.inclusion_proof(event.seq, bytes(event.leaf_hash))],
                }
                handle.write(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n")
                count += 1
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return count
