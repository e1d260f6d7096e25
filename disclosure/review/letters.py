"""Response letters (approval cover letter, rejection, request for clarification, no records held) as PDFs stored
with the case."""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.cases.models import Document
from disclosure.cases.service import file_document
from disclosure.clock import utcnow
from disclosure.pdf import render_pdf
from disclosure.permissions import Permission
from disclosure.policy.vocabulary import Category
from disclosure.review.models import Decision, Outcome
from disclosure.review.service import REJECTION_REASONS
from disclosure.services import Actor, require

TITLES = {
    Outcome.APPROVED: "Response to legal process",
    Outcome.REJECTED: "Response to legal process: objection",
    Outcome.NEEDS_INFO: "Request for clarification",
    Outcome.NO_RECORDS: "Response to legal process: no records held",
}


def letter_html(decision: Decision) -> str:
    case = decision.review.case
    scope: list[dict[str, Any]] = [
        {**entry.to_json(), "labels": [Category(c).label for c in entry.categories]} for entry in decision.scope or ()
    ]
    return render_template(
        f"letters/{decision.outcome.value}.html",
        case=case,
        decision=decision,
        scope=scope,
        title=TITLES[decision.outcome],
        reasons=[REJECTION_REASONS[c] for c in decision.reason_codes],
        today=utcnow().date(),
        organisation=current_app.config.get("ORGANISATION_NAME", "The Provider's Legal Department"),
    )


def create_letter(actor: Actor, decision: Decision, ip: str | None) -> Document:
    """Render the decision's letter, store it encrypted with the case, and record it."""
    require(actor, Permission.REVIEW_DECIDE)
    case = decision.review.case
    data = render_pdf(letter_html(decision))
    name = f"{case.reference}-{decision.outcome.value.replace('_', '-')}-letter.pdf"
    document = file_document(actor, case, "response_letter", data, name, "application/pdf")
    record(
        actor,
        AuditAction.LETTER_CREATED,
        subject=case.subject,
        ip=ip,
        data={"document": document.id, "decision": decision.id, "sha256": document.sha256, "filename": name},
    )
    return document
