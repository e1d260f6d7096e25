"""Internal comments on a case: the team's working notes, threaded one level deep (a comment and its replies).

A comment is a record: it is never edited or deleted (say it again, corrected, in a reply). Comments stay inside:
no letter, bundle or report reads this table. Each is audit-logged with its SHA-256 and length, not its text, so the
log proves what was written without repeating customer details in every export of the log.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Text, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.auth.models import User
from disclosure.cases.models import Case
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.permissions import Permission
from disclosure.services import Actor, ServiceError, person, require

MAX_LENGTH = 4000


class CommentError(ServiceError):
    """A comment was refused; the message says what to fix."""


class CaseComment(db.Model):  # type: ignore[name-defined]
    __tablename__ = "case_comment"
    __table_args__ = (
        CheckConstraint(f"length(body) BETWEEN 1 AND {MAX_LENGTH}", name="body_length"),
        Index("ix_case_comment_case", "case_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_file.id"))
    #: The comment this one answers (None: it starts a thread). Replies are not answered in turn.
    reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("case_comment.id"), default=None)
    author_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    author: Mapped[User] = relationship()


@dataclass
class Thread:
    comment: CaseComment
    replies: list[CaseComment] = field(default_factory=list)


def add_comment(actor: Actor, case: Case, body: str, reply_to: int | None = None, ip: str | None = None) -> CaseComment:
    """Add an internal comment (or a reply to one) to the case, and record it."""
    require(actor, Permission.CASE_COMMENT)
    text = (body or "").strip()
    if not text:
        raise CommentError("Write the comment before you add it.")
    if len(text) > MAX_LENGTH:
        raise CommentError(f"Keep a comment under {MAX_LENGTH:,} characters (this one has {len(text):,}).")
    if reply_to is not None:
        parent = db.session.get(CaseComment, reply_to)
        if parent is None or parent.case_id != case.id:
            raise CommentError("The comment you answered is not on this case; reload the page and try again.")
        reply_to = parent.reply_to_id or parent.id  # a reply to a reply joins the same thread
    comment = CaseComment(case_id=case.id, reply_to_id=reply_to, author_id=person(actor).id, body=text)
    db.session.add(comment)
    db.session.flush()
    record(
        actor,
        AuditAction.COMMENT_ADDED,
        subject=case.subject,
        ip=ip,
        data={
            "comment": comment.id,
            "reply_to": reply_to,
            "length": len(text),
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
        },
    )
    return comment


def threads_of(case: Case) -> list[Thread]:
    """The case's comments as threads, oldest first, each with its replies oldest first."""
    comments = db.session.execute(
        select(CaseComment).where(CaseComment.case_id == case.id).order_by(CaseComment.id)
    ).scalars()
    threads: dict[int, Thread] = {}
    for comment in comments:
        if comment.reply_to_id is None:
            threads[comment.id] = Thread(comment)
        elif comment.reply_to_id in threads:
            threads[comment.reply_to_id].replies.append(comment)
    return list(threads.values())
