"""An audit-log extract (the JSONL of `flask audit export`) as a signed, encrypted auditor's bundle."""

from __future__ import annotations

import secrets
import tempfile
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
from disclosure.production.auditor_bundles import build_auditor_bundle
from disclosure.production.bundles import FileSpec, bundle_path_for, events_with_proofs
from disclosure.production.models import Bundle
from disclosure.services import Actor, ServiceError, require


def build_audit_extract_bundle(
    actor: Actor, start: date, end: date, certificates: Sequence[Any], passphrase_only: bool, ip: str | None
) -> tuple[Bundle, str | None]:
    """The period's audit extract (the JSONL of `flask audit export`) as a signed bundle.

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
    with tempfile.TemporaryDirectory(prefix=".extract-", dir=bundle_path_for(public_id).parent) as folder:

        def extract(checkpoint: AuditCheckpoint) -> list[FileSpec]:
            path = Path(folder) / name
            write_extract(start, end, path, origin, checkpoint)
            return [(name, path)]

        def events(checkpoint: AuditCheckpoint) -> list[dict[str, Any]]:
            return events_with_proofs((AuditEvent.ts >= low) & (AuditEvent.ts < high), checkpoint.size)

        return build_auditor_bundle(
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
