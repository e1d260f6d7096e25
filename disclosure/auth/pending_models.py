"""A pending change: an administrator's request for a powerful change, applied only once a second administrator
approves it (two-person control).

The row records who asked, what kind of change with what parameters, and how it ended (approved, refused,
withdrawn) by whom and when. The database backs the rules: an approval comes from someone other than the
requester, a withdrawal from the requester, and once decided the row never changes and is never deleted
(disclosure.audit.ddl's guard triggers; the hardened role may not DELETE it).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, LargeBinary, String
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from disclosure.audit.ddl import guard
from disclosure.auth.models import User
from disclosure.clock import utcnow
from disclosure.extensions import db


class ChangeKind(StrEnum):
    """The powerful changes that need a second administrator."""

    #: Give a user roles that grant power (reviewer, producer, admin).
    GRANT_ROLES = "grant_roles"
    #: Install a new policy version (its grounds, checklists and approval counts).
    UPLOAD_POLICY = "upload_policy"
    #: Revoke the bundle-signing certificate and issue a new one.
    REVOKE_SIGNER = "revoke_signer"

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]


_KIND_LABELS = {
    ChangeKind.GRANT_ROLES: "Grant roles",
    ChangeKind.UPLOAD_POLICY: "Install a policy version",
    ChangeKind.REVOKE_SIGNER: "Revoke and reissue the bundle-signing certificate",
}


class ChangeState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return self.value.capitalize()


_DOCUMENT = JSON().with_variant(postgresql.JSONB(), "postgresql")
KIND_VALUES = ", ".join(f"'{k.value}'" for k in ChangeKind)
STATE_VALUES = ", ".join(f"'{s.value}'" for s in ChangeState)


class PendingChange(db.Model):  # type: ignore[name-defined]
    __tablename__ = "pending_change"
    __table_args__ = (
        CheckConstraint(f"kind IN ({KIND_VALUES})", name="known_kind"),
        CheckConstraint(f"state IN ({STATE_VALUES})", name="known_state"),
        CheckConstraint(
            "(state = 'pending' AND decided_by_id IS NULL AND decided_at IS NULL) "
            "OR (state != 'pending' AND decided_by_id IS NOT NULL AND decided_at IS NOT NULL)",
            name="decided_by_someone",
        ),
        CheckConstraint("state != 'approved' OR decided_by_id != requested_by_id", name="approved_by_another"),
        CheckConstraint("state != 'withdrawn' OR decided_by_id = requested_by_id", name="withdrawn_by_requester"),
        Index("ix_pending_change_state", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    #: What the change does, as JSON (a user id and roles; a policy label and hash; a revocation reason).
    params: Mapped[dict[str, Any]] = mapped_column(_DOCUMENT)
    #: The file a change would install (a policy version's bytes), kept until it is decided.
    payload: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    state: Mapped[str] = mapped_column(String(10), default=ChangeState.PENDING.value)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)

    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id], lazy="joined")
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id], lazy="joined")

    @property
    def change_kind(self) -> ChangeKind:
        return ChangeKind(self.kind)

    @property
    def change_state(self) -> ChangeState:
        return ChangeState(self.state)


guard(PendingChange)
