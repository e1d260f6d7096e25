"""Sign-in (password, then the second factor), sign-out, and the user's own account pages."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, logout_user
from markupsafe import Markup

from disclosure.auth import devices, service, step_up, totp
from disclosure.auth.access import client_ip, is_safe_next, requires, sign_in_user
from disclosure.auth.forms import AccountSettingsForm, ChangePasswordForm, ConfirmForm, SecondFactorForm, SignInForm
from disclosure.auth.models import User
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.permissions import Permission
from disclosure.services import ServiceError
from disclosure.timezones import render as render_time
from disclosure.unit_of_work import attempt, message_for, reading_apart, short_write, status_for, writes_apart

bp = Blueprint("auth", __name__)

PENDING_KEY = "pending_sign_in"


#: How far back the dashboard's "Your account" card lists paused sign-ins.
NOTICE_DAYS = 30


@bp.app_context_processor
def _account_notices() -> dict[str, Any]:
    """For the dashboard's "Your account" card: the pauses of sign-in to the account of the last 30 days."""

    def recent_lockout_notices() -> list[str]:
        if not current_user.is_authenticated:
            return []
        return service.lockout_notices(current_user, days=NOTICE_DAYS)

    return {"recent_lockout_notices": recent_lockout_notices}


@bp.app_template_filter("when")
def when(moment: datetime | date | None, precision: str = "minute", bare: bool = False) -> Markup:
    """`{{ case.due_at|when }}`: the instant in the reader's own time zone, UTC on hover (disclosure.timezones)."""
    zone = current_user.time_zone if current_user.is_authenticated else None
    return render_time(moment, zone, precision, bare)


def _after_sign_in_target(candidate: str | None) -> str:
    return candidate if candidate is not None and is_safe_next(candidate) else url_for("site.index")


@bp.route("/sign-in", methods=["GET", "POST"])
@writes_apart
def sign_in() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("site.index"))
    form = SignInForm(next=request.args.get("next", ""))
    error = None
    if form.validate_on_submit():
        email, password = form.email.data or "", form.password.data or ""
        # The password is checked holding no transaction (argon2 is slow, and SQLite has one write lock); then one
        # short write, holding the account's lock, decides and records the outcome.
        with reading_apart():
            credentials = service.read_credentials(email)
        check = service.check_credentials(credentials, password)
        try:
            with short_write(keep_on=(service.SignInFailed,)):
                user = service.settle_password(credentials, check, client_ip(), devices.known_user_id())
                signed_in = not user.second_factor_required
                if signed_in:
                    sign_in_user(user)
        except service.SignInFailed as failed:
            error = message_for(failed)
            form.email.data = ""
        else:
            return _password_accepted(user, form.next.data, signed_in)
    # Every failure answers 200 with the same page, so the status tells nothing about the account.
    return render_template("auth/sign_in.html", form=form, error=error)


def _password_accepted(user: User, next_target: str | None, signed_in: bool) -> Any:
    target = _after_sign_in_target(next_target)
    if not signed_in:
        session.clear()
        session[PENDING_KEY] = {"user_id": user.id, "at": utcnow().isoformat(), "next": target}
        return redirect(url_for("auth.second_factor"))
    _signed_in(user)
    return redirect(target)


def _signed_in(user: User) -> None:
    """After a completed sign-in: the browser becomes a known device, and the owner hears of pauses since."""
    devices.remember(user.id)
    for notice in service.lockout_notices(user):
        flash(notice, "warning")


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
@writes_apart
def second_factor() -> Any:
    user, pending = _pending_user()
    if user is None:
        flash("Start again: enter your email address and password.", "info")
        return redirect(url_for("auth.sign_in"))
    enrolling = not user.has_second_factor
    form = SecondFactorForm()
    if enrolling and user.totp_secret_enc is None:
        # The secret is new: no code typed before this page showed it can match, so show it and check nothing.
        with short_write():
            service.begin_enrolment(user)
    elif form.validate_on_submit():
        try:
            with short_write(keep_on=(service.SignInFailed,)):
                service.check_second_factor(user, form.code.data or "", client_ip(), devices.known_user_id())
                sign_in_user(user)
        except service.SignInFailed as failed:
            form.code.errors = [message_for(failed)]
        else:
            _signed_in(user)
            return redirect(_after_sign_in_target(pending.get("next")))
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
        logout_user()
        session.clear()
        flash("You have signed out.", "success")
    return redirect(url_for("auth.sign_in"))


@bp.route("/account", methods=["GET", "POST"])
@requires(Permission.ACCOUNT_SELF)
def account() -> Any:
    form = AccountSettingsForm(time_zone=current_user.time_zone)
    if form.validate_on_submit():
        try:
            with attempt():
                changed = service.set_time_zone(current_user, form.time_zone.data or "", client_ip())
        except ServiceError as error:
            form.time_zone.errors = [message_for(error)]
        else:
            if changed:
                flash(f"Saved. Times are now shown in {current_user.time_zone.replace('_', ' ')}.", "success")
            else:
                flash("Nothing changed: that was already your time zone.", "success")
            return redirect(url_for("auth.account"))
    status = 400 if form.errors else 200
    return render_template("auth/account.html", form=form), status


@bp.route("/account/password", methods=["GET", "POST"])
@requires(Permission.ACCOUNT_SELF)
def change_password() -> Any:
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            # Checked first, holding no transaction, and counted on the step-up throttle: a session left open
            # must not become a way to guess the password. The service checks it again.
            step_up.confirm(
                current_user, form.current_password.data or "", client_ip(), action="user.password", always_typed=True
            )
        except step_up.StepUpRefused as refused:
            form.current_password.errors = [str(refused)]
            return render_template("auth/change_password.html", form=form), 403
        try:
            with attempt():
                service.change_own_password(
                    current_user,
                    form.current_password.data or "",
                    form.new_password.data or "",
                    g.get("user_session"),
                    client_ip(),
                )
        except ServiceError as error:
            form.new_password.errors = [message_for(error)]
            return render_template("auth/change_password.html", form=form), status_for(error)
        flash("Your password has been changed. Your other sessions have been signed out.", "success")
        return redirect(url_for("site.index"))
    return render_template("auth/change_password.html", form=form)
