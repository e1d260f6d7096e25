"""A case's life: its states, the actions that move it, and the one table of legal transitions.

Pure: no Flask, no database. Services call `transition()` and nothing else decides whether a move is legal;
the database backs the results with check constraints. Preservation requests follow their own short path
(received → preserved → expired); every other process goes through review before anything is disclosed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from disclosure.permissions import Permission


class State(StrEnum):
    RECEIVED = "received"
    IN_REVIEW = "in_review"
    NEEDS_INFO = "needs_info"
    APPROVED = "approved"
    REJECTED = "rejected"
    PRODUCING = "producing"
    DISCLOSED = "disclosed"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"
    PRESERVED = "preserved"
    EXPIRED = "expired"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATES


class Action(StrEnum):
    START_REVIEW = "start_review"
    AWAIT_TARGETS = "await_targets"
    CORRECT_FACTS = "correct_facts"
    REQUEST_INFO = "request_info"
    REQUESTER_ANSWERED = "requester_answered"
    APPROVE = "approve"
    REJECT = "reject"
    NO_RECORDS = "no_records"
    REOPEN = "reopen"
    START_PRODUCTION = "start_production"
    MARK_DISCLOSED = "mark_disclosed"
    CLOSE = "close"
    WITHDRAW = "withdraw"
    PRESERVE = "preserve"
    RENEW_PRESERVATION = "renew_preservation"
    EXPIRE = "expire"

    @property
    def label(self) -> str:
        return ACTION_LABELS[self]


ACTION_LABELS: dict[Action, str] = {
    Action.START_REVIEW: "Start review",
    Action.AWAIT_TARGETS: "Ask the requester to name the targets",
    Action.CORRECT_FACTS: "Correct the facts and review again",
    Action.REQUEST_INFO: "Ask the requester for more",
    Action.REQUESTER_ANSWERED: "Requester answered",
    Action.APPROVE: "Approve",
    Action.REJECT: "Reject",
    Action.NO_RECORDS: "Record that no records are held",
    Action.REOPEN: "Reopen for a new review",
    Action.START_PRODUCTION: "Start production",
    Action.MARK_DISCLOSED: "Mark disclosed",
    Action.CLOSE: "Close",
    Action.WITHDRAW: "Mark withdrawn",
    Action.PRESERVE: "Confirm data preserved",
    Action.RENEW_PRESERVATION: "Renew preservation",
    Action.EXPIRE: "Mark preservation expired",
}

OPEN_STATES = frozenset(
    {State.RECEIVED, State.IN_REVIEW, State.NEEDS_INFO, State.APPROVED, State.PRODUCING, State.PRESERVED}
)
#: States that only a recorded decision can produce; the database requires a decider in them.
DECIDED_STATES = frozenset({State.APPROVED, State.REJECTED})

#: Actions that are a reviewer's decision: taken only through the review page (checklist, grounds, password, and a
#: stored decision with its letter), never as a bare workflow step.
DECISION_ACTIONS = frozenset({Action.APPROVE, Action.REJECT, Action.REQUEST_INFO, Action.NO_RECORDS})


class Track(StrEnum):
    """Which path a case follows, from its process type."""

    DISCLOSURE = "disclosure"
    PRESERVATION = "preservation"


@dataclass(frozen=True)
class Transition:
    action: Action
    sources: frozenset[State]
    target: State
    permission: Permission
    track: Track


def _t(
    action: Action, sources: set[State], target: State, permission: Permission, track: Track = Track.DISCLOSURE
) -> Transition:
    return Transition(action, frozenset(sources), target, permission, track)


TRANSITIONS: dict[Action, Transition] = {
    t.action: t
    for t in (
        _t(Action.START_REVIEW, {State.RECEIVED}, State.IN_REVIEW, Permission.REVIEW_DECIDE),
        # Logged without targets (confirmed at intake): nothing can be reviewed until the requester names them.
        _t(Action.AWAIT_TARGETS, {State.RECEIVED}, State.NEEDS_INFO, Permission.CASE_CREATE),
        _t(Action.REQUEST_INFO, {State.IN_REVIEW}, State.NEEDS_INFO, Permission.REVIEW_DECIDE),
        _t(Action.REQUESTER_ANSWERED, {State.NEEDS_INFO}, State.IN_REVIEW, Permission.CASE_EDIT),
        _t(Action.APPROVE, {State.IN_REVIEW}, State.APPROVED, Permission.REVIEW_DECIDE),
        _t(Action.REJECT, {State.IN_REVIEW}, State.REJECTED, Permission.REVIEW_DECIDE),
        # A finding that no account or data is held for the targets: nothing will be produced, so the case is
        # finished; the "no records" letter has answered the requester.
        _t(Action.NO_RECORDS, {State.IN_REVIEW}, State.CLOSED, Permission.REVIEW_DECIDE),
        _t(Action.REOPEN, {State.APPROVED, State.REJECTED}, State.IN_REVIEW, Permission.REVIEW_DECIDE),
        # A decided case's facts are frozen: correcting one sends the case back for a new review (the decision on
        # the old facts stays on record).
        _t(Action.CORRECT_FACTS, {State.APPROVED, State.REJECTED}, State.IN_REVIEW, Permission.CASE_EDIT),
        _t(Action.START_PRODUCTION, {State.APPROVED}, State.PRODUCING, Permission.PRODUCTION_MANAGE),
        _t(Action.MARK_DISCLOSED, {State.PRODUCING}, State.DISCLOSED, Permission.PRODUCTION_MANAGE),
        _t(Action.CLOSE, {State.DISCLOSED, State.REJECTED, State.APPROVED}, State.CLOSED, Permission.CASE_CLOSE),
        _t(
            Action.WITHDRAW,
            {State.RECEIVED, State.IN_REVIEW, State.NEEDS_INFO, State.APPROVED, State.PRODUCING},
            State.WITHDRAWN,
            Permission.CASE_EDIT,
        ),
        _t(Action.PRESERVE, {State.RECEIVED}, State.PRESERVED, Permission.CASE_EDIT, Track.PRESERVATION),
        _t(Action.RENEW_PRESERVATION, {State.PRESERVED}, State.PRESERVED, Permission.CASE_EDIT, Track.PRESERVATION),
        _t(Action.EXPIRE, {State.PRESERVED}, State.EXPIRED, Permission.CASE_EDIT, Track.PRESERVATION),
    )
}
# A preservation request may also be withdrawn while it is open.
PRESERVATION_WITHDRAW = _t(
    Action.WITHDRAW, {State.RECEIVED, State.PRESERVED}, State.WITHDRAWN, Permission.CASE_EDIT, Track.PRESERVATION
)


class IllegalTransition(ValueError):
    """A case cannot move from its state by that action."""


def rule_for(action: Action, track: Track) -> Transition | None:
    if action is Action.WITHDRAW and track is Track.PRESERVATION:
        return PRESERVATION_WITHDRAW
    rule = TRANSITIONS[action]
    return rule if rule.track is track else None


def transition(state: State, action: Action, track: Track) -> State:
    """The state after `action`, or IllegalTransition saying why not."""
    rule = rule_for(action, track)
    if rule is None:
        raise IllegalTransition(f"“{action.label}” does not apply to a {track.value} case.")
    if state not in rule.sources:
        raise IllegalTransition(f"“{action.label}” is not possible while the case is {state.label.lower()}.")
    return rule.target


def available_actions(state: State, track: Track) -> list[Action]:
    """The actions whose transition starts from `state`, in the table's order."""
    return [action for action in Action if (rule := rule_for(action, track)) is not None and state in rule.sources]
