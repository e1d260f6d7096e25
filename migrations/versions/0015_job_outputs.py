"""job outputs: a job can produce a file (a dossier or a report PDF), stored as an encrypted blob until it expires

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-09 10:00:00

Five nullable columns on job describe the file a job produced: output_blob (the blob store's name for it, which
`flask storage reconcile` counts as referenced), output_filename (what the download is called), output_media_type,
output_size (64-bit on PostgreSQL, INTEGER on SQLite as for the other sizes, 0012's docstring explains) and
output_sha256. A job without a file leaves them empty, as every existing row does.

Nullable columns are added in place with ADD COLUMN on both databases: SQLite rebuilds nothing (no batch mode, so
nothing can cascade) and PostgreSQL rewrites nothing.

Downgrade drops the five columns. The PDFs they named are derived files anyone allowed can prepare again; once
nothing names them, reconciliation at that revision removes their blobs as orphans (each removal audit-logged).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

COLUMNS = ("output_blob", "output_filename", "output_media_type", "output_size", "output_sha256")


def upgrade():
    op.add_column("job", sa.Column("output_blob", sa.String(length=32), nullable=True))
    op.add_column("job", sa.Column("output_filename", sa.String(length=200), nullable=True))
    op.add_column("job", sa.Column("output_media_type", sa.String(length=100), nullable=True))
    op.add_column("job", sa.Column("output_size", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True))
    op.add_column("job", sa.Column("output_sha256", sa.String(length=64), nullable=True))


def downgrade():
    for column in reversed(COLUMNS):
        op.drop_column("job", column)
