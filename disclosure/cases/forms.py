"""Forms for the case pages: logging a request, correcting its facts, moving and assigning a case, comments,
documents, gag orders and the list's filters.

The intake form and Edit facts share their fields, their checks and the request document they describe
(disclosure.cases.fact_forms, disclosure.cases.fact_checks); each adds here what is its own: the gag order and the
file at intake, the reason and the version on Edit facts.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    Field,
    HiddenField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional

from disclosure.cases import fact_checks as checks
from disclosure.cases.fact_checks import MAX_ORDER_DAYS
from disclosure.cases.fact_forms import (
    BLANK_ROWS,
    TARGET_ROWS,
    TIMEZONES,
    CaseFactsForm,
    MultiCheckboxField,
    TargetForm,
    choices,
    iso_or_none,
)
from disclosure.cases.models import Case
from disclosure.policy.request import AGREEMENT_PROCESSES, MAX_PENALTY_YEARS
from disclosure.policy.vocabulary import ProcessType, Regime
from disclosure.routing import date_in_range
from disclosure.workflow import State

__all__ = [
    "AGREEMENT_PROCESSES",
    "MAX_PENALTY_YEARS",
    "MultiCheckboxField",
    "TargetForm",
]


NOTES_HELP = (
    "Anything about the request the fields above cannot hold, e.g. what the officer said on the telephone; shown on "
    "the case page and in its dossier, never in a letter."
)


class IntakeForm(CaseFactsForm):
    """Log a request: its facts, its gag order, its document and notes."""

    multipart = True

    ndo_basis = StringField(
        "Non-disclosure order: basis",
        validators=[Optional(), Length(max=200)],
        description="e.g. 18 USC 2705(b). Leave empty if there is none.",
    )
    ndo_starts_on = DateField(
        "Order starts",
        validators=[Optional()],
        description="As written on the order; leave empty if it runs from the day the request arrived.",
    )
    ndo_until = DateField(
        "Order expires",
        validators=[Optional()],
        description="The last day the order forbids telling the customer. Give this date, its length in days, or "
        "tick that it is indefinite: one of the three.",
    )
    ndo_days = IntegerField(
        "Or its length in days",
        validators=[Optional()],
        invalid_value_message=f"Give the order's length as a whole number of days, from 1 to {MAX_ORDER_DAYS}.",
        description="e.g. 180 for “180 days”: the end is counted from the day it starts (or from receipt).",
        render_kw={"min": 1, "max": MAX_ORDER_DAYS, "inputmode": "numeric"},
    )
    ndo_indefinite = BooleanField(
        "The order is indefinite",
        description="Tick only when the order sets no end date; the customer is then not told until a renewal "
        "records an end.",
    )
    summary = TextAreaField("Notes", validators=[Optional(), Length(max=5000)], description=NOTES_HELP)
    legal_process = FileField(
        "The legal process (PDF or scan)",
        description="The warrant, order or letter itself (PDF, PNG, JPEG or TIFF); it is stored encrypted, and the "
        "reviewer checks it element by element.",
    )
    submit = SubmitField("Log request")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        while len(self.targets) < TARGET_ROWS:
            self.targets.append_entry()

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        checks.check_non_disclosure_order(self)
        return valid and self.clean()

    def order_dates(self) -> dict[str, date | None]:
        if not (self.ndo_basis.data or "").strip():
            return {}
        return {"order_starts_on": self.ndo_starts_on.data, "order_until": self.ndo_until.data}

    def field_for(self, path: str) -> Field | None:
        return {
            "non_disclosure_order.basis": self.ndo_basis,
            "non_disclosure_order.until": self.ndo_until,
            "non_disclosure_order.from": self.ndo_starts_on,
        }.get(path) or super().field_for(path)

    def non_disclosure_until(self) -> date | None:
        """The order's end: the date given, or its start (else the day of receipt) plus its length in days."""
        if self.ndo_until.data is not None or self.ndo_days.data is None:
            return self.ndo_until.data
        received = self.received_local()
        begins = self.ndo_starts_on.data or (received.date() if received else None)
        return begins + timedelta(days=self.ndo_days.data) if begins is not None else None

    def request_document(self) -> dict[str, Any]:
        doc = super().request_document()
        if (self.ndo_basis.data or "").strip():
            doc["non_disclosure_order"] = {
                "basis": self.ndo_basis.data.strip(),
                "from": iso_or_none(self.ndo_starts_on.data),
                "until": None if self.ndo_indefinite.data else iso_or_none(self.non_disclosure_until()),
            }
        return doc


class EditCaseForm(CaseFactsForm):
    """Edit facts: every fact intake records (the gag order has its own forms on the case page), with a reason.

    `compare_with(case)` tells the form what the case says now, so that a tick is asked only for an unusual fact
    the correction changes, and a receipt time left as shown keeps its seconds.
    """

    without_targets = "save it"

    version = HiddenField()
    confirm_no_targets = BooleanField(
        "Save it without targets and ask the requester for them",
        description="The case then waits for the requester to name the accounts; it cannot be reviewed until they do.",
    )
    summary = TextAreaField("Notes", validators=[Optional(), Length(max=5000)], description=NOTES_HELP)
    reason = TextAreaField(
        "Why are the facts corrected?",
        validators=[Optional(), Length(max=2000)],
        description="Needed when a fact changes (not for the notes alone); it goes into the audit log. Once the "
        "case is decided, a correction sends it back for a new review.",
    )
    submit = SubmitField("Save changes")

    _before: dict[str, Any] | None = None

    @classmethod
    def for_case(cls, case: Case, stated_due: date | None) -> EditCaseForm:
        """The form filled in with the case's facts as they stand, with BLANK_ROWS empty target rows."""
        zone = ZoneInfo(case.timezone)
        extra = case.further_particulars
        validated, offence = extra.validated_by, extra.offence
        data: dict[str, Any] = {
            "version": str(case.version_id),
            "process_type": case.process_type,
            "regime": case.regime,
            "country": case.country,
            "region": case.region or "",
            "authority_kind": case.authority_kind,
            "authority_name": case.authority_name,
            "docket": case.docket or "",
            "agency_name": case.agency.name,
            "agency_country": case.agency.country,
            "officer_name": case.officer_name or "",
            "officer_badge": case.officer_badge or "",
            "officer_email": case.officer_email or "",
            "officer_phone": case.officer_phone or "",
            "received_at": case.received_at.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0),
            "timezone": case.timezone,
            "received_via": case.received_via,
            "due_on": stated_due,
            "emergency": case.emergency,
            "issued_on": case.issued_on,
            "valid_until": case.valid_until,
            "targets": [
                {"kind": t.kind, "value": t.value, "date_from": t.date_from or "", "date_to": t.date_to or ""}
                for t in case.targets
            ],
            "categories": [c.value for c in case.categories],
            "validator_kind": validated.kind.value if validated else "",
            "validator_name": validated.name if validated else "",
            "official_level": extra.official_level.value if extra.official_level else "",
            "offence_description": offence.description if offence else "",
            "offence_penalty": offence.max_penalty_years if offence else None,
            "offence_listed": offence.listed.value if offence and offence.listed else "",
            "voluntary_basis": extra.voluntary_basis.value if extra.voluntary_basis else "",
            "agreement": extra.agreement.value if extra.agreement else "",
            "summary": case.summary,
        }
        form = cls(formdata=None, data=data)
        form.compare_with(case, stated_due)
        form.pad_target_rows(BLANK_ROWS)
        return form

    def compare_with(self, case: Case, stated_due: date | None) -> None:
        """Remember the case's facts as they stand (and offer its time zone, if it is not in the usual list)."""
        if case.timezone not in TIMEZONES:
            self.timezone.choices = [*(SelectChoice(z) for z in TIMEZONES), SelectChoice(case.timezone)]
        self._before = {
            "received_at": case.received_at,
            "due_on": stated_due,
            "valid_until": case.valid_until,
            "targets": bool(case.targets),
        }

    def asks_to_confirm(self, fact: str) -> bool:
        before = self._before
        if before is None:
            return True
        if fact == checks.OLD_RECEIPT:
            return not self._receipt_unchanged()
        if fact == checks.DUE_AFTER_EXPIRY:
            return (self.due_on.data, self.valid_until.data) != (before["due_on"], before["valid_until"])
        return bool(before["targets"])  # NO_TARGETS: only when the correction removes every target

    def _receipt_unchanged(self) -> bool:
        received, before = self.received_local(), (self._before or {}).get("received_at")
        if received is None or before is None:
            return False
        return received == before.replace(second=0, microsecond=0)

    def _received_iso(self) -> str | None:
        # The form shows minutes: a receipt left as shown keeps the seconds it was logged with.
        before = (self._before or {}).get("received_at")
        if before is not None and self._receipt_unchanged():
            return str(before.astimezone(ZoneInfo(self.timezone.data or "UTC")).isoformat())
        return super()._received_iso()


class ActionForm(FlaskForm):
    version = HiddenField()
    action = HiddenField()
    note = TextAreaField(
        "Note (optional)",
        validators=[Optional(), Length(max=2000)],
        description="Why you take this step, if the next person needs to know; it is kept with the step in the "
        "audit log.",
    )


class AssignForm(FlaskForm):
    version = HiddenField()
    assignee = SelectField(
        "Assign to",
        coerce=str,
        validators=[Optional()],
        description="The reviewer who should decide this case; whoever logged it is not offered (four eyes).",
    )
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
        description="Claim, assign or close every case ticked below.",
    )
    assignee = SelectField(
        "Assign to",
        coerce=str,
        validators=[Optional()],
        description="Only when assigning; never whoever logged a case.",
    )
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
        description="The process itself, or correspondence about it (a cover letter, emails with the officer).",
    )
    file = FileField("File", description="PDF, PNG, JPEG, TIFF or plain text.")
    submit = SubmitField("Upload")


class GagOrderForm(FlaskForm):
    basis = StringField(
        "Basis",
        validators=[InputRequired(), Length(max=200)],
        description="The law the order is made under, e.g. 18 USC 2705(b); while it runs, the customer must not be "
        "told of the request.",
    )
    starts_on = DateField(
        "Starts", validators=[InputRequired()], description="The day the order takes effect, as written on it."
    )
    expires_on = DateField(
        "Expires",
        validators=[Optional()],
        description="The last day the order forbids telling the customer; after it, the case asks for the customer "
        "to be notified. Leave it empty only for an indefinite order.",
    )
    indefinite = BooleanField(
        "Indefinite",
        description="Tick when the order sets no end date; the customer is then not told until a renewal records "
        "an end.",
    )
    submit = SubmitField("Record order")

    def validate(self, extra_validators: Any = None) -> bool:
        """The fields' own checks, then the end against the rest (Optional() ends a blank date's own checks)."""
        valid: bool = super().validate(extra_validators)
        end, start = self.expires_on.data, self.starts_on.data
        problem = None
        if end is None and not self.indefinite.data and not self.expires_on.errors:
            # Issue 16: an order with a basis and no end was stored as indefinite without anyone saying so.
            problem = "Give the day the order ends, or tick “Indefinite” if it sets no end date."
        elif end is not None and self.indefinite.data:
            problem = "Give an end date or tick “Indefinite”, not both."
        elif end is not None and start is not None and end < start:
            problem = "The order cannot end before it starts: check both dates."
        if problem:
            self.expires_on.errors = [*self.expires_on.errors, problem]
        return valid and problem is None


class RenewGagOrderForm(FlaskForm):
    expires_on = DateField(
        "New expiry",
        validators=[Optional()],
        description="The new last day from the renewing order; it must be later than the current expiry.",
    )
    indefinite = BooleanField("Now indefinite", description="Tick when the renewing order sets no end date.")
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
