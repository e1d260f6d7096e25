"""Building bundles: a case's production; the shared steps auditors' bundles use too (auditor_bundles.py).

A case's bundle holds its approved records, its audit events with inclusion proofs and a fresh checkpoint. An
auditor's bundle (kind 'audit_extract' or 'report', no case) holds the extract's JSONL or the report's PDF and
CSV, in the same format. The format itself (disclosure-bundle/1) lives in disclosure.exports.bundle; this module
gathers what goes in, stores the result and records it: in the bundles folder (BUNDLE_DIR, instance/bundles/) with
the file blob backend; with the database backend in the blob store (encrypted again at rest, reachable from every
host), built in a `.storing-*` folder beside the bundles and copied in before the row names it. The passphrase of
a passphrase-only bundle is returned to be shown once and is never stored.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
from disclosure.production.models import Bundle, ProductionRecord, RecipientCertificate
from disclosure.production.service import bundle_blocks, records_of
from disclosure.review.service import approved_scope
from disclosure.services import Actor, ServiceError, require
from disclosure.storage.models import FileArea
from disclosure.storage.store import new_blob_name, store_for_app
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
    from disclosure.keyring import bundle_key_passphrase

    try:
        return load_signer(pki_dir(current_app.config), passphrase=bundle_key_passphrase())
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


@dataclass(frozen=True)
class BundleInputs:
    """Everything a bundle's file is made from, as plain values: building it reads no row, so it can run with no
    transaction open (a case's bundle is built by a job that holds no lock while it encrypts and signs)."""

    kind: str
    case_id: int | None
    public_id: str
    bag_name: str
    files: tuple[Any, ...]
    recipient_pems: tuple[bytes, ...]
    recipient_fingerprints: tuple[str, ...]
    passphrase_only: bool
    checkpoint_size: int
    checkpoint_note: str
    metadata: dict[str, Any]
    bag_info: dict[str, str]
    built_by_id: int | None


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
    inputs = bundle_inputs(
        actor,
        kind=kind,
        case_id=case_id,
        public_id=public_id,
        bag_name=bag_name,
        files=files,
        certificates=certificates,
        passphrase_only=passphrase_only,
        checkpoint=checkpoint,
        metadata=metadata,
        bag_info=bag_info,
    )
    return write_bundle(inputs, signer)


def bundle_inputs(
    actor: Any,
    *,
    kind: str,
    case_id: int | None,
    public_id: str,
    bag_name: str,
    files: Sequence[Any],
    certificates: Sequence[Any],
    passphrase_only: bool,
    checkpoint: AuditCheckpoint,
    metadata: dict[str, Any],
    bag_info: dict[str, str],
) -> BundleInputs:
    """What a bundle is made from, read out of the rows now, so that writing it reads none."""
    return BundleInputs(
        kind=kind,
        case_id=case_id,
        public_id=public_id,
        bag_name=bag_name,
        files=tuple(files),
        recipient_pems=tuple(c.pem.encode() for c in certificates),
        recipient_fingerprints=tuple(c.fingerprint for c in certificates),
        passphrase_only=passphrase_only,
        checkpoint_size=checkpoint.size,
        checkpoint_note=checkpoint.note,
        metadata=metadata,
        bag_info=bag_info,
        built_by_id=actor.id if isinstance(actor, User) else None,
    )


def write_bundle(inputs: BundleInputs, signer: Any) -> tuple[Bundle, str | None]:
    """Write the bundle's file (staged) from `inputs`, then add its row to the session's transaction."""
    from disclosure.exports.bundle import BundleError, build_bundle

    retention = timedelta(days=int(current_app.config.get("BUNDLE_RETENTION_DAYS", DEFAULT_RETENTION.days)))
    build = partial(
        build_bundle,
        bag_name=inputs.bag_name,
        files=list(inputs.files),
        recipients=[x509.load_pem_x509_certificate(pem) for pem in inputs.recipient_pems] or None,
        signer=signer,
        checkpoint_note=inputs.checkpoint_note,
        inner_metadata=inputs.metadata,
        bag_info=inputs.bag_info,
    )
    store = store_for_app(current_app.config, current_app.instance_path)
    blob_name = None
    try:
        if store.kind == "file":
            with staged_file(FileArea.BUNDLE, bundle_path_for(inputs.public_id).name, owner="bundle") as out:
                assert out.path is not None
                result = build(out.path)
        else:
            blob_name = new_blob_name()
            with staged_file(FileArea.BLOB, blob_name, owner="bundle"):
                with tempfile.TemporaryDirectory(prefix=f".storing-{inputs.public_id}-", dir=bundle_dir()) as folder:
                    result = build(Path(folder) / f"{inputs.public_id}.zip")
                    with open(Path(folder) / f"{inputs.public_id}.zip", "rb") as built:
                        stored = store.put(built, max_bytes=result.size, name=blob_name)
                if (stored.size, stored.sha256) != (result.size, result.sha256):
                    raise ServiceError("The bundle changed while it was stored; nothing was kept. Build it again.")
    except BundleError as error:
        raise ServiceError(f"The bundle could not be built: {error}") from error
    bundle = Bundle(
        public_id=inputs.public_id,
        kind=inputs.kind,
        case_id=inputs.case_id,
        filename=f"{inputs.bag_name}.zip",
        sha256=result.sha256,
        size=result.size,
        file_count=result.file_count,
        recipients_json=json.dumps(sorted(inputs.recipient_fingerprints)),
        passphrase_only=inputs.passphrase_only,
        checkpoint_size=inputs.checkpoint_size,
        built_by_id=inputs.built_by_id,
        expires_at=utcnow() + retention,
        blob_name=blob_name,
    )
    db.session.add(bundle)
    db.session.flush()
    return bundle, result.passphrase if inputs.passphrase_only else None


def check_case_bundle(
    actor: Actor, case: Case, certificates: Sequence[RecipientCertificate], passphrase_only: bool
) -> list[ProductionRecord]:
    """Refuse a case's bundle that cannot be built now; the records it would hold otherwise."""
    require(actor, Permission.PRODUCTION_MANAGE)
    if case.status is not State.PRODUCING:
        raise ServiceError(f"{case.reference} is {case.status.label.lower()}; a bundle is built while producing.")
    records = records_of(case)
    if not records:
        raise ServiceError("Add the responsive records before building the bundle.")
    check_recipients(certificates, passphrase_only)
    return records


def plan_case_bundle(
    actor: Actor, case: Case, certificates: Sequence[RecipientCertificate], passphrase_only: bool, ip: str | None
) -> BundleInputs:
    """The first, short step of a case's bundle: check it, record that its build started, sign the checkpoint it
    will carry, and gather what goes in. The caller commits this before the long step (`write_bundle`), so that
    the build holds no lock while it encrypts and signs."""
    from disclosure.exports.bundle import PayloadFile

    records = check_case_bundle(actor, case, certificates, passphrase_only)
    load_bundle_signer()  # no keys: refused now, not after the work
    public_id = secrets.token_hex(8)
    bag_name = f"{case.reference}-{public_id}"
    record(
        actor,
        AuditAction.BUNDLE_BUILD_STARTED,
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
    return bundle_inputs(
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
    )


def finish_case_bundle(actor: Actor, inputs: BundleInputs, ip: str | None) -> tuple[Bundle, str | None]:
    """The long step: write the bundle's file from `inputs` (call it with no transaction open), then add its row
    and record it. The case must still be producing."""
    signer = load_bundle_signer()
    bundle, passphrase = write_bundle(inputs, signer)
    case = db.session.get(Case, inputs.case_id)
    if case is None or case.status is not State.PRODUCING:
        state = case.status.label.lower() if case is not None else "gone"
        raise ServiceError(f"The case became {state} while its bundle was being built; nothing was kept.")
    record(
        actor,
        AuditAction.BUNDLE_BUILT,
        subject=case.subject,
        ip=ip,
        data={"bundle": bundle.public_id, "sha256": bundle.sha256, "size": bundle.size},
    )
    return bundle, passphrase


def build_case_bundle(
    actor: User, case: Case, certificates: list[RecipientCertificate], passphrase_only: bool, ip: str | None
) -> tuple[Bundle, str | None]:
    """Both steps in one transaction (for callers that hold no other work, such as tests); the web and the command
    line commit between them."""
    return finish_case_bundle(actor, plan_case_bundle(actor, case, certificates, passphrase_only, ip), ip)


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
    try:
        with open(temporary, "wb") as out:
            for block in bundle_blocks(bundle):
                out.write(block)
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
