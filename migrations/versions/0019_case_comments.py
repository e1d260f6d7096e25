"""internal comments on cases

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 18:40:00

A new table, case_comment: the team's internal comments on a case, each with its author and time, threaded one
level deep (reply_to_id names the comment a reply answers). Comments are records: the application never updates
or deletes them, and no letter, bundle or report reads them. The table starts empty; nothing else changes, and no
table is rebuilt on SQLite.

Downgrade refuses while any comment exists: they would be lost, and the audit log would name comments that no
longer exist.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "case_comment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("reply_to_id", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("length(body) BETWEEN 1 AND 4000", name=op.f("ck_case_comment_body_length")),
        sa.ForeignKeyConstraint(
            ["author_id"], ["user_account.id"], name=op.f("fk_case_comment_author_id_user_account")
        ),
        sa.ForeignKeyConstraint(["case_id"], ["case_file.id"], name=op.f("fk_case_comment_case_id_case_file")),
        sa.ForeignKeyConstraint(
            ["reply_to_id"], ["case_comment.id"], name=op.f("fk_case_comment_reply_to_id_case_comment")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_comment")),
    )
    op.create_index("ix_case_comment_case", "case_comment", ["case_id", "id"])


def downgrade():
    held = op.get_bind().execute(sa.text("SELECT count(*) FROM case_comment")).scalar_one()
    if held:
        raise RuntimeError(
            f"case_comment holds {held} comment(s), which a downgrade would lose; restore a backup taken before "
            "0019 instead"
        )
    op.drop_index("ix_case_comment_case", table_name="case_comment")
    op.drop_table("case_comment")
