"""Accounts, their roles, their server-side sessions and the sign-in failures that throttle them."""

from __future__ import annotations

from datetime import datetime

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.permissions import Permission, Role, permissions_for, requires_second_factor

ROLE_VALUES = ", ".join(f"'{role.value}'" for role in Role)


class User(UserMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Lower-cased; the sign-in name.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    #: argon2id in PHC string form.
    password_hash: Mapped[str] = mapped_column(String(255))
    #: False once an administrator disables the account; every session ends with it.
    active: Mapped[bool] = mapped_column(default=True)
    #: Set by an administrator's password reset: the next sign-in must choose a new password.
    must_change_password: Mapped[bool] = mapped_column(default=False)
    #: The TOTP secret, encrypted with a key derived from the instance secret (disclosure.auth.totp).
    totp_secret_enc: Mapped[bytes | None] = mapped_column(default=None)
    #: Set when the user confirmed enrolment with a valid code.
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(default=None)
    #: The last accepted TOTP time step: a code is accepted once.
    totp_last_step: Mapped[int | None] = mapped_column(default=None)
    #: Demo accounts only (`flask demo seed`): a second factor is not enforced.
    demo_second_factor_exempt: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(default=None)
    #: The IANA time zone pages show times in (disclosure.timezones); chosen on the account page.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")

    role_rows: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin", order_by="UserRole.role"
    )

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(Role(row.role) for row in self.role_rows)

    @property
    def sorted_roles(self) -> list[Role]:
        return sorted(self.roles, key=list(Role).index)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users.
        return self.active

    def can(self, permission: Permission) -> bool:
        return self.active and permission in permissions_for(self.roles)

    @property
    def has_second_factor(self) -> bool:
        return self.totp_enrolled_at is not None

    @property
    def second_factor_required(self) -> bool:
        """Enrolled users always give a code; required roles must enrol unless demo-exempt. The exemption holds only
        while the instance allows it now (DEMO_SECOND_FACTOR_EXEMPT, read at request time): turning the setting off
        ends it for accounts seeded while it was on."""
        if self.has_second_factor:
            return True
        exempt = self.demo_second_factor_exempt and bool(current_app.config.get("DEMO_SECOND_FACTOR_EXEMPT", False))
        return requires_second_factor(self.roles) and not exempt


class UserRole(db.Model):  # type: ignore[name-defined]
    __tablename__ = "user_role"
    __table_args__ = (CheckConstraint(f"role IN ({ROLE_VALUES})", name="known_role"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)

    user: Mapped[User] = relationship(back_populates="role_rows")


class UserSession(db.Model):  # type: ignore[name-defined]
    """A signed-in session; the cookie holds only a random token whose SHA-256 is stored here."""

    __tablename__ = "user_session"
    __table_args__ = (
        CheckConstraint("(ended_at IS NULL) = (end_reason IS NULL)", name="ended_has_reason"),
        Index("ix_user_session_user_open", "user_id", "ended_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    #: sign_out, idle_timeout, absolute_timeout, password_changed, account_disabled, ended_by_admin, ...
    end_reason: Mapped[str | None] = mapped_column(String(40), default=None)
    ip: Mapped[str | None] = mapped_column(String(45), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(200), default=None)
    #: When the password was last entered again in this session to confirm an action (disclosure.auth.step_up);
    #: for five minutes after, a further confirmation may leave the field empty.
    stepped_up_at: Mapped[datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship()


class SignInFailure(db.Model):  # type: ignore[name-defined]
    """One failed sign-in, kept for throttling; the audit log keeps the permanent record."""

    __tablename__ = "sign_in_failure"
    __table_args__ = (
        Index("ix_sign_in_failure_account_at", "account_key", "at"),
        Index("ix_sign_in_failure_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: SHA-256 of the normalised sign-in name, so a password typed into the name field is never stored.
    account_key: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(45))
    at: Mapped[datetime] = mapped_column(default=utcnow)
