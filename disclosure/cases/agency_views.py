"""The agency directory pages: list, one agency with its contacts, add and verify a contact."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import InputRequired, Length

from disclosure.auth.access import client_ip, requires
from disclosure.cases import agencies as service
from disclosure.cases.models import Agency, AgencyContact, Case
from disclosure.extensions import db
from disclosure.permissions import Permission
from disclosure.services import ServiceError
from disclosure.unit_of_work import attempt, message_for, status_for

bp = Blueprint("agencies", __name__, url_prefix="/agencies")


class ContactForm(FlaskForm):
    kind = SelectField("Kind", choices=[SelectChoice(k, v) for k, v in service.CONTACT_KINDS.items()])
    value = StringField("Contact", validators=[InputRequired(), Length(max=300)])
    submit = SubmitField("Add contact")


class VerifyForm(FlaskForm):
    how = StringField("How you verified it", validators=[InputRequired("Say how you verified it."), Length(max=500)])
    submit = SubmitField("Mark verified")


@bp.route("/")
@requires(Permission.CASE_VIEW)
def index() -> Any:
    rows = db.session.execute(
        select(Agency, func.count(Case.id)).outerjoin(Case).group_by(Agency.id).order_by(Agency.name)
    ).all()
    return render_template("agencies/index.html", rows=rows)


def _agency_or_404(agency_id: int) -> Agency:
    return db.session.get(Agency, agency_id) or abort(404)


@bp.route("/<int:agency_id>", methods=["GET"])
@requires(Permission.CASE_VIEW)
def show(agency_id: int, contact_form: ContactForm | None = None) -> Any:
    agency = _agency_or_404(agency_id)
    return render_template(
        "agencies/show.html",
        contact_kinds=service.CONTACT_KINDS,
        agency=agency,
        contact_form=contact_form or ContactForm(),
        verify_form=VerifyForm(),
    )


@bp.route("/<int:agency_id>/contacts", methods=["POST"])
@requires(Permission.AGENCY_MANAGE)
def add_contact(agency_id: int) -> Any:
    agency = _agency_or_404(agency_id)
    form = ContactForm()
    status = 400
    if form.validate_on_submit():
        try:
            with attempt():
                service.add_contact(current_user, agency, form.kind.data or "", form.value.data or "", client_ip())
        except ServiceError as error:
            form.value.errors = [message_for(error)]
            status = status_for(error)
        else:
            flash("Contact added. Verify it out of band before relying on it.", "success")
            return redirect(url_for("agencies.show", agency_id=agency_id))
    return render_template(
        "agencies/show.html",
        contact_kinds=service.CONTACT_KINDS,
        agency=agency,
        contact_form=form,
        verify_form=VerifyForm(),
    ), status


@bp.route("/<int:agency_id>/contacts/<int:contact_id>/verify", methods=["POST"])
@requires(Permission.AGENCY_MANAGE)
def verify_contact(agency_id: int, contact_id: int) -> Any:
    agency = _agency_or_404(agency_id)
    contact = db.session.get(AgencyContact, contact_id)
    if contact is None or contact.agency_id != agency.id:
        abort(404)
    form = VerifyForm()
    if not form.validate_on_submit():
        flash("Say how you verified the contact.", "error")
        return redirect(url_for("agencies.show", agency_id=agency_id))
    try:
        with attempt():
            service.verify_contact(current_user, contact, client_ip(), form.how.data or "")
    except ServiceError as error:
        flash(message_for(error), "error")
    else:
        flash("Contact marked verified.", "success")
    return redirect(url_for("agencies.show", agency_id=agency_id))
