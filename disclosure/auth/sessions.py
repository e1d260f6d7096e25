"""Server-side session records: the cookie carries a random token; this table says whether it is still alive.

A session ends on sign-out, after 30 idle minutes, after 8 hours in all, and whenever the user's password
changes, their second factor is reset or their account is disabled. An ended session never comes back.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any, cast

from flask import current_app, session
from sqlalchemy import CursorResult, select, update

from disclosure.auth.models import User, UserSession
from disclosure.clock import utcnow
from disclosure.extensions import db

SESSION_KEY = "sid"
#: The last-seen time is written at most this often, to keep a read-only page from being a write per request.
TOUCH_EVERY_SECONDS = 60


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def open_session(user: User, ip: str | None, user_agent: str | None) -> UserSession:
    """Start a fresh session: the old cookie's contents are discarded, so the session id rotates."""
    session.clear()
    token = secrets.token_urlsafe(32)
    record = UserSession(
        token_hash=_token_hash(token), user_id=user.id, ip=ip, user_agent=(user_agent or "")[:200] or None
    )
    db.session.add(record)
    db.session.flush()
    session[SESSION_KEY] = token
    return record


def current_record() -> UserSession | None:
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        return None
    return db.session.execute(
        select(UserSession).where(UserSession.token_hash == _token_hash(token))
    ).scalar_one_or_none()


def expiry_reason(record: UserSession, now: datetime) -> str | None:
    """Why the session is no longer valid at `now`, or None while it is."""
    if record.ended_at is not None:
        return record.end_reason or "ended"
    if now - record.created_at >= current_app.config["SESSION_ABSOLUTE_TIMEOUT"]:
        return "absolute_timeout"
    if now - record.last_seen_at >= current_app.config["SESSION_IDLE_TIMEOUT"]:
        return "idle_timeout"
    return None


def needs_touch(record: UserSession, now: datetime) -> bool:
    return (now - record.last_seen_at).total_seconds() >= TOUCH_EVERY_SECONDS


def touch(record: UserSession, now: datetime) -> None:
    if needs_touch(record, now):
        record.last_seen_at = now


def end_session(record: UserSession, reason: str) -> None:
    if record.ended_at is None:
        record.ended_at = utcnow()
        record.end_reason = reason


def end_all_sessions(user: User, reason: str, keep: UserSession | None = None) -> int:
    """End every open session of the user (except `keep`); return how many ended."""
    statement = (
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason)
    )
    if keep is not None:
        statement = statement.where(UserSession.id != keep.id)
    # An UPDATE answers with a cursor result, which counts the rows it changed.
    result = cast("CursorResult[Any]", db.session.execute(statement))
    db.session.flush()
    return int(result.rowcount or 0)


def open_session_count(user: User) -> int:
    return len(
        db.session.execute(
            select(UserSession.id).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        ).all()
    )
