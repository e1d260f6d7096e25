"""User administration: list, create, change roles, disable and enable, reset a password or second factor; the
pending changes a second administrator approves or refuses (two-person control, disclosure.auth.pending).

An administrator's change to their own account needs their password again (disclosure.auth.step_up), checked
before the change's unit of work; their own password is changed only on the account page, with the current one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from disclosure.auth import pending, service, sessions, step_up
from disclosure.auth.access import client_ip, requires
from disclosure.auth.forms import ConfirmForm, TemporaryPasswordForm, UserCreateForm, UserRolesForm
from disclosure.auth.models import User
from disclosure.auth.pending_forms import DecideChangeForm
from disclosure.auth.pending_models import PendingChange
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
                user, change = pending.create_user(
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
        if change is not None:
            flash(_WAITING, "success")
        return redirect(url_for("admin.user", user_id=user.id))
    return render_template("admin/user_new.html", form=form)


@bp.route("/users/<int:user_id>")
@requires(Permission.USER_VIEW)
def user(user_id: int) -> Any:
    return _user_page(_user_or_404(user_id))


def _user_page(account: User, refused: tuple[str, str] | None = None, status: int = 200) -> Any:
    """The account's page; `refused` is (which form, why) when a step-up on one's own account was refused."""
    return render_template(
        "admin/user.html",
        account=account,
        roles_form=UserRolesForm(roles=[r.value for r in account.sorted_roles]),
        password_form=TemporaryPasswordForm(),
        confirm_form=ConfirmForm(),
        open_sessions=sessions.open_session_count(account),
        own_account=account.id == current_user.id,
        step_up_label=step_up.LABEL,
        refused=refused,
    ), status


_OWN_ACCOUNT_ELSEWHERE = (
    "Change your own password on “Change your password”, which asks for your current one; nothing was done."
)


def _refused_on_self(account: User, form_name: str) -> Any:
    """An administrator acting on their own account confirms with their password first (step-up). Returns the
    page that refuses (the message beside the field) or None to go ahead."""
    if account.id != current_user.id:
        return None
    try:
        step_up.confirm(current_user, request.form.get("password", ""), client_ip(), action=f"admin.{form_name}")
    except step_up.StepUpRefused as refused:
        return _user_page(_user_or_404(account.id), (form_name, str(refused)), 403)
    return None


def _apply(user_id: int, change: Callable[[User], object], success: str, form_name: str) -> Any:
    """Run one change to the account; either way back to its page, which says what happened."""
    account = _user_or_404(user_id)
    refusal = _refused_on_self(account, form_name)
    if refusal is not None:
        return refusal
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
    account = _user_or_404(user_id)
    refusal = _refused_on_self(account, "roles")
    if refusal is not None:
        return refusal
    account = _user_or_404(user_id)
    try:
        with attempt():
            change = pending.change_roles(current_user, account, form.roles.data or [], client_ip())
    except ServiceError as error:
        flash(message_for(error), "error")
    else:
        flash(
            _WAITING
            if change is not None
            else "Roles saved. The user's sessions have ended; the new roles apply at their next sign-in.",
            "success",
        )
    return redirect(url_for("admin.user", user_id=user_id))


_WAITING = (
    "Reviewer, producer and administrator are granted only once a second administrator approves: the request is "
    "waiting under Pending changes."
)


@bp.route("/users/<int:user_id>/disable", methods=["POST"])
@requires(Permission.USER_MANAGE)
def disable(user_id: int) -> Any:
    ConfirmForm().validate_on_submit() or abort(400)
    return _apply(
        user_id,
        lambda account: service.set_active(current_user, account, False, client_ip()),
        "Account disabled; every session of this user has ended.",
        "disable",
    )


@bp.route("/users/<int:user_id>/enable", methods=["POST"])
@requires(Permission.USER_MANAGE)
def enable(user_id: int) -> Any:
    ConfirmForm().validate_on_submit() or abort(400)
    return _apply(
        user_id,
        lambda account: service.set_active(current_user, account, True, client_ip()),
        "Account enabled.",
        "enable",
    )


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@requires(Permission.USER_MANAGE)
def reset_password(user_id: int) -> Any:
    if user_id == current_user.id:
        flash(_OWN_ACCOUNT_ELSEWHERE, "error")
        return redirect(url_for("admin.user", user_id=user_id))
    form = TemporaryPasswordForm()
    if not form.validate_on_submit():
        flash("; ".join(form.password.errors) or "Enter a temporary password.", "error")
        return redirect(url_for("admin.user", user_id=user_id))
    return _apply(
        user_id,
        lambda account: service.reset_password(current_user, account, form.password.data or "", client_ip()),
        "Temporary password set; the user must change it at their next sign-in.",
        "password",
    )


@bp.route("/users/<int:user_id>/second-factor/reset", methods=["POST"])
@requires(Permission.USER_MANAGE)
def reset_second_factor(user_id: int) -> Any:
    ConfirmForm().validate_on_submit() or abort(400)
    if request.form.get("confirm_reset") != "y":
        flash("Nothing was changed: tick the box to confirm removing the second factor.", "error")
        return redirect(url_for("admin.user", user_id=user_id))
    return _apply(
        user_id,
        lambda account: service.reset_second_factor(current_user, account, client_ip()),
        "Second factor removed; the user sets up a new one at their next sign-in.",
        "second_factor",
    )


@bp.route("/users/<int:user_id>/sessions/end", methods=["POST"])
@requires(Permission.USER_MANAGE)
def end_sessions(user_id: int) -> Any:
    ConfirmForm().validate_on_submit() or abort(400)
    return _apply(
        user_id,
        lambda account: service.end_sessions(current_user, account, client_ip()),
        "Every session of this user has ended.",
        "sessions",
    )


# -- Two-person control ----------------------------------------------------------------------------------------


def _change_or_404(change_id: int) -> PendingChange:
    return db.session.get(PendingChange, change_id) or abort(404)


@bp.route("/changes")
@requires(Permission.USER_MANAGE)
def changes() -> Any:
    return render_template(
        "admin/changes.html",
        waiting=pending.pending_changes(),
        decided=pending.recent_decisions(),
        describe=pending.describe,
        preview=pending.payload_preview,
        decide_form=DecideChangeForm(),
        confirm_form=ConfirmForm(),
    )


def _decide(change_id: int, decide: Callable[[PendingChange, str], object], success: str) -> Any:
    change = _change_or_404(change_id)
    form = DecideChangeForm()
    if not form.validate_on_submit():
        flash("Enter your password to approve or refuse a change.", "error")
        return redirect(url_for("admin.changes"))
    try:
        # Checked first, holding no transaction, on the step-up throttle: a wrong password is counted and recorded,
        # and after five in a while even the right one waits, so a left-open session cannot guess it.
        step_up.confirm(
            current_user, form.password.data or "", client_ip(), action=f"change.{change_id}", always_typed=True
        )
    except step_up.StepUpRefused as refused:
        flash(str(refused), "error")
        return redirect(url_for("admin.changes"))
    change = _change_or_404(change_id)
    try:
        with attempt():
            decide(change, form.password.data or "")
    except ServiceError as error:
        flash(message_for(error), "error")
    else:
        flash(success, "success")
    return redirect(url_for("admin.changes"))


@bp.route("/changes/<int:change_id>/approve", methods=["POST"])
@requires(Permission.USER_MANAGE)
def approve_change(change_id: int) -> Any:
    return _decide(
        change_id,
        lambda change, password: pending.approve(current_user, change, password, client_ip()),
        "Approved and applied.",
    )


@bp.route("/changes/<int:change_id>/refuse", methods=["POST"])
@requires(Permission.USER_MANAGE)
def refuse_change(change_id: int) -> Any:
    return _decide(
        change_id,
        lambda change, password: pending.refuse(current_user, change, password, client_ip()),
        "Refused; nothing was changed.",
    )


@bp.route("/changes/<int:change_id>/withdraw", methods=["POST"])
@requires(Permission.USER_MANAGE)
def withdraw_change(change_id: int) -> Any:
    ConfirmForm().validate_on_submit() or abort(400)
    change = _change_or_404(change_id)
    try:
        with attempt():
            pending.withdraw(current_user, change, client_ip())
    except ServiceError as error:
        flash(message_for(error), "error")
    else:
        flash("Withdrawn.", "success")
    return redirect(url_for("admin.changes"))
