"""What the notification jobs do (registered with the job system in disclosure.jobs.tasks).

Sending one email reads what it needs and ends that read before talking to the relay, so no lock is held while the
network answers (on SQLite every writer would wait). A failed attempt is recorded on the message and committed,
then raised, so the job system tries again after its backoff; an attempt the relay refused for good (an address
it does not know) fails the job at once. The scan and the digests run the same service functions as
`flask notifications send-due` and `send-digests`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from disclosure.auth.models import User
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.jobs.models import Job
from disclosure.jobs.service import JobContext, JobError
from disclosure.notifications import mail, service
from disclosure.notifications.models import DIGEST_KIND, MessageState, Notification, SentMessage
from disclosure.unit_of_work import reading_beside_writers


class SendFailed(Exception):
    """The relay did not take the message this time; the job system tries again after a pause."""


def _compose(message: SentMessage, params: dict[str, Any]) -> mail.Outgoing:
    reader = db.session.get(User, message.recipient_id) if message.recipient_id is not None else None
    if reader is None:
        raise JobError("The person this email was for no longer has an account.")
    if message.kind == DIGEST_KIND:
        notifications = list(
            db.session.execute(
                select(Notification)
                .where(Notification.message_id == message.id)
                .order_by(Notification.created_at, Notification.id)
            ).scalars()
        )
        day = date.fromisoformat(str(params.get("day") or message.created_at.date().isoformat()))
        return mail.compose_digest(notifications, reader, day)
    notification = db.session.execute(select(Notification).where(Notification.message_id == message.id)).scalar()
    if notification is None:
        raise JobError("The notification this email was for no longer exists.")
    return mail.compose_notification(notification, reader)


def send_email(context: JobContext) -> dict[str, Any]:
    """Send one queued message, recording each attempt on it."""
    message_id = int(context.params["message"])
    with reading_beside_writers():
        message = db.session.get(SentMessage, message_id)
        if message is None:
            raise JobError("This email is no longer on file.")
        if message.status is MessageState.SENT:
            return {"outcome": f"already sent at {message.sent_at:%Y-%m-%d %H:%M} UTC", "relay": message.result}
        outgoing = _compose(message, context.params)
    try:
        answer, failure = mail.send(outgoing), None
    except mail.MailError as error:
        answer, failure = str(error), error
    job = db.session.execute(select(Job).where(Job.public_id == context.public_id)).scalar_one()
    message = db.session.get_one(SentMessage, message_id)
    now = utcnow()
    message.attempts += 1
    message.last_attempt_at, message.address, message.result = now, outgoing.to, answer[:500]
    if failure is None:
        message.delivery, message.sent_at = MessageState.SENT.value, now
        return {"outcome": f"sent to {outgoing.to}", "relay": answer}
    last = failure.permanent or job.attempts >= job.max_attempts
    message.delivery = MessageState.FAILED.value if last else MessageState.QUEUED.value
    context.commit()  # the failed attempt stays on file; the job system rolls back only what follows
    if failure.permanent:
        raise JobError(f"The relay refused this email for good: {answer}")
    raise SendFailed(f"attempt {message.attempts} to send message {message_id} failed: {answer}")


def scan(context: JobContext) -> dict[str, Any]:
    """The reminder scan: deadlines that crossed a threshold get their notices (once each)."""
    result = service.send_due(context.actor)
    return {"outcome": f"{result.created} new reminder(s) from {result.due} deadline(s) due for one"}


def digests(context: JobContext) -> dict[str, Any]:
    """Yesterday's notifications for those who want a daily digest, one email each."""
    queued = service.make_digests(context.actor)
    return {"outcome": f"{queued} daily digest(s) queued"}
