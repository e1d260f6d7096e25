"""big sizes: a file's size in bytes is 64-bit, so files over 2 GiB can be recorded

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 12:00:00

case_document.size, production_record.size and bundle.size were INTEGER, which PostgreSQL stores in 32 bits: a
3 GB production record or bundle could be encrypted and written, and then failed at the INSERT, leaving the file
behind. On PostgreSQL the three columns become BIGINT (ALTER COLUMN ... TYPE rewrites each table under a brief
exclusive lock; values are kept). bundle.checkpoint_size counts audit events, not bytes, and stays as it is.

On SQLite nothing changes: an INTEGER column already stores 64-bit values, and the models declare INTEGER there
(BigInteger().with_variant(Integer(), "sqlite")), so the schema already matches them. Changing only the declared
type would mean rebuilding the tables in batch mode, copying every row for nothing; and a rebuild drops the old
table while foreign keys are on, which cascade-deletes the rows of any table pointing at it with ON DELETE CASCADE
(0011's docstring explains). No table points at these three today, but there is nothing to gain by the risk.

Downgrade refuses on PostgreSQL while any size exceeds 2^31 - 1: INTEGER cannot hold it, and a size is part of
what a record says about evidence. On SQLite the downgrade, like the upgrade, has nothing to do.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

SIZE_COLUMNS = (('case_document', 'size'), ('production_record', 'size'), ('bundle', 'size'))
INTEGER_MAX = 2**31 - 1


def _retype(old, new):
    for table, column in SIZE_COLUMNS:
        op.alter_column(table, column, type_=new, existing_type=old, existing_nullable=False)


def upgrade():
    if op.get_bind().dialect.name == 'sqlite':
        return
    _retype(sa.Integer(), sa.BigInteger())


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        return
    too_big = {
        table: bind.execute(
            sa.select(sa.func.count()).select_from(sa.table(table)).where(sa.column(column) > INTEGER_MAX)
        ).scalar_one()
        for table, column in SIZE_COLUMNS
    }
    held = {table: count for table, count in too_big.items() if count}
    if held:
        raise RuntimeError(
            "revision 0011 stores sizes in 32 bits and these rows record files of 2 GiB or more: "
            + ", ".join(f"{table}: {count}" for table, count in held.items())
            + "; a recorded size is evidence, so the downgrade stops here"
        )
    _retype(sa.BigInteger(), sa.Integer())
