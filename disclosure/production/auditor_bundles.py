"""Auditors' bundles: audit-log extracts and transparency reports in the bundle format, with no case.

An auditor's bundle (kind 'audit_extract' or 'report') holds the extract's JSONL or the report's PDF and CSV;
its inner manifest carries audit events with inclusion proofs to the bundle's checkpoint. Building, storing and
recording are shared with case bundles (disclosure.production.bundles).
"""

from __future__ import annotations

import io
import json
import secrets
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from cryptography import x509
from flask import Response, abort, current_app
from sqlalchemy import select

from disclosure.audit.actions import AuditAction
from disclosure.audit.export import write_extract
from disclosure.audit.models import AuditCheckpoint, AuditEvent
from disclosure.audit.service import checkpoint_now, record
from disclosure.auth.models import User
from disclosure.cases.service import CaseError, require
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.keyring import log_key_name, log_public_key
from disclosure.permissions import Permission
from disclosure.production.bundles import (
    AUDITOR_KINDS,
    FileSpec,
    bundle_path_for,
    check_recipients,
    events_with_proofs,
    load_bundle_signer,
    store_bundle,
)
from disclosure.production.models import Bundle, RecipientCertificate
from disclosure.production.service import bundle_path
from disclosure_proofs.note import vkey_string


@dataclass(frozen=True)
class DirectRecipient:
    """A recipient certificate given directly (an auditor's own), checked but not on file with any agency."""

    pem: str
    fingerprint: str
    label: str

    def usable(self, now: Any) -> bool:
        return True  # checked by check_recipient_certificate when it was read


def auditor_recipients(pems: Sequence[bytes]) -> list[Any]:
    """Recipients for an auditor's bundle from PEM files.

    A certificate on file (with any agency) is used if it is still usable and refused if revoked or expired;
    any other certificate must pass disclosure.exports.pki.check_recipient_certificate (RSA, in date, an end
    entity fit for key encipherment) and is then used directly, e.g. the auditor's own certificate.
    """
    from cryptography.hazmat.primitives import hashes

    from disclosure.exports.pki import CertificateError, check_recipient_certificate

    found: list[Any] = []
    for pem in pems:
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError as error:
            raise CaseError("a recipient certificate file is not a PEM certificate") from error
        fingerprint = certificate.fingerprint(hashes.SHA256()).hex()
        on_file = db.session.execute(
            select(RecipientCertificate).where(RecipientCertificate.fingerprint == fingerprint)
        ).scalar_one_or_none()
        if on_file is not None:
            if not on_file.usable(utcnow()):
                raise CaseError(f"The certificate “{on_file.label}” is revoked or expired; it cannot receive bundles.")
            found.append(on_file)
            continue
        try:
            info = check_recipient_certificate(pem, utcnow())
        except CertificateError as error:
            raise CaseError(f"certificate {fingerprint[:16]}… cannot receive bundles: {error}") from error
        found.append(DirectRecipient(pem.decode("ascii"), fingerprint, info.subject[:200]))
    if len({c.fingerprint for c in found}) != len(found):
        raise CaseError("the same recipient certificate was given twice")
    return found


def _payload(files: Sequence[FileSpec]) -> list[Any]:
    from disclosure.exports.bundle import PayloadFile

    payload = []
    for name, content in files:
        if isinstance(content, Path):
            size = content.stat().st_size
            payload.append(PayloadFile(name=name, open=lambda path=content: path.open("rb"), size=size))
        else:
            payload.append(PayloadFile(name=name, open=lambda data=content: io.BytesIO(data), size=len(content)))
    return payload


def build_auditor_bundle(
    actor: Any,
    kind: str,
    files: Sequence[FileSpec] | Callable[[AuditCheckpoint], Sequence[FileSpec]],
    description: dict[str, Any],
    certificates: Sequence[Any],
    passphrase_only: bool,
    ip: str | None,
    *,
    audit_events: Callable[[AuditCheckpoint], list[dict[str, Any]]] | None = None,
    public_id: str | None = None,
    label: str | None = None,
) -> tuple[Bundle, str | None]:
    """An auditor's bundle of `kind` ('audit_extract' or 'report'), with no case. Returns (bundle, passphrase).

    files: (name, bytes or Path) pairs, or a function of the bundle's fresh checkpoint returning them (so that
    what goes in is computed at the very checkpoint the bundle carries). description: JSON facts about the
    contents, recorded in the audit event and inside the envelope. audit_events: the events to carry with
    inclusion proofs to the checkpoint, as a function of it; by default the bundle's own build event.
    A user actor must hold the kind's permission; a SystemActor (the CLI) is the operator. The caller commits.
    """
    permission = AUDITOR_KINDS.get(kind)
    if permission is None:
        raise CaseError(f"unknown auditor bundle kind {kind!r}")
    if isinstance(actor, User):
        require(actor, permission)
    check_recipients(certificates, passphrase_only)
    signer = load_bundle_signer()
    public_id = public_id or secrets.token_hex(8)
    subject = f"bundle:{public_id}"
    record(
        actor,
        AuditAction.BUNDLE_BUILT,
        subject=subject,
        ip=ip,
        data={
            "bundle": public_id,
            "kind": kind,
            "recipients": [c.fingerprint for c in certificates],
            "passphrase_only": passphrase_only,
            "description": description,
        },
    )
    checkpoint = checkpoint_now(actor, reason="export", ip=ip)
    specs = list(files(checkpoint) if callable(files) else files)
    if not specs:
        raise CaseError("There is nothing to put in the bundle.")
    events = (
        audit_events(checkpoint)
        if audit_events is not None
        else events_with_proofs(AuditEvent.subject == subject, checkpoint.size)
    )
    metadata = {
        "format": "disclosure-bundle/1",
        "kind": kind,
        "description": description,
        "files": [name for name, _ in specs],
        "checkpoint_size": checkpoint.size,
        "audit_events": events,
        "log_vkey": vkey_string(log_key_name(), log_public_key()),
    }
    label = label or kind.replace("_", "-")
    return store_bundle(
        actor,
        kind=kind,
        case_id=None,
        public_id=public_id,
        bag_name=f"{label}-{public_id}",
        files=_payload(specs),
        certificates=certificates,
        passphrase_only=passphrase_only,
        checkpoint=checkpoint,
        metadata=metadata,
        bag_info={"Internal-Sender-Identifier": label, "External-Description": json.dumps(description, sort_keys=True)},
        signer=signer,
    )


def build_audit_extract_bundle(
    actor: Any, start: date, end: date, certificates: Sequence[Any], passphrase_only: bool, ip: str | None
) -> tuple[Bundle, str | None]:
    """The period's audit extract (the JSONL of `flask audit export`) as a signed bundle.

    The extract and the envelope's audit_events (the period's events, each with its inclusion proof) lead to
    the same checkpoint: the one the bundle carries, so `disclosure-bundle verify` checks every proof.
    """
    if end < start:
        raise CaseError("--to is before --from: give the period's first day, then its last.")
    if isinstance(actor, User):
        require(actor, Permission.AUDIT_EXPORT)
    from disclosure.audit.export import FORMAT, day_bounds

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


def build_report_bundle(
    actor: Any,
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
    from disclosure.reports import render, service
    from disclosure.reports.queries import resolve_checkpoint
    from disclosure.reports.transparency import ReportError

    if end < start:
        raise CaseError(f"the period ends ({end}) before it starts ({start})")
    if isinstance(actor, User):
        require(actor, Permission.REPORT_VIEW)
    pinned = None
    if checkpoint_id is not None:
        try:
            pinned = resolve_checkpoint(checkpoint_id)
        except ReportError as error:
            raise CaseError(str(error)) from error
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


def record_auditor_download(actor: User, bundle: Bundle, ip: str | None) -> None:
    require(actor, AUDITOR_KINDS[bundle.kind])
    record(
        actor,
        AuditAction.BUNDLE_DOWNLOADED,
        subject=f"bundle:{bundle.public_id}",
        ip=ip,
        data={"bundle": bundle.public_id, "kind": bundle.kind, "sha256": bundle.sha256},
    )
    db.session.flush()


def auditor_bundle_download(actor: User, public_id: str, kind: str, ip: str | None) -> Response:
    """Stream an auditor's bundle of `kind` after recording the download; 404 for any other bundle."""
    from disclosure.cases.downloads import attachment_response

    bundle = db.session.execute(
        select(Bundle).where(Bundle.public_id == public_id, Bundle.kind == kind)
    ).scalar_one_or_none()
    if bundle is None:
        abort(404)
    path = bundle_path(bundle)
    if bundle.purged_at is not None or not path.is_file():
        abort(404)
    record_auditor_download(actor, bundle, ip)
    db.session.commit()

    def chunks() -> Any:
        with path.open("rb") as handle:
            while block := handle.read(1024 * 1024):
                yield block

    return attachment_response(chunks(), bundle.filename, bundle.size)
