"""Forms for logging a request, editing a case, moving it, attaching documents and gag orders, and filtering lists.

The intake form is turned into the JSON request document and validated by disclosure.policy.request, the same
path `flask cases import` takes, so the form and the import can never disagree on what is valid.
"""

from __future__ import annotations

from datetime import UTC
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
from wtforms.validators import DataRequired, InputRequired, Length, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from disclosure.policy.vocabulary import AuthorityKind, Category, ProcessType, ReceivedVia, Regime, TargetKind
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
    authority_name = StringField("Judge, court or prosecutor", validators=[InputRequired(), Length(max=300)])
    docket = StringField("Docket or case number", validators=[Optional(), Length(max=100)])
    agency_name = StringField(
        "Requesting agency", validators=[InputRequired(), Length(max=200)], render_kw={"list": "agency-names"}
    )
    agency_country = StringField(
        "Agency country (two letters)",
        validators=[InputRequired(), Regexp(r"^[A-Za-z]{2}$", message="Use the two-letter country code, e.g. US.")],
    )
    officer_name = StringField("Officer", validators=[InputRequired(), Length(max=200)])
    officer_badge = StringField("Badge", validators=[Optional(), Length(max=50)])
    officer_email = EmailField("Officer email", validators=[Optional(), Length(max=254)])
    officer_phone = StringField("Officer phone", validators=[Optional(), Length(max=50)])
    received_at = DateTimeLocalField(
        "Received",
        format="%Y-%m-%dT%H:%M",
        validators=[DataRequired("Enter when the request reached us.")],
        description="For paper and fax, the time stamped on arrival.",
    )
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
    emergency = BooleanField("Emergency request")
    issued_on = DateField("Issued on", validators=[Optional()])
    valid_until = DateField("Process valid until", validators=[Optional()])
    targets = FieldList(FormField(TargetForm), min_entries=TARGET_ROWS, max_entries=20)
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
    ndo_indefinite = BooleanField("The order is indefinite")
    summary = TextAreaField("Notes", validators=[Optional(), Length(max=5000)])
    legal_process = FileField("The legal process (PDF or scan)")
    submit = SubmitField("Log request")

    def request_document(self) -> dict[str, Any]:
        """The request document (DESIGN's JSON shape) this form describes."""
        zone = ZoneInfo(self.timezone.data or "UTC")
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
            },
            "agency": {"name": self.agency_name.data, "country": (self.agency_country.data or "").upper()},
            "officer": {
                "name": self.officer_name.data,
                "email": self.officer_email.data or None,
                "phone": self.officer_phone.data or None,
                "badge": self.officer_badge.data or None,
            },
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
        }
        if (self.ndo_basis.data or "").strip():
            doc["non_disclosure_order"] = {
                "basis": self.ndo_basis.data.strip(),
                "from": self.ndo_starts_on.data.isoformat() if self.ndo_starts_on.data else None,
                "until": None
                if self.ndo_indefinite.data or not self.ndo_until.data
                else self.ndo_until.data.isoformat(),
            }
        return doc

    def target_row_indexes(self) -> list[int]:
        """Form row index for each non-blank target, in document order (to place errors on the right row)."""
        return [index for index, row in enumerate(self.targets) if not row.form.is_blank]


class EditCaseForm(FlaskForm):
    version = HiddenField()
    authority_name = StringField("Judge, court or prosecutor", validators=[InputRequired(), Length(max=300)])
    docket = StringField("Docket or case number", validators=[Optional(), Length(max=100)])
    officer_name = StringField("Officer", validators=[InputRequired(), Length(max=200)])
    officer_badge = StringField("Badge", validators=[Optional(), Length(max=50)])
    officer_email = EmailField("Officer email", validators=[Optional(), Length(max=254)])
    officer_phone = StringField("Officer phone", validators=[Optional(), Length(max=50)])
    valid_until = DateField("Process valid until", validators=[Optional()])
    emergency = BooleanField("Emergency request")
    summary = TextAreaField("Notes", validators=[Optional(), Length(max=5000)])
    submit = SubmitField("Save changes")


class ActionForm(FlaskForm):
    version = HiddenField()
    action = HiddenField()
    note = TextAreaField("Note (optional)", validators=[Optional(), Length(max=2000)])


class AssignForm(FlaskForm):
    version = HiddenField()
    assignee = SelectField("Assign to", coerce=str, validators=[Optional()])
    submit = SubmitField("Assign")


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
        description="Reference, docket, or an exact target identifier",
    )
    state = SelectField(
        "State",
        choices=[SelectChoice("", "Any state")] + [SelectChoice(s.value, s.label) for s in State],
        validators=[Optional()],
    )
    process_type = SelectField("Process", choices=choices(ProcessType, "Any process"), validators=[Optional()])
    agency = SelectField("Agency", coerce=str, validators=[Optional()])
    regime = SelectField("Jurisdiction", choices=choices(Regime, "Any jurisdiction"), validators=[Optional()])
    due_from = DateField("Due from", validators=[Optional()])
    due_to = DateField("Due to", validators=[Optional()])
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
