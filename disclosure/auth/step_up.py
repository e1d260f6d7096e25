"""Step-up: the password asked again before building a bundle or an administrator's change to their own account.

An action goes ahead when the password typed on its form is right, or, with the field left empty, when this
session stepped up within the last five minutes (`UserSession.stepped_up_at`, kept on the server, never in the
cookie). Changing one's own password always needs it typed (`always_typed`). The password is verified holding
no transaction; then one short write, holding the account's lock, records the step-up or the failure. A failure
counts under the step-up throttle's own key (disclosure.auth.throttle: it never pauses a sign-in) and is
committed by itself before StepUpRefused is raised, so the refused action changes nothing else. Call `confirm`
before the action's own unit of work (`attempt()`), never inside it.
"""

from __future__ import annotations

from datetime import timedelta

from flask import g
from wtforms import PasswordField
from wtforms.validators import Length, Optional

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.auth import passwords
from disclosure.auth.models import User, UserSession
from disclosure.auth.throttle import lock_account, note_step_up_failure, step_ups_paused
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.services import ServiceError
from disclosure.unit_of_work import holding_no_transaction, short_write

#: How long one confirmation lasts in its session.
WINDOW = timedelta(minutes=5)
LABEL = "Your password, to confirm"
WRONG = "Your password was not correct; nothing was done. Enter it again."
MISSING = "Enter your password to confirm; nothing was done."
PAUSED = (
    "Too many wrong passwords here lately; nothing was done. Wait a few minutes, then enter your password again. "
    "Your sign-in is not affected."
)


class StepUpRefused(ServiceError):
    """The password asked again was missing or wrong, or step-ups are paused; a wrong one is already on record."""


def password_field(always_typed: bool = False) -> PasswordField:
    """The form field a step-up reads: "Your password, to confirm"."""
    help_text = (
        "Your current password, every time."
        if always_typed
        else "Not needed again for 5 minutes after you last entered it here."
    )
    return PasswordField(
        LABEL,
        validators=[Optional(), Length(max=4096)],
        description=help_text,
        render_kw={"autocomplete": "current-password"},
    )


def current_session() -> UserSession | None:
    found = g.get("user_session")
    return found if isinstance(found, UserSession) else None


def recently_confirmed(session_record: UserSession | None) -> bool:
    """Whether this session stepped up within the window."""
    at = session_record.stepped_up_at if session_record is not None else None
    return at is not None and utcnow() - at < WINDOW


def confirm(user: User, password: str, ip: str | None, *, action: str, always_typed: bool = False) -> None:
    """Let the action go ahead, or raise StepUpRefused having committed the failure (and nothing else).

    `action` names what was being confirmed, for the audit event of a failure (e.g. "bundle.build")."""
    session_record = current_session()
    if not password:
        if not always_typed and recently_confirmed(session_record):
            return
        raise StepUpRefused(MISSING)
    email, stored = user.email, user.password_hash
    session_id = session_record.id if session_record is not None else None
    # argon2 is slow on purpose: it runs holding no transaction, so nobody waits on a lock meanwhile.
    with holding_no_transaction():
        matched = len(password) <= passwords.MAX_LENGTH and passwords.verify_password(stored, password)
    with short_write(keep_on=(StepUpRefused,)):
        lock_account(email, user)
        if step_ups_paused(email):
            raise StepUpRefused(PAUSED)
        if matched and user.password_hash == stored and user.active:
            if session_id is not None:
                confirmed = db.session.get(UserSession, session_id)
                if confirmed is not None and confirmed.ended_at is None:
                    confirmed.stepped_up_at = utcnow()
            return
        note_step_up_failure(email)
        record(
            user,
            AuditAction.AUTH_STEP_UP_FAILED,
            subject=f"user:{user.id}",
            ip=ip,
            data={"action": action},
            outcome="failure",
        )
        raise StepUpRefused(WRONG)
