"""Policy versions, reviews, the two-reviewer approvals, and the immutable decision record.

A policy version and a decision are never changed once written (the database refuses UPDATE and DELETE on
them, as on the audit log). A review is the working sheet of one round of review; once decided it is frozen,
and a reopened case starts a new review.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from disclosure.audit.ddl import protect
from disclosure.auth.models import User
from disclosure.cases.models import Case
from disclosure.clock import utcnow
from disclosure.extensions import db


class PolicyVersion(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "policy_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: SHA-256 of the exact file bytes; every review records it.
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    label: Mapped[str] = mapped_column(String(200))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    uploaded_by: Mapped[User | None] = relationship()


class Review(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "review"
    __table_args__ = (CheckConstraint("status IN ('open', 'decided')", name="known_status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"))
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_version.id"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default="open")
    #: The checklist answers so far: {item id: {"answer": yes|no|na, "note": str, "by": user id}} as JSON.
    checklist_json: Mapped[str] = mapped_column(Text, default="{}")
    #: The grounds cited so far: {category: {"grounds": [...], "reason": str}} as JSON.
    grounds_json: Mapped[str] = mapped_column(Text, default="{}")
    #: Counsel's decision on categories no policy ground covers (required to approve those).
    counsel_note: Mapped[str] = mapped_column(Text, default="")
    version_id: Mapped[int] = mapped_column(default=1)

    case: Mapped[Case] = relationship()
    policy_version: Mapped[PolicyVersion] = relationship(lazy="joined")
    approvals: Mapped[list[Approval]] = relationship(back_populates="review", order_by="Approval.id")
    decision: Mapped[Decision | None] = relationship(back_populates="review", uselist=False)

    __mapper_args__ = {"version_id_col": version_id}


class Approval(db.Model):  # type: ignore[name-defined,misc]
    """One reviewer's approval, where the process needs more than one (interception orders need two)."""

    __tablename__ = "review_approval"
    __table_args__ = (UniqueConstraint("review_id", "reviewer_id", name="one_per_reviewer"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("review.id"))
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    #: The scope approved, canonical JSON.
    scope_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    review: Mapped[Review] = relationship(back_populates="approvals")
    reviewer: Mapped[User] = relationship()


class Decision(db.Model):  # type: ignore[name-defined,misc]
    """The decision record: what was decided, by whom, on what checklist and grounds, under which policy."""

    __tablename__ = "review_decision"
    __table_args__ = (
        CheckConstraint("outcome IN ('approved', 'rejected', 'needs_info')", name="known_outcome"),
        CheckConstraint("outcome != 'approved' OR scope_json IS NOT NULL", name="approval_has_scope"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: One decision per review: a second, parallel decision fails on this constraint.
    review_id: Mapped[int] = mapped_column(ForeignKey("review.id"), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"))
    outcome: Mapped[str] = mapped_column(String(20))
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Approved scope: [{"target": {...}, "categories": [...], "from": ..., "to": ...}], JSON.
    scope_json: Mapped[str | None] = mapped_column(Text, default=None)
    #: Rejection reason codes, JSON list.
    reason_codes_json: Mapped[str] = mapped_column(Text, default="[]")
    #: The reviewer's free text: the reasons, or the message to the requester.
    text: Mapped[str] = mapped_column(Text, default="")
    policy_sha256: Mapped[str] = mapped_column(String(64))
    #: The engine's output at decision time (DESIGN's shape), JSON.
    engine_json: Mapped[str] = mapped_column(Text)
    checklist_json: Mapped[str] = mapped_column(Text)
    grounds_json: Mapped[str] = mapped_column(Text)
    counsel_note: Mapped[str] = mapped_column(Text, default="")
    #: Who approved, for decisions that needed several approvals, JSON list of user ids.
    approvers_json: Mapped[str] = mapped_column(Text, default="[]")

    review: Mapped[Review] = relationship(back_populates="decision")
    decided_by: Mapped[User] = relationship()


protect(PolicyVersion)
protect(Decision)
