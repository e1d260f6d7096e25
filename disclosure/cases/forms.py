"""Forms for logging a request, editing a case, moving it, attaching documents and gag orders, and filtering lists.

The intake form is turned into the JSON request document and validated by disclosure.policy.request, the same
path `flask cases import` takes, so the form and the import can never disagree on what is valid. The form checks
its fields first, all in one pass, so that several mistakes are shown together and in the form's words; the
parser then refuses whatever the form let through.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    EmailField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from disclosure.cases.models import PRESERVATION_PROCESSES
from disclosure.clock import utcnow
from disclosure.policy.request import AGREEMENT_PROCESSES, MAX_PENALTY_YEARS
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
from disclosure.routing import date_in_range
from disclosure.workflow import State

TIMEZONES = [
    "UTC",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Brussels",
    "Europe/Berlin",
    "Europe/Paris",
    "Europe/Amsterdam",
    "Asia/Singapore",
    "Australia/Sydney",
]
TARGET_ROWS = 4
#: No request this system holds arrived before this day; an earlier receipt is a typing mistake.
EARLIEST_RECEIPT = date(2000, 1, 1)
#: A receipt older than this is possible (a backlog being entered) but must be confirmed.
OLD_RECEIPT_DAYS = 90
#: The longest non-disclosure order we accept as a number of days (ten years).
MAX_ORDER_DAYS = 3650
PENALTY_MESSAGE = (
    f"Give the maximum penalty as a whole number of years from 0 to {MAX_PENALTY_YEARS} ({MAX_PENALTY_YEARS} for life)."
)


def long_date(day: date) -> str:
    """A date as people read it in a message: 3 December 2026."""
    return f"{day.day} {day:%B %Y}"


def choices(enum: Any, blank: str | None = None) -> list[SelectChoice]:
    options = [SelectChoice(member.value, member.label) for member in enum]
    return ([SelectChoice("", blank)] if blank is not None else []) + options


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class TargetForm(Form):
    kind = SelectField("Kind", choices=choices(TargetKind, "—"), validators=[Optional()])
    value = StringField("Identifier", validators=[Optional(), Length(max=300)])
    date_from = StringField(
        "From", validators=[Optional(), Length(max=40)], render_kw={"placeholder": "YYYY-MM-DD or …T10:15Z"}
    )
    date_to = StringField("To", validators=[Optional(), Length(max=40)], render_kw={"placeholder": "YYYY-MM-DD"})

    @property
    def is_blank(self) -> bool:
        return not (self.kind.data or (self.value.data or "").strip())


class IntakeForm(FlaskForm):
    process_type = SelectField(
        "Kind of legal process",
        choices=choices(ProcessType, "Choose…"),
        validators=[InputRequired("Choose the kind of legal process.")],
    )
    regime = SelectField(
        "Jurisdiction", choices=choices(Regime, "Choose…"), validators=[InputRequired("Choose the jurisdiction.")]
    )
    country = StringField(
        "Country (two letters)",
        validators=[
            InputRequired(),
            Regexp(r"^[A-Za-z]{2}$", message="Use the two-letter country code, e.g. US or DE."),
        ],
    )
    region = StringField("State or region", validators=[Optional(), Length(max=100)])
    authority_kind = SelectField(
        "Issued by",
        choices=choices(AuthorityKind, "Choose…"),
        validators=[InputRequired("Choose who issued the process.")],
    )
    authority_name = StringField(
        "Issuer's name",
        validators=[InputRequired(), Length(max=300)],
        description="The judge, court, prosecutor, agency or attorney as the document names them; "
        "for a voluntary disclosure, the team that decided it.",
    )
    docket = StringField("Docket or case number", validators=[Optional(), Length(max=100)])
    agency_name = StringField(
        "Requesting agency", validators=[InputRequired(), Length(max=200)], render_kw={"list": "agency-names"}
    )
    agency_country = StringField(
        "Agency country (two letters)",
        validators=[InputRequired(), Regexp(r"^[A-Za-z]{2}$", message="Use the two-letter country code, e.g. US.")],
    )
    officer_name = StringField(
        "Officer",
        validators=[Length(max=200)],
        description="Leave it empty only for a voluntary disclosure with no requesting officer.",
    )
    officer_badge = StringField("Badge", validators=[Optional(), Length(max=50)])
    officer_email = EmailField("Officer email", validators=[Optional(), Length(max=254)])
    officer_phone = StringField("Officer phone", validators=[Optional(), Length(max=50)])
    received_at = DateTimeLocalField(
        "Received",
        format="%Y-%m-%dT%H:%M",
        validators=[DataRequired("Enter when the request reached us.")],
        description="For paper and fax, the time stamped on arrival.",
    )
    confirm_old_receipt = BooleanField(f"Yes, it arrived more than {OLD_RECEIPT_DAYS} days ago")
    timezone = SelectField(
        "Time zone",
        choices=[SelectChoice(z) for z in TIMEZONES],
        default="UTC",
        description="Deadlines are counted in this time zone.",
    )
    received_via = SelectField(
        "Received by",
        choices=choices(ReceivedVia, "Choose…"),
        validators=[InputRequired("Choose how the request arrived.")],
    )
    due_on = DateField(
        "Due date on the document",
        validators=[Optional()],
        description="Leave empty to compute it from the process's clock.",
    )
    confirm_due_after_expiry = BooleanField("Yes, the due date is after the process expires")
    emergency = BooleanField("Emergency request")
    issued_on = DateField("Issued on", validators=[Optional()])
    valid_until = DateField("Process valid until", validators=[Optional()])
    targets = FieldList(FormField(TargetForm), min_entries=TARGET_ROWS, max_entries=20)
    confirm_no_targets = BooleanField("Log it without targets and ask the requester for them")
    categories = MultiCheckboxField(
        "Requested data", choices=choices(Category), validators=[InputRequired("Choose at least one category of data.")]
    )
    ndo_basis = StringField(
        "Non-disclosure order: basis",
        validators=[Optional(), Length(max=200)],
        description="e.g. 18 USC 2705(b). Leave empty if there is none.",
    )
    ndo_starts_on = DateField("Order starts", validators=[Optional()])
    ndo_until = DateField("Order expires", validators=[Optional()])
    ndo_days = IntegerField(
        "Or its length in days",
        validators=[Optional()],
        invalid_value_message=f"Give the order's length as a whole number of days, from 1 to {MAX_ORDER_DAYS}.",
        description="e.g. 180 for “180 days”: the end is counted from the day it starts (or from receipt).",
        render_kw={"min": 1, "max": MAX_ORDER_DAYS, "inputmode": "numeric"},
    )
    ndo_indefinite = BooleanField("The order is indefinite")
    validator_kind = SelectField(
        "Validated by",
        choices=choices(AuthorityKind, "Not validated"),
        default="",
        description="EU orders from police or an agency need a judge, court or prosecutor's validation "
        "(Reg. 2023/1543 Art. 4); a UK warrant needs a Judicial Commissioner's approval (choose “Judge”).",
    )
    validator_name = StringField("Validator's name", validators=[Length(max=300)])
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
    )
    offence_listed = SelectField(
        "Offence listed in Art. 5(4)", choices=choices(ListedOffence, "Not listed"), default=""
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
    summary = TextAreaField("Notes", validators=[Optional(), Length(max=5000)])
    legal_process = FileField("The legal process (PDF or scan)")
    submit = SubmitField("Log request")

    @property
    def is_voluntary(self) -> bool:
        return self.process_type.data == ProcessType.VOLUNTARY_DISCLOSURE

    def _process_label(self) -> str:
        try:
            return f"“{ProcessType(self.process_type.data).label}”"
        except ValueError:
            return "this kind of process"

    def validate_officer_name(self, field: StringField) -> None:
        if (field.data or "").strip():
            return
        if not self.is_voluntary:
            raise ValidationError("Give the requesting officer's name (only a voluntary disclosure may have none).")
        if any((f.data or "").strip() for f in (self.officer_badge, self.officer_email, self.officer_phone)):
            raise ValidationError("Give the officer's name too, or clear their badge, email and phone.")

    def validate_validator_kind(self, field: SelectField) -> None:
        if not field.data and (self.validator_name.data or "").strip():
            raise ValidationError("Choose who validated the order, or clear the validator's name.")

    def validate_validator_name(self, field: StringField) -> None:
        if self.validator_kind.data and not (field.data or "").strip():
            raise ValidationError("Give the name of the judge, court or other authority that validated the order.")

    def validate_offence_description(self, field: StringField) -> None:
        penalty_typed = bool((self.offence_penalty.raw_data or [""])[0].strip())
        if not (field.data or "").strip() and (penalty_typed or self.offence_listed.data):
            raise ValidationError("Describe the offence as the order states it, or clear its penalty and listing.")

    def validate_offence_penalty(self, field: IntegerField) -> None:
        if field.data is not None and not 0 <= field.data <= MAX_PENALTY_YEARS:
            raise ValidationError(PENALTY_MESSAGE)

    def validate_voluntary_basis(self, field: SelectField) -> None:
        if self.is_voluntary and not field.data:
            raise ValidationError("Choose why we disclose: a voluntary disclosure needs a basis.")
        if field.data and not self.is_voluntary:
            raise ValidationError(
                f"Only a voluntary disclosure has a basis; clear it for {self._process_label()}, or choose "
                "“Voluntary disclosure” as the kind of process."
            )

    def validate_agreement(self, field: SelectField) -> None:
        if field.data and self.process_type.data not in AGREEMENT_PROCESSES:
            raise ValidationError(
                f"{self._process_label()} cannot invoke an executive agreement; clear it, or choose the kind of "
                "process the agreement is used for."
            )

    def validate(self, extra_validators: Any = None) -> bool:
        """Every field's own checks, then the facts against each other, all in one pass: every mistake at once."""
        fields_valid: bool = super().validate(extra_validators)
        self._check_facts()
        return fields_valid and not self.errors

    def received_local(self) -> datetime | None:
        """When the request arrived, as an aware time in the form's time zone (None if not given or unknown)."""
        if self.received_at.data is None:
            return None
        try:
            zone = ZoneInfo(self.timezone.data or "UTC")
        except (ValueError, KeyError):
            return None
        return self.received_at.data.replace(tzinfo=zone)

    def _check_facts(self) -> None:
        """Refuse facts that cannot be true; ask for a tick on facts that are possible but unusual."""
        received = self.received_local()
        received_on = received.date() if received else None
        if received is not None:
            now = utcnow().astimezone(received.tzinfo)
            if received > now:
                _add(
                    self.received_at,
                    f"This is in the future: it is now {long_date(now.date())}, {now:%H:%M} ({self.timezone.data}). "
                    "Give the time the request actually arrived.",
                )
            elif received.date() < EARLIEST_RECEIPT:
                _add(self.received_at, f"Check the year: {long_date(received.date())} is before any request we hold.")
            elif received < now - timedelta(days=OLD_RECEIPT_DAYS) and not self.confirm_old_receipt.data:
                _add(
                    self.confirm_old_receipt,
                    f"It arrived on {long_date(received.date())}, more than {OLD_RECEIPT_DAYS} days ago. Check the "
                    "date, or tick this box if it really arrived then.",
                )
        due, valid_until, issued = self.due_on.data, self.valid_until.data, self.issued_on.data
        if due is not None and received_on is not None and due < received_on:
            _add(
                self.due_on,
                f"The due date ({long_date(due)}) is before the request arrived ({long_date(received_on)}). "
                "Correct one of them.",
            )
        if issued is not None and valid_until is not None and valid_until < issued:
            _add(
                self.valid_until,
                f"The process cannot expire ({long_date(valid_until)}) before it was issued ({long_date(issued)}). "
                "Correct one of them.",
            )
        if issued is not None and received_on is not None and issued > received_on:
            _add(
                self.issued_on,
                f"It cannot have been issued ({long_date(issued)}) after it arrived ({long_date(received_on)}). "
                "Correct one of them.",
            )
        if due is not None and valid_until is not None and due > valid_until and not self.confirm_due_after_expiry.data:
            _add(
                self.confirm_due_after_expiry,
                f"The due date ({long_date(due)}) is after the process expires ({long_date(valid_until)}). Check "
                "both dates, or tick this box if the document says so.",
            )
        if not self.target_row_indexes() and self.process_type.data in {p.value for p in PRESERVATION_PROCESSES}:
            _add(
                self.confirm_no_targets,
                "A preservation request must name what to preserve: add the accounts or identifiers it names.",
            )
        elif not self.target_row_indexes() and not self.confirm_no_targets.data:
            _add(
                self.confirm_no_targets,
                "No target is given. Add the accounts or identifiers the process names, or tick this box to log "
                "it without targets: the case then waits for the requester to name them.",
            )
        self._check_non_disclosure_order(received_on)

    def _check_non_disclosure_order(self, received_on: date | None) -> None:
        basis = (self.ndo_basis.data or "").strip()
        start, until, days = self.ndo_starts_on.data, self.ndo_until.data, self.ndo_days.data
        ends_given = [given for given in (until is not None, days is not None, bool(self.ndo_indefinite.data)) if given]
        if not basis:
            if start is not None or ends_given:
                _add(self.ndo_basis, "Give the order's basis (e.g. 18 USC 2705(b)), or clear its dates.")
            return
        if not ends_given:
            _add(
                self.ndo_until,
                "Say when the order ends: its end date, its length in days, or tick “The order is indefinite”.",
            )
        elif len(ends_given) > 1:
            _add(self.ndo_until, "Give only one of: the end date, the length in days, or “indefinite”.")
        if days is not None and not 1 <= days <= MAX_ORDER_DAYS:
            _add(self.ndo_days, f"Give the order's length as a whole number of days, from 1 to {MAX_ORDER_DAYS}.")
        begins = start or received_on
        if until is not None and begins is not None and until < begins:
            _add(
                self.ndo_until,
                f"The order cannot end ({long_date(until)}) before it starts ({long_date(begins)}). "
                "Correct one of them.",
            )

    def non_disclosure_until(self) -> date | None:
        """The order's end: the date given, or its start (else the day of receipt) plus its length in days."""
        if self.ndo_until.data is not None or self.ndo_days.data is None:
            return self.ndo_until.data
        received = self.received_local()
        begins = self.ndo_starts_on.data or (received.date() if received else None)
        return begins + timedelta(days=self.ndo_days.data) if begins is not None else None

    def error_summary(self) -> list[tuple[str, str, str]]:
        """Every error as (field id, field label, message), in the order the form shows its fields."""
        found: list[tuple[str, str, str]] = []
        for field in self:
            if field.name == "targets":
                for number, row in enumerate(field, start=1):
                    for sub in row.form:
                        found.extend((sub.id, f"Target {number}: {sub.label.text}", e) for e in sub.errors)
                continue
            if isinstance(field.errors, list):
                found.extend((field.id, field.label.text, message) for message in field.errors)
        return found

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

    def request_document(self) -> dict[str, Any]:
        """The request document (DESIGN's JSON shape) this form describes."""
        zone = ZoneInfo(self.timezone.data or "UTC")
        authority_particulars, particulars = self._particulars()
        received = self.received_at.data.replace(tzinfo=zone).astimezone(UTC) if self.received_at.data else None
        doc: dict[str, Any] = {
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
            "issued_on": self.issued_on.data.isoformat() if self.issued_on.data else None,
            "received_at": received.isoformat().replace("+00:00", "Z") if received else None,
            "received_via": self.received_via.data,
            "due_at": self.due_on.data.isoformat() if self.due_on.data else None,
            "emergency": bool(self.emergency.data),
            "valid_until": self.valid_until.data.isoformat() if self.valid_until.data else None,
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
        if (self.ndo_basis.data or "").strip():
            doc["non_disclosure_order"] = {
                "basis": self.ndo_basis.data.strip(),
                "from": self.ndo_starts_on.data.isoformat() if self.ndo_starts_on.data else None,
                "until": None if self.ndo_indefinite.data else _iso_or_none(self.non_disclosure_until()),
            }
        return doc

    def target_row_indexes(self) -> list[int]:
        """Form row index for each non-blank target, in document order (to place errors on the right row)."""
        return [index for index, row in enumerate(self.targets) if not row.form.is_blank]


def _add(field: Any, message: str) -> None:
    field.errors = [*field.errors, message]


def _iso_or_none(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


class EditCaseForm(FlaskForm):
    #: True for a voluntary disclosure, which may have no requesting officer (set by the view from the case).
    officer_optional = False

    version = HiddenField()
    authority_name = StringField("Issuer's name", validators=[InputRequired(), Length(max=300)])
    docket = StringField("Docket or case number", validators=[Optional(), Length(max=100)])
    officer_name = StringField("Officer", validators=[Length(max=200)])
    officer_badge = StringField("Badge", validators=[Optional(), Length(max=50)])
    officer_email = EmailField("Officer email", validators=[Optional(), Length(max=254)])
    officer_phone = StringField("Officer phone", validators=[Optional(), Length(max=50)])
    valid_until = DateField("Process valid until", validators=[Optional()])
    emergency = BooleanField("Emergency request")
    summary = TextAreaField("Notes", validators=[Optional(), Length(max=5000)])
    reason = TextAreaField(
        "Why are the facts corrected?",
        validators=[Optional(), Length(max=2000)],
        description="Needed when a fact changes (not for the notes alone); it goes into the audit log. Once the "
        "case is decided, a correction sends it back for a new review.",
    )
    submit = SubmitField("Save changes")

    def validate_officer_name(self, field: StringField) -> None:
        if not self.officer_optional and not (field.data or "").strip():
            raise ValidationError("Give the requesting officer's name (only a voluntary disclosure may have none).")


class ActionForm(FlaskForm):
    version = HiddenField()
    action = HiddenField()
    note = TextAreaField("Note (optional)", validators=[Optional(), Length(max=2000)])


class AssignForm(FlaskForm):
    version = HiddenField()
    assignee = SelectField("Assign to", coerce=str, validators=[Optional()])
    submit = SubmitField("Assign")


class BulkForm(FlaskForm):
    """Act on the cases ticked in the list (the `case` checkboxes): claim, assign or close each."""

    action = SelectField(
        "With the ticked cases",
        choices=[
            SelectChoice("claim", "Claim them for my review"),
            SelectChoice("assign", "Assign them to…"),
            SelectChoice("close", "Close them"),
        ],
        validators=[InputRequired("Choose what to do with the ticked cases.")],
    )
    assignee = SelectField("Assign to", coerce=str, validators=[Optional()])
    back = HiddenField()
    submit = SubmitField("Apply to the ticked cases")

    def validate(self, extra_validators: Any = None) -> bool:
        valid: bool = super().validate(extra_validators)
        if self.action.data == "assign" and not self.assignee.data:
            self.assignee.errors = [*self.assignee.errors, "Choose who to assign the ticked cases to."]
            return False
        return valid


class CommentForm(FlaskForm):
    body = TextAreaField(
        "Internal comment",
        validators=[InputRequired("Write the comment before you add it."), Length(max=4000)],
        description="Seen only by the team; never in letters, bundles or reports. A comment cannot be edited: "
        "correct it in a reply.",
    )
    reply_to = HiddenField()
    submit = SubmitField("Add comment")


class UploadForm(FlaskForm):
    kind = SelectField(
        "Document",
        choices=[SelectChoice("legal_process", "The legal process"), SelectChoice("correspondence", "Correspondence")],
    )
    file = FileField("File", description="PDF, PNG, JPEG, TIFF or plain text.")
    submit = SubmitField("Upload")


class GagOrderForm(FlaskForm):
    basis = StringField("Basis", validators=[InputRequired(), Length(max=200)], description="e.g. 18 USC 2705(b)")
    starts_on = DateField("Starts", validators=[InputRequired()])
    expires_on = DateField("Expires", validators=[Optional()])
    indefinite = BooleanField("Indefinite")
    submit = SubmitField("Record order")


class RenewGagOrderForm(FlaskForm):
    expires_on = DateField("New expiry", validators=[Optional()])
    indefinite = BooleanField("Now indefinite")
    submit = SubmitField("Record renewal")


class CaseFilterForm(FlaskForm):
    q = StringField(
        "Search",
        validators=[Optional(), Length(max=300)],
        description="Any part of a reference, docket, target, agency, officer or the notes (three letters or more)",
    )
    state = SelectField(
        "State",
        choices=[SelectChoice("", "Any state")] + [SelectChoice(s.value, s.label) for s in State],
        validators=[Optional()],
    )
    process_type = SelectField("Process", choices=choices(ProcessType, "Any process"), validators=[Optional()])
    agency = SelectField("Agency", coerce=str, validators=[Optional()])
    regime = SelectField("Jurisdiction", choices=choices(Regime, "Any jurisdiction"), validators=[Optional()])
    due_from = DateField("Due from", validators=[Optional(), date_in_range])
    due_to = DateField("Due to", validators=[Optional(), date_in_range])
    sort = SelectField(
        "Sort",
        choices=[
            SelectChoice("due", "Due date, soonest first"),
            SelectChoice("-due", "Due date, latest first"),
            SelectChoice("-received", "Newest received"),
            SelectChoice("received", "Oldest received"),
            SelectChoice("reference", "Reference"),
        ],
        default="due",
        validators=[Optional()],
    )
    page = IntegerField(default=1, validators=[Optional()])
