"""Account operations: sign-in, the second factor, passwords, and user administration.

Each function takes the acting user explicitly, checks their permission, changes rows, writes its audit event and
flushes; the caller's unit of work commits once. Sign-in runs before anyone is signed in, so it checks credentials
instead of a permission. A failed sign-in is recorded before it is refused (`SignInFailed`): it looks the
same from outside whatever the reason (message, status and time), and the audit log keeps the real reason.
The password is checked holding no transaction (`check_credentials`); the decision and its record are one short
write holding the account's lock (`settle_password`, `check_second_factor`), so parallel attempts count exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, or_, select, update

from disclosure import timezones
from disclosure.audit.actions import AuditAction
from disclosure.audit.models import AuditEvent
from disclosure.audit.service import record
from disclosure.auth import passwords, sessions, totp
from disclosure.auth.models import SignInFailure, User, UserRole, UserSession
from disclosure.auth.throttle import account_key, failures_from, is_throttled, lock_account, normalise_email
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.permissions import Permission, Role, roles_compatible
from disclosure.services import Actor, ServiceError, require

GENERIC_SIGN_IN_ERROR = (
    "Sign-in failed. Check your email address and password. After several failed attempts, sign-in from here "
    "pauses for a while, longer after each further failure; a device you signed in from before is not paused."
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
    """A password or code was not accepted; the failure is already recorded (and counted) by the time this is raised."""

    def __init__(self, message: str, reason: FailureReason) -> None:
        super().__init__(message)
        self.reason = reason


def find_user(email: str) -> User | None:
    return db.session.execute(select(User).where(User.email == normalise_email(email))).scalar_one_or_none()


def _note_failure(email: str, ip: str | None, user: User | None, reason: FailureReason) -> None:
    """Record a failed sign-in step, holding the account's lock; the failure that starts the pause for this
    address also leaves a notice for the account's owner (`auth.lockout_notice`), shown at their next sign-in."""
    db.session.add(SignInFailure(account_key=account_key(email), ip=ip))
    db.session.flush()
    shown = normalise_email(email) if user is not None else None
    action = (
        AuditAction.USER_SECOND_FACTOR_FAILED
        if reason is FailureReason.SECOND_FACTOR
        else AuditAction.USER_SIGN_IN_FAILED
    )
    record(
        user,
        action,
        subject=f"user:{user.id}" if user else None,
        data={"account": shown, "reason": reason.value},
        ip=ip,
        outcome="failure",
    )
    threshold = int(current_app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"])
    if user is not None and failures_from(email, ip) == threshold:
        record(
            None,
            AuditAction.AUTH_LOCKOUT_NOTICE,
            subject=f"user:{user.id}",
            data={"address": ip, "failures": threshold},
            ip=ip,
        )


@dataclass(frozen=True)
class Credentials:
    """What a typed password is checked against, read before any lock is taken."""

    email: str
    user_id: int | None
    password_hash: str | None


@dataclass(frozen=True)
class PasswordCheck:
    """The slow part of sign-in, done holding no transaction: whether the password matched, and its new hash
    when the stored one uses older parameters."""

    matched: bool
    new_hash: str | None = None


def read_credentials(email: str) -> Credentials:
    """First step of sign-in: read the account's password hash (an over-long name matches no account)."""
    user = find_user(email) if len(email) <= 254 else None
    return Credentials(email, user.id if user else None, user.password_hash if user else None)


def check_credentials(credentials: Credentials, password: str) -> PasswordCheck:
    """Second step, holding no transaction: one argon2 verification on every path (a dummy hash for an unknown
    account), so all failures take the same time."""
    matched = passwords.verify_password(credentials.password_hash, password)
    if matched and credentials.password_hash is not None and passwords.needs_rehash(credentials.password_hash):
        return PasswordCheck(True, passwords.hash_password(password))
    return PasswordCheck(matched)


def settle_password(credentials: Credentials, check: PasswordCheck, ip: str | None, known_device: int | None) -> User:
    """Last step, in a short write transaction: holding the account's lock, decide whether the sign-in may go on,
    and record a failure (counted towards the pause) before raising SignInFailed with the generic message.

    `known_device` is the user id the browser's device cookie names: that account's right password is never paused.
    """
    email = credentials.email
    user = find_user(email) if credentials.user_id is not None else None
    lock_account(email, user)
    if user is not None:
        db.session.refresh(user)  # read again now that the lock is held
    paused = is_throttled(email, ip, known_device=user is not None and known_device == user.id)
    if paused:
        reason = FailureReason.THROTTLED
    elif user is None or user.id != credentials.user_id:
        reason = FailureReason.UNKNOWN_ACCOUNT
    elif not check.matched or user.password_hash != credentials.password_hash:
        # A password changed since it was read is checked against the old hash: refused, try again.
        reason = FailureReason.BAD_PASSWORD
    elif not user.active:
        reason = FailureReason.DISABLED
    else:
        if check.new_hash is not None:
            user.password_hash = check.new_hash
        db.session.flush()
        return user
    _note_failure(email, ip, user if reason is not FailureReason.UNKNOWN_ACCOUNT else None, reason)
    raise SignInFailed(GENERIC_SIGN_IN_ERROR, reason)


def check_second_factor(user: User, code: str, ip: str | None, known_device: int | None = None) -> None:
    """Accept a TOTP code once, even when parallel sessions send it together: the account's lock is held, and the
    step is claimed by one UPDATE that only an earlier last step lets through. A wrong or replayed code is recorded
    and counted like a wrong password, then SignInFailed is raised."""
    lock_account(user.email, user)
    db.session.refresh(user)
    paused = is_throttled(user.email, ip, known_device=known_device == user.id)
    step = None
    if user.totp_secret_enc is not None and not paused and user.active:
        secret = totp.decrypt_secret(user.id, user.totp_secret_enc)
        step = totp.matching_step(secret, code, user.totp_last_step)
    if step is not None:
        claimed = cast(
            "CursorResult[Any]",
            db.session.execute(
                update(User)
                .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
                .values(totp_last_step=step)
                .execution_options(synchronize_session=False)
            ),
        )
        if claimed.rowcount != 1:
            step = None
        else:
            db.session.refresh(user)
    if step is None:
        _note_failure(user.email, ip, user, FailureReason.SECOND_FACTOR)
        raise SignInFailed(SECOND_FACTOR_ERROR, FailureReason.SECOND_FACTOR)
    if user.totp_enrolled_at is None:
        user.totp_enrolled_at = utcnow()
        record(user, AuditAction.USER_SECOND_FACTOR_ENROLLED, subject=f"user:{user.id}", ip=ip)
    db.session.flush()


def lockout_notices(user: User, days: int | None = None) -> list[str]:
    """The notices of sign-in pauses on the account: since the sign-in before the latest one, or of the last `days`."""
    subject = f"user:{user.id}"
    notices = select(AuditEvent.ts, AuditEvent.body).where(
        AuditEvent.action == AuditAction.AUTH_LOCKOUT_NOTICE.value, AuditEvent.subject == subject
    )
    if days is not None:
        notices = notices.where(AuditEvent.ts >= utcnow() - timedelta(days=days))
    else:
        sign_ins = (
            db.session.execute(
                select(AuditEvent.seq)
                .where(AuditEvent.action == AuditAction.USER_SIGN_IN.value, AuditEvent.subject == subject)
                .order_by(AuditEvent.seq.desc())
                .limit(2)
            )
            .scalars()
            .all()
        )
        notices = notices.where(AuditEvent.seq > (sign_ins[1] if len(sign_ins) > 1 else 0))
    sentences = []
    for at, body in db.session.execute(notices.order_by(AuditEvent.seq)).all():
        data = json.loads(body).get("data", {})
        address = data.get("address") or "unknown"
        sentences.append(
            f"On {at:%d %B %Y at %H:%M} UTC, sign-in to your account from the address {address} "
            f"was paused after {data.get('failures')} failed attempts. If that was not you, tell an administrator; "
            "your own devices were not paused."
        )
    return sentences


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


def set_time_zone(user: User, zone_name: str, ip: str | None) -> bool:
    """Show this person's pages in `zone_name`; False when it was already theirs (nothing is recorded then)."""
    require(user, Permission.ACCOUNT_SELF)
    if not timezones.is_zone(zone_name):
        raise AccountError("Choose a time zone from the list.")
    if user.time_zone == zone_name:
        return False
    record(
        user,
        AuditAction.USER_SETTINGS_CHANGED,
        subject=f"user:{user.id}",
        ip=ip,
        data={"time_zone": {"from": user.time_zone, "to": zone_name}},
    )
    user.time_zone = zone_name
    db.session.flush()
    return True


def _set_password(user: User, new_password: str) -> None:
    try:
        passwords.check_new_password(new_password, email=user.email, name=user.name)
    except passwords.PasswordRejected as error:
        raise AccountError(str(error)) from error
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = utcnow()


def _roles(values: Iterable[str], allow_none: bool = False) -> list[Role]:
    try:
        roles = sorted({Role(value) for value in values}, key=list(Role).index)
    except ValueError as error:
        raise AccountError(f"Unknown role; choose from {', '.join(Role)}.") from error
    if not roles and not allow_none:
        raise AccountError("Give the user at least one role.")
    if not roles_compatible(roles):
        raise AccountError(
            "An administrator cannot also be a reviewer or producer (separation of duties): use a second account."
        )
    return roles


def active_admin_exists() -> bool:
    """Whether any enabled account holds the administrator role (the command line then no longer grants power)."""
    query = (
        select(User.id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == Role.ADMIN.value, User.active.is_(True))
        .limit(1)
    )
    return db.session.execute(query).first() is not None


def create_user(
    actor: Actor,
    email: str,
    name: str,
    roles: Iterable[str],
    password: str,
    ip: str | None = None,
    must_change_password: bool = True,
    roles_pending: bool = False,
) -> User:
    """Create an account. roles_pending: powerful roles were asked for separately (disclosure.auth.pending), so the
    account may start with no role at all until a second administrator approves them."""
    require(actor, Permission.USER_MANAGE)
    email, name = normalise_email(email), name.strip()
    if not email or "@" not in email or len(email) > 254:
        raise AccountError("Enter a valid email address (at most 254 characters).")
    if not name or len(name) > 200:
        raise AccountError("Enter the person's name (at most 200 characters).")
    if find_user(email) is not None:
        raise AccountError(f"An account for {email} already exists.")
    role_list = _roles(roles, allow_none=roles_pending)
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
    """Set a temporary password the user must change at their next sign-in. Never one's own: changing one's own
    password always needs the current one (change_own_password)."""
    require(actor, Permission.USER_MANAGE)
    if isinstance(actor, User) and actor.id == user.id:
        raise AccountError("Change your own password on “Change your password”, which asks for your current one.")
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
