"""Auditors' bundles, with no case: what an audit extract (disclosure.audit.extract_bundle) and a report bundle
(disclosure.reports.bundle) share.

An auditor's bundle (kind 'audit_extract' or 'report') holds the extract's JSONL or the report's PDF and CSV;
its inner manifest carries audit events with inclusion proofs to the bundle's checkpoint. Building, storing and
recording are shared with case bundles (disclosure.production.bundles). Like a case's bundle it is built in two
steps with a commit between: `plan_auditor_bundle` checks it, records its start and signs its checkpoint;
`finish_auditor_bundle` computes the contents at that checkpoint reading beside other users' writes, writes the
bundle holding no transaction, then records it. Nothing here commits or answers a request.
"""

from __future__ import annotations

import dataclasses
import io
import json
import secrets
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy import select

from disclosure.audit.actions import AuditAction
from disclosure.audit.models import AuditCheckpoint, AuditEvent
from disclosure.audit.service import checkpoint_now, record
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.keyring import log_key_name, log_public_key
from disclosure.production.bundles import (
    AUDITOR_KINDS,
    BundleInputs,
    FileSpec,
    bundle_inputs,
    check_recipients,
    events_with_proofs,
    load_bundle_signer,
    write_bundle,
)
from disclosure.production.models import Bundle, RecipientCertificate
from disclosure.production.service import bundle_available
from disclosure.services import Actor, ServiceError, require
from disclosure.storage.transactional import bundle_dir
from disclosure.unit_of_work import reading_beside_writers
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
            raise ServiceError("a recipient certificate file is not a PEM certificate") from error
        fingerprint = certificate.fingerprint(hashes.SHA256()).hex()
        on_file = db.session.execute(
            select(RecipientCertificate).where(RecipientCertificate.fingerprint == fingerprint)
        ).scalar_one_or_none()
        if on_file is not None:
            if not on_file.usable(utcnow()):
                raise ServiceError(
                    f"The certificate “{on_file.label}” is revoked or expired; it cannot receive bundles."
                )
            found.append(on_file)
            continue
        try:
            info = check_recipient_certificate(pem, utcnow())
        except CertificateError as error:
            raise ServiceError(f"certificate {fingerprint[:16]}… cannot receive bundles: {error}") from error
        found.append(DirectRecipient(pem.decode("ascii"), fingerprint, info.subject[:200]))
    if len({c.fingerprint for c in found}) != len(found):
        raise ServiceError("the same recipient certificate was given twice")
    return found


def _payload(files: Sequence[FileSpec]) -> list[Any]:
    from disclosure.exports.bundle import PayloadFile

    payload = []
    for name, content in files:
        if isinstance(content, Path):
            size = content.stat().st_size
            payload.append(PayloadFile(name=name, open=partial(content.open, "rb"), size=size))
        else:
            payload.append(PayloadFile(name=name, open=partial(io.BytesIO, content), size=len(content)))
    return payload


@dataclass(frozen=True)
class AuditorBundlePlan:
    """What the first step of an auditor's bundle settled: everything but its contents, which the second step
    computes at `checkpoint_id` (the checkpoint the bundle carries) reading outside the session's write
    transaction."""

    kind: str
    subject: str
    description: dict[str, Any]
    label: str
    checkpoint_id: int
    inputs: BundleInputs
    #: The payload files as a function of the checkpoint and a scratch folder that lasts until the bundle is written.
    files: Callable[[AuditCheckpoint, Path], Sequence[FileSpec]]
    #: The events to carry with inclusion proofs; None for the bundle's own build event.
    audit_events: Callable[[AuditCheckpoint], list[dict[str, Any]]] | None


def plan_auditor_bundle(
    actor: Actor,
    kind: str,
    files: Callable[[AuditCheckpoint, Path], Sequence[FileSpec]],
    description: dict[str, Any],
    certificates: Sequence[Any],
    passphrase_only: bool,
    ip: str | None,
    *,
    audit_events: Callable[[AuditCheckpoint], list[dict[str, Any]]] | None = None,
    public_id: str | None = None,
    label: str | None = None,
) -> AuditorBundlePlan:
    """The first, short step of an auditor's bundle of `kind` ('audit_extract' or 'report'), with no case: check
    it, record that its build started, sign the checkpoint it will carry. The caller commits this before the long
    step (`finish_auditor_bundle`), which computes the contents and writes the bundle holding no lock.

    files: a function of the bundle's checkpoint (and a scratch folder) returning (name, bytes or Path) pairs, so
    that what goes in is computed at the very checkpoint the bundle carries. description: JSON facts about the
    contents, recorded in the audit event and inside the envelope. audit_events: the events to carry with
    inclusion proofs to the checkpoint, as a function of it; by default the bundle's own build event.
    The actor (a user, or the operator at the command line) must hold the kind's permission.
    """
    permission = AUDITOR_KINDS.get(kind)
    if permission is None:
        raise ServiceError(f"unknown auditor bundle kind {kind!r}")
    require(actor, permission)
    check_recipients(certificates, passphrase_only)
    load_bundle_signer()  # no keys: refused now, not after the work
    public_id = public_id or secrets.token_hex(8)
    subject = f"bundle:{public_id}"
    record(
        actor,
        AuditAction.BUNDLE_BUILD_STARTED,
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
    checkpoint = checkpoint_now(actor, reason="export", ip=ip, permission=permission)
    label = label or kind.replace("_", "-")
    inputs = bundle_inputs(
        actor,
        kind=kind,
        case_id=None,
        public_id=public_id,
        bag_name=f"{label}-{public_id}",
        files=(),
        certificates=certificates,
        passphrase_only=passphrase_only,
        checkpoint=checkpoint,
        metadata={},
        bag_info={},
    )
    return AuditorBundlePlan(kind, subject, description, label, checkpoint.id, inputs, files, audit_events)


def finish_auditor_bundle(actor: Actor, plan: AuditorBundlePlan, ip: str | None) -> tuple[Bundle, str | None]:
    """The long step: compute the contents at the plan's checkpoint and write the bundle (call it with no
    transaction open: it reads in a read-only transaction of its own and writes the file holding none), then add
    its row and record it. Returns (bundle, passphrase); the caller commits."""
    signer = load_bundle_signer()
    with tempfile.TemporaryDirectory(prefix=".auditor-", dir=bundle_dir()) as folder:
        with reading_beside_writers():
            checkpoint = db.session.get(AuditCheckpoint, plan.checkpoint_id)
            if checkpoint is None:
                raise ServiceError("The bundle's audit checkpoint is gone; build it again.")
            specs = list(plan.files(checkpoint, Path(folder)))
            if not specs:
                raise ServiceError("There is nothing to put in the bundle.")
            events = (
                plan.audit_events(checkpoint)
                if plan.audit_events is not None
                else events_with_proofs(AuditEvent.subject == plan.subject, checkpoint.size)
            )
        metadata = {
            "format": "disclosure-bundle/1",
            "kind": plan.kind,
            "description": plan.description,
            "files": [name for name, _ in specs],
            "checkpoint_size": plan.inputs.checkpoint_size,
            "audit_events": events,
            "log_vkey": vkey_string(log_key_name(), log_public_key()),
        }
        inputs = dataclasses.replace(
            plan.inputs,
            files=tuple(_payload(specs)),
            metadata=metadata,
            bag_info={
                "Internal-Sender-Identifier": plan.label,
                "External-Description": json.dumps(plan.description, sort_keys=True),
            },
        )
        bundle, passphrase = write_bundle(inputs, signer)
    record(
        actor,
        AuditAction.BUNDLE_BUILT,
        subject=plan.subject,
        ip=ip,
        data={"bundle": bundle.public_id, "kind": plan.kind, "sha256": bundle.sha256, "size": bundle.size},
    )
    return bundle, passphrase


def record_auditor_download(actor: Actor, bundle: Bundle, ip: str | None) -> None:
    require(actor, AUDITOR_KINDS[bundle.kind])
    record(
        actor,
        AuditAction.BUNDLE_DOWNLOADED,
        subject=f"bundle:{bundle.public_id}",
        ip=ip,
        data={"bundle": bundle.public_id, "kind": bundle.kind, "sha256": bundle.sha256},
    )
    db.session.flush()


def find_auditor_bundle(public_id: str, kind: str) -> Bundle | None:
    """The auditor's bundle of `kind` with that id, if it exists and its file is still there."""
    bundle = db.session.execute(
        select(Bundle).where(Bundle.public_id == public_id, Bundle.kind == kind)
    ).scalar_one_or_none()
    if bundle is None or not bundle_available(bundle):
        return None
    return bundle
