"""Production records, agencies' recipient certificates, and the bundles built from them.

A record is tied to one target and one data category of the case, and only exists inside the approved scope
(the service refuses anything else). A bundle's row outlives its file: after it expires and is purged, its
SHA-256, size, recipients, builder and checkpoint stay on record.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from disclosure.auth.models import User
from disclosure.cases.models import Agency, Case, CaseTarget
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.policy.vocabulary import Category

#: A file's size in bytes: 64-bit, since files over 2 GiB are ordinary here (PostgreSQL's INTEGER stops at 2^31 - 1).
#: SQLite's INTEGER is already 64-bit, so the column stays INTEGER there and migration 0012 leaves SQLite alone.
BYTE_SIZE = BigInteger().with_variant(Integer(), "sqlite")


class ProductionRecord(db.Model):  # type: ignore[name-defined]
    __tablename__ = "production_record"
    __table_args__ = (
        CheckConstraint("category IN (" + ", ".join(f"'{c.value}'" for c in Category) + ")", name="known_category"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"))
    target_id: Mapped[int] = mapped_column(ForeignKey("case_target.id"))
    category: Mapped[str] = mapped_column(String(30))
    #: A safe file name, unique within the case's production.
    filename: Mapped[str] = mapped_column(String(200))
    #: Plaintext bytes.
    size: Mapped[int] = mapped_column(BYTE_SIZE)
    #: SHA-256 of the plaintext, hex.
    sha256: Mapped[str] = mapped_column(String(64))
    blob_name: Mapped[str] = mapped_column(String(32), unique=True)
    added_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship()
    target: Mapped[CaseTarget] = relationship()
    added_by: Mapped[User] = relationship()


class RecipientCertificate(db.Model):  # type: ignore[name-defined]
    """An agency's RSA certificate that bundles are encrypted to."""

    __tablename__ = "recipient_certificate"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    label: Mapped[str] = mapped_column(String(200))
    pem: Mapped[str] = mapped_column(Text)
    #: SHA-256 of the DER certificate, hex.
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    subject: Mapped[str] = mapped_column(String(500))
    not_after: Mapped[datetime]
    added_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)

    agency: Mapped[Agency] = relationship()

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and self.not_after > now


#: How a bundle reaches its recipient, as the delivery record names it.
DELIVERY_CHANNELS = {
    "portal": "The agency's secure portal",
    "encrypted_email": "Encrypted email",
    "physical_media": "Physical media, by courier",
    "in_person": "Handed over in person",
    "other": "Another way (say how under recipient)",
}


class Bundle(db.Model):  # type: ignore[name-defined]
    __tablename__ = "bundle"
    __table_args__ = (
        CheckConstraint("kind IN ('production', 'audit_extract', 'report')", name="known_kind"),
        CheckConstraint("kind != 'production' OR case_id IS NOT NULL", name="production_has_case"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random, in the file and bag name; never guessable from the sequence.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_file.id"), default=None)
    filename: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    #: Bytes of the ZIP.
    size: Mapped[int] = mapped_column(BYTE_SIZE)
    file_count: Mapped[int]
    #: Fingerprints of the recipient certificates, JSON list; empty when passphrase-only.
    recipients_json: Mapped[str] = mapped_column(Text, default="[]")
    passphrase_only: Mapped[bool] = mapped_column(default=False)
    #: The audit checkpoint the bundle's inclusion proofs lead to.
    checkpoint_size: Mapped[int]
    built_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    built_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    delivered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    #: How it was delivered (DELIVERY_CHANNELS), the day it reached the recipient, and who received it.
    delivered_channel: Mapped[str | None] = mapped_column(String(30), default=None)
    delivered_on: Mapped[date | None] = mapped_column(default=None)
    delivered_to: Mapped[str | None] = mapped_column(String(200), default=None)
    #: Set when the file was deleted after expiry; the row stays as the record.
    purged_at: Mapped[datetime | None] = mapped_column(default=None)
    #: The ZIP's name in the blob store, where the database blob backend keeps it (encrypted, reachable from every
    #: host); None for a ZIP in the bundles folder (the file backend). Kept after purging, as the record.
    blob_name: Mapped[str | None] = mapped_column(String(32), index=True, unique=True, default=None)

    case: Mapped[Case | None] = relationship()
    built_by: Mapped[User | None] = relationship(foreign_keys=[built_by_id])
