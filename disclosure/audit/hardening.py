"""PostgreSQL grants for the application role: append-only on the append-only tables, no DELETE on reviews and
pending changes, read-write elsewhere."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Table

from disclosure.audit.ddl import GUARDED_TABLES, PROTECTED_TABLES

#: Every table the triggers make append-only (the log, checkpoints, policy versions, decisions, approvals, case
#: log state).
APPEND_ONLY_TABLES = frozenset(PROTECTED_TABLES)
#: Rows that change while open but are never deleted (reviews, pending changes).
UNDELETABLE_TABLES = frozenset(GUARDED_TABLES)
#: The head row is updated by every append, but never deleted.
HEAD_TABLE = "audit_head"


def grant_statements(role: str, tables: Iterable[Table]) -> list[str]:
    """The statements, for a role name already checked to be a plain identifier."""
    statements = [
        f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"',
        f'GRANT USAGE ON SCHEMA public TO "{role}"',
        f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"',
    ]
    for table in tables:
        if table.name in APPEND_ONLY_TABLES:
            privileges = "SELECT, INSERT"
        elif table.name in UNDELETABLE_TABLES:
            privileges = "SELECT, INSERT, UPDATE"
        elif table.name == HEAD_TABLE:
            privileges = "SELECT, UPDATE"
        else:
            privileges = "SELECT, INSERT, UPDATE, DELETE"
        statements.append(f'GRANT {privileges} ON TABLE "{table.name}" TO "{role}"')
    return statements
