"""background jobs: the job table is the queue, the page and the record of each long piece of work

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 16:00:00

A new table only (nothing else changes; on SQLite nothing is rebuilt). Each row is one job: what it runs and for
whom, its state (queued, running, succeeded, failed, cancelled), progress, attempts and heartbeat, its outcome, and
for a bundle the passphrase sealed for the person who asked until they view it once. The table starts empty.

Downgrade refuses while a job is queued or running: the work someone asked for would vanish without a word.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

STATES = ("queued", "running", "succeeded", "failed", "cancelled")


def _document():
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade():
    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=300), nullable=False),
        sa.Column("params", _document(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("progress_note", sa.String(length=300), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.DateTime(), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("result", _document(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=True),
        sa.Column("secret_shown_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("state IN (" + ", ".join(f"'{s}'" for s in STATES) + ")", name=op.f("ck_job_known_state")),
        sa.CheckConstraint("progress >= 0 AND progress <= 100", name=op.f("ck_job_progress_in_range")),
        sa.CheckConstraint("attempts >= 0 AND attempts <= max_attempts", name=op.f("ck_job_attempts_in_range")),
        sa.ForeignKeyConstraint(["case_id"], ["case_file.id"], name=op.f("fk_job_case_id_case_file")),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["user_account.id"], name=op.f("fk_job_requested_by_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_job_dedupe_key")),
        sa.UniqueConstraint("public_id", name=op.f("uq_job_public_id")),
    )
    op.create_index("ix_job_queue", "job", ["state", "run_after", "id"], unique=False)
    op.create_index("ix_job_requested_by", "job", ["requested_by_id", "id"], unique=False)


def downgrade():
    active = (
        op.get_bind().execute(sa.text("SELECT count(*) FROM job WHERE state IN ('queued', 'running')")).scalar_one()
    )
    if active:
        raise RuntimeError(
            f"job holds {active} queued or running job(s); let them finish or cancel them, then downgrade again"
        )
    op.drop_index("ix_job_requested_by", table_name="job")
    op.drop_index("ix_job_queue", table_name="job")
    op.drop_table("job")
