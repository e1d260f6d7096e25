"""Database-side guards for append-only tables: triggers that refuse UPDATE, DELETE and TRUNCATE; the audit head row;
rows that are frozen once closed.

The audit log's tables (events, checkpoints, tiles) are protected here; other append-only records (policy
versions, review decisions, review approvals) call protect() on their model. Records that change while open and
never once closed, and are never deleted (a review once decided, a pending change once decided), call guard().

The same statements are created by `db.create_all()` (the metadata's after_create events, below) and by the
Alembic migration, which carries a literal copy; the models-match-migrations test compares the two.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, event, text

from disclosure.audit.models import APPEND_ONLY, AuditCheckpoint, AuditEvent, AuditHead, AuditTile

#: Every append-only table, in the order their triggers were introduced by the migrations.
PROTECTED_TABLES = (
    "audit_event",
    "audit_checkpoint",
    "policy_version",
    "review_decision",
    "case_log_state",
    "audit_tile",
    "review_approval",
)

#: Tables whose rows may change while open but never once closed, and are never deleted or truncated:
#: table -> (the column that says so, its open value).
GUARDED_TABLES = {
    "review": ("status", "open"),
    "pending_change": ("state", "pending"),
}

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP;
END
$$
"""


def trigger_statements(dialect: str, table: str) -> list[str]:
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


def head_trigger_statements(dialect: str) -> list[str]:
    """The head row changes with every append, but is never deleted and its size never goes down.

    Without this, an administrator could truncate the log's tail and rewind the head to match; verification
    against a kept checkpoint would still catch it, but the database should refuse it in the first place.
    """
    if dialect == "postgresql":
        return [
            POSTGRES_HEAD_FUNCTION,
            "CREATE TRIGGER audit_head_guard BEFORE UPDATE OR DELETE ON audit_head "
            "FOR EACH ROW EXECUTE FUNCTION audit_head_guard()",
            "CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_head_guard()",
        ]
    return [
        "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
        "BEGIN SELECT RAISE(ABORT, 'audit_head is never removed: DELETE refused'); END",
        "CREATE TRIGGER audit_head_no_shrink BEFORE UPDATE ON audit_head WHEN NEW.size < OLD.size "
        "BEGIN SELECT RAISE(ABORT, 'audit_head only grows: a smaller size refused'); END",
    ]


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


def guard_statements(dialect: str, table: str) -> list[str]:
    """A guarded row is never deleted, and once its column leaves the open value it never changes again.

    A decided review is the record the decision was made on (the decision copies its checklist and grounds, but
    the approvals point at the review); a decided pending change is the record of who let a powerful change in.
    """
    column, open_value = GUARDED_TABLES[table]
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


def expected_trigger_names(dialect: str) -> set[str]:
    suffixes = ("no_change", "no_truncate") if dialect == "postgresql" else ("no_update", "no_delete")
    head = (
        {"audit_head_guard", "audit_head_no_truncate"}
        if dialect == "postgresql"
        else {
            "audit_head_no_delete",
            "audit_head_no_shrink",
        }
    )
    guards = ("guard", "no_truncate") if dialect == "postgresql" else ("no_delete", "frozen_once_closed")
    guarded = {f"{table}_{suffix}" for table in GUARDED_TABLES for suffix in guards}
    return {f"{table}_{suffix}" for table in PROTECTED_TABLES for suffix in suffixes} | head | guarded


def _create_triggers(target: Table, connection: Any, **_kw: Any) -> None:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text(POSTGRES_FUNCTION))
    for statement in trigger_statements(dialect, target.name):
        connection.execute(text(statement))


def _create_head_row(target: Table, connection: Any, **_kw: Any) -> None:
    connection.execute(target.insert().values(id=1, size=0, chain_tip=bytes(32), frontier=b""))
    for statement in head_trigger_statements(connection.dialect.name):
        connection.execute(text(statement))


def protect(model: type) -> None:
    """Make a model's table append-only: triggers at create time, and the ORM listener's refusal."""
    table = model.__table__  # type: ignore[attr-defined]
    if table.name not in PROTECTED_TABLES:
        raise ValueError(f"add {table.name} to PROTECTED_TABLES (and to a migration) before protecting it")
    event.listen(table, "after_create", _create_triggers)
    APPEND_ONLY.add(model)


def _create_guard(target: Table, connection: Any, **_kw: Any) -> None:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text(POSTGRES_GUARD_FUNCTION))
    for statement in guard_statements(dialect, target.name):
        connection.execute(text(statement))


def guard(model: type) -> None:
    """Make a model's rows undeletable, and frozen once closed (GUARDED_TABLES says which column closes them)."""
    table = model.__table__  # type: ignore[attr-defined]
    if table.name not in GUARDED_TABLES:
        raise ValueError(f"add {table.name} to GUARDED_TABLES (and to a migration) before guarding it")
    event.listen(table, "after_create", _create_guard)


for _model in (AuditEvent, AuditCheckpoint, AuditTile):
    protect(_model)
event.listen(AuditHead.__table__, "after_create", _create_head_row)
