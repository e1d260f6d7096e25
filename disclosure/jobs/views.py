"""A job's page: what it does, how far it got, its outcome; cancelling it; its secret, once, for whoever asked.

The page refreshes itself without script (a `<noscript>` refresh while the job runs); with script, a small file
under the CSP polls the job's JSON and updates the bar in place.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from disclosure.auth.access import client_ip, requires
from disclosure.extensions import db
from disclosure.hardening import CONTENT_SECURITY_POLICY
from disclosure.jobs import service
from disclosure.jobs.models import Job
from disclosure.permissions import Permission
from disclosure.unit_of_work import REFUSALS, attempt, message_for

bp = Blueprint("jobs", __name__)

#: How many of a person's latest jobs their list shows.
LIST_LIMIT = 50


class JobForm(FlaskForm):
    """Cancel and show-secret buttons: a CSRF token and nothing else."""


def _job_or_404(public_id: str) -> Job:
    job = db.session.execute(select(Job).where(Job.public_id == public_id)).scalar()
    if job is None or not service.may_see(current_user, job):
        abort(404)
    return job


def status_of(job: Job) -> dict[str, Any]:
    """What the page's script reads: never a secret, never an internal id."""
    return {
        "state": job.job_state,
        "label": job.status.label,
        "finished": job.status.finished,
        "progress": job.progress,
        "note": job.progress_note,
        "error": job.error if job.status.finished else "",
    }


@bp.route("/jobs")
@requires(Permission.ACCOUNT_SELF)
def index() -> Any:
    mine = db.session.execute(
        select(Job).where(Job.requested_by_id == current_user.id).order_by(Job.id.desc()).limit(LIST_LIMIT)
    ).scalars()
    return render_template("jobs/index.html", jobs=list(mine))


#: The job page's policy: the site's, plus fetching from this site only, so that its script can read the job's
#: status (every other page keeps `default-src 'none'` for connections too).
JOB_PAGE_POLICY = f"{CONTENT_SECURITY_POLICY}; connect-src 'self'"


@bp.route("/jobs/<public_id>")
@requires(Permission.ACCOUNT_SELF)
def show(public_id: str) -> Any:
    job = _job_or_404(public_id)
    page = render_template("jobs/show.html", job=job, form=JobForm(), mine=job.requested_by_id == current_user.id)
    return page, 200, {"Content-Security-Policy": JOB_PAGE_POLICY}


@bp.route("/jobs/<public_id>/status")
@requires(Permission.ACCOUNT_SELF)
def status(public_id: str) -> Any:
    response = jsonify(status_of(_job_or_404(public_id)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/jobs/<public_id>/cancel", methods=["POST"])
@requires(Permission.ACCOUNT_SELF)
def cancel(public_id: str) -> Any:
    job = _job_or_404(public_id)
    if not JobForm().validate_on_submit():
        abort(400)
    try:
        with attempt():
            after = service.cancel(current_user, job, client_ip())
    except REFUSALS as error:
        flash(message_for(error), "error")
        return redirect(url_for("jobs.show", public_id=public_id))
    flash(
        "Cancelled." if after.finished else "Asked to stop: it stops at its next step, and nothing it made is kept.",
        "success",
    )
    return redirect(url_for("jobs.show", public_id=public_id))


@bp.route("/jobs/<public_id>/secret", methods=["POST"])
@requires(Permission.ACCOUNT_SELF)
def secret(public_id: str) -> Any:
    job = _job_or_404(public_id)
    if not JobForm().validate_on_submit():
        abort(400)
    try:
        with attempt():
            value = service.reveal_secret(current_user, job, client_ip())
    except REFUSALS as error:
        flash(message_for(error), "error")
        return redirect(url_for("jobs.show", public_id=public_id))
    response = render_template("jobs/secret.html", job=job, secret=value)
    return response, 200, {"Cache-Control": "no-store"}
