"""The two pages that state a request's facts: Log a request and Edit facts (disclosure.cases.views routes to them).

Both post back to themselves. "Add another target" (the page without script) shows the form again with one more
blank row and saves nothing. A complete form is parsed as a request document, as `flask cases import` parses one,
then logged or applied as a correction; every refusal is shown beside its field, with a summary at the top.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from disclosure import timezones
from disclosure.auth.access import client_ip
from disclosure.cases import queries, service
from disclosure.cases.agency_views import LOOKUP_PAGE_POLICY
from disclosure.cases.documents import type_note
from disclosure.cases.fact_forms import TIMEZONES
from disclosure.cases.forms import EditCaseForm, IntakeForm
from disclosure.cases.models import Case
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.policy.request import RequestError, parse_request
from disclosure.services import Stale
from disclosure.unit_of_work import REFUSALS, attempt, message_for
from disclosure.workflow import DECIDED_STATES, State


def posted_version(raw: str | None) -> int | None:
    """The case version a form was loaded at; anything else (a tampered form) matches no version."""
    return int(raw) if raw and raw.isdigit() else -1


def _with_agency_lookup(form: IntakeForm | EditCaseForm) -> None:
    """The agency name's type-ahead over the directory's names and aliases (static/js/agency-lookup.js)."""
    form.agency_name.render_kw = {
        **(form.agency_name.render_kw or {}),
        "autocomplete": "off",
        "data-agency-lookup": url_for("agencies.lookup"),
        "data-agency-country": form.agency_country.id,
    }


#: The look-up is a fetch to this site: the base policy plus connect-src 'self', on both pages' every answer.
LOOKUP_HEADERS = {"Content-Security-Policy": LOOKUP_PAGE_POLICY}


def intake_page() -> Any:
    form = IntakeForm()
    _with_agency_lookup(form)
    if request.method == "GET" and current_user.time_zone in TIMEZONES:
        form.timezone.data = current_user.time_zone  # deadlines are counted where the logger works, unless changed
    upload = form.legal_process.data
    attached = upload.filename if upload and upload.filename else None
    if form.add_target.data:
        form.add_target_row()
    elif form.validate_on_submit():
        try:
            with attempt():
                document = parse_request(form.request_document(), now=utcnow())
                case = service.log_request(
                    current_user,
                    document,
                    client_ip(),
                    summary=form.summary.data or "",
                    timezone=form.timezone.data or "UTC",
                )
                note = None
                if attached:
                    stored = service.add_document(
                        current_user, case, "legal_process", upload.read(), attached, client_ip()
                    )
                    note = type_note(attached, stored.content_type, stored.filename)
        except RequestError as error:
            form.place_request_error(error)
        except REFUSALS as error:
            form.form_errors.append(message_for(error))
        else:
            waiting = " It waits for the requester to name the targets." if not case.targets else ""
            due = timezones.text(case.due_at, current_user.time_zone)
            flash(f"Logged {case.reference}. Due {due}.{waiting}", "success")
            if note:
                flash(note, "info")
            return redirect(url_for("cases.show", reference=case.reference))
    elif request.method == "POST":
        form.check_with_parser(utcnow())
    if request.method == "POST" and attached and form.add_target.data:
        # Not a mistake: said beside the file box, and not in the summary of what needs attention.
        form.legal_process.description = (
            f"The file you chose ({attached}) was not kept when the row was added: choose it again before you log "
            "the request."
        )
    elif request.method == "POST" and attached:
        form.legal_process.errors = [
            *form.legal_process.errors,
            f"The file you chose ({attached}) was not kept, because the request was not logged: "
            "choose it again before you log the request.",
        ]
    status = 400 if request.method == "POST" and not form.add_target.data else 200
    return render_template("cases/new.html", form=form, agencies=queries.agencies()), status, LOOKUP_HEADERS


def edit_page(case: Case) -> Any:
    stated_due = service.stated_due(case)
    if request.method == "GET":
        form = EditCaseForm.for_case(case, stated_due)
    else:
        form = EditCaseForm()
        form.compare_with(case, stated_due)
    _with_agency_lookup(form)
    conflict = False
    if form.add_target.data:
        form.add_target_row()
    elif form.validate_on_submit():
        case_id, decided_before = case.id, case.status
        try:
            document = parse_request(form.request_document(), now=utcnow())
            changes = service.CaseChanges(
                request=document, timezone=form.timezone.data or "UTC", summary=form.summary.data or ""
            )
            with attempt():
                diff = service.update_case(
                    current_user, case, changes, posted_version(form.version.data), client_ip(), form.reason.data
                )
        except RequestError as error:
            form.place_request_error(error)
        except Stale as error:
            conflict = True
            form.form_errors.append(str(error))
            case = db.session.get(Case, case_id) or case
            form.version.data = str(case.version_id)  # saving again, after a look, applies the user's input
        except service.CaseError as error:
            _place_refusal(form, error)
        except REFUSALS as error:
            form.form_errors.append(message_for(error))
        else:
            flash(_saved(case, decided_before, diff), "success")
            return redirect(url_for("cases.show", reference=case.reference))
    elif request.method == "POST":
        form.check_with_parser(utcnow())
    status = 409 if conflict else (400 if request.method == "POST" and not form.add_target.data else 200)
    page = render_template("cases/edit.html", form=form, case=case, conflict=conflict, agencies=queries.agencies())
    return page, status, LOOKUP_HEADERS


def _saved(case: Case, before: State, diff: dict[str, Any]) -> str:
    """What the person is told once a correction is saved."""
    if not diff:
        return "Nothing changed."
    if before in DECIDED_STATES and case.status is State.IN_REVIEW:
        return f"Changes saved. {case.reference} is back in review: the decision on the old facts stays on record."
    if before is State.RECEIVED and case.status is State.NEEDS_INFO:
        return f"Changes saved. {case.reference} now waits for the requester to name the targets."
    if before is State.IN_REVIEW and set(diff) - {"summary"}:
        return (
            "Changes saved. The review under way reads the corrected facts; checklist answers and grounds given on "
            "the old ones were cleared."
        )
    return "Changes saved."


def _place_refusal(form: EditCaseForm, error: service.CaseError) -> None:
    """A refused correction beside the field it is about, else at the top of the form."""
    fields = {
        "reason": form.reason,
        "timezone": form.timezone,
        "process_type": form.process_type,
        "targets": form.confirm_no_targets,
    }
    field = fields.get(error.field or "")
    if field is None:
        form.form_errors.append(message_for(error))
    else:
        field.errors = [*field.errors, str(error)]
