"""Files being written whose owning row is not committed yet (disclosure.storage.transactional keeps the rule).

A `pending_file` row is committed on its own before its file is written, and deleted in the transaction that commits
the row owning the file; so a row older than the grace period names a file whose owner never committed, which
`flask storage reconcile` removes. The areas are the places files live: the encrypted blob store and the bundles.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, String, UniqueConstraint
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
