"""Building bundles: a case's production; the shared steps auditors' bundles use too (auditor_bundles.py).

A case's bundle holds its approved records, its audit events with inclusion proofs and a fresh checkpoint. An
auditor's bundle (kind 'audit_extract' or 'report', no case) holds the extract's JSONL or the report's PDF and
CSV, in the same format. The format itself (disclosure-bundle/1) lives in disclosure.exports.bundle; this module
gathers what goes in, stores the result under instance/bundles/ and records it. The passphrase of a
passphrase-only bundle is returned to be shown once and is never stored.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Mapping, Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from cryptography import x509
from flask import current_app
from sqlalchemy import select

from disclosure.audit.actions import AuditAction
from disclosure.audit.merkle import stored_tree
from disclosure.audit.models import AuditCheckpoint, AuditEvent
from disclosure.audit.service import checkpoint_now, record
from disclosure.auth.models import User
from disclosure.cases.models import Case
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.keyring import log_key_name, log_public_key
from disclosure.permissions import Permission
from disclosure.production.models import Bundle, RecipientCertificate
from disclosure.production.service import bundle_path, records_of
from disclosure.review.service import approved_scope
from disclosure.services import ServiceError, require
from disclosure.storage.models import FileArea
from disclosure.storage.store import store_for_app
from disclosure.storage.transactional import bundle_dir, staged_file
from disclosure.workflow import State
from disclosure_proofs.note import vkey_string

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
            raise ServiceError("a --recipient-cert file is not a PEM certificate") from error
        certificate = db.session.execute(
            select(RecipientCertificate).where(RecipientCertificate.fingerprint == fingerprint)
        ).scalar_one_or_none()
        if certificate is None or certificate.agency_id != case.agency_id:
            raise ServiceError(
                f"certificate {fingerprint[:16]}… is not on file for {case.agency.name}; an administrator adds it first"
            )
        found.append(certificate)
    return found


def _events_with_proofs(case: Case, size: int) -> list[dict[str, Any]]:
    return events_with_proofs(AuditEvent.subject == case.subject, size)


def events_with_proofs(condition: Any, size: int) -> list[dict[str, Any]]:
    """The events matching `condition` within the first `size`, each with its inclusion proof to that tree.

    The proofs are read from the stored tiles (disclosure.audit.merkle): a few rows per proof, whatever the size
    of the log."""
    proofs = stored_tree(db.session.connection(), size)
    events = db.session.execute(
        select(AuditEvent).where(condition, AuditEvent.seq <= size).order_by(AuditEvent.seq)
    ).scalars()
    return [
        {
            "seq": event.seq,
            "body": event.body.decode("utf-8"),
            "leaf_hash": event.leaf_hash.hex(),
            "inclusion_proof": [node.hex() for node in proofs.inclusion_proof(event.seq, bytes(event.leaf_hash))],
        }
        for event in events
    ]


def load_bundle_signer() -> Any:
    from disclosure.exports.pki import PKIError, load_signer

    try:
        return load_signer(pki_dir(current_app.config))
    except PKIError as error:
        raise ServiceError(f"{error} Run `flask keys init`.") from error


def check_recipients(certificates: Sequence[Any], passphrase_only: bool) -> None:
    if passphrase_only == bool(certificates):
        raise ServiceError("Choose recipient certificates, or passphrase only (not both).")
    now = utcnow()
    for certificate in certificates:
        if not certificate.usable(now):
            raise ServiceError(
                f"The certificate “{certificate.label}” is revoked or expired; it cannot receive bundles."
            )


def store_bundle(
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
    """Build the ZIP under instance/bundles/, staged (disclosure.storage.transactional), and add its row."""
    from disclosure.exports.bundle import BundleError, build_bundle

    try:
        with staged_file(FileArea.BUNDLE, bundle_path_for(public_id).name, owner="bundle") as out:
            result = build_bundle(
                out.path,
                bag_name=bag_name,
                files=files,
                recipients=[x509.load_pem_x509_certificate(c.pem.encode()) for c in certificates] or None,
                signer=signer,
                checkpoint_note=checkpoint.note,
                inner_metadata=metadata,
                bag_info=bag_info,
            )
    except BundleError as error:
        raise ServiceError(f"The bundle could not be built: {error}") from error
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
        raise ServiceError(f"{case.reference} is {case.status.label.lower()}; a bundle is built while producing.")
    records = records_of(case)
    if not records:
        raise ServiceError("Add the responsive records before building the bundle.")
    check_recipients(certificates, passphrase_only)
    signer = load_bundle_signer()
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
    checkpoint = checkpoint_now(actor, reason="export", ip=ip, permission=Permission.PRODUCTION_MANAGE)
    store = store_for_app(current_app.config, current_app.instance_path)
    files = [PayloadFile(name=r.filename, open=partial(store.open, r.blob_name), size=r.size) for r in records]
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
    return store_bundle(
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


def bundle_path_for(public_id: str) -> Path:
    return bundle_dir() / f"{public_id}.zip"


def copy_out(bundle: Bundle, destination: Path) -> None:
    """Copy a built bundle to where the operator asked, atomically."""
    temporary = destination.with_name(f".{destination.name}.tmp")
    shutil.copyfile(bundle_path(bundle), temporary)
    os.replace(temporary, destination)
