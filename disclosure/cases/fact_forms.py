"""The two forms that state a request's facts: the intake form and Edit facts.

Both share one set of fields and one set of checks (disclosure.cases.fact_checks), and both turn into the JSON
request document that disclosure.policy.request validates, the same path `flask cases import` takes, so the
forms and the import can never disagree on what is valid. The checks run all in one pass, so that several mistakes
are shown together and in the form's words; the parser then refuses whatever the form let through, and its
refusal is placed beside the field it came from.

Target rows: any number up to a bound. Without script, "Add another target" posts the form back with one more
blank row; with script, disclosure/static/js/targets.js adds and removes rows in the page.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    EmailField,
    Field,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from disclosure.cases import fact_checks as checks
from disclosure.cases.fact_checks import MAX_TARGETS, OLD_RECEIPT_DAYS, PENALTY_MESSAGE
from disclosure.policy.request import MAX_PENALTY_YEARS, RequestError, parse_request
from disclosure.policy.vocabulary import (
    Agreement,
    AuthorityKind,
    Category,
    ListedOffence,
    OfficialLevel,
    ProcessType,
    ReceivedVia,
    Regime,
    TargetKind,
    VoluntaryBasis,
)
from disclosure.timezones import zone_names

#: Every zone a person may choose (disclosure.timezones): the intake form opens in the logger's own.
TIMEZONES = zone_names()
#: Rows the intake form opens with; Edit facts shows a case's targets and BLANK_ROWS more.
TARGET_ROWS = 4
BLANK_ROWS = 2
#: Fields one target row sends.
PARTS_PER_ROW = 4


def choices(enum: Any, blank: str | None = None) -> list[SelectChoice]:
    options = [SelectChoice(member.value, member.label) for member in enum]
    return ([SelectChoice("", blank)] if blank is not None else []) + options


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class TargetForm(Form):
    kind = SelectField(
        "Kind",
        choices=choices(TargetKind, "—"),
        validators=[Optional()],
        description="What the identifier is (email address, username, domain, IP address, customer id or phone "
        "number); each is checked as its kind.",
    )
    value = StringField(
        "Identifier",
        validators=[Optional(), Length(max=300)],
        description="Exactly as the process writes it, e.g. alice@example.net or +1 415 555 0100; an IP address "
        "names nobody without the time it was used (From).",
    )
    date_from = StringField(
        "From",
        validators=[Optional(), Length(max=40)],
        render_kw={"placeholder": "YYYY-MM-DD or …T10:15Z"},
        description="The first day of the period the process asks about for this identifier, or for an IP address "
        "the moment it was used; leave empty if the process names none.",
    )
    date_to = StringField(
        "To",
        validators=[Optional(), Length(max=40)],
        render_kw={"placeholder": "YYYY-MM-DD"},
        description="The last day of that period; leave empty if the process gives no end.",
    )

    @property
    def is_blank(self) -> bool:
        return not (self.kind.data or (self.value.data or "").strip())


class CaseFactsForm(FlaskForm):
    """Every fact of a request that a person states, and the checks on them; the intake form and Edit facts add
    what is theirs alone."""

    #: How the no-targets tick names the act it confirms ("log it without targets").
    without_targets = "log it"
    #: True for a form that carries a file (a multipart post, whose parts the server counts).
    multipart = False

    process_type = SelectField(
        "Kind of legal process",
        choices=choices(ProcessType, "Choose…"),
        validators=[InputRequired("Choose the kind of legal process.")],
        description="As the document names itself; it decides what data the process can compel, the reviewer's "
        "checklist and the deadline.",
    )
    regime = SelectField(
        "Jurisdiction",
        choices=choices(Regime, "Choose…"),
        validators=[InputRequired("Choose the jurisdiction.")],
        description="The law the process is issued under, e.g. “United States, federal” for a federal court; the "
        "policy judges the process by that law.",
    )
    country = StringField(
        "Country (two letters)",
        validators=[
            InputRequired(),
            Regexp(r"^[A-Za-z]{2}$", message="Use the two-letter country code, e.g. US or DE."),
        ],
        description="The country of the court or authority that issued it, e.g. US or DE; business-day deadlines "
        "skip its public holidays.",
    )
    region = StringField(
        "State or region",
        validators=[Optional(), Length(max=100)],
        description="For state or provincial process, the state that issued it, e.g. California; leave it empty "
        "for federal or national process.",
    )
    authority_kind = SelectField(
        "Issued by",
        choices=choices(AuthorityKind, "Choose…"),
        validators=[InputRequired("Choose who issued the process.")],
        description="The kind of authority that signed it; the policy checks that such an authority may compel "
        "the data requested.",
    )
    authority_name = StringField(
        "Issuer's name",
        validators=[InputRequired(), Length(max=300)],
        description="The judge, court, prosecutor, agency or attorney as the document names them; "
        "for a voluntary disclosure, the team that decided it.",
    )
    docket = StringField(
        "Docket or case number",
        validators=[Optional(), Length(max=100)],
        description="The court's or agency's own number for this matter, as printed on the document; our letters "
        "quote it.",
    )
    agency_name = StringField(
        "Requesting agency",
        validators=[InputRequired(), Length(max=200)],
        render_kw={"list": "agency-names"},
        description="The agency that sent the request; pick the name the directory offers, or a new agency is "
        "added to the directory, unverified.",
    )
    agency_country = StringField(
        "Agency country (two letters)",
        validators=[InputRequired(), Regexp(r"^[A-Za-z]{2}$", message="Use the two-letter country code, e.g. US.")],
        description="The requesting agency's country, e.g. US; with the name, it finds the agency in the directory.",
    )
    officer_name = StringField(
        "Officer",
        validators=[Length(max=200)],
        description="Leave it empty only for a voluntary disclosure with no requesting officer.",
    )
    officer_badge = StringField(
        "Badge",
        validators=[Optional(), Length(max=50)],
        description="The officer's badge or identification number, if the request gives one; it helps confirm "
        "who they are when you call the agency back.",
    )
    officer_email = EmailField(
        "Officer email",
        validators=[Optional(), Length(max=254)],
        description="As the request gives it; our letters print it under the officer's name.",
    )
    officer_phone = StringField(
        "Officer phone",
        validators=[Optional(), Length(max=50)],
        description="As the request gives it, in international form: + and the country code, e.g. +1 202 555 0100.",
    )
    received_at = DateTimeLocalField(
        "Received",
        format="%Y-%m-%dT%H:%M",
        validators=[DataRequired("Enter when the request reached us.")],
        description="For paper and fax, the time stamped on arrival.",
    )
    confirm_old_receipt = BooleanField(
        f"Yes, it arrived more than {OLD_RECEIPT_DAYS} days ago",
        description="Check the received date first: the deadline is counted from it.",
    )
    timezone = SelectField(
        "Time zone",
        choices=[SelectChoice(z, z.replace("_", " ")) for z in TIMEZONES],
        default="UTC",
        description="Deadlines are counted in this time zone.",
    )
    received_via = SelectField(
        "Received by",
        choices=choices(ReceivedVia, "Choose…"),
        validators=[InputRequired("Choose how the request arrived.")],
        description="How the process reached us; it stays on record as how it was served.",
    )
    due_on = DateField(
        "Due date on the document",
        validators=[Optional()],
        description="Leave empty to compute it from the process's clock.",
    )
    confirm_due_after_expiry = BooleanField(
        "Yes, the due date is after the process expires",
        description="Tick only if the document really gives both dates: once it has expired, the process may no "
        "longer compel an answer.",
    )
    emergency = BooleanField(
        "Emergency request",
        description="Tick only when the requester states an imminent danger of death or serious injury; it puts "
        "the case at the top of every reviewer's queue.",
    )
    issued_on = DateField(
        "Issued on",
        validators=[Optional()],
        description="The day the process was signed, as written on it; an order's period counts from it (from "
        "receipt when it is empty).",
    )
    valid_until = DateField(
        "Process valid until",
        validators=[Optional()],
        description="The last day the process may be executed, as written on it; leave empty if it states none. "
        "The policy checks the request's dates against it.",
    )
    # More rows than a form takes are refused with a message (fact_checks); max_entries only bounds the work.
    targets = FieldList(
        FormField(TargetForm),
        min_entries=1,
        max_entries=2 * MAX_TARGETS,
        description="One identifier per row; date ranges are optional. Leave unused rows empty; to remove a "
        "target, clear its kind and identifier.",
    )
    add_target = SubmitField("Add another target")
    confirm_no_targets = BooleanField(
        "Log it without targets and ask the requester for them",
        description="The case then waits for the requester to name the accounts; it cannot be reviewed until they do.",
    )
    categories = MultiCheckboxField(
        "Requested data",
        choices=choices(Category),
        validators=[InputRequired("Choose at least one category of data.")],
        description="Tick every kind of data the process asks for; only what is ticked here can ever be approved "
        "and produced.",
    )
    validator_kind = SelectField(
        "Validated by",
        choices=choices(AuthorityKind, "Not validated"),
        default="",
        description="EU orders from police or an agency need a judge, court or prosecutor's validation "
        "(Reg. 2023/1543 Art. 4); a UK warrant needs a Judicial Commissioner's approval (choose “Judge”).",
    )
    validator_name = StringField(
        "Validator's name",
        validators=[Length(max=300)],
        description="The judge, court or commissioner who validated the order, as the order names them.",
    )
    official_level = SelectField(
        "Signed by (national security letters)",
        choices=choices(OfficialLevel, "Not stated"),
        default="",
        description="Only the officials 18 USC 2709(b) names may sign a national security letter.",
    )
    offence_description = StringField(
        "Offence",
        validators=[Length(max=300)],
        description="EU orders for traffic or content data need an offence punishable by at least 3 years "
        "or one Art. 5(4) lists.",
    )
    offence_penalty = IntegerField(
        "Maximum penalty (years)",
        validators=[Optional()],
        invalid_value_message=PENALTY_MESSAGE,
        render_kw={"min": 0, "max": MAX_PENALTY_YEARS, "inputmode": "numeric"},
        description="The longest sentence the offence carries, in whole years, as the order or its certificate "
        "states it.",
    )
    offence_listed = SelectField(
        "Offence listed in Art. 5(4)",
        choices=choices(ListedOffence, "Not listed"),
        default="",
        description="Only when the order says the offence is one Art. 5(4) lists: such an offence qualifies "
        "whatever its penalty.",
    )
    voluntary_basis = SelectField(
        "Voluntary basis",
        choices=choices(VoluntaryBasis, "None (legal process)"),
        default="",
        description="Only for a voluntary disclosure, and required for one: why we disclose when no legal "
        "process compels us.",
    )
    agreement = SelectField(
        "Executive agreement",
        choices=choices(Agreement, "None"),
        default="",
        description="Only for a foreign order, an order under an executive agreement, or a UK Investigatory "
        "Powers Act authorisation or warrant: the agreement it says it is made under.",
    )

    validate_officer_name = checks.check_officer_name
    validate_validator_kind = checks.check_validator_kind
    validate_validator_name = checks.check_validator_name
    validate_offence_description = checks.check_offence_description
    validate_offence_penalty = checks.check_offence_penalty
    validate_voluntary_basis = checks.check_voluntary_basis
    validate_agreement = checks.check_agreement

    #: Set when the page is shown again with one more blank target row ("Add another target" without script).
    row_added = False

    @property
    def is_voluntary(self) -> bool:
        return self.process_type.data == ProcessType.VOLUNTARY_DISCLOSURE

    def order_dates(self) -> dict[str, date | None]:
        """The gag order's start and end, for the shared checks (only the intake form states one)."""
        return {}

    def asks_to_confirm(self, _fact: str) -> bool:
        """Whether an unusual fact (fact_checks.OLD_RECEIPT, …) needs its tick: on intake, always."""
        return True

    def validate(self, extra_validators: Any = None) -> bool:
        """Every field's own checks, then the facts against each other, all in one pass: every mistake at once."""
        fields_valid: bool = super().validate(extra_validators)
        checks.check_facts(self)
        return fields_valid and self.clean()

    def clean(self) -> bool:
        """No error on any field, target rows included (a row's error added after validation is not in `errors`)."""
        return not self.error_summary() and not self.form_errors

    def received_local(self) -> datetime | None:
        """When the request arrived, as an aware time in the form's time zone (None if not given or unknown)."""
        if self.received_at.data is None:
            return None
        try:
            zone = ZoneInfo(self.timezone.data or "UTC")
        except (ValueError, KeyError):
            return None
        return self.received_at.data.replace(tzinfo=zone)

    # --- target rows ------------------------------------------------------------------------------------------

    def target_row_indexes(self) -> list[int]:
        """Form row index for each non-blank target, in document order (to place errors on the right row)."""
        return [index for index, row in enumerate(self.targets) if not row.form.is_blank]

    def max_target_rows(self) -> int:
        """The most target rows this form takes: MAX_TARGETS, or fewer where the server counts a multipart post's
        parts (MAX_FORM_PARTS) and a longer form would be refused whole."""
        parts = current_app.config.get("MAX_FORM_PARTS") if self.multipart else None
        if not parts:
            return MAX_TARGETS
        others = sum(1 for f in self if f.name not in {"targets", "categories"}) + len(Category)
        return max(1, min(MAX_TARGETS, (parts - others) // PARTS_PER_ROW))

    def pad_target_rows(self, blank: int) -> None:
        """Show `blank` empty rows after the last target given (fewer if the form is full)."""
        while len(self.targets) < len(self.target_row_indexes()) + blank and len(self.targets) < self.max_target_rows():
            self.targets.append_entry()

    def add_target_row(self) -> None:
        """ "Add another target" without script: the same form again, with one more blank row (or why not)."""
        if len(self.targets) >= self.max_target_rows():
            checks.add_error(self.add_target, checks.too_many_targets(self))
        else:
            self.targets.append_entry()
            self.row_added = True

    # --- errors -----------------------------------------------------------------------------------------------

    def error_summary(self) -> list[tuple[str, str, str]]:
        """Every error as (field id, field label, message), in the order the form shows its fields."""
        found: list[tuple[str, str, str]] = []
        for field in self:
            if field.name == "targets":
                for number, row in enumerate(field, start=1):
                    for sub in row.form:
                        found.extend((sub.id, f"Target {number}: {sub.label.text}", e) for e in sub.errors)
                continue
            label = "Targets" if field.name == "add_target" else field.label.text
            if isinstance(field.errors, list):
                found.extend((field.id, label, message) for message in field.errors)
        return found

    def field_for(self, path: str) -> Field | None:
        """The form field a request document's key (as RequestError names it) comes from."""
        if path.startswith("targets"):
            return self._targetfield_for(path)
        return {
            "process_type": self.process_type,
            "jurisdiction.regime": self.regime,
            "jurisdiction.country": self.country,
            "jurisdiction.region": self.region,
            "issuing_authority.kind": self.authority_kind,
            "issuing_authority.name": self.authority_name,
            "issuing_authority.docket": self.docket,
            "issuing_authority.validated_by": self.validator_kind,
            "issuing_authority.validated_by.kind": self.validator_kind,
            "issuing_authority.validated_by.name": self.validator_name,
            "issuing_authority.official_level": self.official_level,
            "agency.name": self.agency_name,
            "agency.country": self.agency_country,
            "officer": self.officer_name,
            "officer.name": self.officer_name,
            "officer.email": self.officer_email,
            "officer.phone": self.officer_phone,
            "officer.badge": self.officer_badge,
            "received_at": self.received_at,
            "received_via": self.received_via,
            "due_at": self.due_on,
            "valid_until": self.valid_until,
            "categories": self.categories,
            "issued_on": self.issued_on,
            "offence": self.offence_description,
            "offence.description": self.offence_description,
            "offence.max_penalty_years": self.offence_penalty,
            "offence.listed": self.offence_listed,
            "voluntary_basis": self.voluntary_basis,
            "agreement": self.agreement,
            "timezone": self.timezone,
        }.get(path)

    def _targetfield_for(self, path: str) -> Field | None:
        rows = self.target_row_indexes()
        try:
            number = int(path.split("[", 1)[1].split("]", 1)[0])
            row = self.targets[rows[number]].form
        except (IndexError, ValueError):
            return None
        part = path.split(".", 1)[1] if "." in path else "value"
        return {"kind": row.kind, "value": row.value, "from": row.date_from, "to": row.date_to}.get(part, row.value)

    def place_request_error(self, error: RequestError, only_if_clean: bool = False) -> None:
        """Put the request document's error on the field it came from (with `only_if_clean`, only where the form's
        own checks found nothing there: they say it in the form's words)."""
        field = self.field_for(error.field)
        if only_if_clean and (field is None or field.errors):
            return
        if field is None:
            where = "Targets" if error.field.startswith("targets") else error.field
            self.form_errors.append(f"{where}: {error.message}")
            return
        field.errors = [*field.errors, error.message] if isinstance(field.errors, list) else [error.message]

    def check_with_parser(self, now: datetime) -> None:
        """Show the request parser's finding too, where the form's own checks found nothing at that field."""
        try:
            document = self.request_document()
        except (ValueError, KeyError, TypeError, AttributeError):
            return  # a field the form already refused left the document incomplete; its own message stands
        try:
            parse_request(document, now=now)
        except RequestError as error:
            self.place_request_error(error, only_if_clean=True)

    # --- the request document ---------------------------------------------------------------------------------

    def _officer(self) -> dict[str, Any] | None:
        fields = (self.officer_name, self.officer_email, self.officer_phone, self.officer_badge)
        if not any((f.data or "").strip() for f in fields):
            return None  # a voluntary disclosure may have no requesting officer
        return {
            "name": self.officer_name.data,
            "email": self.officer_email.data or None,
            "phone": self.officer_phone.data or None,
            "badge": self.officer_badge.data or None,
        }

    def _particulars(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The issuing authority's later keys and the document's, each only when the form has them."""
        authority: dict[str, Any] = {}
        if self.validator_kind.data or (self.validator_name.data or "").strip():
            authority["validated_by"] = {"kind": self.validator_kind.data or None, "name": self.validator_name.data}
        if self.official_level.data:
            authority["official_level"] = self.official_level.data
        doc: dict[str, Any] = {}
        if (
            (self.offence_description.data or "").strip()
            or self.offence_penalty.data is not None
            or self.offence_listed.data
        ):
            doc["offence"] = {
                "description": self.offence_description.data,
                "max_penalty_years": self.offence_penalty.data,
                "listed": self.offence_listed.data or None,
            }
        if self.voluntary_basis.data:
            doc["voluntary_basis"] = self.voluntary_basis.data
        if self.agreement.data:
            doc["agreement"] = self.agreement.data
        return authority, doc

    def _received_iso(self) -> str | None:
        # In the form's own offset: the parser reads the day of receipt in the offset a receipt is written in.
        received = self.received_local()
        return received.isoformat() if received is not None else None

    def request_document(self) -> dict[str, Any]:
        """The request document (DESIGN's JSON shape) this form describes."""
        authority_particulars, particulars = self._particulars()
        return {
            "process_type": self.process_type.data,
            "jurisdiction": {
                "regime": self.regime.data,
                "country": (self.country.data or "").upper(),
                "region": self.region.data or None,
            },
            "issuing_authority": {
                "kind": self.authority_kind.data,
                "name": self.authority_name.data,
                "docket": self.docket.data or None,
                **authority_particulars,
            },
            "agency": {"name": self.agency_name.data, "country": (self.agency_country.data or "").upper()},
            "officer": self._officer(),
            "issued_on": iso_or_none(self.issued_on.data),
            "received_at": self._received_iso(),
            "received_via": self.received_via.data,
            "due_at": iso_or_none(self.due_on.data),
            "emergency": bool(self.emergency.data),
            "valid_until": iso_or_none(self.valid_until.data),
            "targets": [
                {
                    "kind": row.kind.data,
                    "value": (row.value.data or "").strip(),
                    "from": (row.date_from.data or "").strip() or None,
                    "to": (row.date_to.data or "").strip() or None,
                }
                for row in self.targets
                if not row.form.is_blank
            ],
            "categories": list(self.categories.data or []),
            **particulars,
        }


def iso_or_none(day: date | None) -> str | None:
    """A date in the request document's form, or None."""
    return day.isoformat() if day is not None else None
