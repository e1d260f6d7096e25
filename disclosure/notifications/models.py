"""What people are told of (notification), how each of them wants it (notification_preference), and every email
sent or tried (sent_message).

Invariants the database holds: a notification's dedupe key is unique (the event or deadline, its threshold and
the recipient), so a notice is created once however many workers look; emergencies and integrity alerts are
never put off to a digest; a sent message has a sending time. Notifications carry no customer data: a case is
named by its reference, never by its targets or documents.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from disclosure.auth.models import User
from disclosure.cases.models import Case, NonDisclosureOrder
from disclosure.clock import utcnow
from disclosure.extensions import db


class NotificationKind(StrEnum):
    """What happened, as a person chooses how to hear of it."""

    EMERGENCY_RECEIVED = "emergency_received"
    ASSIGNED = "assigned"
    NEEDS_INFO_ANSWERED = "needs_info_answered"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    DECISION_RECORDED = "decision_recorded"
    READY_TO_PRODUCE = "ready_to_produce"
    GAG_ORDER_ENDING = "gag_order_ending"
    GAG_ORDER_ENDED = "gag_order_ended"
    PRESERVATION_LAPSING = "preservation_lapsing"
    CHANGE_AWAITING = "change_awaiting"
    INTEGRITY_ALERT = "integrity_alert"

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]

    @property
    def always_immediate(self) -> bool:
        """Emergencies and integrity alerts cannot wait for tomorrow's digest."""
        return self in ALWAYS_IMMEDIATE


_KIND_LABELS = {
    NotificationKind.EMERGENCY_RECEIVED: "An emergency request arrived",
    NotificationKind.ASSIGNED: "A case was assigned to you",
    NotificationKind.NEEDS_INFO_ANSWERED: "The requester answered a case waiting for them",
    NotificationKind.DUE_SOON: "A response is due soon",
    NotificationKind.OVERDUE: "A response is overdue",
    NotificationKind.DECISION_RECORDED: "A decision was recorded on a case you logged",
    NotificationKind.READY_TO_PRODUCE: "A case was approved and is ready to produce",
    NotificationKind.GAG_ORDER_ENDING: "A non-disclosure order is ending",
    NotificationKind.GAG_ORDER_ENDED: "A non-disclosure order has ended",
    NotificationKind.PRESERVATION_LAPSING: "A preservation is about to lapse",
    NotificationKind.CHANGE_AWAITING: "A change awaits a second administrator",
    NotificationKind.INTEGRITY_ALERT: "The audit log failed verification or lost a checkpoint file",
}
ALWAYS_IMMEDIATE = frozenset({NotificationKind.EMERGENCY_RECEIVED, NotificationKind.INTEGRITY_ALERT})


class Delivery(StrEnum):
    """How a person hears of a kind of notification by email (the app lists every one either way)."""

    IMMEDIATE = "immediate"
    DIGEST = "digest"

    @property
    def label(self) -> str:
        return "By email at once" if self is Delivery.IMMEDIATE else "In a daily digest email"


class MessageState(StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


#: sent_message.kind of a daily digest and of `flask notifications test-email`.
DIGEST_KIND = "digest"
TEST_KIND = "test"


def _values(values: object) -> str:
    return ", ".join(f"'{value}'" for value in values)  # type: ignore[attr-defined]


class SentMessage(db.Model):  # type: ignore[name-defined]
    """One email: queued with the notice that caused it (or a day's digest), then sent, retried or given up."""

    __tablename__ = "sent_message"
    __table_args__ = (
        CheckConstraint(f"state IN ({_values(MessageState)})", name="known_state"),
        CheckConstraint("state != 'sent' OR sent_at IS NOT NULL", name="sent_has_time"),
        CheckConstraint("attempts >= 0", name="attempts_counted"),
        Index("ix_sent_message_recipient", "recipient_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: A NotificationKind, "digest" or "test".
    kind: Mapped[str] = mapped_column(String(40))
    #: None for a test email to an address.
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    #: Where it went (or goes): the recipient's address when it was queued, kept for the record.
    address: Mapped[str] = mapped_column(String(254))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_file.id", ondelete="SET NULL"), default=None)
    #: A digest's "digest:<user id>:<day>": one digest per person per day, however many workers make it.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Queued, sent or failed (the column is `state`; the attribute's name keeps it apart from a case's state,
    #: which only disclosure.cases.lifecycle sets).
    delivery: Mapped[str] = mapped_column("state", String(10), default=MessageState.QUEUED.value)
    attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    #: The relay's answer to the message ("250 2.0.0 Ok: queued as …"), or why the last attempt failed.
    result: Mapped[str] = mapped_column(String(500), default="")

    recipient: Mapped[User | None] = relationship()
    case: Mapped[Case | None] = relationship()

    @property
    def status(self) -> MessageState:
        return MessageState(self.delivery)


class Notification(db.Model):  # type: ignore[name-defined]
    """One thing one person is told of: listed in the app until read, and emailed at once or in a digest."""

    __tablename__ = "notification"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_values(NotificationKind)})", name="known_kind"),
        CheckConstraint(f"delivery IN ({_values(Delivery)})", name="known_delivery"),
        CheckConstraint(
            f"delivery = 'immediate' OR kind NOT IN ({_values(sorted(ALWAYS_IMMEDIATE))})", name="urgent_at_once"
        ),
        Index("ix_notification_recipient_unread", "recipient_id", "read_at"),
        Index("ix_notification_recipient", "recipient_id", "id"),
        Index("ix_notification_digest", "delivery", "message_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"), default=None)
    #: What the notice is about when it is not a case: "change:12", "audit".
    subject: Mapped[str | None] = mapped_column(String(100), default=None)
    #: What happened, in words naming the case by its reference only (never a target or a document's content).
    summary: Mapped[str] = mapped_column(String(500))
    #: The deadline the notice is about (a response, an order's end, a preservation's end), if any.
    deadline: Mapped[datetime | None] = mapped_column(default=None)
    #: Which reminder of a deadline this is: "3d", "1d", "overdue", "30d", "7d", "ended", "24h"; None: an event.
    threshold: Mapped[str | None] = mapped_column(String(20), default=None)
    delivery: Mapped[str] = mapped_column(String(10), default=Delivery.IMMEDIATE.value)
    #: The event or deadline, threshold and recipient: a notice is created once (INSERT … ON CONFLICT DO NOTHING).
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(default=None)
    #: The email that carried it: its own, or the digest it went out in; None while a digest waits (or no email).
    message_id: Mapped[int | None] = mapped_column(ForeignKey("sent_message.id", ondelete="SET NULL"), default=None)

    recipient: Mapped[User] = relationship()
    case: Mapped[Case | None] = relationship()
    message: Mapped[SentMessage | None] = relationship()

    @property
    def notification_kind(self) -> NotificationKind:
        return NotificationKind(self.kind)


class NotificationPreference(db.Model):  # type: ignore[name-defined]
    """A person's choice for one kind; a kind without a row is emailed at once."""

    __tablename__ = "notification_preference"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_values(NotificationKind)})", name="known_kind"),
        CheckConstraint(f"delivery IN ({_values(Delivery)})", name="known_delivery"),
        CheckConstraint(
            f"delivery = 'immediate' OR kind NOT IN ({_values(sorted(ALWAYS_IMMEDIATE))})", name="urgent_at_once"
        ),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    delivery: Mapped[str] = mapped_column(String(10))


#: The reminder scan finds orders ending soon by their end date (the dashboard's "expiring" queue reads it too).
Index("ix_non_disclosure_order_expires_on", NonDisclosureOrder.expires_on)
