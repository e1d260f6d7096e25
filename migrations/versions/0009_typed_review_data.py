"""typed review data: the review's JSON strings become JSON columns (JSONB on PostgreSQL); approvers_json goes

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 12:00:00

Columns lose their `_json` suffix: review.checklist and .grounds, review_approval.scope, review_decision.scope,
.reason_codes, .engine, .checklist and .grounds. review_decision.approvers_json is dropped: a decision's
approvers are its review's approvals. The decision's checks now say that a scope comes with an approval and only
with one, reasons with a rejection and only with one, and that asking for more information carries a message.

Data: PostgreSQL casts each string to jsonb in place; SQLite keeps the same JSON text under the new declared
type (the strings were written by json.dumps; invalid JSON stops the upgrade). SQLite cannot recreate `review`
while approvals and decisions point at it, so its columns are added, copied and dropped; `review_approval` and
`review_decision` are recreated in batch mode, which drops the decision's append-only triggers, so they are
created again (a literal copy of disclosure/audit/ddl.py's trigger_statements at this revision). Downgrade
restores the strings exactly as the application wrote them (sorted keys; the engine output in canonical form;
approvers from the approvals), with the decision's triggers lifted only inside the migration's transaction.
"""
import json

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
SCOPE_DOCUMENT = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")

#: (old string column, new JSON column, nullable) per table.
REVIEW = [("checklist_json", "checklist"), ("grounds_json", "grounds")]
APPROVAL = [("scope_json", "scope", False)]
DECISION = [
    ("scope_json", "scope", True),
    ("reason_codes_json", "reason_codes", False),
    ("engine_json", "engine", False),
    ("checklist_json", "checklist", False),
    ("grounds_json", "grounds", False),
]
NEW_CHECKS = {
    "scope_only_when_approved": "(outcome = 'approved' AND scope IS NOT NULL AND scope != '[]') "
    "OR (outcome != 'approved' AND scope IS NULL)",
    "reasons_only_when_rejected": "(outcome = 'rejected' AND reason_codes != '[]') "
    "OR (outcome != 'rejected' AND reason_codes = '[]')",
    "needs_info_has_a_message": "outcome != 'needs_info' OR text != ''",
}
OLD_CHECK = ("approval_has_scope", "outcome != 'approved' OR scope_json IS NOT NULL")


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


def _drop_triggers(dialect):
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS review_decision_no_change ON review_decision")
        op.execute("DROP TRIGGER IF EXISTS review_decision_no_truncate ON review_decision")
    else:
        op.execute("DROP TRIGGER IF EXISTS review_decision_no_update")
        op.execute("DROP TRIGGER IF EXISTS review_decision_no_delete")


def _require_json_text(table, columns):
    """SQLite keeps the text as it is: refuse to relabel a string that is not JSON."""
    for column in columns:
        bad = op.get_bind().execute(
            # The identifiers are this module's constants, never input.
            sa.text(f"SELECT id FROM {table} WHERE {column} IS NOT NULL AND NOT json_valid({column}) LIMIT 1")  # noqa: S608
        ).scalar()
        if bad is not None:
            raise RuntimeError(f"{table}.{column} of row {bad} is not JSON; fix it before upgrading")


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for old, new in REVIEW:
            op.alter_column("review", old, new_column_name=new, type_=JSON_DOCUMENT, existing_type=sa.Text(),
                            existing_nullable=False, postgresql_using=f"{old}::jsonb",
                            server_default=sa.text("'{}'"))
    else:
        _require_json_text("review", [old for old, _ in REVIEW])
        _require_json_text("review_approval", [old for old, _, _ in APPROVAL])
        _require_json_text("review_decision", [old for old, _, _ in DECISION])
        # Not batch mode: recreating `review` would orphan the approvals and decisions that point at it.
        for old, new in REVIEW:
            op.execute(f"ALTER TABLE review ADD COLUMN {new} JSON DEFAULT '{{}}' NOT NULL")
            op.execute(f"UPDATE review SET {new} = {old}")  # noqa: S608 (constant identifiers)
            op.execute(f"ALTER TABLE review DROP COLUMN {old}")

    with op.batch_alter_table("review_approval") as batch_op:
        for old, new, nullable in APPROVAL:
            batch_op.alter_column(old, new_column_name=new, type_=SCOPE_DOCUMENT, existing_type=sa.Text(),
                                  existing_nullable=nullable, postgresql_using=f"{old}::jsonb")

    with op.batch_alter_table("review_decision") as batch_op:
        batch_op.drop_constraint(op.f(f"ck_review_decision_{OLD_CHECK[0]}"), type_="check")
        for old, new, nullable in DECISION:
            batch_op.alter_column(old, new_column_name=new,
                                  type_=SCOPE_DOCUMENT if new == "scope" else JSON_DOCUMENT,
                                  existing_type=sa.Text(), existing_nullable=nullable,
                                  postgresql_using=f"{old}::jsonb")
        batch_op.drop_column("approvers_json")
        for name, condition in NEW_CHECKS.items():
            batch_op.create_check_constraint(name, condition)
    if dialect != "postgresql":
        # Batch mode recreated the table, and its append-only triggers went with the old one.
        for statement in _trigger_statements(dialect):
            op.execute(statement)


def _text(value, **options):
    return None if value is None else json.dumps(value, sort_keys=True, **options)


def downgrade():
    dialect = op.get_bind().dialect.name
    connection = op.get_bind()
    _drop_triggers(dialect)

    if dialect == "postgresql":
        for old, new in REVIEW:
            # The default first: PostgreSQL will not cast a jsonb default to text on its own.
            op.alter_column("review", new, server_default=None, existing_type=JSON_DOCUMENT)
            op.alter_column("review", new, new_column_name=old, type_=sa.Text(), existing_type=JSON_DOCUMENT,
                            existing_nullable=False, postgresql_using=f"{new}::text")
    else:
        for old, new in REVIEW:
            op.execute(f"ALTER TABLE review ADD COLUMN {old} TEXT DEFAULT '{{}}' NOT NULL")
            op.execute(f"UPDATE review SET {old} = {new}")  # noqa: S608 (constant identifiers)
            op.execute(f"ALTER TABLE review DROP COLUMN {new}")

    with op.batch_alter_table("review_approval") as batch_op:
        for old, new, nullable in APPROVAL:
            batch_op.alter_column(new, new_column_name=old, type_=sa.Text(), existing_type=SCOPE_DOCUMENT,
                                  existing_nullable=nullable, postgresql_using=f"{new}::text")

    with op.batch_alter_table("review_decision") as batch_op:
        for name in NEW_CHECKS:
            batch_op.drop_constraint(op.f(f"ck_review_decision_{name}"), type_="check")
        for old, new, nullable in DECISION:
            batch_op.alter_column(new, new_column_name=old, type_=sa.Text(),
                                  existing_type=SCOPE_DOCUMENT if new == "scope" else JSON_DOCUMENT,
                                  existing_nullable=nullable, postgresql_using=f"{new}::text")
        batch_op.add_column(sa.Column("approvers_json", sa.Text(), nullable=True))
        batch_op.create_check_constraint(*OLD_CHECK)

    # The strings exactly as the application wrote them before this revision.
    review = sa.table("review", sa.column("id"), sa.column("checklist_json"), sa.column("grounds_json"))
    for row in connection.execute(sa.select(review)).all():
        connection.execute(review.update().where(review.c.id == row.id).values(
            checklist_json=_text(json.loads(row.checklist_json)), grounds_json=_text(json.loads(row.grounds_json))))
    approval = sa.table("review_approval", sa.column("id"), sa.column("review_id"), sa.column("reviewer_id"),
                        sa.column("scope_json"))
    approvers = {}
    for row in connection.execute(sa.select(approval).order_by(approval.c.id)).all():
        approvers.setdefault(row.review_id, []).append(row.reviewer_id)
        connection.execute(approval.update().where(approval.c.id == row.id).values(
            scope_json=_text(json.loads(row.scope_json))))
    decision = sa.table("review_decision", sa.column("id"), sa.column("review_id"),
                        *(sa.column(old) for old, _, _ in DECISION), sa.column("approvers_json"))
    for row in connection.execute(sa.select(decision)).all():
        connection.execute(decision.update().where(decision.c.id == row.id).values(
            scope_json=_text(json.loads(row.scope_json)) if row.scope_json is not None else None,
            reason_codes_json=json.dumps(json.loads(row.reason_codes_json)),
            engine_json=_text(json.loads(row.engine_json), separators=(",", ":"), ensure_ascii=False),
            checklist_json=_text(json.loads(row.checklist_json)),
            grounds_json=_text(json.loads(row.grounds_json)),
            approvers_json=json.dumps(approvers.get(row.review_id, [])),
        ))
    with op.batch_alter_table("review_decision") as batch_op:
        batch_op.alter_column("approvers_json", existing_type=sa.Text(), nullable=False)

    for statement in _trigger_statements(dialect):
        op.execute(statement)
