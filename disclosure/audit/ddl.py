"""Database-side guards for append-only tables: triggers that refuse UPDATE, DELETE and TRUNCATE; the audit head row.

The audit log's two tables are protected here; other append-only records (policy versions, review decisions)
call protect() on their model.

The same statements are created by `db.create_all()` (the metadata's after_create events, below) and by the
Alembic migration, which carries a literal copy; the models-match-migrations test compares the two.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, event, text

from disclosure.audit.models import APPEND_ONLY, AuditCheckpoint, AuditEvent, AuditHead

#: Every append-only table, in the order their triggers were introduced by the migrations.
PROTECTED_TABLES = ("audit_event", "audit_checkpoint", "policy_version", "review_decision", "case_log_state")

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


def expected_trigger_names(dialect: str) -> set[str]:
    suffixes = ("no_change", "no_truncate") if dialect == "postgresql" else ("no_update", "no_delete")
    return {f"{table}_{suffix}" for table in PROTECTED_TABLES for suffix in suffixes}


def _create_triggers(target: Table, connection: Any, **_kw: Any) -> None:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text(POSTGRES_FUNCTION))
    for statement in trigger_statements(dialect, target.name):
        connection.execute(text(statement))


def _create_head_row(target: Table, connection: Any, **_kw: Any) -> None:
    connection.execute(target.insert().values(id=1, size=0, chain_tip=bytes(32), frontier=b""))


def protect(model: type) -> None:
    """Make a model's table append-only: triggers at create time, and the ORM listener's refusal."""
    table = model.__table__  # type: ignore[attr-defined]
    if table.name not in PROTECTED_TABLES:
        raise ValueError(f"add {table.name} to PROTECTED_TABLES (and to a migration) before protecting it")
    event.listen(table, "after_create", _create_triggers)
    APPEND_ONLY.add(model)


for _model in (AuditEvent, AuditCheckpoint):
    protect(_model)
event.listen(AuditHead.__table__, "after_create", _create_head_row)
