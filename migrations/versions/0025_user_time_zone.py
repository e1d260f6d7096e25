"""user time zone: the zone pages show times in, per person

Revision ID: 0025
Revises: 0022
Create Date: 2026-12-07 21:30:00

One column on user_account: time_zone, an IANA zone name (default 'UTC', which every existing account keeps). The
database still stores every instant in UTC; only pages convert. Added in place: no table is rebuilt on SQLite.

Downgrade drops the column; pages show UTC again.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0025"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("user_account", sa.Column("time_zone", sa.String(length=64), nullable=False, server_default="UTC"))


def downgrade():
    op.drop_column("user_account", "time_zone")
