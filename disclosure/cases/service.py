"""Case operations: log a request, move it through the workflow, assign it, attach documents and gag orders.

Every function takes the acting Actor, calls `require` for the permission it needs, checks the rule it owns (the
stale-form version; four eyes through disclosure.permissions), changes rows, writes exactly one audit event and
flushes. State changes go through disclosure.cases.lifecycle.move. The caller's unit of work commits once.
Correcting a case's facts lives in disclosure.cases.corrections (named here too).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.auth.models import User

# Correcting facts is its own module; callers that reach every case operation through this one find it here too.
from disclosure.cases.corrections import CaseChanges as CaseChanges
from disclosure.cases.corrections import on_facts_corrected as on_facts_corrected
from disclosure.cases.corrections import update_case as update_case
from disclosure.cases.documents import inspect_document
from disclosure.cases.facts import CaseError as CaseError
from disclosure.cases.facts import agency_named, case_columns, due_for, set_categories, set_targets
from disclosure.cases.facts import normalized_target as normalized_target
from disclosure.cases.facts import stated_due as stated_due
from disclosure.cases.lifecycle import CORRECTION_ACTIONS, check_version, flush, move
from disclosure.cases.models import (
    Agency,
    Case,
    Document,
    NdoRenewal,
    NonDisclosureOrder,
    ReferenceCounter,
)
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.permissions import Permission, may_review
from disclosure.policy.request import RequestDocument, particulars_json, to_json
from disclosure.services import Actor, person, require
from disclosure.storage.transactional import put_in_transaction
from disclosure.workflow import DECISION_ACTIONS, Action, IllegalTransition, State, Track


def next_reference(year: int) -> str:
    """DR-<year>-<n>, from a per-year counter bumped under a row lock (no gaps from rolled-back sequences)."""
    statement = select(ReferenceCounter).where(ReferenceCounter.year == year).with_for_update()
    counter = db.session.execute(statement).scalar_one_or_none()
    if counter is None:
        counter = ReferenceCounter(year=year, last=0)
        db.session.add(counter)
    counter.last += 1
    db.session.flush()
    return f"DR-{year}-{counter.last:05d}"


def find_or_create_agency(actor: Actor, name: str, country: str, ip: str | None) -> Agency:
    require(actor, Permission.CASE_CREATE)
    return agency_named(actor, name, country, ip)


def log_request(
    actor: Actor, doc: RequestDocument, ip: str | None = None, summary: str = "", timezone: str = "UTC"
) -> Case:
    """Log an incoming request (from the form or from `flask cases import`) as a new case in `received`."""
    require(actor, Permission.CASE_CREATE)
    logger = person(actor)
    if doc.reference:
        if db.session.execute(select(Case.id).where(Case.reference == doc.reference)).first():
            raise CaseError(f"reference: {doc.reference} already exists; leave it empty to assign the next one.")
        reference = doc.reference
    else:
        reference = next_reference(doc.received_at.year)
    agency = find_or_create_agency(actor, doc.agency.name, doc.agency.country, ip)
    due = due_for(doc.process_type, doc.received_at, doc.emergency, doc.due_at, timezone, doc.jurisdiction)
    case = Case(
        reference=reference,
        **case_columns(doc),
        agency=agency,
        due_at=due.at,
        due_explanation=due.explanation,
        particulars=particulars_json(doc) or None,
        timezone=timezone,
        summary=summary.strip(),
        state=State.RECEIVED.value,
        created_by_id=logger.id,
    )
    set_targets(case, doc.targets)
    set_categories(case, doc.categories)
    db.session.add(case)
    db.session.flush()
    if doc.non_disclosure_order is not None:
        nd = doc.non_disclosure_order
        db.session.add(
            NonDisclosureOrder(
                case_id=case.id, basis=nd.basis, starts_on=nd.from_ or doc.received_at.date(), expires_on=nd.until
            )
        )
    record(
        actor,
        AuditAction.CASE_CREATE,
        subject=case.subject,
        ip=ip,
        data={"request": to_json(doc), "due_at": due.at.isoformat(), "due": due.explanation},
    )
    db.session.flush()
    if not case.targets:
        if case.track is Track.PRESERVATION:
            raise CaseError("targets: a preservation request must name what to preserve; add its targets.")
        # Logged without targets on purpose: nothing can be reviewed until the requester names them.
        move(actor, case, Action.AWAIT_TARGETS, ip=ip)
    return case


def apply_action(
    actor: Actor, case: Case, action: Action, expected_version: int | None, ip: str | None, note: str = ""
) -> State:
    """Move the case by `action` (not approve or reject: those need the review's decision record)."""
    if action in DECISION_ACTIONS:
        raise IllegalTransition(
            "Approving, rejecting, asking the requester for more and recording that no records are held are "
            "decisions: make them on the review page, with the checklist."
        )
    if action in CORRECTION_ACTIONS:
        raise IllegalTransition(
            "A decided case goes back to review when one of its facts is corrected: use Edit facts."
        )
    check_version(case, expected_version)
    after = move(actor, case, action, ip=ip, reason=note)
    if action is Action.START_REVIEW and case.assigned_to_id is None:
        case.assigned_to_id = person(actor).id
        flush(case)
    return after


def assign(actor: Actor, case: Case, assignee: User | None, expected_version: int | None, ip: str | None) -> None:
    """Assign the case to a reviewer (or claim it: assignee is the actor), or unassign it (None)."""
    require(actor, Permission.CASE_ASSIGN)
    check_version(case, expected_version)
    if assignee is not None:
        if not assignee.can(Permission.REVIEW_DECIDE):
            raise CaseError(f"{assignee.name} is not a reviewer; assign the case to someone who can review it.")
        if not may_review(assignee.id, case.created_by_id):
            raise CaseError(f"{assignee.name} logged this case and cannot review it (four eyes).")
    before = case.assigned_to_id
    if before == (assignee.id if assignee else None):
        return
    case.assigned_to_id = assignee.id if assignee else None
    record(
        actor,
        AuditAction.CASE_ASSIGN,
        subject=case.subject,
        ip=ip,
        data={"diff": {"assigned_to": {"from": before, "to": case.assigned_to_id}}},
    )
    flush(case)


def add_document(actor: Actor, case: Case, kind: str, data: bytes, filename: str, ip: str | None) -> Document:
    """Check the upload by its content, store it encrypted, record its SHA-256."""
    require(actor, Permission.DOCUMENT_UPLOAD)
    if kind not in {"legal_process", "correspondence"}:
        raise CaseError("Choose whether the document is the legal process or correspondence.")
    inspected = inspect_document(data, filename)
    document = file_document(actor, case, kind, data, inspected.filename, inspected.content_type)
    record(
        actor,
        AuditAction.DOCUMENT_UPLOAD,
        subject=case.subject,
        ip=ip,
        data={
            "document": document.id,
            "kind": kind,
            "filename": document.filename,
            "content_type": document.content_type,
            "size": document.size,
            "sha256": document.sha256,
        },
    )
    return document


def file_document(actor: Actor, case: Case, kind: str, data: bytes, filename: str, content_type: str) -> Document:
    """Store `data` encrypted with the case as a document of `kind` (the caller checked and records it)."""
    blob = put_in_transaction([data], max_bytes=len(data), owner="case_document")
    document = Document(
        case_id=case.id,
        kind=kind,
        filename=filename,
        content_type=content_type,
        size=blob.size,
        sha256=blob.sha256,
        blob_name=blob.name,
        uploaded_by_id=person(actor).id,
    )
    db.session.add(document)
    db.session.flush()
    return document


def record_download(actor: Actor, document: Document, ip: str | None) -> None:
    require(actor, Permission.DOCUMENT_DOWNLOAD)
    record(
        actor,
        AuditAction.DOCUMENT_DOWNLOAD,
        subject=document.case.subject,
        ip=ip,
        data={"document": document.id, "sha256": document.sha256},
    )
    db.session.flush()


def set_gag_order(
    actor: Actor, case: Case, basis: str, starts_on: date, expires_on: date | None, ip: str | None
) -> NonDisclosureOrder:
    require(actor, Permission.CASE_EDIT)
    if case.gag_order is not None:
        raise CaseError("This case already has a non-disclosure order; renew it instead.")
    if expires_on is not None and expires_on < starts_on:
        raise CaseError("The order cannot expire before it starts.")
    order = NonDisclosureOrder(case_id=case.id, basis=basis.strip(), starts_on=starts_on, expires_on=expires_on)
    db.session.add(order)
    record(
        actor,
        AuditAction.NDO_SET,
        subject=case.subject,
        ip=ip,
        data={
            "basis": order.basis,
            "starts_on": starts_on.isoformat(),
            "expires_on": expires_on.isoformat() if expires_on else "indefinite",
        },
    )
    db.session.flush()
    return order


def renew_gag_order(actor: Actor, order: NonDisclosureOrder, new_expiry: date | None, ip: str | None) -> None:
    require(actor, Permission.CASE_EDIT)
    if new_expiry is not None and order.expires_on is not None and new_expiry <= order.expires_on:
        raise CaseError("A renewal must end later than the current expiry.")
    previous = order.expires_on
    order.renewals.append(NdoRenewal(previous_expiry=previous, new_expiry=new_expiry, renewed_by_id=person(actor).id))
    order.expires_on = new_expiry
    record(
        actor,
        AuditAction.NDO_RENEW,
        subject=order.case.subject,
        ip=ip,
        data={
            "diff": {
                "expires_on": {
                    "from": previous.isoformat() if previous else "indefinite",
                    "to": new_expiry.isoformat() if new_expiry else "indefinite",
                }
            }
        },
    )
    db.session.flush()


def record_customer_notified(actor: Actor, order: NonDisclosureOrder, today: date, ip: str | None) -> None:
    require(actor, Permission.CASE_EDIT)
    if order.expires_on is None or order.expires_on >= today:
        raise CaseError("The non-disclosure order is still in force: the customer may not be told yet.")
    if order.customer_notified_at is not None:
        raise CaseError("The customer's notification is already recorded.")
    order.customer_notified_at = utcnow()
    order.customer_notified_by_id = person(actor).id
    record(actor, AuditAction.NDO_CUSTOMER_NOTIFIED, subject=order.case.subject, ip=ip)
    db.session.flush()
