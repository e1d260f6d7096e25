"""two-person control: the pending_change table; reviews and their approvals refuse change once written

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-10 12:00:00

A new table, pending_change, holds an administrator's request for a powerful change (granting reviewer, producer
or admin; installing a policy version, which sets the approval counts; revoking the bundle-signing certificate)
until a second administrator approves it, refuses it, or the requester withdraws it: who asked, the kind, its
parameters as JSON (JSONB on PostgreSQL), the file it would install, the state, and who decided and when. CHECK
constraints hold the rules in the database too: an approval comes from someone other than the requester, a
withdrawal from the requester, and a decided row names who decided and when.

review_approval becomes append-only, as the audit log: triggers refuse UPDATE and DELETE (and TRUNCATE on
PostgreSQL). review and pending_change rows are never deleted (nor truncated), and once closed (a review
decided, a change decided) never updated; an open review's worksheet still saves. The statements are literal
copies of disclosure/audit/ddl.py's trigger_statements() and guard_statements() at this revision. `flask db
harden-roles` (disclosure/audit/hardening.py) then gives the application role SELECT and INSERT on
review_approval and no DELETE on review and pending_change. Only triggers and a new table are created: no table
is rebuilt on SQLite (and case_file is never batch-altered there: its rebuild would cascade deletes). A later
migration that rebuilds review or review_approval in batch mode on SQLite drops these triggers with the old
table and must create them again (as 0009 and 0010 did for review_decision).

Downgrade refuses while pending_change holds rows: each is the record of who asked for a powerful change and who
let it in (or is a change still waiting for its second administrator), and the rows cannot be deleted; restore a
backup taken before 0017 instead. Otherwise it drops the triggers and the function, and leaves the rows of review
and review_approval as they are.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

KINDS = ("grant_roles", "upload_policy", "revoke_signer")
STATES = ("pending", "approved", "refused", "withdrawn")
#: table -> (the column that closes a row, its open value)
GUARDED = {"review": ("status", "open"), "pending_change": ("state", "pending")}

POSTGRES_GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION refuse_change_once_closed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' THEN
        RAISE EXCEPTION '% rows are never removed: % refused', TG_TABLE_NAME, TG_OP;
    END IF;
    IF (to_jsonb(OLD) ->> TG_ARGV[0]) IS DISTINCT FROM TG_ARGV[1] THEN
        RAISE EXCEPTION '% row % is closed (% = %): UPDATE refused',
            TG_TABLE_NAME, to_jsonb(OLD) ->> 'id', TG_ARGV[0], to_jsonb(OLD) ->> TG_ARGV[0];
    END IF;
    RETURN NEW;
END
$$
"""


def _document():
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _values(values):
    return ", ".join(f"'{v}'" for v in values)


def _append_only_statements(dialect, table):
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


def _guard_statements(dialect, table):
    column, open_value = GUARDED[table]
    if dialect == "postgresql":
        arguments = f"'{column}', '{open_value}'"
        return [
            f"CREATE TRIGGER {table}_guard BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION refuse_change_once_closed({arguments})",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_once_closed({arguments})",
        ]
    return [
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} rows are never removed: DELETE refused'); END",
        f"CREATE TRIGGER {table}_frozen_once_closed BEFORE UPDATE ON {table} WHEN OLD.{column} != '{open_value}' "
        f"BEGIN SELECT RAISE(ABORT, '{table} row is closed: UPDATE refused'); END",
    ]


def _trigger_names(dialect):
    if dialect == "postgresql":
        names = [("review_approval", "review_approval_no_change"), ("review_approval", "review_approval_no_truncate")]
        names += [(table, f"{table}_{suffix}") for table in GUARDED for suffix in ("guard", "no_truncate")]
    else:
        names = [("review_approval", "review_approval_no_update"), ("review_approval", "review_approval_no_delete")]
        names += [(table, f"{table}_{suffix}") for table in GUARDED for suffix in ("no_delete", "frozen_once_closed")]
    return names


def upgrade():
    op.create_table(
        "pending_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("params", _document(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint(f"kind IN ({_values(KINDS)})", name=op.f("ck_pending_change_known_kind")),
        sa.CheckConstraint(f"state IN ({_values(STATES)})", name=op.f("ck_pending_change_known_state")),
        sa.CheckConstraint(
            "(state = 'pending' AND decided_by_id IS NULL AND decided_at IS NULL) "
            "OR (state != 'pending' AND decided_by_id IS NOT NULL AND decided_at IS NOT NULL)",
            name=op.f("ck_pending_change_decided_by_someone"),
        ),
        sa.CheckConstraint(
            "state != 'approved' OR decided_by_id != requested_by_id",
            name=op.f("ck_pending_change_approved_by_another"),
        ),
        sa.CheckConstraint(
            "state != 'withdrawn' OR decided_by_id = requested_by_id",
            name=op.f("ck_pending_change_withdrawn_by_requester"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["user_account.id"], name=op.f("fk_pending_change_decided_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["user_account.id"], name=op.f("fk_pending_change_requested_by_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_change")),
    )
    op.create_index("ix_pending_change_state", "pending_change", ["state", "id"], unique=False)

    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(POSTGRES_GUARD_FUNCTION)
    for statement in _append_only_statements(dialect, "review_approval"):
        op.execute(statement)
    for table in GUARDED:
        for statement in _guard_statements(dialect, table):
            op.execute(statement)


def downgrade():
    bind = op.get_bind()
    held = bind.execute(sa.text("SELECT count(*) FROM pending_change")).scalar_one()
    if held:
        raise RuntimeError(
            f"pending_change holds {held} row(s): the record of who asked for each powerful change and who approved, "
            "refused or withdrew it (or changes still waiting for a second administrator), which revision 0016 has "
            "no place for. Restore a backup taken before revision 0017 instead"
        )
    dialect = bind.dialect.name
    for table, name in _trigger_names(dialect):
        op.execute(f"DROP TRIGGER {name} ON {table}" if dialect == "postgresql" else f"DROP TRIGGER {name}")
    op.drop_index("ix_pending_change_state", table_name="pending_change")
    op.drop_table("pending_change")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION refuse_change_once_closed()")
