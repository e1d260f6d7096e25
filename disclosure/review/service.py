"""The review: the engine's findings, the reviewer's checklist and grounds, and the decision with its guards.

Rules kept here and nowhere else: a reviewer never reviews a case they logged; deciding needs the password
again (step-up); approving needs every required checklist element confirmed, a cited ground for each approved
category, and a scope no wider than the request that never includes what the engine marks exceeds_process
(nor no_policy_ground without counsel's recorded escalation); interception orders need two distinct reviewers;
finding that no records are held needs identifiers to have searched for and a note of what was searched, and
only that decision closes a case from review. A decision is written once and never changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.auth import passwords
from disclosure.auth.models import User
from disclosure.auth.throttle import note_step_up_failure, step_ups_paused
from disclosure.cases.corrections import on_facts_corrected
from disclosure.cases.lifecycle import move, on_entering
from disclosure.cases.models import Case
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.permissions import Permission, approvals_complete, may_add_approval, may_review
from disclosure.policy.engine import evaluate
from disclosure.policy.findings import COUNSEL_ESCALATION, Evaluation
from disclosure.policy.request import (
    Agency,
    IssuingAuthority,
    Jurisdiction,
    NonDisclosureOrder,
    Officer,
    RequestDocument,
    Target,
    parse_particulars,
)
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
from disclosure.review.models import (
    Answer,
    Approval,
    ChecklistAnswer,
    Citation,
    Decision,
    Outcome,
    Review,
    ReviewStatus,
    Scope,
    encode_checklist,
    encode_grounds,
    encode_scope,
)
from disclosure.review.policy_versions import current_version, policy_of
from disclosure.review.scope import ScopeEntry, parse_scope
from disclosure.services import Actor, NotPermitted, Person, ServiceError, Stale, person, require
from disclosure.workflow import Action, IllegalTransition, State

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


class ReviewError(ServiceError):
    """A review step was refused; the message says what to fix.

    `field` names the `decide()` argument the refusal is about (None: the decision as a whole), so that a form
    can show the message beside its field.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class StepUpFailed(ReviewError):
    """The password re-entered to confirm a decision was wrong."""


def request_of(case: Case) -> RequestDocument:
    """The case as the request document the engine evaluates."""

    def when(raw: str | None, field: str) -> date | None:
        return moment(raw, field) if raw else None

    order = case.gag_order
    extra = parse_particulars(case.particulars)
    authority = IssuingAuthority(
        AuthorityKind(case.authority_kind),
        case.authority_name,
        case.docket,
        validated_by=extra.validated_by,
        official_level=extra.official_level,
    )
    return RequestDocument(
        reference=case.reference,
        process_type=ProcessType(case.process_type),
        jurisdiction=Jurisdiction(Regime(case.regime), case.country, case.region),
        issuing_authority=authority,
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
        offence=extra.offence,
        voluntary_basis=extra.voluntary_basis,
        agreement=extra.agreement,
    )


def open_review(case: Case) -> Review | None:
    return (
        db.session.execute(
            select(Review)
            .where(Review.case_id == case.id, Review.status == ReviewStatus.OPEN)
            .order_by(Review.id.desc())
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


def _open_round(case: Case) -> dict[str, Any]:
    # Each entry into review starts a new round under the current policy version; its event names both.
    review = begin_review(case)
    return {"review": review.id, "policy_sha256": review.policy_version.sha256}


on_entering(State.IN_REVIEW, _open_round)


def _closing_from_review(case: Case) -> dict[str, Any]:
    # A case leaves review for closed only by a no-records decision on its current round, written just before
    # the move (so four eyes, the step-up, the note and the letter all applied). The case page's generic
    # workflow buttons reach move() too; this refuses them the shortcut.
    if case.status is not State.IN_REVIEW:
        return {}
    current = db.session.execute(select(func.max(Review.id)).where(Review.case_id == case.id)).scalar_one()
    outcome = db.session.execute(select(Decision.outcome).where(Decision.review_id == current)).scalar_one_or_none()
    if outcome is not Outcome.NO_RECORDS:
        raise IllegalTransition("“No records held” is recorded on the review page, with a note of what was searched.")
    return {}


on_entering(State.CLOSED, _closing_from_review)


def _worksheet_on_old_facts(case: Case, _corrected: list[str]) -> dict[str, Any]:
    # The engine reads the case afresh on every page, but the answers and grounds confirmed facts that have just
    # changed: the reviewer confirms the corrected ones anew (the correction's event keeps what was cleared). A first
    # approval was given on the old facts, so it must be decided on (or the requester asked) before they change.
    review = open_review(case)
    if review is None:
        return {}
    if review.approvals:
        raise ReviewError(
            f"A reviewer has approved {case.reference} on the facts as they stand and a second approval is awaited: "
            "ask the requester for more information on the review page first, then correct the facts."
        )
    if not review.checklist and not review.grounds:
        return {}
    cleared = {"checklist": encode_checklist(review.checklist), "grounds": encode_grounds(review.grounds)}
    review.checklist, review.grounds = {}, {}
    return {"review": review.id, "worksheet_cleared": cleared}


on_facts_corrected(_worksheet_on_old_facts)


def evaluation_for(review: Review, today: date | None = None) -> Evaluation:
    return evaluate(request_of(review.case), policy_of(review.policy_version), today or utcnow().date())


def _check_reviewer(actor: Actor, review: Review) -> None:
    require(actor, Permission.REVIEW_DECIDE)
    if not may_review(actor.id, review.case.created_by_id):
        raise NotPermitted("You logged this case, so another reviewer must review it (four eyes).")
    if review.status != ReviewStatus.OPEN:
        raise ReviewError("This review is decided and can no longer change; a reopened case gets a new review.")


def save_worksheet(
    actor: Actor,
    review: Review,
    answers: Mapping[str, Mapping[str, str]],
    cited: Mapping[str, Mapping[str, Any]],
    counsel_note: str,
    expected_version: int | None,
    ip: str | None,
) -> bool:
    """Store checklist answers, cited grounds and counsel's note; one event with the diff. True if anything changed.

    `answers` maps checklist element ids to {"answer": yes|no|na|"", "note": str}; `cited` maps requested
    categories to {"grounds": [ground ids], "reason": str}, as the form (or a script) gives them.
    """
    _check_reviewer(actor, review)
    if expected_version is not None and expected_version != review.version_id:
        raise Stale(review.case.reference)
    evaluation = evaluation_for(review)
    known_items = {item.id for item in evaluation.checklist}
    new_answers: dict[str, ChecklistAnswer] = {}
    for item_id, answer in answers.items():
        if item_id not in known_items:
            raise ReviewError(f"Unknown checklist element {item_id!r}; reload the review page.")
        given = answer.get("answer") or ""
        if given and given not in Answer._value2member_map_:
            raise ReviewError("Answer each checklist element with yes, no or not applicable.")
        if given:
            note = answer.get("note", "").strip()[:2000]
            new_answers[item_id] = ChecklistAnswer(Answer(given), note, person(actor).id)
    requested = {c.value for c in review.case.categories}
    new_grounds: dict[str, Citation] = {}
    for category, citation in cited.items():
        if category not in requested:
            raise ReviewError(f"{category} was not requested; cite grounds only for requested data.")
        if unknown := [g for g in citation.get("grounds", []) if g not in Ground._value2member_map_]:
            raise ReviewError(f"Unknown ground {unknown[0]!r}; choose from the policy's grounds.")
        chosen = tuple(sorted({Ground(g) for g in citation.get("grounds", [])}))
        reason = citation.get("reason", "").strip()[:2000]
        if chosen or reason:
            new_grounds[category] = Citation(chosen, reason)
    diff: dict[str, Any] = {}
    old_answers, old_grounds = review.checklist, review.grounds
    for item_id in sorted(set(old_answers) | set(new_answers)):
        before = _answer_of(old_answers.get(item_id))
        after = _answer_of(new_answers.get(item_id))
        if before != after:
            diff[f"checklist.{item_id}"] = {"from": before, "to": after}
    for category in sorted(set(old_grounds) | set(new_grounds)):
        before_g = _grounds_of(old_grounds.get(category))
        after_g = _grounds_of(new_grounds.get(category))
        if before_g != after_g:
            diff[f"grounds.{category}"] = {"from": before_g, "to": after_g}
    counsel_note = counsel_note.strip()[:4000]
    if counsel_note != review.counsel_note:
        diff["counsel_note"] = {"from": bool(review.counsel_note), "to": bool(counsel_note)}
    notes_changed = new_answers != old_answers or new_grounds != old_grounds
    if not diff and not notes_changed:
        return False
    review.checklist = new_answers
    review.grounds = new_grounds
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


def _answer_of(answer: ChecklistAnswer | None) -> str | None:
    """The answer as the worksheet event's diff shows it (a plain string: audit bodies refuse enum types)."""
    return None if answer is None else answer.answer.value


def _grounds_of(citation: Citation | None) -> list[str] | None:
    return None if citation is None else [g.value for g in citation.grounds]


def _flush(review: Review) -> None:
    reference = review.case.reference  # read now: after a failed flush the session loads nothing until rolled back
    try:
        db.session.flush()
    except (StaleDataError, IntegrityError) as error:
        raise Stale(reference) from error


def step_up(actor: Person, password: str, ip: str | None) -> None:
    """Deciding needs the password again; a wrong one counts toward the step-up throttle (never the sign-in pause).

    The failed attempt stays on record (the unit of work writes it once the refused decision is rolled back).
    """
    stored = actor.password_hash if isinstance(actor, User) else None
    if stored is None or step_ups_paused(actor.email) or not passwords.verify_password(stored, password):

        def record_failure() -> None:
            note_step_up_failure(actor.email)
            record(actor, AuditAction.REVIEW_STEP_UP_FAILED, subject=f"user:{actor.id}", ip=ip, outcome="failure")

        refusal = StepUpFailed("Your password was not correct; the decision was not recorded. Enter it again.")
        refusal.on_record = record_failure
        raise refusal


def _day(raw: str | None, field: str) -> date | None:
    if not raw:
        return None
    value = moment(raw, field)
    return value.date() if isinstance(value, datetime) else value


def _check_approvable(review: Review, evaluation: Evaluation, scope: Scope) -> None:
    if not scope:
        raise ScopeError("approve at least one category for at least one target, or reject the request")
    approved = {Category(c) for entry in scope for c in entry.categories}
    escalated = bool(review.counsel_note.strip())
    periods: dict[Category, list[tuple[date | None, date | None]]] = {}
    for entry in scope:
        span = (_day(entry.start, "from"), _day(entry.end, "to"))
        for c in entry.categories:
            periods.setdefault(Category(c), []).append(span)
    check_scope(review.case.categories, approved, evaluation, counsel_escalation=escalated, periods=periods)
    if evaluation.counsel_required and not escalated:
        raise ScopeError("record counsel's decision (escalation) before approving: this disclosure always needs it")
    answers = review.checklist
    for item in evaluation.checklist:
        if item is COUNSEL_ESCALATION or item.id == COUNSEL_ESCALATION.id:
            needed = evaluation.counsel_required or any(
                (finding := evaluation.finding(c)) is not None and finding.verdict is Verdict.NO_POLICY_GROUND
                for c in approved
            )
            if not needed:
                continue
        answer = answers.get(item.id)
        if answer is not None and (answer.answer is Answer.YES or (answer.answer is Answer.NA and answer.note)):
            continue
        if answer is not None and answer.answer is Answer.NA:
            raise ScopeError(f"“{item.label}” is marked not applicable: add a note saying why")
        raise ScopeError(f"confirm the checklist element “{item.label}” before approving")
    cited = review.grounds
    policy = policy_of(review.policy_version)
    for category in sorted(approved):
        citation = cited.get(category.value)
        check_grounds(
            category,
            list(citation.grounds) if citation else [],
            policy,
            written_reason=citation.reason if citation else None,
        )


def decide(
    actor: Actor,
    review: Review,
    outcome: Outcome | str,
    *,
    password: str,
    ip: str | None,
    scope: Sequence[ScopeEntry] | None = None,
    reason_codes: Sequence[str] | None = None,
    text: str = "",
    requester_message: str = "",
    expected_version: int | None = None,
    case_version: int | None = None,
) -> Decision | Approval:
    """Approve, reject, ask for more, or find that no records are held. Returns the Decision, or the first Approval
    where two are required. `text` is the internal reasons (or what was searched), kept on file and never printed in
    a letter; `requester_message` is what the letter tells the requester in the reviewer's words (required when
    asking for more).
    `case_version` is the case's version the reviewer saw: a decision on facts that changed since is refused."""
    _check_reviewer(actor, review)
    if outcome not in Outcome._value2member_map_:
        raise ReviewError(
            "Choose an outcome: approve, reject, ask for more information, or no records held.", field="outcome"
        )
    step_up(person(actor), password, ip)
    case = review.case
    if expected_version is not None and expected_version != review.version_id:
        raise Stale(case.reference)
    if case_version is not None and case_version != case.version_id:
        raise Stale(case.reference)
    if case.status is not State.IN_REVIEW:
        raise ReviewError(f"{case.reference} is {case.status.label.lower()}, not in review.")
    outcome = Outcome(outcome)
    evaluation = evaluation_for(review)
    text = text.strip()
    message = requester_message.strip()
    if outcome is Outcome.APPROVED:
        entries: Scope = tuple(parse_scope(case, list(scope or [])))
        pending = review.approvals
        if pending:
            first = pending[0].scope
            if entries and entries != first:
                raise ScopeError(
                    "the second approval must confirm the first reviewer's scope exactly; to change "
                    "it, ask for more information or reject"
                )
            entries = first
        _check_approvable(review, evaluation, entries)
        if not may_add_approval(actor.id, [a.reviewer_id for a in pending]):
            raise ReviewError("You have already approved; a different reviewer must give the second approval.")
        approval = Approval(review_id=review.id, reviewer_id=person(actor).id, scope=entries)
        db.session.add(approval)
        review.approvals.append(approval)
        if not approvals_complete([a.reviewer_id for a in review.approvals], evaluation.approvals_required):
            record(
                actor,
                AuditAction.REVIEW_APPROVAL_RECORDED,
                subject=case.subject,
                ip=ip,
                data={
                    "review": review.id,
                    "approvals": len(review.approvals),
                    "required": evaluation.approvals_required,
                    "scope": encode_scope(entries),
                },
            )
            # Bump the review's version, so that a parallel "first" approval conflicts instead of also passing.
            flag_modified(review, "counsel_note")
            _flush(review)
            return approval
        return _write_decision(actor, review, evaluation, outcome, ip, scope=entries, text=text, message=message)
    if outcome is Outcome.REJECTED:
        codes = sorted(set(reason_codes or []))
        if not codes:
            raise ReviewError("Choose at least one reason for the rejection.")
        if unknown := [c for c in codes if c not in REJECTION_REASONS]:
            raise ReviewError(f"Unknown reason {unknown[0]!r}; choose from the list.")
        return _write_decision(actor, review, evaluation, outcome, ip, reason_codes=codes, text=text, message=message)
    if outcome is Outcome.NO_RECORDS:
        if not case.targets:
            raise ReviewError(
                "The request names no identifier, so there was nothing to search for: reject it instead "
                "(no specific identifier of an account).",
                field="outcome",
            )
        if not text:
            raise ReviewError(
                "Say what was searched before recording that no records are held: which systems, for which "
                "identifiers (for example: mail, hosting and billing systems for both addresses; no account).",
                field="text",
            )
        return _write_decision(actor, review, evaluation, outcome, ip, text=text, message=message)
    if not message:
        raise ReviewError("Write the message to the requester: what is missing or unclear.", field="message")
    # What was asked is on file too (the record needs a note); the internal reasons, if any, stay apart from it.
    return _write_decision(actor, review, evaluation, outcome, ip, text=text or message, message=message)


ACTION_FOR_OUTCOME = {
    Outcome.APPROVED: Action.APPROVE,
    Outcome.REJECTED: Action.REJECT,
    Outcome.NEEDS_INFO: Action.REQUEST_INFO,
    Outcome.NO_RECORDS: Action.NO_RECORDS,
}


def _write_decision(
    actor: Actor,
    review: Review,
    evaluation: Evaluation,
    outcome: Outcome,
    ip: str | None,
    *,
    scope: Scope | None = None,
    reason_codes: list[str] | None = None,
    text: str = "",
    message: str = "",
) -> Decision:
    case = review.case
    engine = evaluation.as_json()
    decision = Decision(
        review_id=review.id,
        case_id=case.id,
        outcome=outcome,
        decided_by_id=person(actor).id,
        scope=scope,
        reason_codes=reason_codes or [],
        text=text,
        requester_message=message,
        policy_sha256=review.policy_version.sha256,
        engine=engine,
        checklist=review.checklist,
        grounds=review.grounds,
        counsel_note=review.counsel_note,
    )
    db.session.add(decision)
    review.status = ReviewStatus.DECIDED
    # The transition event's data, key for key as before the columns were typed: the log is signed and
    # reports read it. Values are plain JSON (the audit encoder refuses enum members).
    facts: dict[str, Any] = {
        "review": review.id,
        "outcome": outcome.value,
        "policy_sha256": decision.policy_sha256,
        "engine": engine,
        "checklist": encode_checklist(review.checklist),
        "grounds": encode_grounds(review.grounds),
    }
    if scope is not None:
        facts["scope"] = encode_scope(scope)
    if reason_codes:
        facts["reason_codes"] = reason_codes
    if text:
        facts["text"] = text
    if message:
        facts["requester_message"] = message
    if review.counsel_note:
        facts["counsel_note"] = review.counsel_note
    if len(review.approvals) > 1:
        facts["approvers"] = [a.reviewer_id for a in review.approvals]
    move(actor, case, ACTION_FOR_OUTCOME[outcome], ip=ip, **facts)
    _flush(review)
    return decision


def decisions_of(case: Case) -> list[Decision]:
    return list(db.session.execute(select(Decision).where(Decision.case_id == case.id).order_by(Decision.id)).scalars())


def approved_scope(case: Case) -> list[dict[str, Any]]:
    """The scope of the case's standing approval (the latest decision, if it approved), in the stored JSON shape:
    [{"target": {"kind", "value"}, "categories": [...], "from", "to"}] (production and bundle manifests read it)."""
    latest = decisions_of(case)[-1:]
    if (
        not latest
        or latest[0].outcome is not Outcome.APPROVED
        or case.status not in {State.APPROVED, State.PRODUCING, State.DISCLOSED, State.CLOSED}
    ):
        return []
    return encode_scope(latest[0].scope or ())
