"""case search: a searchable text per case, indexed by the database's own full-text search

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 18:30:00

A new table, case_search, holds one row per case: its reference, docket, targets (as written and in canonical
form), agency, officer, issuer and notes, lower-cased (disclosure.cases.search.document_of). PostgreSQL indexes it
with pg_trgm (the extension is created if missing; it is a trusted extension, so the database owner may create it)
and a GIN index, for `ILIKE '%term%'`. SQLite gets an FTS5 index with the trigram tokenizer beside it
(case_search_fts, external content read from case_search). The rows are filled here from the existing cases, and
the app keeps them current from then on (disclosure.cases.search: every flush that changes a case, a target or an
agency rewrites that case's row).

No table is rebuilt (case_file is never batch-altered on SQLite: its rebuild would cascade deletes).

Downgrade drops the index, the table and (on PostgreSQL) the pg_trgm extension, which it refuses to drop while
anything else uses it: they are derived data, rebuilt by upgrading again (or by `flask cases reindex`).
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _document(row):
    reference, docket, agency, officer, email, issuer, summary, targets = row
    parts = [reference, docket or ""]
    for value, normalized in targets:
        parts.extend((value, normalized))
    parts.extend((agency or "", officer or "", email or "", issuer or "", summary or ""))
    return "\n".join(part for part in parts if part).lower()


def upgrade():
    op.create_table(
        "case_search",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["case_file.id"], name=op.f("fk_case_search_case_id_case_file"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_search")),
    )
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    if sqlite:
        op.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS case_search_fts USING fts5("
            "doc, content='case_search', content_rowid='case_id', tokenize='trigram')"
        )
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX IF NOT EXISTS ix_case_search_doc_trgm ON case_search USING gin (doc gin_trgm_ops)")
    targets = {}
    for case_id, value, normalized in bind.execute(sa.text("SELECT case_id, value, normalized FROM case_target")):
        targets.setdefault(case_id, []).append((value, normalized))
    rows = bind.execute(
        sa.text(
            "SELECT c.id, c.reference, c.docket, a.name, c.officer_name, c.officer_email, c.authority_name, c.summary "
            "FROM case_file c LEFT JOIN agency a ON a.id = c.agency_id"
        )
    ).all()
    documents = [{"case_id": row[0], "doc": _document((*row[1:], targets.get(row[0], [])))} for row in rows]
    if documents:
        bind.execute(sa.text("INSERT INTO case_search (case_id, doc) VALUES (:case_id, :doc)"), documents)
        if sqlite:
            bind.execute(sa.text("INSERT INTO case_search_fts (rowid, doc) VALUES (:case_id, :doc)"), documents)


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE IF EXISTS case_search_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_case_search_doc_trgm")
        op.execute("DROP EXTENSION IF EXISTS pg_trgm")  # refused, and nothing dropped, if something else uses it
    op.drop_table("case_search")
