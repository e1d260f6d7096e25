"""Account operations: sign-in, the second factor, passwords, and user administration.

Each function takes the acting user explicitly, checks their permission, changes rows, writes its audit event and
flushes; the caller's unit of work commits once. Sign-in runs before anyone is signed in, so it checks credentials
instead of a permission. A failed sign-in is a refusal that stays on record (`SignInFailed.on_record`): it looks the
same from outside whatever the reason (message, status and time), and the audit log keeps the real reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from sqlalchemy import select

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.auth import passwords, sessions, totp
from disclosure.auth.models import SignInFailure, User, UserRole, UserSession
from disclosure.auth.throttle import account_key, is_throttled, normalise_email
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.permissions import Permission, Role
from disclosure.services import Actor, ServiceError, require

GENERIC_SIGN_IN_ERROR = (
    "Sign-in failed. Check your email address and password. After several failed attempts, "
    "sign-in is paused for 15 minutes."
)


SECOND_FACTOR_ERROR = "That code is not valid. Enter the code your app shows now; each code works once."


class AccountError(ServiceError):
    """An account operation was refused; the message says what to fix."""


class FailureReason(StrEnum):
    """Why a sign-in failed: kept in the audit log, never shown."""

    UNKNOWN_ACCOUNT = "unknown_account"
    BAD_PASSWORD = "bad_password"  # noqa: S105 - an outcome name
    DISABLED = "disabled"
    THROTTLED = "throttled"
    SECOND_FACTOR = "second_factor"


class SignInFailed(AccountError):
    """A password or code was not accepted; the failure is recorded (and counted) even though nothing else lands."""

    def __init__(self, message: str, email: str, ip: str | None, user: User | None, reason: FailureReason) -> None:
        super().__init__(message)
        self.reason = reason
        action = (
            AuditAction.USER_SECOND_FACTOR_FAILED
            if reason is FailureReason.SECOND_FACTOR
            else AuditAction.USER_SIGN_IN_FAILED
        )
        self.on_record = lambda: _note_failure(email, ip, user, reason.value, action)


def find_user(email: str) -> User | None:
    return db.session.execute(select(User).where(User.email == normalise_email(email))).scalar_one_or_none()


def _note_failure(email: str, ip: str | None, user: User | None, reason: str, action: AuditAction) -> None:
    db.session.add(SignInFailure(account_key=account_key(email), ip=ip))
    shown = normalise_email(email) if user is not None else None
    record(
        user,
        action,
        subject=f"user:{user.id}" if user else None,
        data={"account": shown, "reason": reason},
        ip=ip,
        outcome="failure",
    )


def check_password(email: str, password: str, ip: str | None) -> User:
    """First step of sign-in: the user whose password this is, or SignInFailed with the generic message.

    Every path verifies one argon2 hash, so all failures take the same time.
    """
    user = find_user(email) if len(email) <= 254 else None
    throttled = is_throttled(email, ip)
    matched = passwords.verify_password(user.password_hash if user else None, password)
    if throttled:
        reason = FailureReason.THROTTLED
    elif user is None:
        reason = FailureReason.UNKNOWN_ACCOUNT
    elif not matched:
        reason = FailureReason.BAD_PASSWORD
    elif not user.active:
        reason = FailureReason.DISABLED
    else:
        if passwords.needs_rehash(user.password_hash):
            user.password_hash = passwords.hash_password(password)
        return user
    raise SignInFailed(GENERIC_SIGN_IN_ERROR, email, ip, user, reason)


def check_second_factor(user: User, code: str, ip: str | None) -> None:
    """Accept a TOTP code once; a wrong or replayed code is a SignInFailed, counted like a wrong password."""
    if user.totp_secret_enc is None or is_throttled(user.email, ip) or not user.active:
        raise SignInFailed(SECOND_FACTOR_ERROR, user.email, ip, user, FailureReason.SECOND_FACTOR)
    secret = totp.decrypt_secret(user.id, user.totp_secret_enc)
    step = totp.matching_step(secret, code, user.totp_last_step)
    if step is None:
        raise SignInFailed(SECOND_FACTOR_ERROR, user.email, ip, user, FailureReason.SECOND_FACTOR)
    user.totp_last_step = step
    if user.totp_enrolled_at is None:
        user.totp_enrolled_at = utcnow()
        record(user, AuditAction.USER_SECOND_FACTOR_ENROLLED, subject=f"user:{user.id}", ip=ip)
    db.session.flush()


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
    db.session.execute(SignInFailure.__table__.delete().where(SignInFailure.account_key == account_key(user.email)))
    user.last_sign_in_at = utcnow()
    opened = sessions.open_session(user, ip, user_agent)
    record(
        user, AuditAction.USER_SIGN_IN, subject=f"user:{user.id}", ip=ip, data={"second_factor": user.has_second_factor}
    )
    return opened


def sign_out(user: User, current: UserSession | None, ip: str | None) -> None:
    require(user, Permission.ACCOUNT_SELF)
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
    require(user, Permission.ACCOUNT_SELF)
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
    db.session.flush()


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
    actor: Actor,
    email: str,
    name: str,
    roles: Iterable[str],
    password: str,
    ip: str | None = None,
    must_change_password: bool = True,
) -> User:
    require(actor, Permission.USER_MANAGE)
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


def set_roles(actor: Actor, user: User, roles: Iterable[str], ip: str | None) -> None:
    require(actor, Permission.USER_MANAGE)
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


def set_active(actor: Actor, user: User, active: bool, ip: str | None) -> None:
    require(actor, Permission.USER_MANAGE)
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


def reset_password(actor: Actor, user: User, temporary_password: str, ip: str | None) -> None:
    """Set a temporary password the user must change at their next sign-in."""
    require(actor, Permission.USER_MANAGE)
    _set_password(user, temporary_password)
    user.must_change_password = True
    ended = sessions.end_all_sessions(user, "password_reset")
    record(actor, AuditAction.USER_PASSWORD_RESET, subject=f"user:{user.id}", ip=ip, data={"sessions_ended": ended})
    db.session.flush()


def reset_second_factor(actor: Actor, user: User, ip: str | None) -> None:
    """Remove the user's TOTP secret; they enrol again at their next sign-in."""
    require(actor, Permission.USER_MANAGE)
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


def end_sessions(actor: Actor, user: User, ip: str | None) -> int:
    require(actor, Permission.USER_MANAGE)
    ended = sessions.end_all_sessions(user, "ended_by_admin")
    record(actor, AuditAction.USER_SESSIONS_ENDED, subject=f"user:{user.id}", ip=ip, data={"sessions_ended": ended})
    db.session.flush()
    return ended
