"""Account operations: sign-in, the second factor, passwords, and user administration.

Each function takes the acting user explicitly, changes rows, writes its audit event and flushes; the caller
commits once. Sign-in failures all look the same from outside (message, status and time); the audit log
keeps the real reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.auth import passwords, sessions, totp
from disclosure.auth.models import SignInFailure, User, UserRole, UserSession
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.permissions import Role

GENERIC_SIGN_IN_ERROR = (
    "Sign-in failed. Check your email address and password. After several failed attempts, "
    "sign-in is paused for 15 minutes."
)


class AccountError(ValueError):
    """An account operation was refused; the message says what to fix."""


class SignInOutcome(StrEnum):
    OK = "ok"
    UNKNOWN_ACCOUNT = "unknown_account"
    BAD_PASSWORD = "bad_password"  # noqa: S105 - an outcome name
    DISABLED = "disabled"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class SignInAttempt:
    outcome: SignInOutcome
    user: User | None

    @property
    def ok(self) -> bool:
        return self.outcome is SignInOutcome.OK


def normalise_email(email: str) -> str:
    return email.strip().lower()


def _account_key(email: str) -> str:
    return hashlib.sha256(normalise_email(email).encode("utf-8")).hexdigest()


def find_user(email: str) -> User | None:
    return db.session.execute(select(User).where(User.email == normalise_email(email))).scalar_one_or_none()


def _recent_failures(**where: Any) -> int:
    since = utcnow() - current_app.config["SIGN_IN_WINDOW"]
    conditions = [getattr(SignInFailure, key) == value for key, value in where.items()]
    return int(
        db.session.execute(
            select(func.count()).select_from(SignInFailure).where(SignInFailure.at >= since, *conditions)
        ).scalar_one()
    )


def is_throttled(email: str, ip: str | None) -> bool:
    config = current_app.config
    if _recent_failures(account_key=_account_key(email)) >= config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]:
        return True
    return ip is not None and _recent_failures(ip=ip) >= config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"]


def _note_failure(email: str, ip: str | None, user: User | None, reason: str, action: AuditAction) -> None:
    db.session.add(SignInFailure(account_key=_account_key(email), ip=ip))
    shown = normalise_email(email) if user is not None else None
    record(
        user,
        action,
        subject=f"user:{user.id}" if user else None,
        data={"account": shown, "reason": reason},
        ip=ip,
        outcome="failure",
    )


def check_password(email: str, password: str, ip: str | None) -> SignInAttempt:
    """First step of sign-in. Every path verifies one argon2 hash, so all failures take the same time."""
    user = find_user(email) if len(email) <= 254 else None
    throttled = is_throttled(email, ip)
    matched = passwords.verify_password(user.password_hash if user else None, password)
    if throttled:
        outcome = SignInOutcome.THROTTLED
    elif user is None:
        outcome = SignInOutcome.UNKNOWN_ACCOUNT
    elif not matched:
        outcome = SignInOutcome.BAD_PASSWORD
    elif not user.active:
        outcome = SignInOutcome.DISABLED
    else:
        if passwords.needs_rehash(user.password_hash):
            user.password_hash = passwords.hash_password(password)
        return SignInAttempt(SignInOutcome.OK, user)
    _note_failure(email, ip, user, outcome.value, AuditAction.USER_SIGN_IN_FAILED)
    return SignInAttempt(outcome, None)


def check_second_factor(user: User, code: str, ip: str | None) -> bool:
    """Accept a TOTP code once; a wrong or replayed code counts as a sign-in failure."""
    if user.totp_secret_enc is None or is_throttled(user.email, ip) or not user.active:
        _note_failure(user.email, ip, user, "second_factor", AuditAction.USER_SECOND_FACTOR_FAILED)
        return False
    secret = totp.decrypt_secret(user.id, user.totp_secret_enc)
    step = totp.matching_step(secret, code, user.totp_last_step)
    if step is None:
        _note_failure(user.email, ip, user, "second_factor", AuditAction.USER_SECOND_FACTOR_FAILED)
        return False
    user.totp_last_step = step
    if user.totp_enrolled_at is None:
        user.totp_enrolled_at = utcnow()
        record(user, AuditAction.USER_SECOND_FACTOR_ENROLLED, subject=f"user:{user.id}", ip=ip)
    return True


def begin_enrolment(user: User) -> str:
    """Give an unenrolled user a new secret (kept encrypted until a code confirms it); return it."""
    if user.has_second_factor:
        raise AccountError("A second factor is already set up for this account.")
    secret = totp.new_secret()
    user.totp_secret_enc = totp.encrypt_secret(user.id, secret)
    user.totp_last_step = None
    db.session.flush()
    return secret


def complete_sign_in(user: User, ip: str | None, user_agent: str | None) -> UserSession:
    db.session.execute(SignInFailure.__table__.delete().where(SignInFailure.account_key == _account_key(user.email)))
    user.last_sign_in_at = utcnow()
    opened = sessions.open_session(user, ip, user_agent)
    record(
        user, AuditAction.USER_SIGN_IN, subject=f"user:{user.id}", ip=ip, data={"second_factor": user.has_second_factor}
    )
    return opened


def sign_out(user: User, current: UserSession | None, ip: str | None) -> None:
    if current is not None:
        sessions.end_session(current, "sign_out")
    record(user, AuditAction.USER_SIGN_OUT, subject=f"user:{user.id}", ip=ip)
    db.session.flush()


def expire_session(current: UserSession, reason: str) -> None:
    sessions.end_session(current, reason)
    record(
        current.user,
        AuditAction.USER_SESSION_EXPIRED,
        subject=f"user:{current.user_id}",
        data={"reason": reason},
        ip=None,
    )
    db.session.flush()


def change_own_password(
    user: User, current_password: str, new_password: str, current: UserSession | None, ip: str | None
) -> None:
    if not passwords.verify_password(user.password_hash, current_password):
        raise AccountError("Your current password is not correct.")
    if passwords.verify_password(user.password_hash, new_password):
        raise AccountError("Choose a password different from your current one.")
    _set_password(user, new_password)
    user.must_change_password = False
    ended = sessions.end_all_sessions(user, "password_changed", keep=current)
    record(
        user, AuditAction.USER_PASSWORD_CHANGED, subject=f"user:{user.id}", ip=ip, data={"other_sessions_ended": ended}
    )


def _set_password(user: User, new_password: str) -> None:
    try:
        passwords.check_new_password(new_password, email=user.email, name=user.name)
    except passwords.PasswordRejected as error:
        raise AccountError(str(error)) from error
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = utcnow()


def _roles(values: Iterable[str]) -> list[Role]:
    try:
        roles = sorted({Role(value) for value in values}, key=list(Role).index)
    except ValueError as error:
        raise AccountError(f"Unknown role; choose from {', '.join(Role)}.") from error
    if not roles:
        raise AccountError("Give the user at least one role.")
    return roles


def create_user(
    actor: Any,
    email: str,
    name: str,
    roles: Iterable[str],
    password: str,
    ip: str | None = None,
    must_change_password: bool = True,
) -> User:
    email, name = normalise_email(email), name.strip()
    if not email or "@" not in email or len(email) > 254:
        raise AccountError("Enter a valid email address (at most 254 characters).")
    if not name or len(name) > 200:
        raise AccountError("Enter the person's name (at most 200 characters).")
    if find_user(email) is not None:
        raise AccountError(f"An account for {email} already exists.")
    role_list = _roles(roles)
    user = User(email=email, name=name, password_hash="", must_change_password=must_change_password)
    _set_password(user, password)
    user.role_rows = [UserRole(role=role.value) for role in role_list]
    db.session.add(user)
    db.session.flush()
    record(
        actor,
        AuditAction.USER_CREATE,
        subject=f"user:{user.id}",
        ip=ip,
        data={"email": email, "name": name, "roles": [role.value for role in role_list]},
    )
    return user


def set_roles(actor: User, user: User, roles: Iterable[str], ip: str | None) -> None:
    new = _roles(roles)
    old = user.sorted_roles
    if new == old:
        return
    if actor.id == user.id and Role.ADMIN in old and Role.ADMIN not in new:
        raise AccountError("You cannot remove your own administrator role; ask another administrator.")
    user.role_rows = [UserRole(role=role.value) for role in new]
    # A change of roles ends the user's sessions, so no page keeps permissions they no longer hold.
    sessions.end_all_sessions(user, "roles_changed")
    record(
        actor,
        AuditAction.USER_ROLES_CHANGED,
        subject=f"user:{user.id}",
        ip=ip,
        data={"diff": {"roles": {"from": [r.value for r in old], "to": [r.value for r in new]}}},
    )
    db.session.flush()


def set_active(actor: User, user: User, active: bool, ip: str | None) -> None:
    if user.active == active:
        raise AccountError(f"The account is already {'enabled' if active else 'disabled'}.")
    if actor.id == user.id and not active:
        raise AccountError("You cannot disable your own account.")
    user.active = active
    ended = 0 if active else sessions.end_all_sessions(user, "account_disabled")
    record(
        actor,
        AuditAction.USER_ENABLED if active else AuditAction.USER_DISABLED,
        subject=f"user:{user.id}",
        ip=ip,
        data={"sessions_ended": ended},
    )
    db.session.flush()


def reset_password(actor: User, user: User, temporary_password: str, ip: str | None) -> None:
    """Set a temporary password the user must change at their next sign-in."""
    _set_password(user, temporary_password)
    user.must_change_password = True
    ended = sessions.end_all_sessions(user, "password_reset")
    record(actor, AuditAction.USER_PASSWORD_RESET, subject=f"user:{user.id}", ip=ip, data={"sessions_ended": ended})
    db.session.flush()


def reset_second_factor(actor: User, user: User, ip: str | None) -> None:
    """Remove the user's TOTP secret; they enrol again at their next sign-in."""
    if user.totp_secret_enc is None:
        raise AccountError("This account has no second factor to reset.")
    user.totp_secret_enc = None
    user.totp_enrolled_at = None
    user.totp_last_step = None
    ended = sessions.end_all_sessions(user, "second_factor_reset")
    record(
        actor, AuditAction.USER_SECOND_FACTOR_RESET, subject=f"user:{user.id}", ip=ip, data={"sessions_ended": ended}
    )
    db.session.flush()


def end_sessions(actor: User, user: User, ip: str | None) -> int:
    ended = sessions.end_all_sessions(user, "ended_by_admin")
    record(actor, AuditAction.USER_SESSIONS_ENDED, subject=f"user:{user.id}", ip=ip, data={"sessions_ended": ended})
    db.session.flush()
    return ended
