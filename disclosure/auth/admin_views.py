"""User administration: list, create, change roles, disable and enable, reset a password or second factor."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from disclosure.auth import service, sessions
from disclosure.auth.access import client_ip, requires
from disclosure.auth.forms import ConfirmForm, TemporaryPasswordForm, UserCreateForm, UserRolesForm
from disclosure.auth.models import User
from disclosure.extensions import db
from disclosure.permissions import Permission
from disclosure.services import ServiceError
from disclosure.unit_of_work import attempt, message_for, status_for

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _user_or_404(user_id: int) -> User:
    return db.session.get(User, user_id) or abort(404)


@bp.route("/users")
@requires(Permission.USER_VIEW)
def users() -> Any:
    rows = db.session.execute(select(User).order_by(User.name)).scalars().all()
    return render_template("admin/users.html", users=rows)


@bp.route("/users/new", methods=["GET", "POST"])
@requires(Permission.USER_MANAGE)
def create_user() -> Any:
    form = UserCreateForm()
    if form.validate_on_submit():
        try:
            with attempt():
                user = service.create_user(
                    current_user,
                    form.email.data or "",
                    form.name.data or "",
                    form.roles.data or [],
                    form.password.data or "",
                    ip=client_ip(),
                )
        except ServiceError as error:
            flash(message_for(error), "error")
            return render_template("admin/user_new.html", form=form), status_for(error)
        flash(f"Created {user.email}. They must change the temporary password when they sign in.", "success")
        return redirect(url_for("admin.user", user_id=user.id))
    return render_template("admin/user_new.html", form=form)


@bp.route("/users/<int:user_id>")
@requires(Permission.USER_VIEW)
def user(user_id: int) -> Any:
    account = _user_or_404(user_id)
    return render_template(
        "admin/user.html",
        account=account,
        roles_form=UserRolesForm(roles=[r.value for r in account.sorted_roles]),
        password_form=TemporaryPasswordForm(),
        confirm_form=ConfirmForm(),
        open_sessions=sessions.open_session_count(account),
    )


def _apply(user_id: int, change: Callable[[User], object], success: str) -> Any:
    """Run one change to the account; either way back to its page, which says what happened."""
    account = _user_or_404(user_id)
    try:
        with attempt():
            change(account)
    except ServiceError as error:
        flash(message_for(error), "error")
    else:
        flash(success, "success")
    return redirect(url_for("admin.user", user_id=user_id))


@bp.route("/users/<int:user_id>/roles", methods=["POST"])
@requires(Permission.USER_MANAGE)
def set_roles(user_id: int) -> Any:
    form = UserRolesForm()
    if not form.validate_on_submit():
        flash("Choose at least one role.", "error")
        return redirect(url_for("admin.user", user_id=user_id))
    return _apply(
        user_id,
        lambda account: service.set_roles(current_user, account, form.roles.data or [], client_ip()),
        "Roles saved. The user's sessions have ended; the new roles apply at their next sign-in.",
    )


@bp.route("/users/<int:user_id>/disable", methods=["POST"])
@requires(Permission.USER_MANAGE)
def disable(user_id: int) -> Any:
    ConfirmForm().validate_on_submit() or abort(400)
    return _apply(
        user_id,
        lambda account: service.set_active(current_user, account, False, client_ip()),
        "Account disabled; every session of this user has ended.",
    )


@bp.route("/users/<int:user_id>/enable", methods=["POST"])
@requires(Permission.USER_MANAGE)
def enable(user_id: int) -> Any:
    ConfirmForm().validate_on_submit() or abort(400)
    return _apply(
        user_id, lambda account: service.set_active(current_user, account, True, client_ip()), "Account enabled."
    )


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@requires(Permission.USER_MANAGE)
def reset_password(user_id: int) -> Any:
    form = TemporaryPasswordForm()
    if not form.validate_on_submit():
        flash("; ".join(form.password.errors) or "Enter a temporary password.", "error")
        return redirect(url_for("admin.user", user_id=user_id))
    return _apply(
        user_id,
        lambda account: service.reset_password(current_user, account, form.password.data or "", client_ip()),
        "Temporary password set; the user must change it at their next sign-in.",
    )


@bp.route("/users/<int:user_id>/second-factor/reset", methods=["POST"])
@requires(Permission.USER_MANAGE)
def reset_second_factor(user_id: int) -> Any:
    ConfirmForm().validate_on_submit() or abort(400)
    return _apply(
        user_id,
        lambda account: service.reset_second_factor(current_user, account, client_ip()),
        "Second factor removed; the user sets up a new one at their next sign-in.",
    )


@bp.route("/users/<int:user_id>/sessions/end", methods=["POST"])
@requires(Permission.USER_MANAGE)
def end_sessions(user_id: int) -> Any:
    ConfirmForm().validate_on_submit() or abort(400)
    return _apply(
        user_id,
        lambda account: service.end_sessions(current_user, account, client_ip()),
        "Every session of this user has ended.",
    )
