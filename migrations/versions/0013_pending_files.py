"""pending files: a file being written is recorded first, so that one whose owner never commits can be found

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 13:00:00

pending_file holds one row per file being written (an encrypted blob, or a bundle's ZIP): committed in its own
transaction before the file is written, and deleted in the transaction that commits the row owning the file
(disclosure.storage.transactional). A row older than the grace period names a file whose owner never committed (a
killed process, a lost database connection), which `flask storage reconcile` removes together with the row.

A new table only: nothing else changes, and SQLite needs no batch mode (no table is rebuilt, so nothing can
cascade). The table starts empty.

Downgrade refuses while pending_file holds rows: each names a file that may be in the middle of being written or
left behind by a writer that died, and without the table nothing would remember it. Run `flask storage reconcile`
(once the writes in progress have ended) and downgrade again.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'pending_file',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('area', sa.String(length=20), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('owner', sa.String(length=40), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint("area IN ('blob', 'bundle')", name=op.f('ck_pending_file_known_area')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_pending_file')),
        sa.UniqueConstraint('area', 'name', name=op.f('uq_pending_file_area')),
    )


def downgrade():
    held = op.get_bind().execute(sa.text("SELECT count(*) FROM pending_file")).scalar_one()
    if held:
        raise RuntimeError(
            f"pending_file names {held} file(s) being written or left behind by a writer that died; run "
            "`flask storage reconcile` once the writes in progress have ended, then downgrade again"
        )
    op.drop_table('pending_file')
