"""A person's notifications (/notifications): the list, marking read, and how each kind is emailed; plus the
unread count in the header of every page.

Every role reaches these pages with account:self, and each page shows or changes only the signed-in person's
own notifications: another's id answers 404, as if it did not exist.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy.exc import SQLAlchemyError

from disclosure.auth.access import client_ip, requires
from disclosure.notifications import mail, service
from disclosure.notifications.forms import ButtonForm, preferences_form
from disclosure.notifications.models import Delivery, NotificationKind
from disclosure.permissions import Permission
from disclosure.services import ServiceError
from disclosure.unit_of_work import attempt, message_for

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.app_context_processor
def _unread_notifications() -> dict[str, Any]:
    """`unread_notifications()`: the header's count of the signed-in person's unread notifications, counted (one
    indexed query) only when a page asks; documents rendered by jobs have no signed-in person and ask nothing."""

    def unread_notifications() -> int:
        user = current_user._get_current_object() if current_user else None
        if user is None or not user.is_authenticated:
            return 0
        try:
            return service.unread_count(user)
        except SQLAlchemyError:  # an error page for a database that is down still renders
            return 0

    return {"unread_notifications": unread_notifications}


@bp.route("")
@requires(Permission.ACCOUNT_SELF)
def index() -> Any:
    notifications = service.notifications_for(current_user)
    return render_template(
        "notifications/index.html",
        notifications=notifications,
        pages={n.id: mail.page_of(n)[0] for n in notifications},
        form=ButtonForm(),
        limit=service.LIST_LIMIT,
    )


@bp.route("/<int:notification_id>/read", methods=["POST"])
@requires(Permission.ACCOUNT_SELF)
def mark_read(notification_id: int) -> Any:
    if not ButtonForm().validate_on_submit():
        abort(400)
    if service.own_notification(current_user.id, notification_id) is None:
        abort(404)
    with attempt():
        service.mark_read(current_user, notification_id)
    return redirect(url_for("notifications.index"))


@bp.route("/read-all", methods=["POST"])
@requires(Permission.ACCOUNT_SELF)
def mark_all_read() -> Any:
    if not ButtonForm().validate_on_submit():
        abort(400)
    with attempt():
        count = service.mark_all_read(current_user)
    flash(
        f"{count} notification{'s' if count != 1 else ''} marked read." if count else "Nothing was unread.", "success"
    )
    return redirect(url_for("notifications.index"))


@bp.route("/settings", methods=["GET", "POST"])
@requires(Permission.ACCOUNT_SELF)
def preferences() -> Any:
    current = service.preferences_of(current_user)
    form = preferences_form(current)
    if form.validate_on_submit():
        choices = {kind: Delivery(form[kind.value].data) for kind in service.CHOOSABLE}
        try:
            with attempt():
                changed = service.set_preferences(current_user, choices, client_ip())
        except ServiceError as error:
            flash(message_for(error), "error")
        else:
            flash("Saved." if changed else "Nothing changed: those were already your settings.", "success")
            return redirect(url_for("notifications.preferences"))
    return render_template(
        "notifications/preferences.html",
        form=form,
        choosable=service.CHOOSABLE,
        fixed=[kind for kind in NotificationKind if kind.always_immediate],
        email_on=mail.mail_method(current_app.config) is not None,
    ), (400 if form.errors else 200)
