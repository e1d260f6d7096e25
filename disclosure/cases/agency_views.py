"""The agency directory pages: the list, one agency (names, domains, channels, possible duplicates), adding and
editing an agency, verifying and retiring channels, vouching for an agency, merging a duplicate, and the JSON
look-up behind the intake type-ahead.

Reading takes agency:view (every role); changing takes agency:manage (intake, administrators); vouching takes
agency:verify (administrators). A refused change shows the page again with the message beside its field.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload
from wtforms import BooleanField, SelectChoice, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from disclosure.auth import step_up
from disclosure.auth.access import client_ip, requires
from disclosure.cases import agencies as service
from disclosure.cases.models import Agency, AgencyAlias, AgencyContact, AgencyDomain, Case, directory_key
from disclosure.extensions import db
from disclosure.hardening import CONTENT_SECURITY_POLICY
from disclosure.permissions import Permission
from disclosure.policy.vocabulary import Regime
from disclosure.services import ServiceError
from disclosure.unit_of_work import attempt, message_for, status_for

bp = Blueprint("agencies", __name__, url_prefix="/agencies")

#: Longest look-up query read (a name is at most 200 characters).
LOOKUP_MAX = 200
#: A page with the type-ahead (static/js/agency-lookup.js) may ask the look-up: the base policy plus connect-src.
LOOKUP_PAGE_POLICY = f"{CONTENT_SECURITY_POLICY}; connect-src 'self'"


class AgencyForm(FlaskForm):
    name = StringField(
        "Canonical name",
        validators=[InputRequired("Enter the agency's name."), Length(max=200)],
        description="The agency's full official name; other spellings and abbreviations are aliases.",
    )
    country = StringField(
        "Country (two letters)",
        validators=[InputRequired("Give the country as two letters, e.g. US."), Length(max=2)],
        render_kw={"autocomplete": "off", "size": 4},
        description="The agency's country, e.g. US or DE: agencies of the same name in two countries are two records.",
    )
    regime = SelectField(
        "Legal regime",
        choices=[SelectChoice("", "Not recorded"), *(SelectChoice(r.value, r.label) for r in Regime)],
        validators=[Optional()],
        description="The law the agency's process is usually issued under, for reference; each case still states "
        "its own jurisdiction.",
    )
    parent = SelectField(
        "Field office of",
        validate_choice=False,
        validators=[Optional()],
        description="For a field office or unit, the agency it belongs to; requests from that agency's official "
        "domains are then expected for it too.",
    )
    submit = SubmitField("Save")


class NewAgencyForm(AgencyForm):
    aliases = TextAreaField(
        "Other names (one a line)",
        validators=[Optional(), Length(max=4000)],
        description="Abbreviations and other spellings, e.g. FBI.",
        render_kw={"rows": 3},
    )
    domains = TextAreaField(
        "Official email domains (one a line)",
        validators=[Optional(), Length(max=4000)],
        description="Domains the agency sends from, e.g. fbi.gov (never a free mail service).",
        render_kw={"rows": 3},
    )
    not_a_duplicate = BooleanField(
        "I checked the possible duplicates listed: none of them is this agency",
        description="Asked when the directory holds a similar name: a second record for the same agency splits its "
        "cases and channels, so open the listed one if it matches.",
    )
    submit = SubmitField("Add the agency")


class ContactForm(FlaskForm):
    kind = SelectField(
        "Kind",
        choices=[SelectChoice(k, v) for k, v in service.CONTACT_KINDS.items()],
        description="How the agency is reached on this channel: email, telephone, its law-enforcement portal or post.",
    )
    value = StringField(
        "Contact",
        validators=[InputRequired(), Length(max=300)],
        description="The address, number (in international form, e.g. +1 202 324 3000) or portal link as found "
        "independently of any request; it is not relied on until someone records how it was verified.",
    )
    submit = SubmitField("Add contact")


class VerifyForm(FlaskForm):
    how = StringField(
        "How you verified it",
        validators=[InputRequired("Say how you verified it."), Length(max=500)],
        description="What you did to confirm the channel is the agency's, e.g. called the published number and "
        "spoke to the duty officer; it is recorded with your name.",
    )
    source = SelectField(
        "Where you found it",
        choices=[SelectChoice("", "Choose…"), *(SelectChoice(k, v) for k, v in service.CHANNEL_SOURCES.items())],
        validators=[InputRequired("Say where you found the contact.")],
        description="Never the request itself: a forged request brings its own contact details.",
    )
    submit = SubmitField("Mark verified")


class RetireForm(FlaskForm):
    reason = StringField(
        "Why it is no longer relied on",
        validators=[InputRequired("Say why."), Length(max=500)],
        description="E.g. the number now reaches another office; the channel stays on record with your reason and "
        "is no longer offered.",
    )
    submit = SubmitField("Retire")


class AliasForm(FlaskForm):
    alias = StringField(
        "Another name",
        validators=[InputRequired("Enter the other name."), Length(max=200)],
        description="An abbreviation or other spelling, e.g. FBI; a request naming the agency by it is logged "
        "against this record.",
    )
    submit = SubmitField("Add alias")


class DomainForm(FlaskForm):
    domain = StringField(
        "Official email domain",
        validators=[InputRequired("Enter a domain, e.g. fbi.gov."), Length(max=253)],
        description="A domain the agency sends email from, e.g. fbi.gov (never a free mail service); its subdomains "
        "count too.",
    )
    submit = SubmitField("Add domain")


class RemoveForm(FlaskForm):
    submit = SubmitField("Remove")


class VouchForm(FlaskForm):
    submit = SubmitField("Mark the agency verified")


class WithdrawForm(FlaskForm):
    reason = StringField(
        "Why it is no longer verified",
        validators=[InputRequired("Say why."), Length(max=500)],
        description="E.g. its published numbers changed; the reason is kept in the audit log.",
    )
    submit = SubmitField("Withdraw verification")


class MergeForm(FlaskForm):
    into = SelectField(
        "Merge into",
        validate_choice=False,
        validators=[InputRequired("Choose the canonical record.")],
        description="The record of the same agency that stays; this one's cases, channels, domains and certificates "
        "move there.",
    )
    confirm = BooleanField(
        "I checked that both records are the same agency. This cannot be undone.",
        validators=[InputRequired("Tick the confirmation: a merge cannot be undone.")],
        description="Compare the names, countries and official domains of both records before you tick.",
    )
    #: Step-up: a merge moves cases and certificates between agencies.
    password = step_up.password_field()
    submit = SubmitField("Merge the records")


def _agency_or_404(agency_id: int) -> Agency:
    if agency_id > 2**31 - 1:
        abort(404)
    return db.session.get(Agency, agency_id) or abort(404)


def _label(agency: Agency) -> str:
    return f"{agency.name} ({agency.country})"


def _parent_choices(agency: Agency | None) -> list[SelectChoice]:
    others = db.session.execute(select(Agency).order_by(Agency.name, Agency.country)).scalars()
    return [SelectChoice("", "None: an agency in its own right")] + [
        SelectChoice(str(a.id), _label(a)) for a in others if agency is None or a.id != agency.id
    ]


def _draft(form: AgencyForm) -> service.AgencyDraft:
    parent = form.parent.data or ""
    draft = service.AgencyDraft(
        name=form.name.data or "",
        country=form.country.data or "",
        regime=form.regime.data or None,
        parent_id=int(parent) if parent.isdigit() and len(parent) < 10 else None,
    )
    if parent and draft.parent_id is None:
        draft.parent_id = 0  # not an agency: the service says so beside the field
    if isinstance(form, NewAgencyForm):
        draft.aliases = [line for line in (form.aliases.data or "").splitlines() if line.strip()]
        draft.domains = [line for line in (form.domains.data or "").splitlines() if line.strip()]
    return draft


def _place_error(form: FlaskForm, error: ServiceError, fields: dict[str | None, str], default: str) -> None:
    """Put the refusal's message beside the field it is about (the service's `field`, mapped to the form's)."""
    about = getattr(error, "field", None)
    name = fields.get(about) or (about if about and hasattr(form, about) else default)
    getattr(form, name).errors = [message_for(error)]


# The list and the look-up.


def _printable(text: str) -> str:
    """A query as searched: control characters (a NUL, which PostgreSQL cannot compare) dropped, at most 200."""
    return "".join(char for char in text if char.isprintable()).strip()[:LOOKUP_MAX]


@bp.route("/")
@requires(Permission.AGENCY_VIEW)
def index() -> Any:
    query = _printable(request.args.get("q") or "")
    status = request.args.get("status") or ""
    statement = (
        select(Agency, func.count(Case.id))
        .outerjoin(Case)
        .group_by(Agency.id)
        .order_by(Agency.name, Agency.country)
        # One query each for the aliases, channels and parents the list shows, not one per agency.
        .options(selectinload(Agency.aliases), selectinload(Agency.contacts), selectinload(Agency.parent))
    )
    if query:
        key = f"%{directory_key(query).replace('%', '').replace('_', '')}%"
        by_alias = select(AgencyAlias.agency_id).where(AgencyAlias.name_key.like(key))
        statement = statement.where(or_(Agency.name_key.like(key), Agency.id.in_(by_alias)))
    rows = db.session.execute(statement).all()
    if status in {"verified", "unverified"}:
        rows = [row for row in rows if row[0].is_verified == (status == "verified")]
    page = render_template("agencies/index.html", rows=rows, query=query, status=status)
    return page, 200, {"Content-Security-Policy": LOOKUP_PAGE_POLICY}


@bp.route("/lookup")
@requires(Permission.AGENCY_VIEW)
def lookup() -> Any:
    """JSON for the intake type-ahead: agencies whose name or alias starts with, or is close to, `q`."""
    query = _printable(request.args.get("q") or "")
    matches = [
        {
            "id": found.agency.id,
            "name": found.agency.name,
            "country": found.agency.country,
            "matched": found.match.matched,
            "alias": found.match.is_alias,
            "verified": found.agency.is_verified,
            "why": found.match.why,
            "url": url_for("agencies.show", agency_id=found.agency.id),
        }
        for found in service.lookup(query)
    ]
    return jsonify({"query": query, "matches": matches})


# Adding and editing an agency.


@bp.route("/new", methods=["GET", "POST"])
@requires(Permission.AGENCY_MANAGE)
def new() -> Any:
    form = NewAgencyForm()
    form.parent.choices = _parent_choices(None)
    form.name.render_kw = {"autocomplete": "off", "data-agency-lookup": url_for("agencies.lookup")}
    form.name.render_kw["data-agency-country"] = form.country.id
    headers = {"Content-Security-Policy": LOOKUP_PAGE_POLICY}
    duplicates: list[service.Duplicate] = []
    if request.method == "GET":
        form.name.data = form.name.data or _printable(request.args.get("name") or "")
        form.country.data = form.country.data or _printable(request.args.get("country") or "")[:2].upper()
        if form.name.data:
            duplicates = service.possible_duplicates(form.name.data)
        return render_template("agencies/new.html", form=form, duplicates=duplicates), 200, headers
    status = 400
    if form.validate_on_submit():
        draft = _draft(form)
        duplicates = service.possible_duplicates(draft.name, draft.aliases)
        if duplicates and not form.not_a_duplicate.data:
            form.not_a_duplicate.errors = [
                "These agencies look alike: open one of them, or tick this box to add a new record."
            ]
        else:
            try:
                with attempt():
                    agency = service.create_agency(current_user, draft, client_ip())
            except ServiceError as error:
                _place_error(form, error, {"domain": "domains", "alias": "aliases"}, "name")
                status = status_for(error)
            else:
                flash(f"{agency.name} added, unverified. Verify a contact channel out of band next.", "success")
                return redirect(url_for("agencies.show", agency_id=agency.id))
    return render_template("agencies/new.html", form=form, duplicates=duplicates), status, headers


@bp.route("/<int:agency_id>/edit", methods=["GET", "POST"])
@requires(Permission.AGENCY_MANAGE)
def edit(agency_id: int) -> Any:
    agency = _agency_or_404(agency_id)
    form = AgencyForm(
        data=None
        if request.method == "POST"
        else {
            "name": agency.name,
            "country": agency.country,
            "regime": agency.regime or "",
            "parent": str(agency.parent_id or ""),
        }
    )
    form.parent.choices = _parent_choices(agency)
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            try:
                with attempt():
                    service.update_agency(current_user, agency, _draft(form), client_ip())
            except ServiceError as error:
                _place_error(form, error, {}, "name")
                status = status_for(error)
            else:
                flash("Agency updated.", "success")
                return redirect(url_for("agencies.show", agency_id=agency.id))
    return render_template("agencies/edit.html", form=form, agency=agency), status


# One agency.


def _verify_form(contact: AgencyContact) -> VerifyForm:
    return VerifyForm(prefix=f"verify-{contact.id}")


def _retire_form(contact: AgencyContact) -> RetireForm:
    return RetireForm(prefix=f"retire-{contact.id}")


def _show(agency: Agency, status: int = 200, **forms: Any) -> Any:
    verify_forms = {c.id: _verify_form(c) for c in agency.contacts}
    retire_forms = {c.id: _retire_form(c) for c in agency.contacts}
    verify_forms.update(forms.pop("verify_forms", {}))
    retire_forms.update(forms.pop("retire_forms", {}))
    page = render_template(
        "agencies/show.html",
        agency=agency,
        contact_kinds=service.CONTACT_KINDS,
        cases=service.case_count(agency),
        duplicates=service.possible_duplicates(agency.name, [a.name for a in agency.aliases], exclude=agency),
        contact_form=forms.get("contact_form") or ContactForm(),
        alias_form=forms.get("alias_form") or AliasForm(),
        domain_form=forms.get("domain_form") or DomainForm(),
        vouch_form=forms.get("vouch_form") or VouchForm(),
        withdraw_form=forms.get("withdraw_form") or WithdrawForm(),
        remove_form=RemoveForm(),
        verify_forms=verify_forms,
        retire_forms=retire_forms,
        ancestors=service.ancestors(agency),
    )
    return page, status


@bp.route("/<int:agency_id>", methods=["GET"])
@requires(Permission.AGENCY_VIEW)
def show(agency_id: int) -> Any:
    return _show(_agency_or_404(agency_id))


def _change(agency: Agency, form: FlaskForm, form_name: str, field: str, call: Any, done: str) -> Any:
    """Run one change from the agency page: redirect with `done`, or show the page again with the error."""
    status = 400
    if form.validate_on_submit():
        try:
            with attempt():
                call()
        except ServiceError as error:
            getattr(form, field).errors = [message_for(error)]
            status = status_for(error)
        else:
            flash(done, "success")
            return redirect(url_for("agencies.show", agency_id=agency.id))
    return _show(agency, status, **{form_name: form})


@bp.route("/<int:agency_id>/aliases", methods=["POST"])
@requires(Permission.AGENCY_MANAGE)
def add_alias(agency_id: int) -> Any:
    agency = _agency_or_404(agency_id)
    form = AliasForm()
    return _change(
        agency,
        form,
        "alias_form",
        "alias",
        lambda: service.add_alias(current_user, agency, form.alias.data or "", client_ip()),
        "Alias added.",
    )


@bp.route("/<int:agency_id>/aliases/<int:alias_id>/remove", methods=["POST"])
@requires(Permission.AGENCY_MANAGE)
def remove_alias(agency_id: int, alias_id: int) -> Any:
    agency = _agency_or_404(agency_id)
    alias = db.session.get(AgencyAlias, alias_id) if alias_id < 2**31 else None
    if alias is None or alias.agency_id != agency.id:
        abort(404)
    return _removal(agency, lambda: service.remove_alias(current_user, alias, client_ip()), "Alias removed.")


@bp.route("/<int:agency_id>/domains", methods=["POST"])
@requires(Permission.AGENCY_MANAGE)
def add_domain(agency_id: int) -> Any:
    agency = _agency_or_404(agency_id)
    form = DomainForm()
    return _change(
        agency,
        form,
        "domain_form",
        "domain",
        lambda: service.add_domain(current_user, agency, form.domain.data or "", client_ip()),
        "Official domain added.",
    )


@bp.route("/<int:agency_id>/domains/<int:domain_id>/remove", methods=["POST"])
@requires(Permission.AGENCY_MANAGE)
def remove_domain(agency_id: int, domain_id: int) -> Any:
    agency = _agency_or_404(agency_id)
    domain = db.session.get(AgencyDomain, domain_id) if domain_id < 2**31 else None
    if domain is None or domain.agency_id != agency.id:
        abort(404)
    return _removal(agency, lambda: service.remove_domain(current_user, domain, client_ip()), "Domain removed.")


def _removal(agency: Agency, call: Any, done: str) -> Any:
    if not RemoveForm().validate_on_submit():
        abort(400)
    try:
        with attempt():
            call()
    except ServiceError as error:
        flash(message_for(error), "error")
        return _show(agency, status_for(error))
    flash(done, "success")
    return redirect(url_for("agencies.show", agency_id=agency.id))


@bp.route("/<int:agency_id>/contacts", methods=["POST"])
@requires(Permission.AGENCY_MANAGE)
def add_contact(agency_id: int) -> Any:
    agency = _agency_or_404(agency_id)
    form = ContactForm()
    return _change(
        agency,
        form,
        "contact_form",
        "value",
        lambda: service.add_contact(current_user, agency, form.kind.data or "", form.value.data or "", client_ip()),
        "Contact added. Verify it out of band before relying on it.",
    )


def _contact_or_404(agency: Agency, contact_id: int) -> AgencyContact:
    contact = db.session.get(AgencyContact, contact_id) if contact_id < 2**31 else None
    if contact is None or contact.agency_id != agency.id:
        abort(404)
    return contact


@bp.route("/<int:agency_id>/contacts/<int:contact_id>/verify", methods=["POST"])
@requires(Permission.AGENCY_MANAGE)
def verify_contact(agency_id: int, contact_id: int) -> Any:
    agency = _agency_or_404(agency_id)
    contact = _contact_or_404(agency, contact_id)
    form = _verify_form(contact)
    status = 400
    if form.validate_on_submit():
        try:
            with attempt():
                service.verify_contact(current_user, contact, client_ip(), form.how.data or "", form.source.data or "")
        except ServiceError as error:
            field = getattr(error, "field", None)
            (form.source if field == "source" else form.how).errors = [message_for(error)]
            status = status_for(error)
        else:
            flash("Contact marked verified.", "success")
            return redirect(url_for("agencies.show", agency_id=agency.id))
    return _show(agency, status, verify_forms={contact.id: form})


@bp.route("/<int:agency_id>/contacts/<int:contact_id>/retire", methods=["POST"])
@requires(Permission.AGENCY_MANAGE)
def retire_contact(agency_id: int, contact_id: int) -> Any:
    agency = _agency_or_404(agency_id)
    contact = _contact_or_404(agency, contact_id)
    form = _retire_form(contact)
    status = 400
    if form.validate_on_submit():
        try:
            with attempt():
                service.retire_contact(current_user, contact, client_ip(), form.reason.data or "")
        except ServiceError as error:
            form.reason.errors = [message_for(error)]
            status = status_for(error)
        else:
            flash("Contact retired: it stays on record and is no longer offered.", "success")
            return redirect(url_for("agencies.show", agency_id=agency.id))
    return _show(agency, status, retire_forms={contact.id: form})


@bp.route("/<int:agency_id>/verify", methods=["POST"])
@requires(Permission.AGENCY_VERIFY)
def vouch(agency_id: int) -> Any:
    agency = _agency_or_404(agency_id)
    form = VouchForm()
    return _change(
        agency,
        form,
        "vouch_form",
        "submit",
        lambda: service.mark_verified(current_user, agency, client_ip()),
        f"{agency.name} is marked verified.",
    )


@bp.route("/<int:agency_id>/unverify", methods=["POST"])
@requires(Permission.AGENCY_VERIFY)
def withdraw(agency_id: int) -> Any:
    agency = _agency_or_404(agency_id)
    form = WithdrawForm()
    return _change(
        agency,
        form,
        "withdraw_form",
        "reason",
        lambda: service.withdraw_verification(current_user, agency, client_ip(), form.reason.data or ""),
        f"{agency.name} is no longer marked verified.",
    )


# Merging.


def _merge_target(agency: Agency, value: str | None) -> Agency | None:
    if not value or not value.isdigit() or len(value) >= 10:
        return None
    target = db.session.get(Agency, int(value))
    return target if target is not None and target.id != agency.id else None


@bp.route("/<int:agency_id>/merge", methods=["GET", "POST"])
@requires(Permission.AGENCY_MANAGE)
def merge(agency_id: int) -> Any:
    agency = _agency_or_404(agency_id)
    form = MergeForm()
    others = db.session.execute(select(Agency).where(Agency.id != agency.id).order_by(Agency.name)).scalars()
    form.into.choices = [SelectChoice("", "Choose the canonical record…")] + [
        SelectChoice(str(a.id), _label(a)) for a in others
    ]
    status = 200
    if request.method == "GET":
        form.into.data = request.args.get("into") or ""
    target = _merge_target(agency, form.into.data)
    if request.method == "POST":
        status = 400
        if form.into.data and target is None:
            form.into.errors = ["Choose another agency from the directory."]
        elif form.validate_on_submit() and target is not None:
            try:
                service.check_merge(current_user, agency, target)
                # Before the merge's own unit of work: a wrong password is recorded alone and nothing else changes.
                step_up.confirm(current_user, form.password.data or "", client_ip(), action="agency.merge")
                with attempt():
                    plan = service.merge_agencies(current_user, agency, target, client_ip())
            except step_up.StepUpRefused as refused:
                form.password.errors = [str(refused)]
                status = 403
            except ServiceError as error:
                form.into.errors = [message_for(error)]
                status = status_for(error)
            else:
                moved = len(plan.cases)
                flash(
                    f"Merged into {target.name}: {moved} case{'s' if moved != 1 else ''} moved; the former name is "
                    "kept as an alias.",
                    "success",
                )
                return redirect(url_for("agencies.show", agency_id=target.id))
    plan_preview = service.merge_plan(agency, target) if target is not None else None
    refusal = None
    if target is not None:
        try:
            service.check_merge(current_user, agency, target)
        except ServiceError as error:
            refusal = message_for(error)
    return render_template(
        "agencies/merge.html", agency=agency, target=target, form=form, plan=plan_preview, refusal=refusal
    ), status
