"""`move()`: the only code that changes a case's state.

It applies the pure transition table (disclosure.workflow), checks the permission the move needs and the object
rules (disclosure.permissions: four eyes), sets or clears the decider, writes the one audit event the move owes,
and flushes. Intake, review and production all move cases through it, so "exactly one audit event per transition"
holds by construction. A later stage that keeps its own records per state (the review opens a new round each time
a case enters review) registers an entry step with `on_entering`, so this module never imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm.exc import StaleDataError

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.cases.models import Case
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.permissions import may_review
from disclosure.services import Actor, NotPermitted, Stale, require
from disclosure.workflow import (
    DECIDED_STATES,
    DECISION_ACTIONS,
    Action,
    IllegalTransition,
    State,
    available_actions,
    rule_for,
    transition,
)

#: Moves that only a correction of the facts makes (disclosure.cases.service.update_case), never a button.
CORRECTION_ACTIONS = frozenset({Action.CORRECT_FACTS})
#: Moves that are part of reviewing the case, which its logger may never do (four eyes).
REVIEW_ACTIONS = DECISION_ACTIONS | {Action.START_REVIEW, Action.REOPEN}


#: A step run when a case enters a state, before its event is written; it returns facts for that event.
EntryStep = Callable[[Case], dict[str, Any]]
_entry_steps: dict[State, EntryStep] = {}


def on_entering(state: State, step: EntryStep) -> None:
    """Have `step(case)` run whenever a case enters `state` (one step per state; registering again replaces it)."""
    _entry_steps[state] = step


def check_version(case: Case, expected_version: int | None) -> None:
    """Refuse a form loaded from an older version of the case (None: the caller has no form)."""
    if expected_version is not None and case.version_id != expected_version:
        raise Stale(case.reference)


def flush(case: Case) -> None:
    """Flush, turning a lost optimistic-locking race into the "changed by someone else" refusal."""
    reference = case.reference  # read now: after a failed flush the session loads nothing until rolled back
    try:
        db.session.flush()
    except StaleDataError as error:
        raise Stale(reference) from error


def actions_for(actor: Actor, case: Case) -> list[Action]:
    """The workflow steps this person may take on the case now, in the table's order: those its state allows, that
    their roles permit, and that four eyes leave them (a case's logger never reviews it)."""
    allowed = []
    for action in available_actions(case.status, case.track):
        rule = rule_for(action, case.track)
        if rule is None or not actor.can(rule.permission):
            continue
        if action in REVIEW_ACTIONS and not may_review(actor.id, case.created_by_id):
            continue
        if action is Action.AWAIT_TARGETS and case.targets:
            continue  # only for a case logged without targets
        if action in CORRECTION_ACTIONS:
            continue  # taken by correcting a fact (Edit facts), never as a bare step
        allowed.append(action)
    return allowed


def next_state(case: Case, action: Action) -> State:
    """Where `action` would take the case (IllegalTransition if nowhere): for callers preparing a move."""
    return transition(case.status, action, case.track)


def move(actor: Actor, case: Case, action: Action, *, ip: str | None, reason: str | None = None, **facts: Any) -> State:
    """Move the case by `action`; `facts` (JSON-safe) go into the transition's audit event. Returns the new state."""
    rule = rule_for(action, case.track)
    if rule is None:
        raise IllegalTransition(f"“{action.label}” does not apply to a {case.track.value} case.")
    require(actor, rule.permission)
    before = case.status
    after = transition(before, action, case.track)
    if action in REVIEW_ACTIONS and not may_review(actor.id, case.created_by_id):
        raise NotPermitted("You logged this case, so another reviewer must review it (four eyes).")
    facts = {**facts}
    if (step := _entry_steps.get(after)) is not None and after is not before:
        facts.update(step(case))
    case.state = after.value
    if after in DECIDED_STATES:
        case.decided_by_id, case.decided_at = actor.id, utcnow()
    elif before in DECIDED_STATES and after is State.IN_REVIEW:
        case.decided_by_id, case.decided_at = None, None
    data: dict[str, Any] = {"action": action.value, "from": before.value, "to": after.value, **facts}
    if reason and reason.strip():
        data["note"] = reason.strip()
    record(actor, AuditAction.CASE_TRANSITION, subject=case.subject, ip=ip, data=data)
    flush(case)
    return after
