"""step-up recorded on the session

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 10:00:00

One nullable column, user_session.stepped_up_at: when the password was last entered again in that session to
confirm an action (building a bundle, an administrator's change to their own account). For five minutes after
it, a further confirmation in the same session may leave the password empty; the time is kept on the server,
never in the cookie. Existing sessions start with none, so their next confirmation asks for the password. Adding
a nullable column rebuilds no table on SQLite (no batch mode; case_file is untouched).

Downgrade drops the column: nothing else reads it, and sessions only lose their recent confirmation.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("user_session", sa.Column("stepped_up_at", sa.DateTime(), nullable=True))


def downgrade():
    # SQLite drops a column in place (3.35+) as long as nothing indexes or constrains it; this one is neither.
    op.drop_column("user_session", "stepped_up_at")
