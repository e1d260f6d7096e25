"""Deny by default: every request needs a live session and the permission its view declares.

A view declares its permission with @requires(Permission.X). A view that declares none is refused for
everyone (it fails closed); only the endpoints in PUBLIC_ENDPOINTS answer anonymous clients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from flask import Flask, abort, current_app, flash, g, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from disclosure import unit_of_work
from disclosure.auth import service, sessions
from disclosure.auth.models import User
from disclosure.clock import utcnow
from disclosure.extensions import login_manager
from disclosure.permissions import Permission

PUBLIC_ENDPOINTS = frozenset({"auth.sign_in", "auth.second_factor", "static", "site.health", "site.ready"})
#: What a user who must change their password may still reach.
PASSWORD_CHANGE_ENDPOINTS = frozenset({"auth.change_password", "auth.sign_out", "static", "site.health", "site.ready"})

View = TypeVar("View", bound=Callable[..., Any])


def requires(permission: Permission) -> Callable[[View], View]:
    def mark(view: View) -> View:
        view.required_permission = permission  # type: ignore[attr-defined]
        return view

    return mark


def required_permission(app: Flask, endpoint: str) -> Permission | None:
    view = app.view_functions.get(endpoint)
    return getattr(view, "required_permission", None)


def client_ip() -> str | None:
    return request.remote_addr


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    record = sessions.current_record()
    if record is None or str(record.user_id) != user_id:
        return None
    now = utcnow()
    reason = sessions.expiry_reason(record, now)
    if reason is None and not record.user.active:
        reason = "account_disabled"
    if reason is not None:
        if record.ended_at is None:
            if unit_of_work.writes_in_own_transaction():
                # A reading request writes the session's end in a short transaction of its own.
                with unit_of_work.short_write():
                    service.expire_session(record, reason)
            else:
                service.expire_session(record, reason)
                unit_of_work.keep()  # the session's end is on record even though this request is refused
        g.session_ended = reason
        return None
    if sessions.needs_touch(record, now):
        if unit_of_work.writes_in_own_transaction():
            with unit_of_work.short_write():
                sessions.touch(record, now)
        else:
            sessions.touch(record, now)
    g.user_session = record
    return record.user


def enforce_access() -> Any:
    """before_request: allow public endpoints; otherwise require a session and the declared permission."""
    endpoint = request.endpoint
    if endpoint is None:
        return None  # No route: the 404 handler answers.
    if endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        if getattr(g, "session_ended", None):
            logout_user()
            session.clear()
            flash("Your session has ended. Sign in again.", "info")
        if request.method in {"GET", "HEAD"}:
            return redirect(url_for("auth.sign_in", next=request.full_path.rstrip("?")))
        abort(401)
    permission = required_permission(current_app, endpoint)
    if permission is None:
        current_app.logger.error("view %s declares no permission; refused", endpoint)
        abort(403)
    if current_user.must_change_password and endpoint not in PASSWORD_CHANGE_ENDPOINTS:
        flash("Choose a new password before you continue.", "warning")
        return redirect(url_for("auth.change_password"))
    if not current_user.can(permission):
        abort(403)
    return None


def sign_in_user(user: User) -> None:
    record = service.complete_sign_in(user, client_ip(), request.user_agent.string)
    login_user(user, remember=False)
    g.user_session = record


def is_safe_next(target: str | None) -> bool:
    """Only a local path: a single leading slash, no backslash, no scheme or host, even once decoded."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if any(char == "\\" or ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return False
    decoded = unquote(target)
    if decoded.startswith("//") or "\\" in decoded:
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc
