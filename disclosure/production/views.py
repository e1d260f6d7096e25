"""Production pages: add records to an approved case, build and deliver bundles, recipients' certificates, the CA
and its revocation list."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import BooleanField, DateField, HiddenField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import InputRequired, Length, Optional

from disclosure.auth import rate_limit, step_up
from disclosure.auth.access import client_ip, requires
from disclosure.cases.downloads import attachment_response
from disclosure.cases.models import Agency, Case
from disclosure.cases.views import case_or_404
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.jobs import service as jobs
from disclosure.jobs.models import Job
from disclosure.jobs.tasks import BUNDLE_BUILD
from disclosure.permissions import Permission
from disclosure.production import bundles, service
from disclosure.production.models import DELIVERY_CHANNELS, Bundle, RecipientCertificate
from disclosure.unit_of_work import REFUSALS, attempt, message_for

bp = Blueprint("production", __name__)


class RecordForm(FlaskForm):
    target = SelectField(
        "Target",
        validate_choice=False,
        description="The approved identifier whose data the file holds; only targets in the approved scope are "
        "offered.",
    )
    category = SelectField(
        "Data category",
        validate_choice=False,
        description="The kind of data in the file; it must be approved for that target, or the record is refused.",
    )
    file = FileField(
        "Responsive record",
        description="One file of the data, e.g. a mailbox export; it is stored encrypted with its SHA-256 and goes "
        "into the bundle unchanged.",
    )
    submit = SubmitField("Add record")


class BuildForm(FlaskForm):
    passphrase_only = BooleanField(
        "No certificate: passphrase only (shown once, deliver it by another channel)",
        description="Seals the bundle with a passphrase instead of the agency's certificate: anyone holding both "
        "can open it, so never send them together.",
    )
    #: One per page load: sending the same form twice (a double click, a retry) asks for one bundle, not two.
    nonce = HiddenField(default=lambda: secrets.token_hex(16))
    #: Step-up: building a bundle exports customer data (disclosure.auth.step_up).
    password = step_up.password_field()
    submit = SubmitField("Build bundle")


class DeliveryForm(FlaskForm):
    channel = SelectField(
        "Delivered by",
        choices=[SelectChoice("", "Choose…"), *(SelectChoice(key, label) for key, label in DELIVERY_CHANNELS.items())],
        validators=[InputRequired("Choose how the bundle was delivered.")],
        description="How the bundle reached the agency; it is recorded with the delivery.",
    )
    delivered_on = DateField(
        "Delivered on",
        validators=[InputRequired("Give the day the bundle reached them.")],
        description="The day the recipient received it, not the day it was sent.",
    )
    recipient = StringField(
        "Received by",
        validators=[InputRequired("Say who received the bundle (a name, and their unit)."), Length(max=200)],
        description="The person who received it and their unit, e.g. SA J. Doe, FBI Cyber Division; for “another "
        "way”, say how too.",
    )
    confirm = BooleanField(
        "I confirm the bundle reached this recipient. The case then becomes disclosed, which cannot be undone.",
        validators=[InputRequired("Tick the confirmation: marking a bundle delivered cannot be undone.")],
        description="Tick only once the recipient has it: no records or bundles can be added to the case afterwards.",
    )
    submit = SubmitField("Record the delivery")


class CertificateForm(FlaskForm):
    label = StringField(
        "Label",
        validators=[Optional(), Length(max=200)],
        description="A name that tells this certificate apart when a bundle is built, e.g. FBI Evidence Response Team.",
    )
    file = FileField(
        "Certificate (PEM)",
        description="The recipient's certificate file; bundles for this agency can then be encrypted to it.",
    )
    submit = SubmitField("Add certificate")


def _bundle_or_404(public_id: str) -> Bundle:
    return db.session.execute(select(Bundle).where(Bundle.public_id == public_id)).scalar_one_or_none() or abort(404)


def _page(case: Case, status: int = 200, **forms: Any) -> Any:
    from disclosure.exports.pki_revocation import has_revocation_list
    from disclosure.review.service import approved_scope

    certificates = (
        db.session.execute(
            select(RecipientCertificate)
            .where(RecipientCertificate.agency_id == case.agency_id)
            .order_by(RecipientCertificate.id)
        )
        .scalars()
        .all()
    )
    return render_template(
        "production/case.html",
        case=case,
        scope=approved_scope(case),
        records=service.records_of(case),
        bundles=db.session.execute(select(Bundle).where(Bundle.case_id == case.id).order_by(Bundle.id)).scalars().all(),
        builds=db.session.execute(
            select(Job).where(Job.case_id == case.id, Job.kind == BUNDLE_BUILD).order_by(Job.id.desc()).limit(10)
        )
        .scalars()
        .all(),
        certificates=certificates,
        record_form=forms.get("record_form") or RecordForm(),
        build_form=forms.get("build_form") or BuildForm(),
        delivery_form=forms.get("delivery_form") or DeliveryForm(delivered_on=utcnow().date()),
        delivery_for=forms.get("delivery_for"),
        channels=DELIVERY_CHANNELS,
        errors=forms.get("errors", []),
        revocation_list=has_revocation_list(bundles.pki_dir(current_app.config)),
    ), status


@bp.route("/cases/<reference>/production")
@requires(Permission.PRODUCTION_MANAGE)
def case_production(reference: str) -> Any:
    return _page(case_or_404(reference))


@bp.route("/cases/<reference>/production/records", methods=["POST"])
@requires(Permission.PRODUCTION_MANAGE)
def add_record(reference: str) -> Any:
    case = case_or_404(reference)
    form = RecordForm()
    upload = form.file.data
    if not form.validate_on_submit() or not upload or not upload.filename:
        return _page(case, 400, record_form=form, errors=["Choose the target, the category and the file."])
    try:
        with attempt():
            production = service.add_record(
                current_user,
                case,
                form.target.data or "",
                form.category.data or "",
                upload.stream,
                upload.filename,
                client_ip(),
            )
    except REFUSALS as error:
        return _page(case_or_404(reference), 400, record_form=form, errors=[message_for(error)])
    flash(f"Added {production.filename} (SHA-256 {production.sha256[:16]}…).", "success")
    return redirect(url_for("production.case_production", reference=reference))


@bp.route("/cases/<reference>/production/bundles", methods=["POST"])
@requires(Permission.PRODUCTION_MANAGE)
def build(reference: str) -> Any:
    """Queue the bundle's build as a job (it may take minutes) and follow it on the job's page."""
    case = case_or_404(reference)
    form = BuildForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        # Before the build's own unit of work: a wrong password is recorded on its own and nothing else changes.
        step_up.confirm(current_user, form.password.data or "", client_ip(), action="bundle.build")
    except step_up.StepUpRefused as refused:
        form.password.errors = [str(refused)]
        return _page(case_or_404(reference), 403, build_form=form)
    case = case_or_404(reference)
    chosen = [int(value) for value in request.form.getlist("certificate") if value.isdigit()]
    certificates = [
        c
        for c in db.session.execute(select(RecipientCertificate).where(RecipientCertificate.id.in_(chosen))).scalars()
        if c.agency_id == case.agency_id
    ]
    passphrase_only = bool(form.passphrase_only.data)
    nonce = (form.nonce.data or "")[:64]
    try:
        with attempt():
            bundles.check_case_bundle(current_user, case, certificates, passphrase_only)
            rate_limit.check(current_user, rate_limit.Limited.BUNDLE)
            job = jobs.enqueue(
                current_user,
                BUNDLE_BUILD,
                f"Build the disclosure bundle for {case.reference}",
                {"certificates": [c.id for c in certificates], "passphrase_only": passphrase_only, "ip": client_ip()},
                case=case,
                dedupe_key=f"{BUNDLE_BUILD}:{case.id}:{nonce}" if nonce else None,
                ip=client_ip(),
            )
    except REFUSALS as error:
        return _page(case_or_404(reference), 400, build_form=form, errors=[message_for(error)])
    except rate_limit.RateLimited as limited:
        return rate_limit.too_many(limited)
    flash(
        "The bundle is being built; this page follows it."
        + (" Its passphrase will be shown to you here, once." if passphrase_only else ""),
        "success",
    )
    return redirect(url_for("jobs.show", public_id=job.public_id))


@bp.route("/bundles/<public_id>")
@requires(Permission.BUNDLE_DOWNLOAD)
def download(public_id: str) -> Response:
    bundle = _bundle_or_404(public_id)
    # Auditors' bundles are downloaded from their own pages, under their own permission.
    if bundle.kind != "production" or not service.bundle_available(bundle):
        abort(404)
    blocks = service.bundle_blocks(bundle)  # a corrupted bundle fails here, before the download is recorded
    service.record_download(current_user, bundle, client_ip())
    return attachment_response(blocks, bundle.filename, bundle.size)


@bp.route("/bundles/<public_id>/delivered", methods=["POST"])
@requires(Permission.PRODUCTION_MANAGE)
def delivered(public_id: str) -> Any:
    bundle = _bundle_or_404(public_id)
    if bundle.case is None:
        abort(400)
    form = DeliveryForm()
    if form.validate_on_submit():
        delivery = service.Delivery(form.channel.data or "", form.delivered_on.data, form.recipient.data or "")
        try:
            with attempt():
                service.mark_delivered(current_user, bundle, client_ip(), delivery)
        except REFUSALS as error:
            form.form_errors.append(message_for(error))
        else:
            flash(
                f"Delivery recorded: {bundle.filename} reached {delivery.recipient} on {delivery.on:%Y-%m-%d} "
                f"({DELIVERY_CHANNELS[delivery.channel].lower()}). {bundle.case.reference} is now disclosed.",
                "success",
            )
            return redirect(url_for("production.case_production", reference=bundle.case.reference))
    return _page(bundle.case, 400, delivery_form=form, delivery_for=bundle.public_id)


@bp.route("/agencies/<int:agency_id>/certificates", methods=["GET", "POST"])
@requires(Permission.RECIPIENT_MANAGE)
def certificates(agency_id: int) -> Any:
    agency = db.session.get(Agency, agency_id) or abort(404)
    form = CertificateForm()
    errors = []
    if form.validate_on_submit():
        data = form.file.data.read(64 * 1024) if form.file.data else b""
        try:
            with attempt():
                service.add_recipient_certificate(current_user, agency, form.label.data or "", data, client_ip())
        except REFUSALS as error:
            errors.append(message_for(error))
        else:
            flash("Certificate added.", "success")
            return redirect(url_for("production.certificates", agency_id=agency_id))
    rows = (
        db.session.execute(
            select(RecipientCertificate)
            .where(RecipientCertificate.agency_id == agency_id)
            .order_by(RecipientCertificate.id)
        )
        .scalars()
        .all()
    )
    return render_template(
        "production/certificates.html", agency=agency, rows=rows, form=form, errors=errors, revoke_form=BuildForm()
    ), 400 if errors else 200


@bp.route("/certificates/<int:certificate_id>/revoke", methods=["POST"])
@requires(Permission.RECIPIENT_MANAGE)
def revoke(certificate_id: int) -> Any:
    certificate = db.session.get(RecipientCertificate, certificate_id) or abort(404)
    if not BuildForm().validate_on_submit():
        abort(400)
    try:
        with attempt():
            service.revoke_recipient_certificate(current_user, certificate, client_ip())
    except REFUSALS as error:
        flash(message_for(error), "error")
    else:
        flash("Certificate revoked; it will not be offered for new bundles.", "success")
    return redirect(url_for("production.certificates", agency_id=certificate.agency_id))


#: Key files are downloads like any other: a browser that opens one anyway runs nothing in it (issue 17).
KEY_FILE_POLICY = "sandbox; default-src 'none'"


@bp.route("/keys/ca.pem")
@requires(Permission.ACCOUNT_SELF)
def ca_certificate() -> Response:
    """The organisation's CA certificate, which recipients need to verify bundles."""
    from disclosure.exports.pki import ca_pem

    response = Response(ca_pem(bundles.pki_dir(current_app.config)), mimetype="application/x-pem-file")
    response.headers["Content-Disposition"] = 'attachment; filename="disclosure-ca.pem"'
    response.headers["Content-Security-Policy"] = KEY_FILE_POLICY
    return response


@bp.route("/keys/crl.pem")
@requires(Permission.ACCOUNT_SELF)
def revocation_list() -> Any:
    """The CA's revocation list (`flask keys export-crl`), once a bundle-signing certificate has been revoked."""
    from cryptography.hazmat.primitives import serialization

    from disclosure.errors import render_error
    from disclosure.exports.pki_revocation import NoRevocationList, stored_crl

    try:
        crl = stored_crl(bundles.pki_dir(current_app.config))
    except NoRevocationList:
        return render_error(404, "No bundle-signing certificate has been revoked, so there is no revocation list yet.")
    response = Response(crl.public_bytes(serialization.Encoding.PEM), mimetype="application/x-pem-file")
    response.headers["Content-Disposition"] = 'attachment; filename="disclosure-crl.pem"'
    response.headers["Content-Security-Policy"] = KEY_FILE_POLICY
    return response
