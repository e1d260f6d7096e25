"""Policy versions, reviews, the two-reviewer approvals, and the immutable decision record.

A policy version and a decision are never changed once written (the database refuses UPDATE and DELETE on
them, as on the audit log). A review is the working sheet of one round of review; once decided it is frozen,
and a reopened case starts a new review. The review's structured data is stored as JSON (JSONB on PostgreSQL)
and read and written only through the typed codecs below, so no caller parses or builds it by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Dialect,
    Enum,
    ForeignKey,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator, TypeEngine

from disclosure.audit.ddl import guard, protect
from disclosure.auth.models import User
from disclosure.cases.models import Case
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.policy.vocabulary import Ground
from disclosure.review.scope import ScopeEntry


class Outcome(StrEnum):
    """What a decision decided; each moves the case by one workflow action."""

    APPROVED = "approved"
    REJECTED = "rejected"
    NEEDS_INFO = "needs_info"
    #: The reviewer found no account and no data for the request's identifiers: nothing to produce.
    NO_RECORDS = "no_records"

    @property
    def label(self) -> str:
        return _OUTCOME_LABELS[self]


_OUTCOME_LABELS = {
    Outcome.APPROVED: "Approved",
    Outcome.REJECTED: "Rejected",
    Outcome.NEEDS_INFO: "More information requested",
    Outcome.NO_RECORDS: "No records held",
}


class ReviewStatus(StrEnum):
    """A review is open while reviewers work on it and decided once its decision is written."""

    OPEN = "open"
    DECIDED = "decided"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Answer(StrEnum):
    """A reviewer's answer to one checklist element."""

    YES = "yes"
    NO = "no"
    NA = "na"

    @property
    def label(self) -> str:
        return _ANSWER_LABELS[self]


_ANSWER_LABELS = {Answer.YES: "Yes", Answer.NO: "No", Answer.NA: "Not applicable"}


@dataclass(frozen=True)
class ChecklistAnswer:
    """One checklist element answered: the answer, the reviewer's note, and who answered."""

    answer: Answer
    note: str
    by: int

    def to_json(self) -> dict[str, Any]:
        return {"answer": self.answer.value, "by": self.by, "note": self.note}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ChecklistAnswer:
        return cls(Answer(raw["answer"]), str(raw.get("note", "")), int(raw["by"]))


@dataclass(frozen=True)
class Citation:
    """The policy grounds a reviewer cites for one requested category, with the written reason."""

    grounds: tuple[Ground, ...]
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"grounds": [g.value for g in self.grounds], "reason": self.reason}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Citation:
        return cls(tuple(Ground(g) for g in raw.get("grounds", [])), str(raw.get("reason", "")))


Checklist = dict[str, ChecklistAnswer]
Grounds = dict[str, Citation]
Scope = tuple[ScopeEntry, ...]

T = TypeVar("T")


def _document(none_as_null: bool = False) -> TypeEngine[Any]:
    return JSON(none_as_null=none_as_null).with_variant(postgresql.JSONB(none_as_null=none_as_null), "postgresql")


class Coded(TypeDecorator[T]):
    """A JSON (JSONB on PostgreSQL) column read and written through a typed codec.

    The values are immutable snapshots: assign a new value to change one (in-place changes are not tracked).
    """

    impl = JSON
    cache_ok = True

    def __init__(self, encode: Callable[[T], Any], decode: Callable[[Any], T], *, none_as_null: bool = False) -> None:
        super().__init__()
        self.encode, self.decode, self.none_as_null = encode, decode, none_as_null

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return _document(self.none_as_null).dialect_impl(dialect)

    def process_bind_param(self, value: T | None, dialect: Dialect) -> Any:
        return None if value is None else self.encode(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> T | None:
        return None if value is None else self.decode(value)


def encode_checklist(answers: Checklist) -> dict[str, Any]:
    return {item: answers[item].to_json() for item in sorted(answers)}


def decode_checklist(raw: Mapping[str, Any]) -> Checklist:
    return {item: ChecklistAnswer.from_json(answer) for item, answer in raw.items()}


def encode_grounds(cited: Grounds) -> dict[str, Any]:
    return {category: cited[category].to_json() for category in sorted(cited)}


def decode_grounds(raw: Mapping[str, Any]) -> Grounds:
    return {category: Citation.from_json(citation) for category, citation in raw.items()}


def encode_scope(entries: Scope) -> list[dict[str, Any]]:
    return [entry.to_json() for entry in entries]


def decode_scope(raw: list[Mapping[str, Any]]) -> Scope:
    return tuple(ScopeEntry.from_json(entry) for entry in raw)


def _stored_enum(enum: type[StrEnum], length: int) -> Enum:
    """The enum's values (not its names) in a plain VARCHAR; the CHECK constraints below name the values."""
    return Enum(
        enum, native_enum=False, create_constraint=False, length=length, values_callable=lambda e: [m.value for m in e]
    )


#: The checklist and the grounds are read and rewritten whole on every worksheet save and never queried by
#: element, so a JSON document per review is the natural unit (a child table would only add a diff on save).
CHECKLIST = Coded(encode_checklist, decode_checklist)
GROUNDS = Coded(encode_grounds, decode_grounds)
#: Scope entries are read whole (production checks a record against the case's latest approved scope in Python)
#: and never queried in SQL; if reports ever ask "which cases approved content for target X", they become a
#: child table of the decision.
SCOPE = Coded(encode_scope, decode_scope, none_as_null=True)


class PolicyVersion(db.Model):  # type: ignore[name-defined]
    __tablename__ = "policy_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: SHA-256 of the exact file bytes; every review records it.
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    label: Mapped[str] = mapped_column(String(200))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    uploaded_by: Mapped[User | None] = relationship()


class Review(db.Model):  # type: ignore[name-defined]
    __tablename__ = "review"
    __table_args__ = (
        CheckConstraint(f"status IN ({', '.join(repr(s.value) for s in ReviewStatus)})", name="known_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"))
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_version.id"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[ReviewStatus] = mapped_column(_stored_enum(ReviewStatus, 10), default=ReviewStatus.OPEN)
    #: The checklist answers so far, by checklist element id. (The server default exists because SQLite can only
    #: add a NOT NULL column with one, and `review` cannot be rebuilt there while approvals point at it.)
    checklist: Mapped[Checklist] = mapped_column(CHECKLIST, default=dict, server_default=text("'{}'"))
    #: The grounds cited so far, by requested category.
    grounds: Mapped[Grounds] = mapped_column(GROUNDS, default=dict, server_default=text("'{}'"))
    #: Counsel's decision on categories no policy ground covers (required to approve those).
    counsel_note: Mapped[str] = mapped_column(Text, default="")
    version_id: Mapped[int] = mapped_column(default=1)

    case: Mapped[Case] = relationship()
    policy_version: Mapped[PolicyVersion] = relationship(lazy="joined")
    approvals: Mapped[list[Approval]] = relationship(back_populates="review", order_by="Approval.id")
    decision: Mapped[Decision | None] = relationship(back_populates="review", uselist=False)

    __mapper_args__ = {"version_id_col": version_id}


class Approval(db.Model):  # type: ignore[name-defined]
    """One reviewer's approval, where the process needs more than one (interception orders need two)."""

    __tablename__ = "review_approval"
    __table_args__ = (UniqueConstraint("review_id", "reviewer_id", name="one_per_reviewer"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("review.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    #: The scope this reviewer approved; a later approval must confirm it exactly.
    scope: Mapped[Scope] = mapped_column(SCOPE)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    review: Mapped[Review] = relationship(back_populates="approvals")
    reviewer: Mapped[User] = relationship()


OUTCOMES = ", ".join(repr(o.value) for o in Outcome)


class Decision(db.Model):  # type: ignore[name-defined]
    """The decision record: what was decided, by whom, on what checklist and grounds, under which policy."""

    __tablename__ = "review_decision"
    __table_args__ = (
        CheckConstraint(f"outcome IN ({OUTCOMES})", name="known_outcome"),
        # Portable on both databases: JSONB compares '[]' as a value, SQLite stores the JSON text '[]'.
        CheckConstraint(
            "(outcome = 'approved' AND scope IS NOT NULL AND scope != '[]') "
            "OR (outcome != 'approved' AND scope IS NULL)",
            name="scope_only_when_approved",
        ),
        CheckConstraint(
            "(outcome = 'rejected' AND reason_codes != '[]') OR (outcome != 'rejected' AND reason_codes = '[]')",
            name="reasons_only_when_rejected",
        ),
        CheckConstraint("outcome != 'needs_info' OR text != ''", name="needs_info_has_a_message"),
        CheckConstraint("outcome != 'no_records' OR text != ''", name="no_records_says_what_was_searched"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: One decision per review: a second, parallel decision fails on this constraint.
    review_id: Mapped[int] = mapped_column(ForeignKey("review.id"), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"))
    outcome: Mapped[Outcome] = mapped_column(_stored_enum(Outcome, 20))
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The approved scope (approvals only): the targets, categories and periods production may disclose.
    scope: Mapped[Scope | None] = mapped_column(SCOPE, default=None)
    #: Rejection reason codes (rejections only): keys of review.service.REJECTION_REASONS, a short list read whole.
    reason_codes: Mapped[list[str]] = mapped_column(_document(), default=list)
    #: The reviewer's internal reasons (no records: what was searched). On file only: no letter prints it.
    text: Mapped[str] = mapped_column(Text, default="")
    #: The reviewer's words for the requester, printed in the letter ('' for none; decisions before revision
    #: 0021 have none, and their letters printed `text`).
    requester_message: Mapped[str] = mapped_column(Text, default="", server_default="")
    policy_sha256: Mapped[str] = mapped_column(String(64))
    #: The engine's output at decision time (DESIGN's shape), a frozen snapshot kept as the engine wrote it and
    #: never decoded into types: it records what an older engine said, whatever shape the engine has today.
    engine: Mapped[dict[str, Any]] = mapped_column(_document())
    #: The review's checklist and grounds as they stood when it was decided (the review row is not append-only).
    checklist: Mapped[Checklist] = mapped_column(CHECKLIST)
    grounds: Mapped[Grounds] = mapped_column(GROUNDS)
    counsel_note: Mapped[str] = mapped_column(Text, default="")

    review: Mapped[Review] = relationship(back_populates="decision")
    decided_by: Mapped[User] = relationship()

    @property
    def approvers(self) -> list[int]:
        """Who approved: the review's approvals, which a decided review never gains again (so, as at the decision)."""
        return [approval.reviewer_id for approval in self.review.approvals]


protect(PolicyVersion)
protect(Decision)
protect(Approval)
guard(Review)
