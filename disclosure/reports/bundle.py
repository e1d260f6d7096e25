"""The transparency report for a period, as PDF and CSV, in a signed, encrypted auditor's bundle.

Built in two steps like every bundle (disclosure.production.auditor_bundles): `plan_report_bundle` checks the
period and the pinned checkpoint and signs the bundle's own (the caller commits), `finish_auditor_bundle`
computes and renders the report, reading beside other users' writes, and writes the bundle.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from disclosure.audit.models import AuditCheckpoint
from disclosure.extensions import db
from disclosure.permissions import Permission
from disclosure.production.auditor_bundles import AuditorBundlePlan, plan_auditor_bundle
from disclosure.production.bundles import FileSpec
from disclosure.reports import render, service
from disclosure.reports.queries import resolve_checkpoint
from disclosure.reports.transparency import ReportError
from disclosure.services import Actor, ServiceError, require


def plan_report_bundle(
    actor: Actor,
    start: date,
    end: date,
    certificates: Sequence[Any],
    passphrase_only: bool,
    ip: str | None,
    checkpoint_id: int | None = None,
) -> AuditorBundlePlan:
    """The first step of the period's transparency report as PDF and CSV in a signed bundle.

    The report is computed at the checkpoint named (to bundle a report already pinned to it), or else at the
    bundle's own fresh checkpoint. Either way the report names its checkpoint.
    """
    if end < start:
        raise ServiceError(f"the period ends ({end}) before it starts ({start})")
    require(actor, Permission.REPORT_VIEW)
    pinned_id = None
    if checkpoint_id is not None:
        try:
            pinned_id = resolve_checkpoint(checkpoint_id).id
        except ReportError as error:
            raise ServiceError(str(error)) from error
    description: dict[str, Any] = {
        "report": "transparency",
        "from": start.isoformat(),
        "to": end.isoformat(),
        "organisation": service.organisation(),
    }

    def report_files(checkpoint: AuditCheckpoint, _folder: Path) -> list[FileSpec]:
        at = db.session.get(AuditCheckpoint, pinned_id) if pinned_id is not None else checkpoint
        if at is None:
            raise ServiceError(f"audit checkpoint {pinned_id} is gone; choose another")
        report = service.transparency_report(start, end, at)
        description["report_checkpoint"] = {"id": at.id, "size": at.size, "root": at.root.hex()}
        stem = f"transparency-{start.isoformat()}-{end.isoformat()}"
        return [
            (f"{stem}.pdf", render.transparency_pdf(report, service.organisation())),
            (f"{stem}.csv", render.transparency_csv(report)),
        ]

    return plan_auditor_bundle(
        actor,
        "report",
        report_files,
        description,
        certificates,
        passphrase_only,
        ip,
        label=f"transparency-{start.isoformat()}-{end.isoformat()}",
    )
