"""Files being written whose owning row is not committed yet (disclosure.storage.transactional keeps the rule), and the
blob tables of the database backend (disclosure.storage.database_backend).

A `pending_file` row is committed on its own before its file is written, and deleted in the transaction that commits
the row owning the file; so a row older than the grace period names a file whose owner never committed, which
`flask storage reconcile` removes. The areas are the places files live: the encrypted blob store and the bundles.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import DDL, BigInteger, CheckConstraint, Integer, LargeBinary, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from disclosure.clock import utcnow
from disclosure.extensions import db


class FileArea(StrEnum):
    """Where a file lives."""

    #: The encrypted blob store (BLOB_DIR, by default instance/blobs/): documents and production records.
    BLOB = "blob"
    #: Built bundles, instance/bundles/<public id>.zip.
    BUNDLE = "bundle"

    @property
    def label(self) -> str:
        return {"blob": "encrypted file", "bundle": "bundle"}[self.value]


class PendingFile(db.Model):  # type: ignore[name-defined]
    __tablename__ = "pending_file"
    __table_args__ = (
        CheckConstraint("area IN (" + ", ".join(f"'{a.value}'" for a in FileArea) + ")", name="known_area"),
        UniqueConstraint("area", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    area: Mapped[str] = mapped_column(String(20))
    #: The file's name in its area: a blob's generated name, or a bundle's `<public id>.zip`.
    name: Mapped[str] = mapped_column(String(64))
    #: The table whose row will name the file once committed ("case_document", "production_record", "bundle").
    owner: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BlobObject(db.Model):  # type: ignore[name-defined]
    """A complete blob of the database backend. Inserted only once every chunk of it is committed, so a blob
    without this row is no blob: an unfinished write, which `flask storage reconcile` removes."""

    __tablename__ = "blob_object"

    #: The blob's generated name (32 hex digits), as the rows that own it know it.
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: The blob_chunk rows that hold its bytes; a re-encryption writes a new generation, then switches to it.
    generation: Mapped[str] = mapped_column(String(32), unique=True)
    #: The storage key it is encrypted under (as its header says), so retiring a key can ask the database.
    key_id: Mapped[str] = mapped_column(String(16))
    #: Bytes stored (header and ciphertext), not the plaintext's size.
    stored_size: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BlobChunk(db.Model):  # type: ignore[name-defined]
    """One piece (CHUNK_BYTES, the last shorter) of a blob's stored bytes, in order of seq from 0."""

    __tablename__ = "blob_chunk"

    generation: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    #: The blob these bytes are (or were being) written for; says whose an unfinished write was.
    name: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    written_at: Mapped[datetime] = mapped_column(default=utcnow)


# Ciphertext does not compress: stored out of line without compression, PostgreSQL skips trying (measured here:
# 231 MB/s written instead of 173 MB/s). Migration 0016 does the same.
event.listen(
    BlobChunk.__table__,
    "after_create",
    DDL("ALTER TABLE blob_chunk ALTER COLUMN data SET STORAGE EXTERNAL").execute_if(dialect="postgresql"),
)
