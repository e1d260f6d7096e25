"""bundle delivery: how, when and to whom a bundle was delivered

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 19:00:00

Three nullable columns on bundle: delivered_channel (the agency's portal, encrypted email, physical media, in
person, other), delivered_on (the day it reached the recipient, as the producer confirms it) and delivered_to (the
person or unit who received it). Marking a bundle delivered now records all three, confirmed; bundles delivered
before this revision keep only delivered_at and delivered_by, as they were recorded. Nullable columns are added in
place: no table is rebuilt on SQLite.

Downgrade drops the three columns; the facts stay in each delivery's audit event.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("bundle", sa.Column("delivered_channel", sa.String(length=30), nullable=True))
    op.add_column("bundle", sa.Column("delivered_on", sa.Date(), nullable=True))
    op.add_column("bundle", sa.Column("delivered_to", sa.String(length=200), nullable=True))


def downgrade():
    # Dropped in place (SQLite 3.35+ drops a column without rebuilding the table, which could cascade).
    op.drop_column("bundle", "delivered_to")
    op.drop_column("bundle", "delivered_on")
    op.drop_column("bundle", "delivered_channel")
