"""The review page (engine findings beside the case, checklist, grounds, decision) and policy versions."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from wtforms import HiddenField, PasswordField, SubmitField

from disclosure.auth.access import client_ip, requires
from disclosure.cases.models import Case
from disclosure.cases.service import CaseError, StaleCase
from disclosure.extensions import db
from disclosure.permissions import Permission
from disclosure.policy.scope import ScopeError
from disclosure.policy.vocabulary import Category, Ground, Verdict
from disclosure.review import letters, service
from disclosure.review.models import Decision, PolicyVersion
from disclosure.review.policy_versions import PolicyUploadError, current_version, policy_of, upload_version

bp = Blueprint("review", __name__)


class ReviewForm(FlaskForm):
    """The fixed part of the review form; checklist, grounds and scope fields are named per item."""

    version = HiddenField()
    password = PasswordField("Your password, to confirm the decision")
    save = SubmitField("Save worksheet")
    decide = SubmitField("Record decision")


class PolicyUploadForm(FlaskForm):
    file = FileField("Policy file (TOML)")
    submit = SubmitField("Upload new version")


def _case_or_404(reference: str) -> Case:
    return db.session.execute(select(Case).where(Case.reference == reference)).scalar_one_or_none() or abort(404)


def _worksheet_from(
    form: Any, evaluation: Any, case: Case
) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, Any]]]:
    answers = {
        item.id: {"answer": form.get(f"check-{item.id}", ""), "note": form.get(f"note-{item.id}", "")}
        for item in evaluation.checklist
    }
    cited = {
        category.value: {
            "grounds": [g for g in form.getlist(f"ground-{category.value}") if g in Ground._value2member_map_],
            "reason": form.get(f"reason-{category.value}", ""),
        }
        for category in case.categories
    }
    return answers, cited


def _scope_from(form: Any, case: Case) -> list[service.ScopeEntry]:
    return [
        service.ScopeEntry(
            target.kind,
            target.value,
            tuple(c.value for c in case.categories if form.get(f"scope-{index}-{c.value}")),
            form.get(f"from-{index}", "").strip() or None,
            form.get(f"to-{index}", "").strip() or None,
        )
        for index, target in enumerate(case.targets)
    ]


@bp.route("/cases/<reference>/review", methods=["GET", "POST"])
@requires(Permission.REVIEW_DECIDE)
def review(reference: str) -> Any:
    case = _case_or_404(reference)
    current = service.open_review(case)
    form = ReviewForm()
    errors: list[str] = []
    status = 200
    if current is not None and form.validate_on_submit():
        evaluation = service.evaluation_for(current)
        answers, cited = _worksheet_from(request.form, evaluation, case)
        version = int(form.version.data) if (form.version.data or "").isdigit() else -1
        try:
            service.save_worksheet(
                current_user, current, answers, cited, request.form.get("counsel_note", ""), version, client_ip()
            )
            if form.decide.data:
                outcome = request.form.get("outcome", "")
                result = service.decide(
                    current_user,
                    current,
                    outcome,
                    password=form.password.data or "",
                    ip=client_ip(),
                    scope=_scope_from(request.form, case),
                    reason_codes=request.form.getlist("reason"),
                    text=request.form.get("text", ""),
                )
                if isinstance(result, Decision):
                    letters.create_letter(current_user, result, client_ip())
        except service.StepUpFailed as error:
            db.session.commit()  # keep the failed attempt on record; nothing else was changed
            errors.append(str(error))
            status = 403
        except StaleCase as error:
            db.session.rollback()
            errors.append(str(error))
            status = 409
        except (CaseError, ScopeError) as error:
            db.session.rollback()
            errors.append(str(error) if isinstance(error, CaseError) else f"Cannot approve: {error}.")
            status = 400
        else:
            db.session.commit()
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
        case = _case_or_404(reference)
        current = service.open_review(case)
    elif request.method == "POST":
        errors.append("The form could not be read; reload the page and try again.")
        status = 400
    return render_template(
        "review/review.html",
        case=case,
        review=current,
        form=form,
        errors=errors,
        evaluation=service.evaluation_for(current) if current else None,
        answers=service.checklist(current) if current else {},
        cited=service.grounds(current) if current else {},
        policy=policy_of(current.policy_version) if current else None,
        decisions=service.decisions_of(case),
        reasons=service.REJECTION_REASONS,
        Verdict=Verdict,
        Category=Category,
        Ground=Ground,
        posted=request.form if request.method == "POST" else None,
        json=json,
    ), status


@bp.route("/policy", methods=["GET"])
@requires(Permission.POLICY_VIEW)
def policy_versions() -> Any:
    current_version()
    db.session.commit()
    versions = db.session.execute(select(PolicyVersion).order_by(PolicyVersion.id.desc())).scalars().all()
    return render_template("review/policy.html", versions=versions, form=PolicyUploadForm(), errors=None)


@bp.route("/policy", methods=["POST"])
@requires(Permission.POLICY_MANAGE)
def upload_policy() -> Any:
    form = PolicyUploadForm()
    errors = None
    if form.validate_on_submit() and form.file.data and form.file.data.filename:
        try:
            version = upload_version(current_user, form.file.data.read(), form.file.data.filename, client_ip())
        except PolicyUploadError as error:
            db.session.rollback()
            errors = str(error)
        else:
            db.session.commit()
            flash(
                f"Policy version {version.sha256[:16]}… stored; it applies to reviews started from now on.", "success"
            )
            return redirect(url_for("review.policy_versions"))
    else:
        errors = "Choose the policy file to upload."
    versions = db.session.execute(select(PolicyVersion).order_by(PolicyVersion.id.desc())).scalars().all()
    return render_template("review/policy.html", versions=versions, form=form, errors=errors), 400
