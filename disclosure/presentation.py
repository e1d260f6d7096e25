"""Events as sentences a person reads: "Started the review (received → in review)", never `case.transition`.

The case page's timeline and the dossier both say what happened through `event_sentence`; the raw event body stays
one click away in the audit log (and in the dossier's appendix). Vocabulary ids become labels here, so no page
prints an id a person would have to decode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from disclosure.policy.vocabulary import Category, ProcessType, TargetKind
from disclosure.review.models import Outcome
from disclosure.workflow import ACTION_LABELS, DECISION_ACTIONS, Action, State

#: A case document's kind, as its list names it.
DOCUMENT_KINDS = {
    "legal_process": "Legal process",
    "correspondence": "Correspondence",
    "response_letter": "Our response letter",
}

#: Case fields as a correction names them.
FIELD_LABELS = {
    "summary": "the notes",
    "docket": "the docket",
    "authority_name": "the issuer's name",
    "officer_name": "the officer",
    "officer_badge": "the officer's badge",
    "officer_email": "the officer's email",
    "officer_phone": "the officer's phone",
    "valid_until": "when the process expires",
    "emergency": "whether it is an emergency",
    "assigned_to": "the assignee",
    "expires_on": "when the order ends",
}


def _state(value: object) -> str:
    try:
        return State(str(value)).label.lower()
    except ValueError:
        return "another state"


def _action(value: object) -> str:
    try:
        return ACTION_LABELS[Action(str(value))]
    except ValueError:
        return "A workflow step"


def _fields(diff: Mapping[str, Any]) -> str:
    if not diff:
        return "the case"
    names = [FIELD_LABELS.get(name, name.replace("_", " ")) for name in diff]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _transition(data: Mapping[str, Any]) -> str:
    sentence = f"{_action(data.get('action'))} ({_state(data.get('from'))} → {_state(data.get('to'))})"
    outcome = data.get("outcome")
    if outcome in Outcome._value2member_map_ and data.get("action") not in {a.value for a in DECISION_ACTIONS}:
        sentence += f": {Outcome(str(outcome)).label.lower()}"
    if note := data.get("note"):
        sentence += f". Reason: {note}"
    return sentence


def _update(data: Mapping[str, Any]) -> str:
    diff = data.get("diff") or {}
    if "assigned_to" in diff and len(diff) == 1:
        return "Changed who the case is assigned to"
    sentence = f"Corrected {_fields(diff)}" if data.get("reason") else f"Changed {_fields(diff)}"
    if reason := data.get("reason"):
        sentence += f". Reason: {reason}"
    return sentence


def _named(text: str, key: str = "filename") -> Callable[[Mapping[str, Any]], str]:
    return lambda data: f"{text} {data[key]}" if data.get(key) else text


SENTENCES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "case.create": lambda data: "Logged the request",
    "case.update": _update,
    "case.transition": _transition,
    "case.assign": lambda data: "Changed who the case is assigned to",
    "document.upload": _named("Attached"),
    "document.download": lambda data: "Downloaded a document",
    "comment.added": lambda data: (
        "Replied to an internal comment" if data.get("reply_to") else "Added an internal comment"
    ),
    "ndo.set": lambda data: (
        f"Recorded a non-disclosure order ({data.get('basis', '')}) "
        + ("with no end" if data.get("expires_on") == "indefinite" else f"until {data.get('expires_on')}")
    ),
    "ndo.renew": lambda data: "Recorded the renewal of the non-disclosure order",
    "ndo.customer_notified": lambda data: "Recorded that the customer was notified",
    "review.worksheet_saved": lambda data: "Saved the review's checklist and grounds",
    "review.approval_recorded": lambda data: "Gave the first of two approvals",
    "review.step_up_failed": lambda data: "Entered a wrong password when deciding; nothing was decided",
    "letter.created": _named("Stored the letter to the requester,"),
    "production.record_added": lambda data: "Added a responsive record",
    "bundle.build_started": lambda data: "Started building the disclosure bundle",
    "bundle.built": lambda data: "Built the disclosure bundle",
    "bundle.downloaded": lambda data: "Downloaded the disclosure bundle",
    "bundle.purged": lambda data: "Deleted the bundle's file at the end of its retention period",
    "job.queued": lambda data: "Asked for background work",
    "job.started": lambda data: "Background work started",
    "job.requeued": lambda data: "Background work was started again",
    "job.finished": lambda data: "Background work ended",
    "job.cancelled": lambda data: "Background work was cancelled",
    "job.secret_shown": lambda data: "The bundle's passphrase was shown once",
}


def category_label(value: str) -> str:
    """A data category's label ("Stored content"), whatever the stored id."""
    try:
        return Category(value).label
    except ValueError:
        return value.replace("_", " ")


def process_label(value: str) -> str:
    """A kind of legal process's label ("Search warrant")."""
    try:
        return ProcessType(value).label
    except ValueError:
        return value.replace("_", " ")


def target_kind_label(value: str) -> str:
    """A target kind's label ("Email address")."""
    try:
        return TargetKind(value).label
    except ValueError:
        return value.replace("_", " ")


def document_kind(kind: str) -> str:
    """A case document's kind in words."""
    return DOCUMENT_KINDS.get(kind, "Document")


def event_sentence(action: str, data: Mapping[str, Any] | None) -> str:
    """What an event says, in a sentence; an event this module does not know is named only as an event."""
    describe = SENTENCES.get(action)
    if describe is None:
        return "An event (its details are in the audit log)"
    try:
        return describe(data or {})
    except (KeyError, TypeError, AttributeError, IndexError):  # an older event shape: say less, not fail
        return "An event (its details are in the audit log)"
