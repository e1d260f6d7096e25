"""Who is told of what: the mapping from audit events to notices, and the deadlines the reminder scan looks for.

`notices_for_event` reads one recorded event (action, subject, data) and says which kind of notice goes to whom;
`reminders_due` finds the deadlines that crossed a threshold (a response due in 3 or 1 days or overdue, a
non-disclosure order ending in 30 or 7 days or ended, a preservation lapsing in 7 or 1 days, a two-person change
waiting a day, a signed checkpoint whose file is missing) with indexed queries. A notice's key names the event or
the deadline and its threshold, so the same notice is never created twice. The words name a case by its reference
and its kind of process only: never a target, an officer or a document's content.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select

from disclosure.audit.actions import AuditAction
from disclosure.audit.models import AuditEvent
from disclosure.audit.service import missing_checkpoint_files
from disclosure.auth.models import User, UserRole
from disclosure.auth.pending_models import ChangeKind, ChangeState, PendingChange
from disclosure.cases.models import Case, NonDisclosureOrder
from disclosure.cases.queries import ACTIVE
from disclosure.extensions import db
from disclosure.notifications.models import NotificationKind
from disclosure.permissions import Role
from disclosure.policy.deadlines import DeadlineError, preservation_ends
from disclosure.policy.loader import default_policy
from disclosure.timezones import zone
from disclosure.workflow import Action, State

#: How far back the scan looks for deadlines already passed: an order that ended or a response that fell overdue
#: longer ago than this (before notifications were switched on, say) is on the dashboard, not in anyone's inbox.
LOOKBACK = timedelta(days=90)
#: Days before a non-disclosure order ends, and before a preservation lapses, that people are reminded.
GAG_ORDER_DAYS = (30, 7)
PRESERVATION_DAYS = (7, 1)
#: A two-person change still waiting this long is brought up again.
CHANGE_WAITING = timedelta(hours=24)
#: A checkpoint's file is written just after its commit, and by a job every ten minutes should that fail: one
#: missing for longer than this is an alert.
CHECKPOINT_FILE_GRACE = timedelta(minutes=15)

#: The decisions the case's logger is told of, in words.
DECISIONS = {
    Action.APPROVE.value: "approved",
    Action.REJECT.value: "rejected",
    Action.NO_RECORDS.value: "closed: no records are held",
    Action.REQUEST_INFO.value: "sent back to the requester for more information",
}


@dataclass(frozen=True)
class Event:
    """An audit event as record() appended it: what the rules read."""

    seq: int
    actor_id: int | None
    action: str
    subject: str | None
    data: dict[str, Any]
    outcome: str


@dataclass(frozen=True)
class Notice:
    """One kind of notice to a set of people; `key` names the event or deadline (the recipient is added to it)."""

    kind: NotificationKind
    recipients: frozenset[int]
    summary: str
    key: str
    case_id: int | None = None
    subject: str | None = None
    deadline: datetime | None = None
    threshold: str | None = None


#: The actions whose events may tell someone something (every other event is passed over at once).
WATCHED_ACTIONS = frozenset(
    {
        AuditAction.CASE_CREATE.value,
        AuditAction.CASE_UPDATE.value,
        AuditAction.CASE_ASSIGN.value,
        AuditAction.CASE_TRANSITION.value,
        AuditAction.CHANGE_REQUESTED.value,
        AuditAction.AUDIT_VERIFIED.value,
    }
)


def active_users_with(*roles: Role) -> frozenset[int]:
    """The ids of active accounts holding any of `roles`."""
    rows = db.session.execute(
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role.in_([role.value for role in roles]), User.active.is_(True))
    ).scalars()
    return frozenset(rows)


def _active(*user_ids: int | None) -> frozenset[int]:
    wanted = {user_id for user_id in user_ids if user_id is not None}
    if not wanted:
        return frozenset()
    return frozenset(db.session.execute(select(User.id).where(User.id.in_(wanted), User.active.is_(True))).scalars())


def _case(subject: str | None) -> Case | None:
    if not subject or not subject.startswith("case:"):
        return None
    return db.session.execute(select(Case).where(Case.reference == subject.removeprefix("case:"))).scalar()


def _named(case: Case) -> str:
    return f"{case.reference} ({case.process.label})"


def notices_for_event(event: Event) -> list[Notice]:
    """The notices one recorded event gives rise to (none for most). The actor is never told of their own act."""
    if event.action not in WATCHED_ACTIONS:
        return []
    notices = _case_notices(event) if event.subject and event.subject.startswith("case:") else _other_notices(event)
    return [
        replace(notice, recipients=notice.recipients - {event.actor_id})
        for notice in notices
        if notice.recipients - {event.actor_id}
    ]


def _case_notices(event: Event) -> list[Notice]:
    case = _case(event.subject)
    if case is None:
        return []
    key = f"event:{event.seq}"
    notices = []

    def notice(kind: NotificationKind, recipients: frozenset[int], summary: str) -> None:
        notices.append(Notice(kind, recipients, summary, f"{kind.value}:{key}", case.id, deadline=case.due_at))

    data = event.data
    became_emergency = (
        event.action == AuditAction.CASE_UPDATE.value
        and (data.get("diff") or {}).get("emergency", {}).get("to") is True
    )
    if (event.action == AuditAction.CASE_CREATE.value and case.emergency) or became_emergency:
        notice(
            NotificationKind.EMERGENCY_RECEIVED,
            active_users_with(Role.REVIEWER),
            f"Emergency request {_named(case)} needs a reviewer now.",
        )
    elif event.action == AuditAction.CASE_ASSIGN.value:
        assignee = ((data.get("diff") or {}).get("assigned_to") or {}).get("to")
        if isinstance(assignee, int):
            notice(NotificationKind.ASSIGNED, _active(assignee), f"Case {_named(case)} was assigned to you.")
    elif event.action == AuditAction.CASE_TRANSITION.value:
        action, target = data.get("action"), data.get("to")
        if action == Action.REQUESTER_ANSWERED.value:
            reviewers = _active(case.assigned_to_id) or active_users_with(Role.REVIEWER) - {case.created_by_id}
            notice(
                NotificationKind.NEEDS_INFO_ANSWERED,
                reviewers,
                f"The requester answered on case {_named(case)}; it is back in review.",
            )
        if action in DECISIONS:
            notice(
                NotificationKind.DECISION_RECORDED,
                _active(case.created_by_id),
                f"Case {_named(case)}, which you logged, was {DECISIONS[str(action)]}.",
            )
        if target == State.APPROVED.value:
            notice(
                NotificationKind.READY_TO_PRODUCE,
                active_users_with(Role.PRODUCER),
                f"Case {_named(case)} was approved and is ready to produce.",
            )
    return notices


def _other_notices(event: Event) -> list[Notice]:
    if event.action == AuditAction.CHANGE_REQUESTED.value and event.subject:
        kind = event.data.get("kind")
        what = ChangeKind(kind).label.lower() if isinstance(kind, str) and kind in set(ChangeKind) else "a change"
        return [
            Notice(
                NotificationKind.CHANGE_AWAITING,
                active_users_with(Role.ADMIN),
                f"A change waits for a second administrator: {what}.",
                f"change_awaiting:event:{event.seq}",
                subject=event.subject,
            )
        ]
    if event.action == AuditAction.AUDIT_VERIFIED.value and event.outcome != "success":
        return [
            Notice(
                NotificationKind.INTEGRITY_ALERT,
                active_users_with(Role.ADMIN, Role.AUDITOR),
                "The audit log FAILED verification. Open Log integrity to see the first bad event and what is wrong.",
                f"integrity_alert:event:{event.seq}",
                subject="audit",
            )
        ]
    return []


# The reminder scan.


def reminders_due(now: datetime, due_days: Sequence[int]) -> list[Notice]:
    """Every deadline reminder due at `now` (those already sent are filtered out by their keys afterwards)."""
    return [
        *_response_reminders(now, due_days),
        *_gag_order_reminders(now),
        *_preservation_reminders(now),
        *_change_reminders(now),
        *_checkpoint_alerts(now),
    ]


def _threshold(remaining: timedelta, days: Iterable[int]) -> int | None:
    """The tightest threshold (in days) the time left has crossed, or None while it is further away than all."""
    crossed = [day for day in days if remaining <= timedelta(days=day)]
    return min(crossed) if crossed else None


def _people_on(case: Case) -> frozenset[int]:
    """Who is reminded of a case's deadlines: whoever it is assigned to and the person who logged it."""
    return _active(case.assigned_to_id, case.created_by_id)


def _response_reminders(now: datetime, due_days: Sequence[int]) -> list[Notice]:
    horizon = now + timedelta(days=max(due_days))
    # ix_case_file_state_due: (state, due_at).
    cases = db.session.execute(
        select(Case).where(Case.state.in_(ACTIVE), Case.due_at < horizon, Case.due_at >= now - LOOKBACK)
    ).scalars()
    notices = []
    for case in cases:
        remaining = case.due_at - now
        due = case.due_at.isoformat()
        if remaining < timedelta(0):
            kind, threshold = NotificationKind.OVERDUE, "overdue"
            summary = f"The response to {_named(case)} is overdue."
        else:
            days = _threshold(remaining, due_days)
            if days is None:
                continue
            kind, threshold = NotificationKind.DUE_SOON, f"{days}d"
            summary = f"The response to {_named(case)} is due within {days} day{'s' if days > 1 else ''}."
        notices.append(
            Notice(
                kind,
                _people_on(case),
                summary,
                f"{kind.value}:{case.id}:{threshold}:{due}",
                case.id,
                deadline=case.due_at,
                threshold=threshold,
            )
        )
    return notices


def _end_of_day(day: date, zone_name: str) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=zone(zone_name)).astimezone(UTC)


def _gag_order_reminders(now: datetime) -> list[Notice]:
    soonest, latest = (now - LOOKBACK).date(), (now + timedelta(days=max(GAG_ORDER_DAYS) + 1)).date()
    rows = db.session.execute(
        select(Case, NonDisclosureOrder)
        .join(NonDisclosureOrder, NonDisclosureOrder.case_id == Case.id)
        .where(
            NonDisclosureOrder.expires_on.is_not(None),
            NonDisclosureOrder.expires_on >= soonest,
            NonDisclosureOrder.expires_on <= latest,
            NonDisclosureOrder.customer_notified_at.is_(None),
        )
    ).all()
    notices = []
    for case, order in rows:
        assert order.expires_on is not None
        today = now.astimezone(zone(case.timezone)).date()
        days_left = (order.expires_on - today).days
        ends = _end_of_day(order.expires_on, case.timezone)
        if days_left < 0:
            kind, threshold = NotificationKind.GAG_ORDER_ENDED, "ended"
            summary = (
                f"The non-disclosure order on {_named(case)} has ended: the customer may now be told, and the "
                "case waits under “Notify the customer”."
            )
        else:
            days = _threshold(timedelta(days=days_left), GAG_ORDER_DAYS)
            if days is None:
                continue
            kind, threshold = NotificationKind.GAG_ORDER_ENDING, f"{days}d"
            summary = f"The non-disclosure order on {_named(case)} ends within {days} days."
        notices.append(
            Notice(
                kind,
                _people_on(case),
                summary,
                f"{kind.value}:{case.id}:{threshold}:{order.expires_on.isoformat()}",
                case.id,
                deadline=ends,
                threshold=threshold,
            )
        )
    return notices


def preservation_end(case: Case) -> datetime | None:
    """When a preserved case's preservation lapses: its period from the day it was preserved plus each renewal,
    as the policy's clock says (read from the case's own transitions in the audit log), or None if unknown."""
    rows = db.session.execute(
        select(AuditEvent.ts, AuditEvent.body)
        .where(AuditEvent.subject == case.subject, AuditEvent.action == AuditAction.CASE_TRANSITION.value)
        .order_by(AuditEvent.seq)
    ).all()
    preserved_on: date | None = None
    renewals = 0
    for ts, body in rows:
        action = json.loads(bytes(body)).get("data", {}).get("action")
        if action == Action.PRESERVE.value:
            preserved_on, renewals = ts.astimezone(zone(case.timezone)).date(), 0
        elif action == Action.RENEW_PRESERVATION.value:
            renewals += 1
    if preserved_on is None:
        return None
    policy = default_policy()
    allowed = policy.process_types[case.process].renewals
    try:
        ends = preservation_ends(case.process, policy, preserved_on, case.timezone, min(renewals, allowed))
    except (DeadlineError, KeyError):
        return None
    return ends.at.astimezone(UTC)


def _preservation_reminders(now: datetime) -> list[Notice]:
    # ix_case_file_state_due leads with state: the preserved cases are few and found at once.
    cases = db.session.execute(select(Case).where(Case.state == State.PRESERVED.value)).scalars()
    notices = []
    for case in cases:
        ends = preservation_end(case)
        if ends is None or ends < now:
            continue
        days = _threshold(ends - now, PRESERVATION_DAYS)
        if days is None:
            continue
        notices.append(
            Notice(
                NotificationKind.PRESERVATION_LAPSING,
                _people_on(case),
                f"The preservation for {_named(case)} lapses within {days} day{'s' if days > 1 else ''} "
                "unless it is renewed.",
                f"{NotificationKind.PRESERVATION_LAPSING.value}:{case.id}:{days}d:{ends.isoformat()}",
                case.id,
                deadline=ends,
                threshold=f"{days}d",
            )
        )
    return notices


def _change_reminders(now: datetime) -> list[Notice]:
    # ix_pending_change_state: (state, id).
    waiting = db.session.execute(
        select(PendingChange).where(
            PendingChange.state == ChangeState.PENDING.value, PendingChange.requested_at <= now - CHANGE_WAITING
        )
    ).scalars()
    admins = active_users_with(Role.ADMIN)
    notices = []
    for change in waiting:
        recipients = admins - {change.requested_by_id}
        if recipients:
            notices.append(
                Notice(
                    NotificationKind.CHANGE_AWAITING,
                    recipients,
                    f"A change still waits for a second administrator: {change.change_kind.label.lower()}, asked "
                    f"for by {change.requested_by.name}.",
                    f"change_awaiting:change:{change.id}:24h",
                    subject=f"change:{change.id}",
                    threshold="24h",
                )
            )
    return notices


def _checkpoint_alerts(now: datetime) -> list[Notice]:
    folder = Path(current_app.config["AUDIT_CHECKPOINT_DIR"])
    missing = [c for c in missing_checkpoint_files(folder) if c.created_at <= now - CHECKPOINT_FILE_GRACE]
    if not missing:
        return []
    recipients = active_users_with(Role.ADMIN, Role.AUDITOR)
    return [
        Notice(
            NotificationKind.INTEGRITY_ALERT,
            recipients,
            f"The file of the signed audit checkpoint of size {checkpoint.size} is missing from the checkpoint "
            "folder. Open Log integrity and run a verification.",
            f"integrity_alert:checkpoint:{checkpoint.id}:missing",
            subject="audit",
            threshold="missing",
        )
        for checkpoint in missing
    ]
