"""no records held: a decision may find that no account or data is held, and must then say what was searched

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 12:00:00

review_decision.outcome gains the value 'no_records' (the known_outcome check is widened), and a new check
requires such a decision to carry its note of what was searched (text != ''). PostgreSQL alters the checks in
place. SQLite recreates review_decision in batch mode, which drops its append-only triggers, so they are created
again (a literal copy of disclosure/audit/ddl.py's trigger_statements at this revision).

Downgrade refuses while any 'no_records' decision exists: decisions are append-only and revision 0009 has no
word for that outcome, so there is nothing faithful to turn them into.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

OUTCOMES_BEFORE = "outcome IN ('approved', 'rejected', 'needs_info')"
OUTCOMES_AFTER = "outcome IN ('approved', 'rejected', 'needs_info', 'no_records')"
NOTE_CHECK = ("no_records_says_what_was_searched", "outcome != 'no_records' OR text != ''")


def _trigger_statements(dialect):
    table = "review_decision"
    if dialect == "postgresql":
        return [
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
        ]
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: DELETE refused'); END",
    ]


def _recreate_triggers_after_batch(dialect):
    # On SQLite batch mode rebuilt the table, and its append-only triggers went with the old one; PostgreSQL
    # altered the table in place and kept them.
    if dialect != "postgresql":
        for statement in _trigger_statements(dialect):
            op.execute(statement)


def upgrade():
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("review_decision") as batch_op:
        batch_op.drop_constraint(op.f("ck_review_decision_known_outcome"), type_="check")
        batch_op.create_check_constraint("known_outcome", OUTCOMES_AFTER)
        batch_op.create_check_constraint(*NOTE_CHECK)
    _recreate_triggers_after_batch(dialect)


def downgrade():
    dialect = op.get_bind().dialect.name
    held = op.get_bind().execute(
        sa.text("SELECT count(*) FROM review_decision WHERE outcome = 'no_records'")
    ).scalar_one()
    if held:
        raise RuntimeError(
            f"review_decision holds {held} 'no records held' decision(s), which revision 0009 cannot express; "
            "decisions are append-only, so the downgrade stops here"
        )
    with op.batch_alter_table("review_decision") as batch_op:
        batch_op.drop_constraint(op.f(f"ck_review_decision_{NOTE_CHECK[0]}"), type_="check")
        batch_op.drop_constraint(op.f("ck_review_decision_known_outcome"), type_="check")
        batch_op.create_check_constraint("known_outcome", OUTCOMES_BEFORE)
    _recreate_triggers_after_batch(dialect)
