"""database blob store: encrypted blobs (and built bundles) in PostgreSQL rows, so several app hosts share them

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-09 12:00:00

Two new tables hold the blob store's database backend (BLOB_BACKEND = "database", disclosure.storage.
database_backend): blob_chunk holds a blob's stored bytes (the same encrypted bytes a file holds) in pieces of
1 MiB, and blob_object names a complete blob and the chunk generation it reads, inserted only once every chunk is
in place. On PostgreSQL blob_chunk.data is stored EXTERNAL: ciphertext does not compress, so PostgreSQL is told
not to try. The tables are created on SQLite too, where they stay empty (the database backend needs PostgreSQL),
so that both databases have the schema the models declare.

bundle gains a nullable blob_name with a unique index: the blob holding a built bundle's ZIP when the database
backend keeps it. Existing bundles keep NULL (their ZIP is in the bundles folder, as before). A nullable column
and an index are added in place on both databases: SQLite rebuilds no table (no batch mode, so nothing can
cascade) and PostgreSQL rewrites nothing.

Downgrade refuses while blob_object or blob_chunk holds rows, or a bundle names a blob: those rows are the only
copy of the encrypted files (documents, records, bundles) and dropping them would lose them. Move the blobs to
the file backend first (or restore a backup taken under it) and downgrade again.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

BYTE_SIZE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "blob_object",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("generation", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("stored_size", BYTE_SIZE, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_blob_object")),
        sa.UniqueConstraint("generation", name=op.f("uq_blob_object_generation")),
    )
    op.create_table(
        "blob_chunk",
        sa.Column("generation", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("written_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("generation", "seq", name=op.f("pk_blob_chunk")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE blob_chunk ALTER COLUMN data SET STORAGE EXTERNAL")
    op.add_column("bundle", sa.Column("blob_name", sa.String(length=32), nullable=True))
    op.create_index(op.f("ix_bundle_blob_name"), "bundle", ["blob_name"], unique=True)


def downgrade():
    bind = op.get_bind()
    held = {
        "blob(s) in the database": bind.execute(sa.text("SELECT count(*) FROM blob_object")).scalar_one(),
        "unfinished blob chunk(s)": bind.execute(sa.text("SELECT count(*) FROM blob_chunk")).scalar_one(),
        "bundle(s) kept in the blob store": bind.execute(
            sa.text("SELECT count(*) FROM bundle WHERE blob_name IS NOT NULL")
        ).scalar_one(),
    }
    found = [f"{count} {what}" for what, count in held.items() if count]
    if found:
        raise RuntimeError(
            f"the database holds {', '.join(found)}: the only copy of those encrypted files. Move them to the file "
            "backend (or restore a backup made under it), run `flask storage reconcile`, and downgrade again"
        )
    op.drop_index(op.f("ix_bundle_blob_name"), table_name="bundle")
    op.drop_column("bundle", "blob_name")
    op.drop_table("blob_chunk")
    op.drop_table("blob_object")
