"""Sign-in (password, then the second factor), sign-out, and the user's own account pages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, logout_user

from disclosure.auth import service, totp
from disclosure.auth.access import client_ip, is_safe_next, requires, sign_in_user
from disclosure.auth.forms import ChangePasswordForm, ConfirmForm, SecondFactorForm, SignInForm
from disclosure.auth.models import User
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.permissions import Permission

bp = Blueprint("auth", __name__)

PENDING_KEY = "pending_sign_in"


def _after_sign_in_target(candidate: str | None) -> str:
    return candidate if is_safe_next(candidate) else url_for("site.index")


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("site.index"))
    form = SignInForm(next=request.args.get("next", ""))
    error = None
    if form.validate_on_submit():
        attempt = service.check_password(form.email.data or "", form.password.data or "", client_ip())
        if attempt.ok and attempt.user is not None:
            return _password_accepted(attempt.user, form.next.data)
        db.session.commit()  # the failure and its audit event
        error = service.GENERIC_SIGN_IN_ERROR
        form.email.data = ""
    return render_template("auth/sign_in.html", form=form, error=error)


def _password_accepted(user: User, next_target: str | None) -> Any:
    target = _after_sign_in_target(next_target)
    if user.second_factor_required:
        session.clear()
        session[PENDING_KEY] = {"user_id": user.id, "at": utcnow().isoformat(), "next": target}
        db.session.commit()
        return redirect(url_for("auth.second_factor"))
    sign_in_user(user)
    db.session.commit()
    return redirect(target)


def _pending_user() -> tuple[User | None, dict[str, Any]]:
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None, {}
    started = datetime.fromisoformat(pending.get("at", "1970-01-01T00:00:00+00:00"))
    if utcnow() - started > current_app.config["SECOND_FACTOR_PENDING_TIMEOUT"]:
        session.pop(PENDING_KEY, None)
        return None, {}
    user = db.session.get(User, pending.get("user_id"))
    return (user if user is not None and user.active else None), pending


@bp.route("/sign-in/code", methods=["GET", "POST"])
def second_factor() -> Any:
    user, pending = _pending_user()
    if user is None:
        flash("Start again: enter your email address and password.", "info")
        return redirect(url_for("auth.sign_in"))
    enrolling = not user.has_second_factor
    if enrolling and user.totp_secret_enc is None:
        service.begin_enrolment(user)
        db.session.commit()
    form = SecondFactorForm()
    if form.validate_on_submit():
        if service.check_second_factor(user, form.code.data or "", client_ip()):
            sign_in_user(user)
            db.session.commit()
            return redirect(_after_sign_in_target(pending.get("next")))
        db.session.commit()
        form.code.errors = ["That code is not valid. Enter the code your app shows now; each code works once."]
    enrolment = None
    if enrolling and user.totp_secret_enc is not None:
        secret = totp.decrypt_secret(user.id, user.totp_secret_enc)
        uri = totp.provisioning_uri(secret, user.email)
        enrolment = {"qr": totp.qr_svg_data_uri(uri), "secret": secret}
    return render_template("auth/second_factor.html", form=form, enrolment=enrolment)


@bp.route("/sign-out", methods=["POST"])
@requires(Permission.ACCOUNT_SELF)
def sign_out() -> Any:
    form = ConfirmForm()
    if form.validate_on_submit():
        service.sign_out(current_user, g.get("user_session"), client_ip())
        db.session.commit()
        logout_user()
        session.clear()
        flash("You have signed out.", "success")
    return redirect(url_for("auth.sign_in"))


@bp.route("/account/password", methods=["GET", "POST"])
@requires(Permission.ACCOUNT_SELF)
def change_password() -> Any:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            service.change_own_password(
                current_user,
                form.current_password.data or "",
                form.new_password.data or "",
                g.get("user_session"),
                client_ip(),
            )
        except service.AccountError as error:
            db.session.rollback()
            form.new_password.errors = [str(error)]
        else:
            db.session.commit()
            flash("Your password has been changed. Your other sessions have been signed out.", "success")
            return redirect(url_for("site.index"))
    return render_template("auth/change_password.html", form=form)
