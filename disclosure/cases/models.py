"""Cases and what hangs off them: the agency directory, targets, categories, documents, non-disclosure orders.

Invariants the database holds: a case's state, process type and channel come from the vocabularies; a decided
case has a decider; a target's date range is ordered; two people editing one case cannot both win
(version_id_col). Stored ids are the vocabulary's ids, never labels.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from sqlalchemy.types import BigInteger, Integer

from disclosure.auth.models import User
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.policy.request import Particulars, parse_particulars
from disclosure.policy.vocabulary import (
    AuthorityKind,
    Category,
    LabelledEnum,
    ProcessType,
    ReceivedVia,
    Regime,
    TargetKind,
)
from disclosure.workflow import DECIDED_STATES, State, Track


def _values(enum: type) -> str:
    return ", ".join(f"'{member.value}'" for member in enum)  # type: ignore[attr-defined]


PRESERVATION_PROCESSES = frozenset({ProcessType.PRESERVATION_REQUEST, ProcessType.EU_PRESERVATION_ORDER})


def directory_key(name: str) -> str:
    """How the directory compares names and aliases: case-folded, with runs of spaces made one."""
    return " ".join(name.casefold().split())


class ChannelSource(LabelledEnum):
    """Where the person who verified a contact channel found it: never the request that names it."""

    OFFICIAL_WEBSITE = "official_website"
    KNOWN_CONTACT = "known_contact"
    LETTER = "letter"
    #: Channels verified before the directory recorded a source (migration 0026).
    BEFORE_DIRECTORY = "before_directory"


ChannelSource._labels = {  # type: ignore[attr-defined]  # an enum's labels, set once beside it
    "official_website": "The agency's official website",
    "known_contact": "A known contact at the agency",
    "letter": "A letter from the agency",
    "before_directory": "unknown (before the directory)",
}


class Agency(db.Model):  # type: ignore[name-defined]
    """An agency that may send us legal process, as the directory knows it.

    Verified only when an administrator vouched for it (verified_at) and it has at least one verified channel in
    use; every agency created from intake starts unverified.
    """

    __tablename__ = "agency"
    __table_args__ = (
        UniqueConstraint("name", "country", name="name_country"),
        CheckConstraint(f"regime IS NULL OR regime IN ({_values(Regime)})", name="known_regime"),
        CheckConstraint("parent_id IS NULL OR parent_id <> id", name="not_own_parent"),
        CheckConstraint("verified_at IS NULL OR verified_by_id IS NOT NULL", name="verified_by_someone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The canonical name; other spellings are aliases.
    name: Mapped[str] = mapped_column(String(200))
    #: ISO 3166-1 alpha-2.
    country: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: directory_key(name): names and aliases are looked up by it.
    name_key: Mapped[str] = mapped_column(String(200), index=True)
    #: The policy's Regime; None for agencies recorded before the directory said.
    regime: Mapped[str | None] = mapped_column(String(20), default=None)
    #: The agency a field office belongs to.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("agency.id"), default=None, index=True)
    #: An administrator vouched for the agency (it counts as verified only while it has a verified channel).
    verified_at: Mapped[datetime | None] = mapped_column(default=None)
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)

    contacts: Mapped[list[AgencyContact]] = relationship(
        back_populates="agency", cascade="all, delete-orphan", order_by="AgencyContact.id"
    )
    aliases: Mapped[list[AgencyAlias]] = relationship(
        back_populates="agency", cascade="all, delete-orphan", order_by="AgencyAlias.name"
    )
    domains: Mapped[list[AgencyDomain]] = relationship(
        back_populates="agency", cascade="all, delete-orphan", order_by="AgencyDomain.domain"
    )
    parent: Mapped[Agency | None] = relationship(remote_side=[id], back_populates="field_offices")
    field_offices: Mapped[list[Agency]] = relationship(back_populates="parent", order_by="Agency.name")
    verified_by: Mapped[User | None] = relationship(foreign_keys=[verified_by_id])

    @validates("name")
    def _keep_key(self, _key: str, value: str) -> str:
        self.name_key = directory_key(value)
        return value

    @property
    def verified_channels(self) -> list[AgencyContact]:
        """The channels a request may be confirmed through: verified and still in use."""
        return [contact for contact in self.contacts if contact.usable]

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None and bool(self.verified_channels)

    @property
    def regime_label(self) -> str:
        return Regime(self.regime).label if self.regime else "Not recorded"


class AgencyContact(db.Model):  # type: ignore[name-defined]
    """A way to reach an agency; verified ones are the channels used to confirm a request out of band.

    A channel is never deleted once added (a case's verification may name it): one no longer relied on is retired.
    """

    __tablename__ = "agency_contact"
    __table_args__ = (
        CheckConstraint("kind IN ('email', 'phone', 'portal', 'postal')", name="known_kind"),
        CheckConstraint(
            f"verified_source IS NULL OR verified_source IN ({_values(ChannelSource)})", name="known_source"
        ),
        CheckConstraint(
            "verified_at IS NULL OR (verified_source IS NOT NULL AND verified_how IS NOT NULL)",
            name="verified_with_source",
        ),
        CheckConstraint("retired_at IS NULL OR retired_by_id IS NOT NULL", name="retired_by_someone"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(String(300))
    verified_at: Mapped[datetime | None] = mapped_column(default=None)
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    #: ChannelSource: where the verifier found the channel.
    verified_source: Mapped[str | None] = mapped_column(String(30), default=None)
    #: How it was checked, in the verifier's words ("called the published number", "letter on file").
    verified_how: Mapped[str | None] = mapped_column(String(500), default=None)
    #: No longer relied on (the number changed, the mailbox was compromised): kept for the record, never offered.
    retired_at: Mapped[datetime | None] = mapped_column(default=None)
    retired_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    retired_reason: Mapped[str | None] = mapped_column(String(500), default=None)

    agency: Mapped[Agency] = relationship(back_populates="contacts")
    verified_by: Mapped[User | None] = relationship(foreign_keys=[verified_by_id])
    retired_by: Mapped[User | None] = relationship(foreign_keys=[retired_by_id])

    @property
    def usable(self) -> bool:
        return self.verified_at is not None and self.retired_at is None

    @property
    def source_label(self) -> str:
        return ChannelSource(self.verified_source).label if self.verified_source else ""


class AgencyAlias(db.Model):  # type: ignore[name-defined]
    """Another name the agency goes by ("FBI"); a merged duplicate's name is kept as one."""

    __tablename__ = "agency_alias"
    __table_args__ = (UniqueConstraint("agency_id", "name_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    #: directory_key(name): how it is looked up.
    name_key: Mapped[str] = mapped_column(String(200), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    agency: Mapped[Agency] = relationship(back_populates="aliases")

    @validates("name")
    def _keep_key(self, _key: str, value: str) -> str:
        self.name_key = directory_key(value)
        return value


class AgencyDomain(db.Model):  # type: ignore[name-defined]
    """An email domain the agency officially sends from (lower-case, IDNA form); its subdomains count too."""

    __tablename__ = "agency_domain"
    __table_args__ = (UniqueConstraint("agency_id", "domain"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(253), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    agency: Mapped[Agency] = relationship(back_populates="domains")


class ReferenceCounter(db.Model):  # type: ignore[name-defined]
    """The last reference number handed out per year (DR-2026-00042); read and bumped under a row lock."""

    __tablename__ = "reference_counter"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(default=0)


class Case(db.Model):  # type: ignore[name-defined]
    __tablename__ = "case_file"
    __table_args__ = (
        CheckConstraint(f"state IN ({_values(State)})", name="known_state"),
        CheckConstraint(f"process_type IN ({_values(ProcessType)})", name="known_process"),
        CheckConstraint(f"regime IN ({_values(Regime)})", name="known_regime"),
        CheckConstraint(f"authority_kind IN ({_values(AuthorityKind)})", name="known_authority"),
        CheckConstraint(f"received_via IN ({_values(ReceivedVia)})", name="known_channel"),
        CheckConstraint(
            f"state NOT IN ({', '.join(repr(s.value) for s in sorted(DECIDED_STATES))}) OR decided_by_id IS NOT NULL",
            name="decided_has_decider",
        ),
        Index("ix_case_file_state_due", "state", "due_at"),
        Index("ix_case_file_docket", "docket"),
        Index("ix_case_file_assigned", "assigned_to_id", "state"),
        Index("ix_case_file_received", "received_at"),
        Index("ix_case_file_due", "due_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Human-friendly and unique, e.g. DR-2026-00042.
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    process_type: Mapped[str] = mapped_column(String(40))
    regime: Mapped[str] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(100), default=None)
    authority_kind: Mapped[str] = mapped_column(String(20))
    #: The judge, court or prosecutor who issued the process.
    authority_name: Mapped[str] = mapped_column(String(300))
    docket: Mapped[str | None] = mapped_column(String(100), default=None)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agency.id"))
    officer_name: Mapped[str | None] = mapped_column(String(200), default=None)
    officer_badge: Mapped[str | None] = mapped_column(String(50), default=None)
    officer_email: Mapped[str | None] = mapped_column(String(254), default=None)
    officer_phone: Mapped[str | None] = mapped_column(String(50), default=None)
    #: When the process reached us; entered by hand for paper and fax, never in the future.
    received_at: Mapped[datetime]
    received_via: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime]
    #: How due_at was computed, in words, shown on the case page.
    due_explanation: Mapped[str] = mapped_column(Text)
    emergency: Mapped[bool] = mapped_column(default=False)
    #: The day the process was issued, if it says.
    issued_on: Mapped[date | None] = mapped_column(Date, default=None)
    #: The last day the process itself is valid (warrants), if it says.
    valid_until: Mapped[date | None] = mapped_column(Date, default=None)
    #: The request document's later keys (validation, signing official, offence, voluntary basis, agreement), as
    #: disclosure.policy.request.particulars_json writes them; None for a case logged before they existed.
    particulars: Mapped[dict[str, Any] | None] = mapped_column(
        JSON().with_variant(postgresql.JSONB(), "postgresql"), default=None
    )
    #: IANA time zone the deadlines are computed in.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    summary: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(20), default=State.RECEIVED.value)
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    #: Optimistic locking: a stale form's version no longer matches.
    version_id: Mapped[int] = mapped_column(default=1)

    agency: Mapped[Agency] = relationship(lazy="joined")
    assigned_to: Mapped[User | None] = relationship(foreign_keys=[assigned_to_id])
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    targets: Mapped[list[CaseTarget]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseTarget.id", lazy="selectin"
    )
    category_rows: Mapped[list[CaseCategory]] = relationship(
        back_populates="case", cascade="all, delete-orphan", lazy="selectin"
    )
    documents: Mapped[list[Document]] = relationship(back_populates="case", order_by="Document.id")
    gag_order: Mapped[NonDisclosureOrder | None] = relationship(back_populates="case", uselist=False)

    __mapper_args__ = {"version_id_col": version_id}

    @property
    def track(self) -> Track:
        if ProcessType(self.process_type) in PRESERVATION_PROCESSES:
            return Track.PRESERVATION
        return Track.DISCLOSURE

    @property
    def status(self) -> State:
        return State(self.state)

    @property
    def process(self) -> ProcessType:
        return ProcessType(self.process_type)

    @property
    def labels(self) -> dict[str, str]:
        """Display labels of the vocabulary ids stored on the case."""
        return {
            "regime": Regime(self.regime).label,
            "authority": AuthorityKind(self.authority_kind).label,
            "received_via": ReceivedVia(self.received_via).label,
        }

    @property
    def further_particulars(self) -> Particulars:
        """The request's later keys (validation, signing official, offence, voluntary basis, agreement) as values."""
        return parse_particulars(self.particulars)

    @property
    def categories(self) -> list[Category]:
        return sorted((Category(row.category) for row in self.category_rows), key=list(Category).index)

    @property
    def subject(self) -> str:
        """How the audit log names this case."""
        return f"case:{self.reference}"


class CaseTarget(db.Model):  # type: ignore[name-defined]
    __tablename__ = "case_target"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_values(TargetKind)})", name="known_kind"),
        Index("ix_case_target_normalized", "normalized"),
        Index("ix_case_target_case", "case_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(300))
    #: Lower-cased, canonical form used for search and for finding related cases.
    normalized: Mapped[str] = mapped_column(String(300))
    #: The range's start and end exactly as given: a date (YYYY-MM-DD) or an aware date-time in ISO 8601,
    #: e.g. an IP address's time of use. The request parser checks that the range is ordered.
    date_from: Mapped[str | None] = mapped_column(String(40), default=None)
    date_to: Mapped[str | None] = mapped_column(String(40), default=None)

    case: Mapped[Case] = relationship(back_populates="targets")

    @property
    def target_kind(self) -> TargetKind:
        return TargetKind(self.kind)


class CaseCategory(db.Model):  # type: ignore[name-defined]
    __tablename__ = "case_category"
    __table_args__ = (CheckConstraint(f"category IN ({_values(Category)})", name="known_category"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id", ondelete="CASCADE"), primary_key=True)
    category: Mapped[str] = mapped_column(String(30), primary_key=True)

    case: Mapped[Case] = relationship(back_populates="category_rows")


class Document(db.Model):  # type: ignore[name-defined]
    __tablename__ = "case_document"
    __table_args__ = (
        CheckConstraint("kind IN ('legal_process', 'correspondence', 'response_letter')", name="known_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"))
    kind: Mapped[str] = mapped_column(String(20))
    #: The uploaded name, sanitised; only ever used as a download's suggested name.
    filename: Mapped[str] = mapped_column(String(200))
    #: Detected from the content, never taken from the upload.
    content_type: Mapped[str] = mapped_column(String(100))
    #: Plaintext bytes: BIGINT on PostgreSQL (files over 2 GiB); SQLite's INTEGER is 64-bit already (migration 0012).
    size: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"))
    #: SHA-256 of the plaintext, hex.
    sha256: Mapped[str] = mapped_column(String(64))
    #: The encrypted blob's generated name in the blob store.
    blob_name: Mapped[str] = mapped_column(String(32), unique=True)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[Case] = relationship(back_populates="documents")
    uploaded_by: Mapped[User] = relationship()


class NonDisclosureOrder(db.Model):  # type: ignore[name-defined]
    """A gag order attached to a case: the customer may not be told until it expires (if ever)."""

    __tablename__ = "non_disclosure_order"
    __table_args__ = (CheckConstraint("expires_on IS NULL OR expires_on >= starts_on", name="ordered_dates"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"), unique=True)
    basis: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    #: None means indefinite.
    expires_on: Mapped[date | None] = mapped_column(Date, default=None)
    #: Set when someone records that the customer was notified after the order ended.
    customer_notified_at: Mapped[datetime | None] = mapped_column(default=None)
    customer_notified_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    version_id: Mapped[int] = mapped_column(default=1)

    case: Mapped[Case] = relationship(back_populates="gag_order")
    renewals: Mapped[list[NdoRenewal]] = relationship(
        back_populates="order", order_by="NdoRenewal.id", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version_id}

    @property
    def indefinite(self) -> bool:
        return self.expires_on is None


class NdoRenewal(db.Model):  # type: ignore[name-defined]
    __tablename__ = "ndo_renewal"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("non_disclosure_order.id", ondelete="CASCADE"))
    previous_expiry: Mapped[date | None] = mapped_column(Date)
    new_expiry: Mapped[date | None] = mapped_column(Date)
    renewed_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    renewed_at: Mapped[datetime] = mapped_column(default=utcnow)

    order: Mapped[NonDisclosureOrder] = relationship(back_populates="renewals")
