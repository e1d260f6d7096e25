"""Auditors browse and filter the log; the checkpoint page shows the signed head and offers "verify now".

An auditor can also export a period of the log as a signed, encrypted bundle (passphrase-only here), built by a
job: the passphrase is shown once on the job's page, then erased. Building and downloading it are audit-logged.
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import false, func, select
from wtforms import DateField, HiddenField, SubmitField
from wtforms.validators import DataRequired, Optional, Regexp, ValidationError

from disclosure.audit.forms import AuditFilterForm
from disclosure.audit.models import AuditCheckpoint, AuditEvent, AuditHead
from disclosure.audit.service import current_root
from disclosure.auth import rate_limit, step_up
from disclosure.auth.access import client_ip, requires
from disclosure.auth.forms import ConfirmForm
from disclosure.auth.models import User
from disclosure.extensions import db
from disclosure.jobs import service as jobs
from disclosure.jobs.tasks import AUDIT_EXTRACT_BUNDLE, VERIFY
from disclosure.permissions import Permission
from disclosure.unit_of_work import REFUSALS, attempt, message_for, status_for

bp = Blueprint("audit", __name__, url_prefix="/audit")

PAGE_SIZE = 50


#: Largest value of an INTEGER column on both databases: a larger number names nobody and must not reach them.
MAX_ID = 2**31 - 1


def _actor_id(actor: str) -> int | None:
    if actor.isascii() and actor.isdigit():
        return int(actor) if int(actor) <= MAX_ID else None
    return db.session.execute(select(User.id).where(User.email == actor.lower())).scalar()


def _filtered(form: AuditFilterForm) -> Any:
    statement = select(AuditEvent)
    if form.actor.data:
        user_id = _actor_id(form.actor.data.strip())
        # `actor_id == None` would render as IS NULL: every system and anonymous event instead of none.
        statement = statement.where(AuditEvent.actor_id == user_id if user_id is not None else false())
    if form.action.data:
        statement = statement.where(AuditEvent.action == form.action.data)
    if form.subject.data:
        statement = statement.where(AuditEvent.subject == form.subject.data.strip())
    if form.start.data:
        statement = statement.where(AuditEvent.ts >= datetime.combine(form.start.data, time.min, UTC))
    if form.end.data:
        statement = statement.where(AuditEvent.ts < datetime.combine(form.end.data + timedelta(days=1), time.min, UTC))
    return statement


@bp.route("/")
@requires(Permission.AUDIT_VIEW)
def events() -> Any:
    form = AuditFilterForm(request.args, meta={"csrf": False})
    page = request.args.get("page", 1, type=int) or 1
    if not form.validate():
        return render_template(
            "audit/events.html",
            form=form,
            rows=[],
            page=1,
            pages=1,
            total=0,
            bundle_form=AuditorBundleForm(formdata=None),
        ), 400
    statement = _filtered(form)
    total = db.session.execute(select(func.count()).select_from(statement.subquery())).scalar_one()
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(1, page), pages)
    rows = (
        db.session.execute(statement.order_by(AuditEvent.seq.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE))
        .scalars()
        .all()
    )
    decoded = [(row, json.loads(row.body)) for row in rows]
    return render_template(
        "audit/events.html",
        form=form,
        rows=decoded,
        page=page,
        pages=pages,
        total=total,
        bundle_form=AuditorBundleForm(formdata=None),
    )


@bp.route("/events/<int:seq>")
@requires(Permission.AUDIT_VIEW)
def event(seq: int) -> Any:
    row = db.session.get(AuditEvent, seq) or abort(404)
    body = json.loads(row.body)
    return render_template(
        "audit/event.html", row=row, body=body, pretty=json.dumps(body, indent=2, ensure_ascii=False)
    )


@bp.route("/checkpoint", methods=["GET", "POST"])
@requires(Permission.AUDIT_VERIFY)
def checkpoint() -> Any:
    form = ConfirmForm()
    if form.validate_on_submit():
        # Recomputing every hash takes a while on a large log: a job does it, followed on its page.
        try:
            with attempt():
                rate_limit.check(current_user, rate_limit.Limited.CHECKPOINT)
                job = jobs.enqueue(current_user, VERIFY, "Verify the audit log", {"ip": client_ip()}, ip=client_ip())
        except rate_limit.RateLimited as limited:
            return rate_limit.too_many(limited)
        return redirect(url_for("jobs.show", public_id=job.public_id))
    head = db.session.get(AuditHead, 1)
    latest = db.session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)).scalar()
    return render_template(
        "audit/checkpoint.html",
        form=form,
        head=head,
        root=current_root(head) if head else None,
        latest=latest,
    )


class AuditorBundleForm(FlaskForm):  # type: ignore[misc]  # flask_wtf ships no type hints: FlaskForm is Any
    """A period to export as a signed bundle (passphrase only); the report's form also names a checkpoint."""

    start = DateField(
        "From",
        validators=[DataRequired(message="Give the first day of the period.")],
        description="The first day of the period to export, in UTC like the log's times.",
    )
    end = DateField(
        "To",
        validators=[DataRequired(message="Give the last day of the period.")],
        description="The last day of the period to export: its events up to midnight UTC are included.",
    )
    checkpoint = HiddenField(validators=[Optional(), Regexp(r"^[0-9]{1,9}$", message="not a checkpoint number")])
    #: One per page load: sending the same form twice (a double click, a retry) asks for one bundle, not two.
    nonce = HiddenField(default=lambda: secrets.token_hex(16))
    #: Step-up: an export of the log or a report (disclosure.auth.step_up).
    password = step_up.password_field()
    submit = SubmitField("Export as signed bundle")

    def validate_end(self, field: DateField) -> None:
        if field.data and self.start.data and field.data < self.start.data:
            raise ValidationError("The end date is before the start date.")


def enqueue_auditor_bundle(form: AuditorBundleForm, kind: str, what: str, params: dict[str, Any]) -> Any:
    """Queue an auditor's bundle from its validated form as a job, and send the auditor to the job's page (its
    passphrase is shown there, once). The same form sent twice asks for one bundle. The auditor's password is
    asked again first (step-up); a wrong one shows the form again, the message beside the field, and queues nothing."""
    try:
        step_up.confirm(current_user, form.password.data or "", client_ip(), action=kind)
    except step_up.StepUpRefused as refused:
        form.password.errors = [str(refused)]
        return render_template("audit/confirm_bundle.html", form=form, what=what), 403
    nonce = (form.nonce.data or "")[:64]
    try:
        with attempt():
            rate_limit.check(current_user, rate_limit.Limited.BUNDLE)
            job = jobs.enqueue(
                current_user,
                kind,
                f"Build a signed bundle: {what} {form.start.data} to {form.end.data}",
                {"from": form.start.data.isoformat(), "to": form.end.data.isoformat(), "ip": client_ip(), **params},
                dedupe_key=f"{kind}:{current_user.id}:{nonce}" if nonce else None,
                ip=client_ip(),
            )
    except REFUSALS as error:
        abort(status_for(error), description=message_for(error))
    except rate_limit.RateLimited as limited:
        return rate_limit.too_many(limited)
    flash("The bundle is being built; this page follows it. Its passphrase will be shown to you here, once.", "success")
    return redirect(url_for("jobs.show", public_id=job.public_id))


def invalid_bundle_form(form: AuditorBundleForm) -> Any:
    messages = [m for errors in form.errors.values() for m in errors]
    abort(400, description=" ".join(str(m) for m in messages) or "Give the period to export.")


@bp.route("/bundles", methods=["POST"])
@requires(Permission.AUDIT_EXPORT)
def build_bundle() -> Any:
    """Queue the period's audit-log extract as a signed, passphrase-only bundle, built by a job."""
    form = AuditorBundleForm()
    if not form.validate_on_submit():
        invalid_bundle_form(form)
    return enqueue_auditor_bundle(form, AUDIT_EXTRACT_BUNDLE, "audit log extract", {})


@bp.route("/bundles/<public_id>")
@requires(Permission.AUDIT_EXPORT)
def download_bundle(public_id: str) -> Any:
    return send_auditor_bundle(public_id, "audit_extract")


def send_auditor_bundle(public_id: str, kind: str) -> Any:
    """Stream an auditor's bundle of `kind` after recording the download; 404 for any other bundle."""
    from disclosure.cases.downloads import attachment_response
    from disclosure.production.auditor_bundles import find_auditor_bundle, record_auditor_download
    from disclosure.production.service import bundle_blocks

    bundle = find_auditor_bundle(public_id, kind) or abort(404)
    blocks = bundle_blocks(bundle)  # from the blob store or the bundles folder; a corrupted one fails here
    record_auditor_download(current_user, bundle, client_ip())
    return attachment_response(blocks, bundle.filename, bundle.size)
