"""Correcting a case's facts (Edit facts): every fact the request states, targets and categories included.

Each correction is one audit event with a from/to diff per fact and the reason. Before a decision a correction
applies in place; a review under way hears of it (`on_facts_corrected`) so its worksheet never confirms facts that
changed. Once the case is decided, correcting a fact sends it back for a new review with the old decision kept
(Action.CORRECT_FACTS); once production has begun, the facts are frozen. The deadline is computed again when a fact
it rests on changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.cases.facts import (
    CaseError,
    agency_named,
    case_columns,
    due_for,
    iso,
    set_categories,
    set_targets,
    stated_due,
)
from disclosure.cases.lifecycle import check_version, flush, move
from disclosure.cases.models import PRESERVATION_PROCESSES, Case
from disclosure.permissions import Permission
from disclosure.policy.deadlines import DueDate
from disclosure.policy.request import Jurisdiction, RequestDocument, particulars_json
from disclosure.policy.vocabulary import Category, ProcessType, Regime
from disclosure.services import Actor, require
from disclosure.workflow import DECIDED_STATES, Action, State, Track


@dataclass(frozen=True)
class CaseChanges:
    """Editable facts of a case; None leaves a field as it is.

    `request` restates the request as a whole (Edit facts gives every fact at once, checked by the same parser as
    intake): the case takes each fact of it that differs, targets and categories included, and its deadline is
    computed again when a fact it rests on changes.
    """

    summary: str | None = None
    docket: str | None = None
    authority_name: str | None = None
    officer_name: str | None = None
    officer_badge: str | None = None
    officer_email: str | None = None
    officer_phone: str | None = None
    valid_until: date | None = None
    emergency: bool | None = None
    request: RequestDocument | None = None
    #: The time zone the deadline is counted in (and the receipt was entered in).
    timezone: str | None = None


#: States in which production has begun or data has left: the facts it was produced on can no longer change.
PRODUCED_STATES = frozenset({State.PRODUCING, State.DISCLOSED})
#: The facts the deadline is computed from: changing one computes it again.
DUE_INPUTS = frozenset({"process_type", "received_at", "emergency", "timezone", "regime", "country", "stated_due"})

#: A step run when a case's facts are corrected while it is in review (the review's round registers one, so that
#: its worksheet never confirms facts that have changed); it returns facts for the correction's audit event.
CorrectionStep = Callable[[Case, list[str]], dict[str, Any]]
_correction_steps: list[CorrectionStep] = []


def on_facts_corrected(step: CorrectionStep) -> None:
    """Have `step(case, corrected fields)` run whenever a fact of a case in review is corrected."""
    if step not in _correction_steps:
        _correction_steps.append(step)


#: Facts stored in a column of their own under the same name.
SIMPLE_FACTS = (
    "process_type",
    "regime",
    "country",
    "region",
    "authority_kind",
    "authority_name",
    "docket",
    "officer_name",
    "officer_badge",
    "officer_email",
    "officer_phone",
    "received_at",
    "received_via",
    "emergency",
    "issued_on",
    "valid_until",
    "timezone",
    "summary",
)


def _facts_now(case: Case) -> dict[str, Any]:
    """The case's correctable facts as plain values (how the diff shows them)."""
    return {
        **{name: getattr(case, name) for name in SIMPLE_FACTS},
        "agency": {"name": case.agency.name, "country": case.agency.country},
        "particulars": case.particulars or {},
        "targets": [
            {"kind": t.kind, "value": t.value, "from": t.date_from, "to": t.date_to}
            for t in sorted(case.targets, key=lambda t: (t.kind, t.value))
        ],
        "categories": [c.value for c in case.categories],
        "stated_due": stated_due(case),
    }


def _facts_given(changes: CaseChanges) -> dict[str, Any]:
    """The facts `changes` states, in _facts_now's shape."""
    given: dict[str, Any] = {}
    doc = changes.request
    if doc is not None:
        given.update(
            case_columns(doc),
            agency={"name": " ".join(doc.agency.name.split()), "country": doc.agency.country.strip().upper()},
            particulars=particulars_json(doc),
            targets=[
                {"kind": t.kind.value, "value": t.value, "from": iso(t.from_), "to": iso(t.to)}
                for t in sorted(doc.targets, key=lambda t: (t.kind.value, t.value))
            ],
            categories=[c.value for c in sorted(doc.categories, key=list(Category).index)],
            stated_due=doc.due_at,
        )
    for name in SIMPLE_FACTS:  # the single facts given on their own (scripts and tests)
        if getattr(changes, name, None) is not None:
            given[name] = getattr(changes, name)
    return given


def update_case(
    actor: Actor,
    case: Case,
    changes: CaseChanges,
    expected_version: int | None,
    ip: str | None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Apply the changed fields; record one event with a from/to diff of each and the reason. Returns the diff
    (empty: nothing changed).

    The notes may change while the case is open. A fact needs a reason. Before a decision it is corrected in place
    (a review under way starts its worksheet again on the corrected facts); once the case is decided, correcting one
    sends it back for a new review (the old decision stays on record); once production has begun the facts are
    frozen.
    """
    require(actor, Permission.CASE_EDIT)
    check_version(case, expected_version)
    if not case.status.is_open and case.status not in DECIDED_STATES:  # a rejected case may be corrected
        raise CaseError(f"{case.reference} is {case.status.label.lower()}; its facts can no longer change.")
    before, given = _facts_now(case), _facts_given(changes)
    changed = {name: value for name, value in given.items() if before[name] != value}
    due = _due_after(case, {**before, **given}) if DUE_INPUTS & set(changed) else None
    changed.pop("stated_due", None)  # the diff shows the deadline it gives
    diff: dict[str, Any] = {name: {"from": _jsonable(before[name]), "to": _jsonable(changed[name])} for name in changed}
    if due is not None and due.at != case.due_at:
        diff["due_at"] = {"from": _jsonable(case.due_at), "to": _jsonable(due.at)}
    if due is not None and due.explanation != case.due_explanation:
        diff["due_explanation"] = {"from": case.due_explanation, "to": due.explanation}
    facts = sorted(field for field in diff if field != "summary")
    _check_correctable(case, facts, {**before, **given})
    reason = (reason or "").strip()
    if facts and not reason:
        raise CaseError("Say why the facts are corrected (for example, what the document really says).", field="reason")
    if not diff:
        return diff
    _apply(actor, case, changed, changes.request, due, ip)
    data: dict[str, Any] = {"diff": diff}
    if facts:
        data["reason"] = reason
        if case.status is State.IN_REVIEW:
            for step in _correction_steps:
                data.update(step(case, facts))
    record(actor, AuditAction.CASE_UPDATE, subject=case.subject, ip=ip, data=data)
    flush(case)
    if facts and case.status in DECIDED_STATES:
        move(actor, case, Action.CORRECT_FACTS, ip=ip, reason=reason, corrected=facts)
    elif "targets" in diff and not case.targets and case.status is State.RECEIVED:
        # As at intake: a case without targets waits for the requester to name them.
        move(actor, case, Action.AWAIT_TARGETS, ip=ip)
    return diff


def _due_after(case: Case, facts: dict[str, Any]) -> DueDate | None:
    """The deadline the corrected facts give (None: the one the case has)."""
    due = due_for(
        ProcessType(facts["process_type"]),
        facts["received_at"],
        facts["emergency"],
        facts["stated_due"],
        facts["timezone"],
        Jurisdiction(Regime(facts["regime"]), facts["country"], None),
    )
    return None if (due.at, due.explanation) == (case.due_at, case.due_explanation) else due


def _check_correctable(case: Case, facts: list[str], after: dict[str, Any]) -> None:
    if facts and case.status in PRODUCED_STATES:
        raise CaseError(
            f"Production of {case.reference} has begun on the approved facts, so they can no longer change. "
            "Record what was wrong in the notes, and log the corrected request as a new case if the requester "
            "must send one."
        )
    preserving = ProcessType(after["process_type"]) in PRESERVATION_PROCESSES
    if (
        "process_type" in facts
        and preserving != (case.track is Track.PRESERVATION)
        and case.status is not State.RECEIVED
    ):
        raise CaseError(
            "A preservation request and a request for disclosure follow different steps, and this case has already "
            f"taken some as {case.process.label}. Withdraw it and log the request again as a new case.",
            field="process_type",
        )
    if preserving and not after["targets"] and {"process_type", "targets"} & set(facts):
        raise CaseError("A preservation request must name what to preserve; add its targets.", field="targets")


def _apply(
    actor: Actor, case: Case, changed: dict[str, Any], doc: RequestDocument | None, due: DueDate | None, ip: str | None
) -> None:
    for name, value in changed.items():
        if name in SIMPLE_FACTS:
            setattr(case, name, value)
    if doc is not None:
        if "agency" in changed:
            case.agency = agency_named(actor, doc.agency.name, doc.agency.country, ip)
        if "particulars" in changed:
            case.particulars = particulars_json(doc) or None
        if "targets" in changed:
            set_targets(case, doc.targets)
        if "categories" in changed:
            set_categories(case, doc.categories)
    if due is not None:
        case.due_at, case.due_explanation = due.at, due.explanation


def _jsonable(value: Any) -> Any:
    return iso(value) if isinstance(value, date | datetime) else value
