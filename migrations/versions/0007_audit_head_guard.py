"""the audit head row is never deleted and its size never goes down

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 19:20:00

A literal copy of disclosure/audit/ddl.py's head_trigger_statements() at this revision.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

POSTGRES_HEAD_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_head_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION 'audit_head is never removed: % refused', TG_OP;
    END IF;
    IF NEW.size < OLD.size THEN
        RAISE EXCEPTION 'audit_head only grows: size % to % refused', OLD.size, NEW.size;
    END IF;
    RETURN NEW;
END
$$
"""


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_HEAD_FUNCTION)
        op.execute("CREATE TRIGGER audit_head_guard BEFORE UPDATE OR DELETE ON audit_head "
                   "FOR EACH ROW EXECUTE FUNCTION audit_head_guard()")
        op.execute("CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head "
                   "FOR EACH STATEMENT EXECUTE FUNCTION audit_head_guard()")
    else:
        op.execute("CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
                   "BEGIN SELECT RAISE(ABORT, 'audit_head is never removed: DELETE refused'); END")
        op.execute("CREATE TRIGGER audit_head_no_shrink BEFORE UPDATE ON audit_head WHEN NEW.size < OLD.size "
                   "BEGIN SELECT RAISE(ABORT, 'audit_head only grows: a smaller size refused'); END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_head_no_truncate ON audit_head")
        op.execute("DROP TRIGGER audit_head_guard ON audit_head")
        op.execute("DROP FUNCTION audit_head_guard()")
    else:
        op.execute("DROP TRIGGER audit_head_no_shrink")
        op.execute("DROP TRIGGER audit_head_no_delete")
