"""The review: the engine's findings, the reviewer's checklist and grounds, and the decision with its guards.

Rules kept here and nowhere else: a reviewer never reviews a case they logged; deciding needs the password
again (step-up); approving needs every required checklist element confirmed, a cited ground for each approved
category, and a scope no wider than the request that never includes what the engine marks exceeds_process
(nor no_policy_ground without counsel's recorded escalation); interception orders need two distinct reviewers.
A decision is written once and never changed.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from disclosure.audit.actions import AuditAction
from disclosure.audit.canonical import canonical_json
from disclosure.audit.service import record
from disclosure.auth import passwords
from disclosure.auth.models import SignInFailure, User
from disclosure.cases.models import Case
from disclosure.cases.service import CaseError, NotPermitted, StaleCase, require
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.permissions import Permission
from disclosure.policy.engine import evaluate
from disclosure.policy.findings import COUNSEL_ESCALATION, Evaluation
from disclosure.policy.request import Agency, IssuingAuthority, Jurisdiction, Officer, RequestDocument, Target
from disclosure.policy.request_fields import moment
from disclosure.policy.scope import ScopeError, check_grounds, check_scope
from disclosure.policy.vocabulary import (
    AuthorityKind,
    Category,
    Ground,
    ProcessType,
    ReceivedVia,
    Regime,
    TargetKind,
    Verdict,
)
from disclosure.review.models import Approval, Decision, Review
from disclosure.review.policy_versions import current_version, policy_of
from disclosure.review.scope import ScopeEntry, parse_scope
from disclosure.workflow import Action, State, transition

REJECTION_REASONS = {
    "invalid_process": "The process is not valid or not enforceable against us",
    "wrong_jurisdiction": "Issued outside the issuing authority's jurisdiction",
    "wrong_authority": "Not issued by an authority that may compel this data",
    "overbroad": "Overbroad: not particular about the accounts or the data",
    "no_identifier": "No specific identifier of an account",
    "expired": "The process has expired",
    "requester_unverified": "The requester could not be verified out of band",
    "no_policy_ground": "No ground in our privacy policy permits the disclosure",
    "no_account": "No account with us matches the identifiers",
}
ANSWERS = ("yes", "no", "na")


class ReviewError(CaseError):
    """A review step was refused; the message says what to fix."""


class StepUpFailed(ReviewError):
    """The password re-entered to confirm a decision was wrong."""


def request_of(case: Case) -> RequestDocument:
    """The case as the request document the engine evaluates."""

    def when(raw: str | None, field: str) -> date | None:
        return moment(raw, field) if raw else None

    order = case.gag_order
    from disclosure.policy.request import NonDisclosureOrder

    return RequestDocument(
        reference=case.reference,
        process_type=ProcessType(case.process_type),
        jurisdiction=Jurisdiction(Regime(case.regime), case.country, case.region),
        issuing_authority=IssuingAuthority(AuthorityKind(case.authority_kind), case.authority_name, case.docket),
        agency=Agency(case.agency.name, case.agency.country),
        officer=Officer(case.officer_name, case.officer_email, case.officer_phone, case.officer_badge)
        if case.officer_name
        else None,
        received_at=case.received_at,
        received_via=ReceivedVia(case.received_via),
        due_at=None,
        emergency=case.emergency,
        issued_on=case.issued_on,
        valid_until=case.valid_until,
        targets=tuple(
            Target(TargetKind(t.kind), t.value, when(t.date_from, "from"), when(t.date_to, "to")) for t in case.targets
        ),
        categories=tuple(case.categories),
        non_disclosure_order=NonDisclosureOrder(order.basis, order.starts_on, order.expires_on) if order else None,
    )


def open_review(case: Case) -> Review | None:
    return (
        db.session.execute(
            select(Review).where(Review.case_id == case.id, Review.status == "open").order_by(Review.id.desc())
        )
        .scalars()
        .first()
    )


def begin_review(case: Case) -> Review:
    """Start a review round under the current policy version (called when a case enters in_review)."""
    review = Review(case_id=case.id, policy_version_id=current_version().id)
    db.session.add(review)
    db.session.flush()
    return review


def evaluation_for(review: Review, today: date | None = None) -> Evaluation:
    return evaluate(request_of(review.case), policy_of(review.policy_version), today or utcnow().date())


def checklist(review: Review) -> dict[str, dict[str, Any]]:
    return dict(json.loads(review.checklist_json))


def grounds(review: Review) -> dict[str, dict[str, Any]]:
    return dict(json.loads(review.grounds_json))


def _check_reviewer(actor: User, review: Review) -> None:
    require(actor, Permission.REVIEW_DECIDE)
    if review.case.created_by_id == actor.id:
        raise NotPermitted("You logged this case, so another reviewer must review it (four eyes).")
    if review.status != "open":
        raise ReviewError("This review is decided and can no longer change; a reopened case gets a new review.")


def save_worksheet(
    actor: User,
    review: Review,
    answers: dict[str, dict[str, str]],
    cited: dict[str, dict[str, Any]],
    counsel_note: str,
    expected_version: int | None,
    ip: str | None,
) -> bool:
    """Store checklist answers, cited grounds and counsel's note; one event with the diff. True if anything changed."""
    _check_reviewer(actor, review)
    if expected_version is not None and expected_version != review.version_id:
        raise StaleCase(review.case)
    evaluation = evaluation_for(review)
    known_items = {item.id for item in evaluation.checklist}
    new_answers = {}
    for item_id, answer in answers.items():
        if item_id not in known_items:
            raise ReviewError(f"Unknown checklist element {item_id!r}; reload the review page.")
        if answer.get("answer") not in (*ANSWERS, ""):
            raise ReviewError("Answer each checklist element with yes, no or not applicable.")
        if answer.get("answer"):
            new_answers[item_id] = {
                "answer": answer["answer"],
                "note": answer.get("note", "").strip()[:2000],
                "by": actor.id,
            }
    requested = {c.value for c in review.case.categories}
    new_grounds = {}
    for category, citation in cited.items():
        if category not in requested:
            raise ReviewError(f"{category} was not requested; cite grounds only for requested data.")
        chosen = sorted({Ground(g).value for g in citation.get("grounds", [])})
        if chosen or citation.get("reason", "").strip():
            new_grounds[category] = {"grounds": chosen, "reason": citation.get("reason", "").strip()[:2000]}
    diff: dict[str, Any] = {}
    old_answers, old_grounds = checklist(review), grounds(review)
    for item_id in sorted(set(old_answers) | set(new_answers)):
        before = old_answers.get(item_id, {}).get("answer")
        after = new_answers.get(item_id, {}).get("answer")
        if before != after:
            diff[f"checklist.{item_id}"] = {"from": before, "to": after}
    for category in sorted(set(old_grounds) | set(new_grounds)):
        before_g = old_grounds.get(category, {}).get("grounds")
        after_g = new_grounds.get(category, {}).get("grounds")
        if before_g != after_g:
            diff[f"grounds.{category}"] = {"from": before_g, "to": after_g}
    counsel_note = counsel_note.strip()[:4000]
    if counsel_note != review.counsel_note:
        diff["counsel_note"] = {"from": bool(review.counsel_note), "to": bool(counsel_note)}
    notes_changed = new_answers != old_answers or new_grounds != old_grounds
    if not diff and not notes_changed:
        return False
    review.checklist_json = json.dumps(new_answers, sort_keys=True)
    review.grounds_json = json.dumps(new_grounds, sort_keys=True)
    review.counsel_note = counsel_note
    record(
        actor,
        AuditAction.REVIEW_WORKSHEET_SAVED,
        subject=review.case.subject,
        ip=ip,
        data={"review": review.id, "diff": diff},
    )
    _flush(review)
    return True


def _flush(review: Review) -> None:
    try:
        db.session.flush()
    except (StaleDataError, IntegrityError) as error:
        db.session.rollback()
        raise StaleCase(review.case) from error


def step_up(actor: User, password: str, ip: str | None) -> None:
    """Deciding needs the password again; a wrong one counts toward the account's sign-in throttle."""
    from disclosure.auth.service import _account_key, is_throttled

    if is_throttled(actor.email, ip) or not passwords.verify_password(actor.password_hash, password):
        db.session.add(SignInFailure(account_key=_account_key(actor.email), ip=ip))
        record(actor, AuditAction.REVIEW_STEP_UP_FAILED, subject=f"user:{actor.id}", ip=ip, outcome="failure")
        raise StepUpFailed("Your password was not correct; the decision was not recorded. Enter it again.")


def _check_approvable(review: Review, evaluation: Evaluation, scope: list[ScopeEntry]) -> None:
    if not scope:
        raise ScopeError("approve at least one category for at least one target, or reject the request")
    approved = {Category(c) for entry in scope for c in entry.categories}
    escalated = bool(review.counsel_note.strip())
    check_scope(review.case.categories, approved, evaluation, counsel_escalation=escalated)
    answers = checklist(review)
    for item in evaluation.checklist:
        if item is COUNSEL_ESCALATION or item.id == COUNSEL_ESCALATION.id:
            needed = any(
                evaluation.finding(c) and evaluation.finding(c).verdict is Verdict.NO_POLICY_GROUND  # type: ignore[union-attr]
                for c in approved
            )
            if not needed:
                continue
        answer = answers.get(item.id, {})
        if answer.get("answer") == "yes" or (answer.get("answer") == "na" and answer.get("note")):
            continue
        if answer.get("answer") == "na":
            raise ScopeError(f"“{item.label}” is marked not applicable: add a note saying why")
        raise ScopeError(f"confirm the checklist element “{item.label}” before approving")
    cited = grounds(review)
    policy = policy_of(review.policy_version)
    for category in sorted(approved):
        citation = cited.get(category.value, {})
        check_grounds(
            category, [Ground(g) for g in citation.get("grounds", [])], policy, written_reason=citation.get("reason")
        )


def decide(
    actor: User,
    review: Review,
    outcome: str,
    *,
    password: str,
    ip: str | None,
    scope: list[ScopeEntry] | None = None,
    reason_codes: list[str] | None = None,
    text: str = "",
    expected_version: int | None = None,
) -> Decision | Approval:
    """Approve, reject or ask for more. Returns the Decision, or the first Approval where two are required."""
    _check_reviewer(actor, review)
    step_up(actor, password, ip)
    case = review.case
    if expected_version is not None and expected_version != review.version_id:
        raise StaleCase(case)
    if case.status is not State.IN_REVIEW:
        raise ReviewError(f"{case.reference} is {case.status.label.lower()}, not in review.")
    evaluation = evaluation_for(review)
    text = text.strip()
    if outcome == "approved":
        entries = parse_scope(case, scope or [])
        pending = review.approvals
        if pending:
            first = json.loads(pending[0].scope_json)
            entries_json = [e.as_json() for e in entries] if entries else first
            if entries and entries_json != first:
                raise ScopeError(
                    "the second approval must confirm the first reviewer's scope exactly; to change "
                    "it, ask for more information or reject"
                )
            entries = [
                ScopeEntry(e["target"]["kind"], e["target"]["value"], tuple(e["categories"]), e["from"], e["to"])
                for e in first
            ]
        _check_approvable(review, evaluation, entries)
        if any(a.reviewer_id == actor.id for a in pending):
            raise ReviewError("You have already approved; a different reviewer must give the second approval.")
        scope_json = json.dumps([e.as_json() for e in entries], sort_keys=True)
        approval = Approval(review_id=review.id, reviewer_id=actor.id, scope_json=scope_json)
        db.session.add(approval)
        review.approvals.append(approval)
        if len(review.approvals) < evaluation.approvals_required:
            record(
                actor,
                AuditAction.REVIEW_APPROVAL_RECORDED,
                subject=case.subject,
                ip=ip,
                data={
                    "review": review.id,
                    "approvals": len(review.approvals),
                    "required": evaluation.approvals_required,
                    "scope": json.loads(scope_json),
                },
            )
            # Bump the review's version, so that a parallel "first" approval conflicts instead of also passing.
            flag_modified(review, "counsel_note")
            _flush(review)
            return approval
        return _write_decision(actor, review, evaluation, "approved", ip, scope_json=scope_json, text=text)
    if outcome == "rejected":
        codes = sorted(set(reason_codes or []))
        if not codes:
            raise ReviewError("Choose at least one reason for the rejection.")
        if unknown := [c for c in codes if c not in REJECTION_REASONS]:
            raise ReviewError(f"Unknown reason {unknown[0]!r}; choose from the list.")
        return _write_decision(actor, review, evaluation, "rejected", ip, reason_codes=codes, text=text)
    if outcome == "needs_info":
        if not text:
            raise ReviewError("Write the message to the requester: what is missing or unclear.")
        return _write_decision(actor, review, evaluation, "needs_info", ip, text=text)
    raise ReviewError("Choose approve, reject, or ask for more information.")


ACTION_FOR_OUTCOME = {"approved": Action.APPROVE, "rejected": Action.REJECT, "needs_info": Action.REQUEST_INFO}


def _write_decision(
    actor: User,
    review: Review,
    evaluation: Evaluation,
    outcome: str,
    ip: str | None,
    *,
    scope_json: str | None = None,
    reason_codes: list[str] | None = None,
    text: str = "",
) -> Decision:
    case = review.case
    before = case.status
    after = transition(before, ACTION_FOR_OUTCOME[outcome], case.track)
    decision = Decision(
        review_id=review.id,
        case_id=case.id,
        outcome=outcome,
        decided_by_id=actor.id,
        scope_json=scope_json,
        reason_codes_json=json.dumps(reason_codes or []),
        text=text,
        policy_sha256=review.policy_version.sha256,
        engine_json=canonical_json(evaluation.as_json()).decode(),
        checklist_json=review.checklist_json,
        grounds_json=review.grounds_json,
        counsel_note=review.counsel_note,
        approvers_json=json.dumps([a.reviewer_id for a in review.approvals]),
    )
    db.session.add(decision)
    review.status = "decided"
    case.state = after.value
    if after in {State.APPROVED, State.REJECTED}:
        case.decided_by_id, case.decided_at = actor.id, utcnow()
    data: dict[str, Any] = {
        "action": ACTION_FOR_OUTCOME[outcome].value,
        "from": before.value,
        "to": after.value,
        "review": review.id,
        "outcome": outcome,
        "policy_sha256": decision.policy_sha256,
        "engine": evaluation.as_json(),
        "checklist": json.loads(review.checklist_json),
        "grounds": json.loads(review.grounds_json),
    }
    if scope_json:
        data["scope"] = json.loads(scope_json)
    if reason_codes:
        data["reason_codes"] = reason_codes
    if text:
        data["text"] = text
    if review.counsel_note:
        data["counsel_note"] = review.counsel_note
    if len(review.approvals) > 1:
        data["approvers"] = [a.reviewer_id for a in review.approvals]
    record(actor, AuditAction.CASE_TRANSITION, subject=case.subject, ip=ip, data=data)
    _flush(review)
    return decision


def decisions_of(case: Case) -> list[Decision]:
    return list(db.session.execute(select(Decision).where(Decision.case_id == case.id).order_by(Decision.id)).scalars())


def approved_scope(case: Case) -> list[dict[str, Any]]:
    """The scope of the case's standing approval (the latest decision, if it approved)."""
    latest = decisions_of(case)[-1:]
    if (
        not latest
        or latest[0].outcome != "approved"
        or case.status not in {State.APPROVED, State.PRODUCING, State.DISCLOSED, State.CLOSED}
    ):
        return []
    return list(json.loads(latest[0].scope_json or "[]"))
