"""The fold from case events to the case log state, the projection that stores it, and the check against the log.

`advance` is the one definition of what an event does to a case as the report sees it. The projection applies
it as each event is appended; `check` applies it again to the signed bodies and compares, so the stored rows
can be trusted only as far as the log can.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select

from disclosure.audit.actions import AuditAction
from disclosure.audit.models import AuditEvent
from disclosure.audit.service import register_projection
from disclosure.reports.models import CaseLogState
from disclosure.reports.transparency import CONTENT
from disclosure.workflow import Action, State

PROJECTED_ACTIONS = frozenset(
    {
        AuditAction.CASE_CREATE.value,
        AuditAction.CASE_TRANSITION.value,
        AuditAction.PRODUCTION_RECORD_ADDED.value,
        AuditAction.NDO_SET.value,
        AuditAction.NDO_RENEW.value,
    }
)
DECISIONS = frozenset({State.APPROVED.value, State.REJECTED.value})
#: A decision whose state is not a decided one: finding that no records are held closes the case from review.
NO_RECORDS = Action.NO_RECORDS.value
SUBJECT_PREFIX = "case:"
TABLE = CaseLogState.__table__
COLUMNS = TABLE.c


@dataclass(frozen=True)
class LogState:
    """A case after an event, as the report reads it."""

    state: str = State.RECEIVED.value
    previous_state: str | None = None
    produced: bool = False
    content_produced: bool = False
    #: A non-disclosure order without an end date is in force.
    indefinite_ndo: bool = False
    #: The first decision (approval, rejection, or no records held), and the first time the case became disclosed.
    decided_at: datetime | None = None
    disclosed_at: datetime | None = None


def advance(before: LogState | None, action: str, ts: datetime, data: Mapping[str, Any]) -> LogState | None:
    """The case after one event; None while the log has not seen the case created (it is not counted)."""
    if action == AuditAction.CASE_CREATE.value:
        order = (data.get("request") or {}).get("non_disclosure_order")
        return LogState(indefinite_ndo=isinstance(order, dict) and "until" in order and order["until"] is None)
    if before is None:
        return None
    changes: dict[str, Any] = {}
    if action == AuditAction.CASE_TRANSITION.value:
        to = data.get("to")
        changes = {"state": to, "previous_state": data.get("from")}
        if (to in DECISIONS or data.get("action") == NO_RECORDS) and before.decided_at is None:
            changes["decided_at"] = ts
        if to == State.DISCLOSED.value and before.disclosed_at is None:
            changes["disclosed_at"] = ts
    elif action == AuditAction.PRODUCTION_RECORD_ADDED.value:
        content = before.content_produced or data.get("category") in CONTENT
        changes = {"produced": True, "content_produced": content}
    elif action == AuditAction.NDO_SET.value:
        changes = {"indefinite_ndo": data.get("expires_on") == "indefinite"}
    elif action == AuditAction.NDO_RENEW.value:
        renewed = ((data.get("diff") or {}).get("expires_on") or {}).get("to")
        changes = {"indefinite_ndo": renewed == "indefinite"}
    else:
        return before
    return LogState(**{**asdict(before), **changes})


def reference_of(subject: str | None) -> str | None:
    return subject[len(SUBJECT_PREFIX) :] if subject and subject.startswith(SUBJECT_PREFIX) else None


_LATEST = (
    select(*(COLUMNS[name] for name in LogState.__dataclass_fields__))
    .where(COLUMNS.reference == bindparam("reference"))
    .order_by(COLUMNS.seq.desc())
    .limit(1)
)


def project(connection: Connection, seq: int, ts: datetime, action: str, subject: str | None, data: Any) -> None:
    """Store the case's state after this event (called by the audit log in the event's transaction)."""
    reference = reference_of(subject)
    if reference is None:
        return
    row = connection.execute(_LATEST, {"reference": reference}).first()
    before = LogState(*row) if row is not None else None
    after = advance(before, action, ts, data)
    if after is not None:
        connection.execute(insert(TABLE), {"seq": seq, "reference": reference, **asdict(after)})


register_projection("case_log_state", PROJECTED_ACTIONS, project)


@dataclass(frozen=True)
class Mismatch:
    seq: int
    what: str


def _aware(moment: datetime | None) -> datetime | None:
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=UTC)


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def expected_rows(connection: Connection, size: int | None = None) -> Iterator[tuple[int, str, LogState]]:
    """The rows the projection should hold, recomputed from the signed event bodies, in seq order."""
    event = AuditEvent.__table__.c
    statement = select(event.seq, event.ts, event.action, event.subject, event.body).where(
        event.action.in_(PROJECTED_ACTIONS)
    )
    if size is not None:
        statement = statement.where(event.seq <= size)
    states: dict[str, LogState] = {}
    result = connection.execution_options(yield_per=5_000).execute(statement.order_by(event.seq))
    for seq, ts, action, subject, body in result:
        reference = reference_of(subject)
        if reference is None:
            continue
        after = advance(states.get(reference), action, _as_utc(ts), json.loads(bytes(body)).get("data") or {})
        if after is not None:
            states[reference] = after
            yield seq, reference, after


def stored_rows(connection: Connection, size: int | None = None) -> Iterator[tuple[int, str, LogState]]:
    names = list(LogState.__dataclass_fields__)
    statement = select(COLUMNS.seq, COLUMNS.reference, *(COLUMNS[n] for n in names))
    if size is not None:
        statement = statement.where(COLUMNS.seq <= size)
    result = connection.execution_options(yield_per=5_000).execute(statement.order_by(COLUMNS.seq))
    for seq, reference, *values in result:
        fields = dict(zip(names, values, strict=True))
        fields["decided_at"] = _aware(fields["decided_at"])
        fields["disclosed_at"] = _aware(fields["disclosed_at"])
        fields["produced"], fields["content_produced"] = bool(fields["produced"]), bool(fields["content_produced"])
        fields["indefinite_ndo"] = bool(fields["indefinite_ndo"])
        yield seq, reference, LogState(**fields)


def check(connection: Connection, size: int | None = None) -> tuple[int, Mismatch | None]:
    """Compare the stored rows with the log: (rows checked, the first mismatch or None)."""
    expected, stored = expected_rows(connection, size), stored_rows(connection, size)
    want, have = next(expected, None), next(stored, None)
    checked = 0
    while want is not None or have is not None:
        if have is None or (want is not None and want[0] < have[0]):
            return checked, Mismatch(want[0], f"no stored state for {want[1]}'s event")  # type: ignore[index]
        if want is None or have[0] < want[0]:
            return checked, Mismatch(have[0], "a stored state that no case event explains")
        if want != have:
            return checked, Mismatch(have[0], _difference(want, have))
        checked += 1
        want, have = next(expected, None), next(stored, None)
    return checked, None


def _difference(want: tuple[int, str, LogState], have: tuple[int, str, LogState]) -> str:
    if want[1] != have[1]:
        return f"stored for case {have[1]}, but the event is about {want[1]}"
    wanted, held = asdict(want[2]), asdict(have[2])
    fields = [
        f"{name} is {held[name]!r}, the log says {wanted[name]!r}" for name in wanted if wanted[name] != held[name]
    ]
    return f"case {have[1]}: " + "; ".join(fields)
