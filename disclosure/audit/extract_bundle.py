"""An audit-log extract (the JSONL of `flask audit export`) as a signed, encrypted auditor's bundle.

Built in two steps like every bundle (disclosure.production.auditor_bundles): `plan_audit_extract_bundle` records
the export and signs the checkpoint (the caller commits), `finish_auditor_bundle` writes the extract at that
checkpoint, reading beside other users' writes, and the bundle.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from flask import current_app

from disclosure.audit.actions import AuditAction
from disclosure.audit.export import FORMAT, day_bounds, write_extract
from disclosure.audit.models import AuditCheckpoint, AuditEvent
from disclosure.audit.service import record
from disclosure.permissions import Permission
from disclosure.production.auditor_bundles import AuditorBundlePlan, plan_auditor_bundle
from disclosure.production.bundles import FileSpec, events_with_proofs
from disclosure.services import Actor, ServiceError, require


def plan_audit_extract_bundle(
    actor: Actor, start: date, end: date, certificates: Sequence[Any], passphrase_only: bool, ip: str | None
) -> AuditorBundlePlan:
    """The first step of the period's audit extract as a signed bundle; `finish_auditor_bundle` is the second.

    The extract and the envelope's audit_events (the period's events, each with its inclusion proof) lead to
    the same checkpoint: the one the bundle carries, so `disclosure-bundle verify` checks every proof.
    """
    if end < start:
        raise ServiceError("--to is before --from: give the period's first day, then its last.")
    require(actor, Permission.AUDIT_EXPORT)
    public_id = secrets.token_hex(8)
    name = f"audit-extract-{start.isoformat()}-{end.isoformat()}.jsonl"
    record(
        actor,
        AuditAction.AUDIT_EXPORTED,
        subject="audit",
        ip=ip,
        data={"from": start.isoformat(), "to": end.isoformat(), "file": name, "bundle": public_id},
    )
    origin = str(current_app.config["AUDIT_ORIGIN"])
    low, high = day_bounds(start, end)

    def extract(checkpoint: AuditCheckpoint, folder: Path) -> list[FileSpec]:
        path = folder / name
        write_extract(start, end, path, origin, checkpoint)
        return [(name, path)]

    def events(checkpoint: AuditCheckpoint) -> list[dict[str, Any]]:
        return events_with_proofs((AuditEvent.ts >= low) & (AuditEvent.ts < high), checkpoint.size)

    return plan_auditor_bundle(
        actor,
        "audit_extract",
        extract,
        {"format": FORMAT, "from": start.isoformat(), "to": end.isoformat(), "origin": origin},
        certificates,
        passphrase_only,
        ip,
        audit_events=events,
        public_id=public_id,
        label=f"audit-extract-{start.isoformat()}-{end.isoformat()}",
    )
