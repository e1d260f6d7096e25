"""The review page (engine findings beside the case, checklist, grounds, decision) and policy versions."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from disclosure.auth.access import client_ip, requires
from disclosure.auth.pending import request_policy_version
from disclosure.cases.views import case_or_404
from disclosure.extensions import db
from disclosure.permissions import Permission
from disclosure.policy.vocabulary import Verdict
from disclosure.review import letters, service
from disclosure.review.forms import PolicyUploadForm, ReviewForm, marked, stored_review_form
from disclosure.review.models import Decision, PolicyVersion
from disclosure.review.policy_versions import current_version, policy_of
from disclosure.unit_of_work import REFUSALS, attempt, message_for, status_for

bp = Blueprint("review", __name__)


def _version(raw: str | None) -> int:
    """A posted version number; anything else (a tampered form) matches no version."""
    return int(raw) if raw is not None and raw.isdigit() else -1


@bp.route("/cases/<reference>/review", methods=["GET", "POST"])
@requires(Permission.REVIEW_DECIDE)
def review(reference: str) -> Any:
    case = case_or_404(reference)
    current = service.open_review(case)
    errors: list[str] = []
    status = 200
    form: ReviewForm | None = None
    if current is not None:
        evaluation = service.evaluation_for(current)
        form = ReviewForm() if request.method == "POST" else stored_review_form(current, evaluation)
        form.fit(case, policy_of(current.policy_version))
        if request.method == "POST" and not form.rows_match(evaluation, case):
            errors.append("The review's checklist or the case changed since this page was loaded; check it below.")
            form, status = stored_review_form(current, evaluation), 409
            form.fit(case, policy_of(current.policy_version))
        elif form.validate_on_submit():
            answers, cited = form.worksheet()
            version = int(form.version.data) if (form.version.data or "").isdigit() else -1
            try:
                with attempt():
                    service.save_worksheet(
                        current_user, current, answers, cited, form.counsel_note.data or "", version, client_ip()
                    )
                    if form.decide.data:
                        result = service.decide(
                            current_user,
                            current,
                            form.outcome.data or "",
                            password=form.password.data or "",
                            ip=client_ip(),
                            scope=form.scope_entries(),
                            reason_codes=form.reason.data or [],
                            text=form.decision_text(),
                            requester_message=form.requester_message.data or "",
                            case_version=_version(form.case_version.data),
                        )
                        if isinstance(result, Decision):
                            letters.create_letter(current_user, result, client_ip())
            except service.StepUpFailed as error:
                # The failed attempt is on record (the unit of work keeps it); nothing else changed.
                errors.append(str(error))
                status = 403
            except service.ReviewError as error:
                # Beside the field it is about, where it has one (the note of what was searched, say).
                if not form.place_refusal(error.field, str(error)):
                    errors.append(str(error))
                status = status_for(error)
            except REFUSALS as error:
                errors.append(message_for(error))
                status = status_for(error)
            else:
                if form.decide.data:
                    flash(
                        "Decision recorded and the response letter stored with the case."
                        if case.status.value != "in_review"
                        else "Your approval is recorded; a second reviewer must approve too.",
                        "success",
                    )
                    return redirect(url_for("cases.show", reference=reference))
                flash("Worksheet saved.", "success")
                return redirect(url_for("review.review", reference=reference))
            case = case_or_404(reference)
            current = service.open_review(case)
        elif request.method == "POST":
            status = 400
            if form.csrf_token.errors:
                errors.append("The form could not be read; reload the page and try again.")
    elif request.method == "POST":
        errors.append("The form could not be read; reload the page and try again.")
        status = 400
    if form is not None and current is not None:
        # Always the version on file: after a "changed by someone else" refusal, saving the kept input again
        # applies it on top of the other person's change.
        form.version.data = str(current.version_id)
        if not form.case_version.data or status == 409:
            form.case_version.data = str(case.version_id)
    return render_template(
        "review/review.html",
        case=case,
        review=current,
        form=form,
        errors=errors,
        evaluation=service.evaluation_for(current) if current else None,
        decisions=service.decisions_of(case),
        Verdict=Verdict,
        marked=marked,
    ), status


@bp.route("/cases/<reference>/review/letter-preview", methods=["POST"])
@requires(Permission.REVIEW_DECIDE)
def letter_preview(reference: str) -> Any:
    """The letter the decision on the form would produce, as HTML in its own sandboxed page; records nothing."""
    case = case_or_404(reference)
    current = service.open_review(case)
    form = ReviewForm()
    if current is not None:
        form.fit(case, policy_of(current.policy_version))
    if current is None or not form.validate_on_submit():
        abort(400, description="The form could not be read; reload the review page and try again.")
    evaluation = service.evaluation_for(current)
    try:
        content = letters.preview_content(
            current_user,
            case,
            form.outcome.data or "",
            form.scope_entries(),
            form.reason.data or [],
            form.requester_message.data or "",
            current.policy_version.sha256,
            {f.category.value: f.as_json() for f in evaluation.categories},
        )
    except ValueError:
        abort(400, description="Choose an outcome to preview its letter.")
    except REFUSALS as error:
        abort(status_for(error), description=message_for(error))
    response = make_response(letters.letter_html(content, preview=True))
    # The letter's own inline style and its embedded logo, nothing else; no script, no form, no navigation.
    response.headers["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/policy", methods=["GET"])
@requires(Permission.POLICY_VIEW)
def policy_versions() -> Any:
    return _policy_page(PolicyUploadForm())


def _policy_page(form: PolicyUploadForm, errors: str | None = None, status: int = 200) -> Any:
    """The policy in force, its versions, and (for administrators) the upload form, with its errors if any."""
    current = current_version()
    versions = db.session.execute(select(PolicyVersion).order_by(PolicyVersion.id.desc())).scalars().all()
    return render_template(
        "review/policy.html", versions=versions, form=form, errors=errors, policy=policy_of(current)
    ), status


@bp.route("/policy", methods=["POST"])
@requires(Permission.POLICY_MANAGE)
def upload_policy() -> Any:
    form = PolicyUploadForm()
    errors = None
    if form.validate_on_submit() and form.file.data and form.file.data.filename:
        try:
            with attempt():
                change = request_policy_version(
                    current_user, form.file.data.read(), form.file.data.filename, client_ip()
                )
        except REFUSALS as error:
            errors = message_for(error)
        else:
            flash(
                f"Policy {change.params['label']} is waiting for a second administrator's approval (Pending changes); "
                "once approved it applies to reviews started from then on.",
                "success",
            )
            return redirect(url_for("review.policy_versions"))
    else:
        errors = "Choose the policy file to upload."
    return _policy_page(form, errors, 400)
