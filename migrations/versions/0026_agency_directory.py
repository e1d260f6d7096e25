"""agency directory: aliases, official domains, regime, field offices, and who verified a channel, how, from where

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-08 10:00:00

agency gains name_key (its name case-folded, spaces collapsed: names and aliases are looked up by it), regime (the
policy's vocabulary; NULL for every agency recorded before, since a case's regime is its process's, not its
agency's), parent_id (a field office under its agency) and verified_at / verified_by_id (an administrator vouched
for it). Two new tables: agency_alias and agency_domain. agency_contact gains verified_source and verified_how
(where the verifier found the channel and how they checked it) and retired_at / retired_by_id / retired_reason.

Existing data stays valid: every agency becomes a record with no aliases and no domains, unverified; a channel
verified before keeps its verifier and time, with source "before_directory" (shown as "unknown (before the
directory)") and the "how" its audit event recorded (or "Not recorded (before the directory)").

Columns are added in place. On SQLite, rebuilding agency (batch mode) would drop it while foreign keys are on and so
cascade-delete its contacts; so the columns, their checks and references are added with ALTER TABLE ADD COLUMN, and
downgrade first rewrites the schema text to take each added reference off (SQLite refuses to drop a column that is
in a foreign key), as revision 0011 does for its checks, then drops the columns.

Downgrade drops the new tables and columns; what they held stays in the audit events that recorded it.
"""

import json

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

REGIMES = ("us_federal", "us_state", "eu", "uk", "other")
SOURCES = ("official_website", "known_contact", "letter", "before_directory")
LEGACY_HOW = "Not recorded (before the directory)"


def _in(column, values):
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


#: (table, column, type, reference or None, [(check name, check SQL)]) in the order they are added. A check
#: is attached to the last column it names (or a later one), so that dropping the columns in reverse order never
#: strands one.
COLUMNS = [
    ("agency", "regime", sa.String(length=20), None, [("known_regime", f"regime IS NULL OR {_in('regime', REGIMES)}")]),
    ("agency", "parent_id", sa.Integer(), "agency", [("not_own_parent", "parent_id IS NULL OR parent_id <> id")]),
    ("agency", "verified_at", sa.DateTime(), None, []),
    (
        "agency",
        "verified_by_id",
        sa.Integer(),
        "user_account",
        [("verified_by_someone", "verified_at IS NULL OR verified_by_id IS NOT NULL")],
    ),
    (
        "agency_contact",
        "verified_source",
        sa.String(length=30),
        None,
        [("known_source", f"verified_source IS NULL OR {_in('verified_source', SOURCES)}")],
    ),
    ("agency_contact", "verified_how", sa.String(length=500), None, []),
    # Added after the channels verified before are given their source and "how" (SQLite checks existing rows).
    (
        "agency_contact",
        "retired_at",
        sa.DateTime(),
        None,
        [
            (
                "verified_with_source",
                "verified_at IS NULL OR (verified_source IS NOT NULL AND verified_how IS NOT NULL)",
            )
        ],
    ),
    (
        "agency_contact",
        "retired_by_id",
        sa.Integer(),
        "user_account",
        [("retired_by_someone", "retired_at IS NULL OR retired_by_id IS NOT NULL")],
    ),
    ("agency_contact", "retired_reason", sa.String(length=500), None, []),
]


def _key(name):
    # disclosure.cases.models.directory_key, written out: a migration never imports the application.
    return " ".join(name.casefold().split())


def _fk_name(table, column, referred):
    return f"fk_{table}_{column}_{referred}"


def _sqlite_reference(table, column, referred):
    return f"CONSTRAINT {_fk_name(table, column, referred)} REFERENCES {referred} (id)"


def _add_columns(dialect, columns):
    bind = op.get_bind()
    for table, column, type_, referred, checks in columns:
        if dialect == "sqlite":
            parts = [f"ALTER TABLE {table} ADD COLUMN {column} {type_.compile(dialect=bind.dialect)}"]
            if referred:
                parts.append(_sqlite_reference(table, column, referred))
            parts += [f"CONSTRAINT ck_{table}_{name} CHECK ({check})" for name, check in checks]
            op.execute(" ".join(parts))
            continue
        op.add_column(table, sa.Column(column, type_, nullable=True))
        if referred:
            op.create_foreign_key(op.f(_fk_name(table, column, referred)), table, referred, [column], ["id"])
        for name, check in checks:
            op.create_check_constraint(op.f(f"ck_{table}_{name}"), table, check)


def _add_name_key(dialect):
    bind = op.get_bind()
    if dialect == "sqlite":
        # ADD COLUMN cannot add NOT NULL without a default; every row gets its key below, and new rows get theirs
        # from the model.
        op.execute("ALTER TABLE agency ADD COLUMN name_key VARCHAR(200) NOT NULL DEFAULT ''")
    else:
        op.add_column("agency", sa.Column("name_key", sa.String(length=200), nullable=True))
    agency = sa.table("agency", sa.column("id", sa.Integer), sa.column("name", sa.String), sa.column("name_key"))
    for row in bind.execute(sa.select(agency.c.id, agency.c.name)).all():
        bind.execute(agency.update().where(agency.c.id == row.id).values(name_key=_key(row.name)))
    if dialect != "sqlite":
        op.alter_column("agency", "name_key", existing_type=sa.String(length=200), nullable=False)
    op.create_index(op.f("ix_agency_name_key"), "agency", ["name_key"])
    op.create_index(op.f("ix_agency_parent_id"), "agency", ["parent_id"])


def _legacy_verifications():
    """Channels verified before the directory keep their verifier; the "how" comes from their audit event."""
    bind = op.get_bind()
    how_by_contact = {}
    events = sa.text("SELECT body FROM audit_event WHERE action = 'agency.contact_verified' ORDER BY seq")
    for (body,) in bind.execute(events):
        try:
            data = json.loads(bytes(body)).get("data", {})
        except (ValueError, TypeError, AttributeError):
            continue
        if isinstance(data.get("contact"), int) and isinstance(data.get("how"), str) and data["how"].strip():
            how_by_contact[data["contact"]] = data["how"].strip()[:500]
    contact = sa.table(
        "agency_contact",
        sa.column("id", sa.Integer),
        sa.column("verified_at"),
        sa.column("verified_source"),
        sa.column("verified_how"),
    )
    for (contact_id,) in bind.execute(sa.select(contact.c.id).where(contact.c.verified_at.is_not(None))).all():
        bind.execute(
            contact.update()
            .where(contact.c.id == contact_id)
            .values(verified_source="before_directory", verified_how=how_by_contact.get(contact_id, LEGACY_HOW))
        )


def upgrade():
    dialect = op.get_bind().dialect.name
    first = [entry[1] for entry in COLUMNS].index("retired_at")
    _add_columns(dialect, COLUMNS[:first])
    _legacy_verifications()
    _add_columns(dialect, COLUMNS[first:])
    _add_name_key(dialect)
    op.create_table(
        "agency_alias",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_agency_alias_agency_id_agency"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_alias")),
        sa.UniqueConstraint("agency_id", "name_key", name=op.f("uq_agency_alias_agency_id")),
    )
    op.create_index(op.f("ix_agency_alias_name_key"), "agency_alias", ["name_key"])
    op.create_table(
        "agency_domain",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agency.id"], name=op.f("fk_agency_domain_agency_id_agency"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_domain")),
        sa.UniqueConstraint("agency_id", "domain", name=op.f("uq_agency_domain_agency_id")),
    )
    op.create_index(op.f("ix_agency_domain_domain"), "agency_domain", ["domain"])


def _sqlite_drop_references(table, references):
    """Take the references this revision added off the table's definition, so that SQLite drops their columns."""
    bind = op.get_bind()
    select_sql = sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :name")
    sql = bind.execute(select_sql, {"name": table}).scalar_one()
    for column, referred in references:
        clause = " " + _sqlite_reference(table, column, referred)
        if sql.count(clause) != 1:
            raise RuntimeError(f"{table}'s definition does not hold the reference {clause.strip()!r} exactly once")
        sql = sql.replace(clause, "")
    version = bind.execute(sa.text("PRAGMA schema_version")).scalar_one()
    bind.execute(sa.text("PRAGMA writable_schema = ON"))
    bind.execute(
        sa.text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = :name"),
        {
            "sql": sql,
            "name": table,
        },
    )
    bind.execute(sa.text(f"PRAGMA schema_version = {int(version) + 1}"))
    bind.execute(sa.text("PRAGMA writable_schema = OFF"))
    problems = bind.execute(sa.text("PRAGMA integrity_check")).scalars().all()
    if problems != ["ok"]:
        raise RuntimeError(f"the database failed its integrity check after {table}'s references changed: {problems}")


def downgrade():
    dialect = op.get_bind().dialect.name
    op.drop_index(op.f("ix_agency_domain_domain"), table_name="agency_domain")
    op.drop_table("agency_domain")
    op.drop_index(op.f("ix_agency_alias_name_key"), table_name="agency_alias")
    op.drop_table("agency_alias")
    op.drop_index(op.f("ix_agency_parent_id"), table_name="agency")
    op.drop_index(op.f("ix_agency_name_key"), table_name="agency")
    op.drop_column("agency", "name_key")
    if dialect == "sqlite":
        for table in ("agency", "agency_contact"):
            references = [(column, referred) for t, column, _, referred, _ in COLUMNS if t == table and referred]
            _sqlite_drop_references(table, references)
    for table, column, _, referred, checks in reversed(COLUMNS):
        if dialect != "sqlite":
            for name, _ in checks:
                op.drop_constraint(op.f(f"ck_{table}_{name}"), table, type_="check")
            if referred:
                op.drop_constraint(op.f(_fk_name(table, column, referred)), table, type_="foreignkey")
        op.drop_column(table, column)
