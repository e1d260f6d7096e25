"""The transparency report for a period, as PDF and CSV, in a signed, encrypted auditor's bundle."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from disclosure.audit.models import AuditCheckpoint
from disclosure.permissions import Permission
from disclosure.production.auditor_bundles import build_auditor_bundle
from disclosure.production.bundles import FileSpec
from disclosure.production.models import Bundle
from disclosure.reports import render, service
from disclosure.reports.queries import resolve_checkpoint
from disclosure.reports.transparency import ReportError
from disclosure.services import Actor, ServiceError, require


def build_report_bundle(
    actor: Actor,
    start: date,
    end: date,
    certificates: Sequence[Any],
    passphrase_only: bool,
    ip: str | None,
    checkpoint_id: int | None = None,
) -> tuple[Bundle, str | None]:
    """The transparency report for the period, as PDF and CSV, in a signed bundle.

    The report is computed at the checkpoint named (to bundle a report already pinned to it), or else at the
    bundle's own fresh checkpoint. Either way the report names its checkpoint.
    """
    if end < start:
        raise ServiceError(f"the period ends ({end}) before it starts ({start})")
    require(actor, Permission.REPORT_VIEW)
    pinned = None
    if checkpoint_id is not None:
        try:
            pinned = resolve_checkpoint(checkpoint_id)
        except ReportError as error:
            raise ServiceError(str(error)) from error
    description: dict[str, Any] = {
        "report": "transparency",
        "from": start.isoformat(),
        "to": end.isoformat(),
        "organisation": service.organisation(),
    }

    def report_files(checkpoint: AuditCheckpoint) -> list[FileSpec]:
        at = pinned or checkpoint
        report = service.transparency_report(start, end, at)
        description["report_checkpoint"] = {"id": at.id, "size": at.size, "root": at.root.hex()}
        stem = f"transparency-{start.isoformat()}-{end.isoformat()}"
        return [
            (f"{stem}.pdf", render.transparency_pdf(report, service.organisation())),
            (f"{stem}.csv", render.transparency_csv(report)),
        ]

    return build_auditor_bundle(
        actor,
        "report",
        report_files,
        description,
        certificates,
        passphrase_only,
        ip,
        label=f"transparency-{start.isoformat()}-{end.isoformat()}",
    )
