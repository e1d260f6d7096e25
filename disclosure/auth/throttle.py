"""Sign-in throttling: a progressive pause per account and address, a limit per address, and step-ups apart.

Failures are rows keyed by a hash of the normalised email, so the failure table never holds an address that was
merely typed. After SIGN_IN_MAX_FAILURES_PER_ACCOUNT failures of one account from one address within the window,
that address waits before its next try, twice as long after each further failure (SIGN_IN_PAUSE_FIRST, at most
SIGN_IN_PAUSE_LONGEST). The right password from a device that completed a sign-in to the account before is never
paused, so nobody can lock another person out. Failed step-ups count under their own key and never pause a sign-in.
Every decision is taken holding the account's lock (`lock_account`), so parallel attempts are counted exactly.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select, text

from disclosure.auth.models import SignInFailure, User
from disclosure.clock import utcnow
from disclosure.extensions import db

#: Defaults for the settings this module reads (an instance may set them in its config).
PAUSE_FIRST = timedelta(minutes=1)
PAUSE_LONGEST = timedelta(minutes=15)
STEP_UP_MAX_FAILURES = 5


def normalise_email(email: str) -> str:
    return email.strip().lower()


def account_key(email: str) -> str:
    return hashlib.sha256(normalise_email(email).encode("utf-8")).hexdigest()


def step_up_key(email: str) -> str:
    """Failed step-ups' key: never the sign-in key, so a failed step-up does not pause anyone's sign-in."""
    return hashlib.sha256(b"step-up\0" + normalise_email(email).encode("utf-8")).hexdigest()


def lock_account(email: str, user: User | None) -> None:
    """Hold the account's lock until the transaction ends, so that counting failures and recording one (or using a
    TOTP step) is one step for parallel requests. PostgreSQL: the user row FOR UPDATE, or an advisory lock on the
    name's key when no account has it. SQLite: the write transaction (BEGIN IMMEDIATE) already serialises."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    if user is not None:
        db.session.execute(select(User.id).where(User.id == user.id).with_for_update())
    else:
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": int(account_key(email)[:15], 16)})


def _failures(*conditions: Any) -> tuple[int, Any]:
    since = utcnow() - current_app.config["SIGN_IN_WINDOW"]
    count, last = db.session.execute(
        select(func.count(), func.max(SignInFailure.at)).where(SignInFailure.at >= since, *conditions)
    ).one()
    return int(count), last


def pause_after(failures: int) -> timedelta:
    """How long an address waits after its last failure, once it has this many for one account."""
    config = current_app.config
    over = failures - int(config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"])
    if over < 0:
        return timedelta(0)
    first: timedelta = config.get("SIGN_IN_PAUSE_FIRST", PAUSE_FIRST)
    longest: timedelta = config.get("SIGN_IN_PAUSE_LONGEST", PAUSE_LONGEST)
    pause: timedelta = min(first * (2 ** min(over, 20)), longest)
    return pause


def failures_from(email: str, ip: str | None) -> int:
    """Recent failures of the account from the address."""
    where_ip = SignInFailure.ip == ip if ip is not None else SignInFailure.ip.is_(None)
    return _failures(SignInFailure.account_key == account_key(email), where_ip)[0]


def pause_left(email: str, ip: str | None, known_device: bool = False) -> timedelta:
    """How long this account waits before its next try from this address; zero when it may try now.

    A device that signed in to the account before is never paused."""
    if known_device:
        return timedelta(0)
    now = utcnow()
    where_ip = SignInFailure.ip == ip if ip is not None else SignInFailure.ip.is_(None)
    count, last = _failures(SignInFailure.account_key == account_key(email), where_ip)
    left = timedelta(0)
    if last is not None:
        left = max(left, last + pause_after(count) - now)
    if ip is not None:
        per_address, last_any = _failures(SignInFailure.ip == ip)
        if per_address >= current_app.config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"] and last_any is not None:
            left = max(left, last_any + current_app.config["SIGN_IN_WINDOW"] - now)
    return left


def is_throttled(email: str, ip: str | None, known_device: bool = False) -> bool:
    return pause_left(email, ip, known_device) > timedelta(0)


def step_ups_paused(email: str) -> bool:
    """Whether the signed-in person failed their step-up too often lately to be asked again now."""
    count, _ = _failures(SignInFailure.account_key == step_up_key(email))
    return count >= int(current_app.config.get("STEP_UP_MAX_FAILURES", STEP_UP_MAX_FAILURES))


def note_step_up_failure(email: str) -> None:
    # No address: a failed step-up must not count towards the address's sign-in limit either.
    db.session.add(SignInFailure(account_key=step_up_key(email), ip=None))
