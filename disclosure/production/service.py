"""Production operations: add records inside the approved scope, manage recipient certificates, deliver, purge.

Each function takes the acting Actor, calls `require`, checks its rule (scope through disclosure.permissions,
state through disclosure.cases.lifecycle.move), changes rows, writes its audit event and flushes; the caller's
unit of work commits. Bundles are built in disclosure.production.bundles.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.cases.documents import safe_filename
from disclosure.cases.lifecycle import move
from disclosure.cases.models import Agency, Case, CaseTarget
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.permissions import Permission, within_scope
from disclosure.production.models import DELIVERY_CHANNELS, Bundle, ProductionRecord, RecipientCertificate
from disclosure.review.service import approved_scope
from disclosure.services import Actor, ServiceError, person, require
from disclosure.storage.models import FileArea
from disclosure.storage.store import BlobTooLarge
from disclosure.storage.transactional import (
    app_store,
    bundles_folder,
    put_in_transaction,
    remove_after_commit,
    stored_file,
)
from disclosure.workflow import Action, State

#: Records can be attached while the approval stands and the bundle has not gone out.
PRODUCIBLE_STATES = frozenset({State.APPROVED, State.PRODUCING})


class ProductionError(ServiceError):
    """A production step was refused; the message says what to fix."""


class OutsideScope(ProductionError):
    """A record is not covered by the case's approved scope."""


def scope_allows(case: Case, target: CaseTarget, category: str) -> bool:
    grants = [((e["target"]["kind"], e["target"]["value"]), e["categories"]) for e in approved_scope(case)]
    return within_scope(grants, (target.kind, target.value), category)


def add_record(
    actor: Actor,
    case: Case,
    target_value: str,
    category: str,
    chunks: Iterable[bytes] | Any,
    filename: str,
    ip: str | None,
    max_bytes: int | None = None,
) -> ProductionRecord:
    """Store one responsive record (encrypted at rest) if the approved scope covers its target and category."""
    require(actor, Permission.PRODUCTION_MANAGE)
    producer = person(actor)
    if case.status not in PRODUCIBLE_STATES:
        raise ProductionError(
            f"{case.reference} is {case.status.label.lower()}; records can be added only once it is "
            "approved and until its bundle is delivered."
        )
    target = next((t for t in case.targets if t.value == target_value or t.normalized == target_value.lower()), None)
    if target is None:
        raise OutsideScope(f"{target_value} is not a target of {case.reference}.")
    if not scope_allows(case, target, category):
        raise OutsideScope(
            f"{category} for {target.value} is outside the approved scope of {case.reference}; nothing was stored."
        )
    name = safe_filename(filename, "." + filename.rsplit(".", 1)[1][:10] if "." in filename else "")
    taken = {r.filename for r in records_of(case)}
    stem, dot, extension = name.rpartition(".")
    counter = 2
    while name in taken:
        name = f"{stem or extension}-{counter}{dot}{extension if stem else ''}"
        counter += 1
    limit = max_bytes or int(current_app.config.get("MAX_PRODUCTION_FILE_BYTES", 50 * 1024**3))
    try:
        blob = put_in_transaction(chunks, max_bytes=limit, owner="production_record")
    except BlobTooLarge as error:
        raise ProductionError(
            f"{filename} is larger than the {limit // 1024**2} MiB a production file may be."
        ) from error
    production = ProductionRecord(
        case_id=case.id,
        target_id=target.id,
        category=category,
        filename=name,
        size=blob.size,
        sha256=blob.sha256,
        blob_name=blob.name,
        added_by_id=producer.id,
    )
    db.session.add(production)
    if case.status is State.APPROVED:
        move(actor, case, Action.START_PRODUCTION, ip=ip)
    db.session.flush()
    record(
        actor,
        AuditAction.PRODUCTION_RECORD_ADDED,
        subject=case.subject,
        ip=ip,
        data={
            "record": production.id,
            "target": target.value,
            "category": category,
            "filename": name,
            "size": blob.size,
            "sha256": blob.sha256,
        },
    )
    return production


def records_of(case: Case) -> list[ProductionRecord]:
    return list(
        db.session.execute(
            select(ProductionRecord).where(ProductionRecord.case_id == case.id).order_by(ProductionRecord.id)
        ).scalars()
    )


def add_recipient_certificate(
    actor: Actor, agency: Agency, label: str, pem: bytes, ip: str | None
) -> RecipientCertificate:
    from disclosure.exports.pki import CertificateError, check_recipient_certificate

    require(actor, Permission.RECIPIENT_MANAGE)
    try:
        info = check_recipient_certificate(pem, utcnow())
    except CertificateError as error:
        raise ProductionError(str(error)) from error
    fingerprint = info.fingerprint_sha256.replace(":", "").lower()
    if db.session.execute(
        select(RecipientCertificate.id).where(RecipientCertificate.fingerprint == fingerprint)
    ).first():
        raise ProductionError("This certificate is already on file.")
    certificate = RecipientCertificate(
        agency_id=agency.id,
        label=label.strip()[:200] or info.subject[:200],
        pem=pem.decode("ascii", "replace"),
        fingerprint=fingerprint,
        subject=info.subject[:500],
        not_after=info.not_after,
        added_by_id=person(actor).id,
    )
    db.session.add(certificate)
    db.session.flush()
    record(
        actor,
        AuditAction.RECIPIENT_CERT_ADDED,
        subject=f"agency:{agency.id}",
        ip=ip,
        data={
            "certificate": certificate.id,
            "fingerprint": fingerprint,
            "subject": certificate.subject,
            "not_after": info.not_after.isoformat(),
        },
    )
    return certificate


def revoke_recipient_certificate(actor: Actor, certificate: RecipientCertificate, ip: str | None) -> None:
    require(actor, Permission.RECIPIENT_MANAGE)
    if certificate.revoked_at is not None:
        raise ProductionError("This certificate is already revoked.")
    certificate.revoked_at, certificate.revoked_by_id = utcnow(), person(actor).id
    record(
        actor,
        AuditAction.RECIPIENT_CERT_REVOKED,
        subject=f"agency:{certificate.agency_id}",
        ip=ip,
        data={"certificate": certificate.id, "fingerprint": certificate.fingerprint},
    )
    db.session.flush()


@dataclass(frozen=True)
class Delivery:
    """How, when and to whom a bundle was delivered, as the producer confirms it."""

    channel: str
    on: date
    recipient: str


def mark_delivered(actor: Actor, bundle: Bundle, ip: str | None, delivery: Delivery) -> None:
    """The bundle reached the requester: record how, when and to whom, and the case becomes disclosed."""
    require(actor, Permission.PRODUCTION_MANAGE)
    if bundle.delivered_at is not None:
        raise ProductionError("This bundle is already marked delivered.")
    if bundle.purged_at is not None:
        raise ProductionError("This bundle was purged; build a new one.")
    case = bundle.case
    if case is None:
        raise ProductionError("Only production bundles are delivered to a requester.")
    if delivery.channel not in DELIVERY_CHANNELS:
        raise ProductionError("Choose how the bundle was delivered.")
    recipient = delivery.recipient.strip()
    if not recipient:
        raise ProductionError("Say who received the bundle (a name, and their unit).")
    if delivery.on > utcnow().date():
        raise ProductionError("The delivery date is in the future; give the day the bundle reached the recipient.")
    if delivery.on < bundle.built_at.date():
        raise ProductionError(
            f"The delivery date is before the bundle was built ({bundle.built_at:%Y-%m-%d}); correct the date."
        )
    bundle.delivered_at, bundle.delivered_by_id = utcnow(), person(actor).id
    bundle.delivered_channel, bundle.delivered_on, bundle.delivered_to = delivery.channel, delivery.on, recipient
    move(
        actor,
        case,
        Action.MARK_DISCLOSED,
        ip=ip,
        bundle=bundle.public_id,
        sha256=bundle.sha256,
        channel=delivery.channel,
        delivered_on=delivery.on.isoformat(),
        delivered_to=recipient,
    )


def bundle_path(bundle: Bundle) -> Path:
    """Where a bundle's ZIP is in the bundles folder; one kept in the blob store (bundle.blob_name) has none."""
    return bundles_folder(current_app.config, current_app.instance_path) / f"{bundle.public_id}.zip"


def bundle_available(bundle: Bundle) -> bool:
    """The bundle is not purged and its ZIP is there, in the blob store or in the bundles folder."""
    if bundle.purged_at is not None:
        return False
    if bundle.blob_name is not None:
        return app_store().exists(bundle.blob_name)
    return bundle_path(bundle).is_file()


def bundle_blocks(bundle: Bundle) -> Iterator[bytes]:
    """The bundle's ZIP in blocks: from the blob store, authenticated as a whole before the first block (any
    host of a database-backed store can serve it), or from the bundles folder. Raises BlobCorrupted or
    BlobMissing, or OSError, before yielding anything when it cannot be read."""
    if bundle.blob_name is not None:
        return app_store().open(bundle.blob_name)
    handle = bundle_path(bundle).open("rb")

    def blocks() -> Iterator[bytes]:
        with handle:
            while block := handle.read(1024 * 1024):
                yield block

    return blocks()


def record_download(actor: Actor, bundle: Bundle, ip: str | None) -> None:
    require(actor, Permission.BUNDLE_DOWNLOAD)
    record(
        actor,
        AuditAction.BUNDLE_DOWNLOADED,
        subject=bundle.case.subject if bundle.case else f"bundle:{bundle.public_id}",
        ip=ip,
        data={"bundle": bundle.public_id, "sha256": bundle.sha256},
    )
    db.session.flush()


def purge_expired(actor: Actor, now: datetime | None = None) -> list[str]:
    """Delete the files of expired bundles; their rows stay, with purged_at set, and each purge is recorded."""
    require(actor, Permission.STORAGE_MAINTAIN)
    now = now or utcnow()
    purged = []
    expired = db.session.execute(select(Bundle).where(Bundle.expires_at <= now, Bundle.purged_at.is_(None))).scalars()
    for bundle in expired:
        # The file goes only once the purge is committed, so no record claims a file that is still there.
        if bundle.blob_name is not None:
            remove_after_commit(stored_file(FileArea.BLOB, bundle.blob_name))
        else:
            db.session.info.setdefault("delete_after_commit", []).append(bundle_path(bundle))
        bundle.purged_at = now
        record(
            actor,
            AuditAction.BUNDLE_PURGED,
            subject=bundle.case.subject if bundle.case else f"bundle:{bundle.public_id}",
            data={"bundle": bundle.public_id, "sha256": bundle.sha256, "expired_at": bundle.expires_at.isoformat()},
        )
        purged.append(bundle.public_id)
    db.session.flush()
    return purged


@event.listens_for(Session, "after_commit")
def _delete_purged_files(session: Session) -> None:
    for path in session.info.pop("delete_after_commit", []):
        path.unlink(missing_ok=True)


@event.listens_for(Session, "after_soft_rollback")
def _keep_files(session: Session, previous_transaction: Any) -> None:
    if not previous_transaction.nested:
        session.info.pop("delete_after_commit", None)
