"""the requester's message kept apart from the reviewer's internal reasons

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-08 12:00:00

One column, review_decision.requester_message (TEXT NOT NULL DEFAULT ''): the reviewer's words for the requester,
which the letter prints. review_decision.text keeps the internal reasons, which no letter prints any more.
Existing decisions get '' (their letters are already stored as they were written). Adding a column with a constant
default rebuilds no table on SQLite, so review_decision keeps its append-only triggers (no batch mode, unlike
0009/0010); ALTER TABLE ADD COLUMN fires no UPDATE trigger on either database.

Downgrade drops the column. Nothing is lost that was on record elsewhere: each message is also in the decision's
audit event (data.requester_message, signed into the log) and in the letter stored with the case.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "review_decision",
        sa.Column("requester_message", sa.Text(), nullable=False, server_default=sa.text("''")),
    )


def downgrade():
    # SQLite drops a column in place (3.35+) when no index, constraint or trigger names it; none names this one.
    op.drop_column("review_decision", "requester_message")
