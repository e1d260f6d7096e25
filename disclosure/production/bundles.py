"""Building bundles: a case's production, and auditors' bundles of audit-log extracts and reports.

A case's bundle holds its approved records, its audit events with inclusion proofs and a fresh checkpoint. An
auditor's bundle (kind 'audit_extract' or 'report', no case) holds the extract's JSONL or the report's PDF and
CSV, in the same format. The format itself (disclosure-bundle/1) lives in disclosure.exports.bundle; this module
gathers what goes in, stores the result under instance/bundles/ and records it. The passphrase of a
passphrase-only bundle is returned to be shown once and is never stored.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from flask import Response, abort, current_app
from sqlalchemy import select

from disclosure.audit.actions import AuditAction
from disclosure.audit.export import ProofBuilder, write_extract
from disclosure.audit.models import AuditCheckpoint, AuditEvent
from disclosure.audit.note import vkey_string
from disclosure.audit.service import checkpoint_now, record
from disclosure.auth.models import User
from disclosure.cases.models import Case
from disclosure.cases.service import CaseError, require
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.keyring import log_key_name, log_public_key
from disclosure.permissions import Permission
from disclosure.production.models import Bundle, RecipientCertificate
from disclosure.production.service import bundle_path, records_of
from disclosure.review.service import approved_scope
from disclosure.storage.store import store_for_app
from disclosure.workflow import State

DEFAULT_RETENTION = timedelta(days=30)


def pki_dir(config: Mapping[str, Any]) -> Path:
    return Path(config["KEYS_DIR"]) / "pki"


def certificates_on_file(case: Case, pems: list[bytes]) -> list[RecipientCertificate]:
    """The agency's certificates on file matching the given PEMs; a certificate not on file is refused."""
    from cryptography.hazmat.primitives import hashes

    found = []
    for pem in pems:
        try:
            fingerprint = x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA256()).hex()
        except ValueError as error:
            raise CaseError("a --recipient-cert file is not a PEM certificate") from error
        certificate = db.session.execute(
            select(RecipientCertificate).where(RecipientCertificate.fingerprint == fingerprint)
        ).scalar_one_or_none()
        if certificate is None or certificate.agency_id != case.agency_id:
            raise CaseError(
                f"certificate {fingerprint[:16]}… is not on file for {case.agency.name}; an administrator adds it first"
            )
        found.append(certificate)
    return found


def _events_with_proofs(case: Case, size: int) -> list[dict[str, Any]]:
    return events_with_proofs(AuditEvent.subject == case.subject, size)


def events_with_proofs(condition: Any, size: int) -> list[dict[str, Any]]:
    """The events matching `condition` within the first `size`, each with its inclusion proof to that tree."""
    leaves = [
        bytes(leaf)
        for leaf in db.session.execute(
            select(AuditEvent.leaf_hash).where(AuditEvent.seq <= size).order_by(AuditEvent.seq)
        ).scalars()
    ]
    proofs = ProofBuilder(leaves)
    events = db.session.execute(
        select(AuditEvent).where(condition, AuditEvent.seq <= size).order_by(AuditEvent.seq)
    ).scalars()
    return [
        {
            "seq": event.seq,
            "body": event.body.decode("utf-8"),
            "leaf_hash": event.leaf_hash.hex(),
            "inclusion_proof": [node.hex() for node in proofs.inclusion_proof(event.seq - 1)],
        }
        for event in events
    ]


def _signer() -> Any:
    from disclosure.exports.pki import PKIError, load_signer

    try:
        return load_signer(pki_dir(current_app.config))
    except PKIError as error:
        raise CaseError(f"{error} Run `flask keys init`.") from error


def _check_recipients(certificates: Sequence[Any], passphrase_only: bool) -> None:
    if passphrase_only == bool(certificates):
        raise CaseError("Choose recipient certificates, or passphrase only (not both).")
    now = utcnow()
    for certificate in certificates:
        if not certificate.usable(now):
            raise CaseError(f"The certificate “{certificate.label}” is revoked or expired; it cannot receive bundles.")


def _store_bundle(
    actor: Any,
    *,
    kind: str,
    case_id: int | None,
    public_id: str,
    bag_name: str,
    files: list[Any],
    certificates: Sequence[Any],
    passphrase_only: bool,
    checkpoint: AuditCheckpoint,
    metadata: dict[str, Any],
    bag_info: dict[str, str],
    signer: Any,
) -> tuple[Bundle, str | None]:
    """Build the ZIP under instance/bundles/ (removed again if the transaction rolls back) and add its row."""
    from disclosure.exports.bundle import BundleError, build_bundle

    out = bundle_path_for(public_id)
    try:
        result = build_bundle(
            out,
            bag_name=bag_name,
            files=files,
            recipients=[x509.load_pem_x509_certificate(c.pem.encode()) for c in certificates] or None,
            signer=signer,
            checkpoint_note=checkpoint.note,
            inner_metadata=metadata,
            bag_info=bag_info,
        )
    except BundleError as error:
        raise CaseError(f"The bundle could not be built: {error}") from error
    db.session.info.setdefault("delete_after_rollback", []).append(out)
    retention = timedelta(days=int(current_app.config.get("BUNDLE_RETENTION_DAYS", DEFAULT_RETENTION.days)))
    bundle = Bundle(
        public_id=public_id,
        kind=kind,
        case_id=case_id,
        filename=f"{bag_name}.zip",
        sha256=result.sha256,
        size=result.size,
        file_count=result.file_count,
        recipients_json=json.dumps(sorted(c.fingerprint for c in certificates)),
        passphrase_only=passphrase_only,
        checkpoint_size=checkpoint.size,
        built_by_id=actor.id if isinstance(actor, User) else None,
        expires_at=utcnow() + retention,
    )
    db.session.add(bundle)
    db.session.flush()
    return bundle, result.passphrase if passphrase_only else None


def build_case_bundle(
    actor: User, case: Case, certificates: list[RecipientCertificate], passphrase_only: bool, ip: str | None
) -> tuple[Bundle, str | None]:
    from disclosure.exports.bundle import PayloadFile

    require(actor, Permission.PRODUCTION_MANAGE)
    if case.status is not State.PRODUCING:
        raise CaseError(f"{case.reference} is {case.status.label.lower()}; a bundle is built while producing.")
    records = records_of(case)
    if not records:
        raise CaseError("Add the responsive records before building the bundle.")
    _check_recipients(certificates, passphrase_only)
    signer = _signer()
    public_id = secrets.token_hex(8)
    bag_name = f"{case.reference}-{public_id}"
    record(
        actor,
        AuditAction.BUNDLE_BUILT,
        subject=case.subject,
        ip=ip,
        data={
            "bundle": public_id,
            "recipients": [c.fingerprint for c in certificates],
            "passphrase_only": passphrase_only,
            "records": [r.id for r in records],
        },
    )
    checkpoint = checkpoint_now(actor, reason="export", ip=ip)
    store = store_for_app(current_app.config, current_app.instance_path)
    files = [PayloadFile(name=r.filename, open=lambda name=r.blob_name: store.open(name), size=r.size) for r in records]
    metadata = {
        "format": "disclosure-bundle/1",
        "case": {
            "reference": case.reference,
            "process_type": case.process_type,
            "agency": case.agency.name,
            "docket": case.docket,
        },
        "scope": approved_scope(case),
        "records": [
            {"file": r.filename, "target": r.target.value, "category": r.category, "sha256": r.sha256, "size": r.size}
            for r in records
        ],
        "checkpoint_size": checkpoint.size,
        "audit_events": _events_with_proofs(case, checkpoint.size),
        "log_vkey": vkey_string(log_key_name(), log_public_key()),
    }
    return _store_bundle(
        actor,
        kind="production",
        case_id=case.id,
        public_id=public_id,
        bag_name=bag_name,
        files=files,
        certificates=certificates,
        passphrase_only=passphrase_only,
        checkpoint=checkpoint,
        metadata=metadata,
        bag_info={"Internal-Sender-Identifier": case.reference},
        signer=signer,
    )


# -- auditors' bundles: audit-log extracts and reports -------------------------------------------------------

#: What each kind of auditor bundle needs: building and downloading it are auditor's work.
AUDITOR_KINDS: dict[str, Permission] = {"audit_extract": Permission.AUDIT_EXPORT, "report": Permission.REPORT_VIEW}

#: A payload file: its name, and its content as bytes or as a file to stream from.
FileSpec = tuple[str, bytes | Path]


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
    _check_recipients(certificates, passphrase_only)
    signer = _signer()
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
    return _store_bundle(
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


def bundle_path_for(public_id: str) -> Path:
    folder = Path(current_app.instance_path) / "bundles"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder / f"{public_id}.zip"


def copy_out(bundle: Bundle, destination: Path) -> None:
    """Copy a built bundle to where the operator asked, atomically."""
    temporary = destination.with_name(f".{destination.name}.tmp")
    shutil.copyfile(bundle_path(bundle), temporary)
    os.replace(temporary, destination)
