"""The checks a request's facts must pass, on the intake form and on Edit facts alike.

Logging a request and correcting it refuse the same impossibilities in the same words, because both forms call the
functions here: facts that cannot be true are refused beside their field (a due date before receipt, an expiry before
issue); facts that are possible but unusual need a tick (an old receipt, a due date after expiry, no targets). A
correction asks for a tick only when it changes the fact concerned (`form.asks_to_confirm`), so that fixing a typo in
a docket does not ask again about a receipt confirmed at intake.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, TypeAlias

from wtforms import Field
from wtforms.validators import ValidationError

from disclosure.cases.models import PRESERVATION_PROCESSES
from disclosure.clock import utcnow
from disclosure.policy.request import AGREEMENT_PROCESSES, MAX_PENALTY_YEARS
from disclosure.policy.request_facts import EARLIEST_RECEIPT, future_receipt, impossible_facts, long_date
from disclosure.policy.vocabulary import ProcessType

#: The forms these checks read: intake's and Edit facts' (disclosure.cases.fact_forms.CaseFactsForm and its
#: subclasses, whose fields are declared there). Only named here: the forms import this module, and an import back,
#: even for type checking alone, would make the three modules one knot (tests/test_import_graph.py).
CaseFactsForm: TypeAlias = Any
IntakeForm: TypeAlias = Any

#: A receipt older than this is possible (a backlog being entered) but must be confirmed.
OLD_RECEIPT_DAYS = 90
#: The longest non-disclosure order we accept as a number of days (ten years).
MAX_ORDER_DAYS = 3650
#: The most targets one case takes from a form (a longer list is a file for `flask cases import`).
MAX_TARGETS = 200
PENALTY_MESSAGE = (
    f"Give the maximum penalty as a whole number of years from 0 to {MAX_PENALTY_YEARS} ({MAX_PENALTY_YEARS} for life)."
)

#: The unusual facts a person confirms with a tick (the names `CaseFactsForm.asks_to_confirm` takes).
OLD_RECEIPT, DUE_AFTER_EXPIRY, NO_TARGETS = "old_receipt", "due_after_expiry", "no_targets"


def add_error(field: Field, message: str) -> None:
    field.errors = [*field.errors, message]


def process_label(form: CaseFactsForm) -> str:
    try:
        return f"“{ProcessType(form.process_type.data).label}”"
    except ValueError:
        return "this kind of process"


# --- one field against the others (the forms' validate_<field> methods call these) ---------------------------


def check_officer_name(form: CaseFactsForm, field: Field) -> None:
    if (field.data or "").strip():
        return
    if not form.is_voluntary:
        raise ValidationError("Give the requesting officer's name (only a voluntary disclosure may have none).")
    if any((f.data or "").strip() for f in (form.officer_badge, form.officer_email, form.officer_phone)):
        raise ValidationError("Give the officer's name too, or clear their badge, email and phone.")


def check_validator_kind(form: CaseFactsForm, field: Field) -> None:
    if not field.data and (form.validator_name.data or "").strip():
        raise ValidationError("Choose who validated the order, or clear the validator's name.")


def check_validator_name(form: CaseFactsForm, field: Field) -> None:
    if form.validator_kind.data and not (field.data or "").strip():
        raise ValidationError("Give the name of the judge, court or other authority that validated the order.")


def check_offence_description(form: CaseFactsForm, field: Field) -> None:
    penalty_typed = bool((form.offence_penalty.raw_data or [""])[0].strip())
    if not (field.data or "").strip() and (penalty_typed or form.offence_listed.data):
        raise ValidationError("Describe the offence as the order states it, or clear its penalty and listing.")


def check_offence_penalty(_form: CaseFactsForm, field: Field) -> None:
    if field.data is not None and not 0 <= field.data <= MAX_PENALTY_YEARS:
        raise ValidationError(PENALTY_MESSAGE)


def check_voluntary_basis(form: CaseFactsForm, field: Field) -> None:
    if form.is_voluntary and not field.data:
        raise ValidationError("Choose why we disclose: a voluntary disclosure needs a basis.")
    if field.data and not form.is_voluntary:
        raise ValidationError(
            f"Only a voluntary disclosure has a basis; clear it for {process_label(form)}, or choose "
            "“Voluntary disclosure” as the kind of process."
        )


def check_agreement(form: CaseFactsForm, field: Field) -> None:
    if field.data and form.process_type.data not in AGREEMENT_PROCESSES:
        raise ValidationError(
            f"{process_label(form)} cannot invoke an executive agreement; clear it, or choose the kind of "
            "process the agreement is used for."
        )


# --- the facts against each other ----------------------------------------------------------------------------


def check_facts(form: CaseFactsForm) -> None:
    """Refuse facts that cannot be true (disclosure.policy.request_facts, which the request parser applies too);
    ask for a tick on facts that are possible but unusual."""
    received = form.received_local()
    received_on = received.date() if received else None
    if received is not None:
        now = utcnow().astimezone(received.tzinfo)
        future = future_receipt(received, now, form.timezone.data or "UTC")
        if future is not None:
            add_error(form.received_at, future.message)
        elif (
            received.date() >= EARLIEST_RECEIPT
            and received < now - timedelta(days=OLD_RECEIPT_DAYS)
            and form.asks_to_confirm(OLD_RECEIPT)
            and not form.confirm_old_receipt.data
        ):
            add_error(
                form.confirm_old_receipt,
                f"It arrived on {long_date(received.date())}, more than {OLD_RECEIPT_DAYS} days ago. Check the "
                "date, or tick this box if it really arrived then.",
            )
    impossible = impossible_facts(
        received_on=received_on,
        due_on=form.due_on.data,
        issued_on=form.issued_on.data,
        valid_until=form.valid_until.data,
        **form.order_dates(),
    )
    for fact in impossible:
        add_error(form.field_for(fact.field) or form.received_at, fact.message)
    due, valid_until = form.due_on.data, form.valid_until.data
    if (
        due is not None
        and valid_until is not None
        and due > valid_until
        and form.asks_to_confirm(DUE_AFTER_EXPIRY)
        and not form.confirm_due_after_expiry.data
    ):
        add_error(
            form.confirm_due_after_expiry,
            f"The due date ({long_date(due)}) is after the process expires ({long_date(valid_until)}). Check "
            "both dates, or tick this box if the document says so.",
        )
    _check_targets(form)


def _check_targets(form: CaseFactsForm) -> None:
    for row in form.targets:
        kind, value = row.form.kind, row.form.value
        if row.form.is_blank:
            if (row.form.date_from.data or "").strip() or (row.form.date_to.data or "").strip():
                add_error(value, "Give the identifier these dates are for, or clear them.")
        elif not kind.data:
            add_error(kind, "Choose what kind of identifier this is (email address, IP address, …).")
        elif not (value.data or "").strip():
            add_error(value, "Give the identifier, or set the row's kind back to “—”.")
    given = len(form.target_row_indexes())
    if given > form.max_target_rows():
        add_error(form.add_target, too_many_targets(form, given))
    if not given and form.process_type.data in {p.value for p in PRESERVATION_PROCESSES}:
        add_error(
            form.confirm_no_targets,
            "A preservation request must name what to preserve: add the accounts or identifiers it names.",
        )
    elif not given and form.asks_to_confirm(NO_TARGETS) and not form.confirm_no_targets.data:
        add_error(
            form.confirm_no_targets,
            "No target is given. Add the accounts or identifiers the process names, or tick this box to "
            f"{form.without_targets} without targets: the case then waits for the requester to name them.",
        )


def too_many_targets(form: CaseFactsForm, given: int | None = None) -> str:
    """What a person is told when a form has reached its most target rows, and where the rest can go."""
    limit = form.max_target_rows()
    count = f" (there are {given})" if given is not None else ""
    if limit < MAX_TARGETS:
        more = (
            f"Log the request with these and add the rest on its Edit facts page (up to {MAX_TARGETS}), or import "
            "a longer list from a file with `flask cases import`."
        )
    else:
        more = (
            "A longer list is imported from a file (`flask cases import` takes any number): attach the list to the "
            "case and ask an administrator."
        )
    return f"This form takes at most {limit} targets{count}. {more}"


def check_non_disclosure_order(form: IntakeForm) -> None:
    """The gag order's basis and end, given on the intake form: an end is stated one way, never two (an end before
    its start is among the impossible facts)."""
    basis = (form.ndo_basis.data or "").strip()
    start, until, days = form.ndo_starts_on.data, form.ndo_until.data, form.ndo_days.data
    ends_given = [given for given in (until is not None, days is not None, bool(form.ndo_indefinite.data)) if given]
    if not basis:
        if start is not None or ends_given:
            add_error(form.ndo_basis, "Give the order's basis (e.g. 18 USC 2705(b)), or clear its dates.")
        return
    if not ends_given:
        add_error(
            form.ndo_until,
            "Say when the order ends: its end date, its length in days, or tick “The order is indefinite”.",
        )
    elif len(ends_given) > 1:
        add_error(form.ndo_until, "Give only one of: the end date, the length in days, or “indefinite”.")
    if days is not None and not 1 <= days <= MAX_ORDER_DAYS:
        add_error(form.ndo_days, f"Give the order's length as a whole number of days, from 1 to {MAX_ORDER_DAYS}.")
