"""Creating notifications (from events at commit, and from the reminder scan), digests, and each person's own list
and settings.

The audit log tells this module of every event it appends (`add_listener`); the ones the rules watch are kept in
the session until it commits, and just before the commit `rules.notices_for_event` turns them into notification
rows in the same transaction: an action rolled back tells nobody. Rows are inserted with the database's
INSERT … ON CONFLICT DO NOTHING on their unique key, so a notice is created once however many workers scan at
once, and only the one that created it queues its email (one background job per email, retried with backoff by
the job system). Nothing here commits; sending happens later, so a relay that is down never holds up an action.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import Row, event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import add_listener, record
from disclosure.auth.models import User
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.jobs.service import enqueue
from disclosure.notifications import rules
from disclosure.notifications.mail import mail_method
from disclosure.notifications.models import (
    DIGEST_KIND,
    Delivery,
    MessageState,
    Notification,
    NotificationKind,
    NotificationPreference,
    SentMessage,
)
from disclosure.permissions import Permission
from disclosure.services import Actor, NotPermitted, ServiceError, SystemActor, require
from disclosure.timezones import zone

#: The background tasks (registered in disclosure.jobs.tasks): one email; the reminder scan; the daily digests.
SEND_TASK = "notifications.send"
SCAN_TASK = "notifications.scan"
DIGEST_TASK = "notifications.digest"
#: Who queues the emails: the system, not the person whose action caused them.
SENDER = SystemActor("notifications")
#: The newest notifications a person's list shows.
LIST_LIMIT = 100
#: session.info key: the watched events of the open transaction.
_PENDING = "notification_events"


class NotificationError(ServiceError):
    """A notification or a setting cannot be changed as asked; the message says why."""


# Events to notices, at commit.


def _note_event(
    session: Session,
    seq: int,
    actor: Actor | None,
    action: str,
    subject: str | None,
    data: dict[str, Any],
    outcome: str,
) -> None:
    # Called inside every append, holding the log's lock: note the few events that matter, decide nothing yet.
    if action in rules.WATCHED_ACTIONS:
        actor_id = None if actor is None or isinstance(actor, SystemActor) else actor.id
        session.info.setdefault(_PENDING, []).append(rules.Event(seq, actor_id, action, subject, dict(data), outcome))


add_listener(_note_event)


@event.listens_for(Session, "before_commit")
def _notify_before_commit(session: Session) -> None:
    pending: list[rules.Event] | None = session.info.pop(_PENDING, None)
    if not pending or not has_app_context() or session is not db.session():
        return
    notices = [notice for watched in pending for notice in rules.notices_for_event(watched)]
    deliver(notices)


@event.listens_for(Session, "after_rollback")
def _forget_events(session: Session) -> None:
    session.info.pop(_PENDING, None)


def _insert_ignoring_duplicates(rows: list[dict[str, Any]]) -> Sequence[Row[int, int, str, int | None, str]]:
    """INSERT … ON CONFLICT (dedupe_key) DO NOTHING: the rows this transaction created (id, recipient, delivery)."""
    if not rows:
        return []
    table = Notification.__table__
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    statement = (
        insert.values(rows)
        .on_conflict_do_nothing(index_elements=[table.c.dedupe_key])
        .returning(table.c.id, table.c.recipient_id, table.c.delivery, table.c.case_id, table.c.kind)
    )
    return db.session.execute(statement).all()


def _deliveries(user_ids: Iterable[int]) -> dict[tuple[int, str], str]:
    wanted = set(user_ids)
    if not wanted:
        return {}
    rows = db.session.execute(select(NotificationPreference).where(NotificationPreference.user_id.in_(wanted)))
    return {(p.user_id, p.kind): p.delivery for p in rows.scalars()}


def deliver(notices: Sequence[rules.Notice]) -> int:
    """Create the notifications `notices` describe that do not exist yet, and queue the immediate ones' emails.
    Returns how many were created. Rows go in key order, so two workers lock the same keys in the same order."""
    made_at = utcnow()  # when it was made, whatever moment a scan judged the deadlines at
    if not notices:
        return 0
    chosen = _deliveries(user for notice in notices for user in notice.recipients)
    rows = []
    for notice in notices:
        for user_id in sorted(notice.recipients):
            delivery = Delivery.IMMEDIATE.value
            if not notice.kind.always_immediate:
                delivery = chosen.get((user_id, notice.kind.value), delivery)
            rows.append(
                {
                    "recipient_id": user_id,
                    "kind": notice.kind.value,
                    "case_id": notice.case_id,
                    "subject": notice.subject,
                    "summary": notice.summary[:500],
                    "deadline": notice.deadline,
                    "threshold": notice.threshold,
                    "delivery": delivery,
                    "dedupe_key": f"{notice.key}:u{user_id}"[:200],
                    "created_at": made_at,
                }
            )
    rows.sort(key=lambda row: str(row["dedupe_key"]))
    created = _insert_ignoring_duplicates(rows)
    if mail_method(current_app.config) is not None:
        for notification_id, user_id, delivery, case_id, kind in created:
            if delivery == Delivery.IMMEDIATE.value:
                _queue_email(notification_id, user_id, case_id, kind, made_at)
    return len(created)


def _queue_email(notification_id: int, user_id: int, case_id: int | None, kind: str, now: datetime) -> None:
    user = db.session.get(User, user_id)
    assert user is not None
    message = SentMessage(kind=kind, recipient_id=user_id, address=user.email, case_id=case_id, created_at=now)
    db.session.add(message)
    db.session.flush()
    db.session.execute(update(Notification).where(Notification.id == notification_id).values(message_id=message.id))
    label = f"Email: {NotificationKind(kind).label.lower()} (message {message.id})"
    enqueue(SENDER, SEND_TASK, label, {"message": message.id}, dedupe_key=f"email:{message.id}")


# The reminder scan and the daily digests (periodic jobs, and `flask notifications send-due`).


@dataclass(frozen=True)
class ScanResult:
    due: int
    created: int


def _not_yet_created(notices: list[rules.Notice]) -> list[rules.Notice]:
    """Drop the notices whose every recipient has them already (one indexed look-up for the lot), so a scan that
    finds nothing new writes nothing."""
    keys = {f"{n.key}:u{user}" for n in notices for user in n.recipients}
    existing: set[str] = set()
    ordered = sorted(keys)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        existing.update(
            db.session.execute(select(Notification.dedupe_key).where(Notification.dedupe_key.in_(chunk))).scalars()
        )
    return [n for n in notices if any(f"{n.key}:u{user}" not in existing for user in n.recipients)]


def send_due(actor: Actor, now: datetime | None = None) -> ScanResult:
    """Create every deadline reminder due at `now` that nobody has had yet, and queue their emails."""
    require(actor, Permission.USER_VIEW)
    now = now or utcnow()
    found = [notice for notice in rules.reminders_due(now, _due_days()) if notice.recipients]
    return ScanResult(len(found), deliver(_not_yet_created(found)))


def _due_days() -> tuple[int, ...]:
    return tuple(int(day) for day in current_app.config.get("NOTIFY_DUE_DAYS") or (3, 1))


def _start_of_day(day: date, zone_name: str) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=zone(zone_name))


def make_digests(actor: Actor, now: datetime | None = None) -> int:
    """Gather each person's notifications that wait for a digest and were made before today began where they are
    into one email (dated the day before), and queue it. One digest per person per day, however many workers
    run this: the message's key is unique. Returns how many digests were queued."""
    require(actor, Permission.USER_VIEW)
    now = now or utcnow()
    if mail_method(current_app.config) is None:
        return 0
    waiting = db.session.execute(
        select(Notification)
        .where(Notification.delivery == Delivery.DIGEST.value, Notification.message_id.is_(None))
        .order_by(Notification.recipient_id, Notification.created_at, Notification.id)
    ).scalars()
    by_person: dict[int, list[Notification]] = defaultdict(list)
    for notification in waiting:
        by_person[notification.recipient_id].append(notification)
    queued = 0
    for user_id, notifications in sorted(by_person.items()):
        user = db.session.get(User, user_id)
        if user is None or not user.active:
            continue
        today = now.astimezone(zone(user.time_zone)).date()
        ready = [n for n in notifications if n.created_at < _start_of_day(today, user.time_zone)]
        if ready:
            queued += _queue_digest(user, ready, today - timedelta(days=1), now)
    return queued


def _queue_digest(user: User, notifications: list[Notification], day: date, now: datetime) -> int:
    table = SentMessage.__table__
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    statement = (
        insert.values(
            kind=DIGEST_KIND,
            recipient_id=user.id,
            address=user.email,
            dedupe_key=f"digest:{user.id}:{day.isoformat()}",
            created_at=now,
            state=MessageState.QUEUED.value,
            attempts=0,
            result="",
        )
        .on_conflict_do_nothing(index_elements=[table.c.dedupe_key])
        .returning(table.c.id)
    )
    message_id = db.session.execute(statement).scalar()
    if message_id is None:  # another worker made this digest
        return 0
    ids = [n.id for n in notifications]
    db.session.execute(
        update(Notification)
        .where(Notification.id.in_(ids), Notification.message_id.is_(None))
        .values(message_id=message_id)
        .execution_options(synchronize_session=False)
    )
    label = f"Email: daily digest for {day.isoformat()} (message {message_id})"
    enqueue(SENDER, SEND_TASK, label, {"message": message_id, "day": day.isoformat()}, dedupe_key=f"email:{message_id}")
    return 1


# A person's own list and settings.


def unread_count(user: User) -> int:
    return int(
        db.session.execute(
            select(func.count())
            .select_from(Notification)
            .where(Notification.recipient_id == user.id, Notification.read_at.is_(None))
        ).scalar_one()
    )


def notifications_for(user: User, limit: int = LIST_LIMIT) -> list[Notification]:
    """The person's newest notifications, newest first."""
    return list(
        db.session.execute(
            select(Notification)
            .where(Notification.recipient_id == user.id)
            .order_by(Notification.id.desc())
            .limit(limit)
        ).scalars()
    )


def own_notification(user_id: int, notification_id: int) -> Notification | None:
    """The notification, if it is this person's; anyone else's is as if it did not exist."""
    found = db.session.get(Notification, notification_id)
    return found if found is not None and found.recipient_id == user_id else None


def mark_read(actor: Actor, notification_id: int) -> Notification:
    """Mark one of the actor's own notifications read (reading one again changes nothing)."""
    require(actor, Permission.ACCOUNT_SELF)
    if isinstance(actor, SystemActor):
        raise NotPermitted("Only the person a notification is for may mark it read.")
    notification = own_notification(actor.id, notification_id)
    if notification is None:
        raise NotificationError("There is no such notification of yours.")
    if notification.read_at is None:
        notification.read_at = utcnow()
        db.session.flush()
    return notification


def mark_all_read(actor: Actor) -> int:
    """Mark every unread notification of the actor's read; returns how many."""
    require(actor, Permission.ACCOUNT_SELF)
    if isinstance(actor, SystemActor):
        raise NotPermitted("Only the person notifications are for may mark them read.")
    result = db.session.execute(
        update(Notification)
        .where(Notification.recipient_id == actor.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


#: The kinds a person may choose for (the always-immediate ones are shown, not offered).
CHOOSABLE = tuple(kind for kind in NotificationKind if not kind.always_immediate)


def preferences_of(user: User) -> dict[NotificationKind, Delivery]:
    """How this person receives each kind (immediately unless they chose otherwise)."""
    chosen = {kind: delivery for (_, kind), delivery in _deliveries([user.id]).items()}
    return {kind: Delivery(chosen.get(kind.value, Delivery.IMMEDIATE.value)) for kind in NotificationKind}


def set_preferences(
    actor: Actor, choices: Mapping[NotificationKind, Delivery], ip: str | None
) -> dict[str, dict[str, str]]:
    """Save the actor's choices; returns what changed (recorded as one settings event), empty if nothing did."""
    require(actor, Permission.ACCOUNT_SELF)
    if isinstance(actor, SystemActor):
        raise NotPermitted("Only a person has notification settings.")
    urgent = [
        kind for kind, delivery in choices.items() if kind.always_immediate and delivery is not Delivery.IMMEDIATE
    ]
    if urgent:
        raise NotificationError(f"{urgent[0].label}: always emailed at once; it cannot wait for a digest.")
    user = db.session.get_one(User, actor.id)
    current = preferences_of(user)
    diff = {
        kind.value: {"from": current[kind].value, "to": delivery.value}
        for kind, delivery in choices.items()
        if current[kind] is not delivery
    }
    if not diff:
        return {}
    rows = {
        p.kind: p
        for p in db.session.execute(
            select(NotificationPreference).where(NotificationPreference.user_id == user.id)
        ).scalars()
    }
    for kind_value, change in diff.items():
        row = rows.get(kind_value)
        if row is None:
            db.session.add(NotificationPreference(user_id=user.id, kind=kind_value, delivery=change["to"]))
        else:
            row.delivery = change["to"]
    record(
        actor,
        AuditAction.USER_SETTINGS_CHANGED,
        subject=f"user:{user.id}",
        ip=ip,
        data={"notifications": diff},
    )
    db.session.flush()
    return diff
