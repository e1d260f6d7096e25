"""the audit tree's full tiles, append-only, backfilled from an existing log

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00

A tile at level L, index N holds the 256 node hashes of height 8*L numbered 256*N onwards, and its root
(disclosure_proofs.tiles). The triggers are literal copies of disclosure/audit/ddl.py's at this revision. The
backfill streams the leaf hashes in order of seq and keeps one partial tile per level in memory, so it runs in
constant memory whatever the size of the log.
"""
import hashlib

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

WIDTH = 256
FETCH = 16_384


def _root(nodes):
    level = nodes
    while len(level) > 1:
        pairs = iter(level)
        level = [hashlib.sha256(b"\x01" + left + right).digest() for left, right in zip(pairs, pairs)]
    return level[0]


def upgrade():
    op.create_table('audit_tile',
    sa.Column('level', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('index', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('hashes', sa.LargeBinary(), nullable=False),
    sa.Column('root', sa.LargeBinary(length=32), nullable=False),
    sa.CheckConstraint('"index" >= 0', name=op.f('ck_audit_tile_index')),
    sa.CheckConstraint('length(hashes) = 8192', name=op.f('ck_audit_tile_full')),
    sa.CheckConstraint('length(root) = 32', name=op.f('ck_audit_tile_root_size')),
    sa.CheckConstraint('level >= 0', name=op.f('ck_audit_tile_level')),
    sa.PrimaryKeyConstraint('level', 'index', name=op.f('pk_audit_tile'))
    )
    _backfill()
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TRIGGER audit_tile_no_change BEFORE UPDATE OR DELETE ON audit_tile "
                   "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()")
        op.execute("CREATE TRIGGER audit_tile_no_truncate BEFORE TRUNCATE ON audit_tile "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()")
    else:
        op.execute("CREATE TRIGGER audit_tile_no_update BEFORE UPDATE ON audit_tile "
                   "BEGIN SELECT RAISE(ABORT, 'audit_tile is append-only: UPDATE refused'); END")
        op.execute("CREATE TRIGGER audit_tile_no_delete BEFORE DELETE ON audit_tile "
                   "BEGIN SELECT RAISE(ABORT, 'audit_tile is append-only: DELETE refused'); END")


def _backfill():
    """Every full tile of the log as it stands, from the leaf hashes in order of seq."""
    bind = op.get_bind()
    tile = sa.table("audit_tile", sa.column("level", sa.Integer), sa.column("index", sa.Integer),
                    sa.column("hashes", sa.LargeBinary), sa.column("root", sa.LargeBinary))
    select = sa.text("SELECT seq, leaf_hash FROM audit_event WHERE seq > :after ORDER BY seq LIMIT :limit")
    pending = [[]]
    size = 0
    while True:
        rows = bind.execute(select, {"after": size, "limit": FETCH}).all()
        if not rows:
            return
        done = []
        for seq, leaf in rows:
            if seq != size + 1:
                raise RuntimeError(f"audit_event jumps from seq {size} to {seq}: run `flask audit verify` first")
            size = seq
            pending[0].append(bytes(leaf))
            level = 0
            while len(pending[level]) == WIDTH:
                root = _root(pending[level])
                done.append({"level": level, "index": (size >> (8 * (level + 1))) - 1,
                             "hashes": b"".join(pending[level]), "root": root})
                pending[level] = []
                if level + 1 == len(pending):
                    pending.append([])
                pending[level + 1].append(root)
                level += 1
        if done:
            bind.execute(tile.insert(), done)


def downgrade():
    # Dropping the table drops its triggers with it, on both databases.
    op.drop_table('audit_tile')
