"""notifications: what people are told of, their email settings, and every email sent or tried (issue 19)

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-09 10:00:00

Three new tables and one index; nothing existing changes (on SQLite nothing is rebuilt):
- sent_message: one email (a notification's, a daily digest, a test), its recipient and address, the case, when it
  was queued and sent, how many attempts it took and the relay's last answer; a digest's key is unique.
- notification: one thing one person is told of, listed in the app until read; its dedupe key (event or deadline,
  threshold, recipient) is unique, so a reminder is created once however many workers scan at once.
- notification_preference: per person and kind, emailed at once or in a daily digest; emergencies and integrity
  alerts cannot be put off (a check constraint, on notification too).
- ix_non_disclosure_order_expires_on: the reminder scan finds orders ending soon by their end date.
The tables start empty: nobody is told of anything that happened before the upgrade, and the first scan sends
reminders only for deadlines within the thresholds (or passed within the last 90 days).

Downgrade drops them: the notification history and the record of sent email go with them.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

KINDS = (
    "emergency_received",
    "assigned",
    "needs_info_answered",
    "due_soon",
    "overdue",
    "decision_recorded",
    "ready_to_produce",
    "gag_order_ending",
    "gag_order_ended",
    "preservation_lapsing",
    "change_awaiting",
    "integrity_alert",
)
DELIVERIES = ("immediate", "digest")
MESSAGE_STATES = ("queued", "sent", "failed")


def _in(values):
    return ", ".join(f"'{value}'" for value in values)


URGENT_AT_ONCE = "delivery = 'immediate' OR kind NOT IN ('emergency_received', 'integrity_alert')"


def upgrade():
    op.create_table(
        "sent_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("result", sa.String(length=500), nullable=False),
        sa.CheckConstraint(f"state IN ({_in(MESSAGE_STATES)})", name=op.f("ck_sent_message_known_state")),
        sa.CheckConstraint("state != 'sent' OR sent_at IS NOT NULL", name=op.f("ck_sent_message_sent_has_time")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_sent_message_attempts_counted")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_file.id"], name=op.f("fk_sent_message_case_id_case_file"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["user_account.id"], name=op.f("fk_sent_message_recipient_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sent_message")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_sent_message_dedupe_key")),
    )
    op.create_index("ix_sent_message_recipient", "sent_message", ["recipient_id", "id"], unique=False)
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=100), nullable=True),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("deadline", sa.DateTime(), nullable=True),
        sa.Column("threshold", sa.String(length=20), nullable=True),
        sa.Column("delivery", sa.String(length=10), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(f"kind IN ({_in(KINDS)})", name=op.f("ck_notification_known_kind")),
        sa.CheckConstraint(f"delivery IN ({_in(DELIVERIES)})", name=op.f("ck_notification_known_delivery")),
        sa.CheckConstraint(URGENT_AT_ONCE, name=op.f("ck_notification_urgent_at_once")),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_file.id"], name=op.f("fk_notification_case_id_case_file"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["sent_message.id"],
            name=op.f("fk_notification_message_id_sent_message"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["user_account.id"], name=op.f("fk_notification_recipient_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notification_dedupe_key")),
    )
    op.create_index("ix_notification_recipient_unread", "notification", ["recipient_id", "read_at"], unique=False)
    op.create_index("ix_notification_recipient", "notification", ["recipient_id", "id"], unique=False)
    op.create_index("ix_notification_digest", "notification", ["delivery", "message_id", "created_at"], unique=False)
    op.create_table(
        "notification_preference",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("delivery", sa.String(length=10), nullable=False),
        sa.CheckConstraint(f"kind IN ({_in(KINDS)})", name=op.f("ck_notification_preference_known_kind")),
        sa.CheckConstraint(f"delivery IN ({_in(DELIVERIES)})", name=op.f("ck_notification_preference_known_delivery")),
        sa.CheckConstraint(URGENT_AT_ONCE, name=op.f("ck_notification_preference_urgent_at_once")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_notification_preference_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "kind", name=op.f("pk_notification_preference")),
    )
    op.create_index("ix_non_disclosure_order_expires_on", "non_disclosure_order", ["expires_on"], unique=False)


def downgrade():
    op.drop_index("ix_non_disclosure_order_expires_on", table_name="non_disclosure_order")
    op.drop_table("notification_preference")
    op.drop_index("ix_notification_digest", table_name="notification")
    op.drop_index("ix_notification_recipient", table_name="notification")
    op.drop_index("ix_notification_recipient_unread", table_name="notification")
    op.drop_table("notification")
    op.drop_index("ix_sent_message_recipient", table_name="sent_message")
    op.drop_table("sent_message")
