"""A job's page: what it does, how far it got, its outcome; cancelling it; its secret, once, for whoever asked.

The page refreshes itself without script (a `<noscript>` refresh while the job runs); with script, a small file
under the CSP polls the job's JSON and updates the bar in place. A file the job produced (a dossier, a report PDF)
is downloaded from /jobs/<id>/output, streamed from the blob store as an attachment.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from disclosure.auth.access import client_ip, requires
from disclosure.cases.downloads import attachment_response
from disclosure.extensions import db
from disclosure.hardening import CONTENT_SECURITY_POLICY
from disclosure.jobs import service
from disclosure.jobs.models import Job, JobState
from disclosure.permissions import Permission
from disclosure.storage.store import BlobMissing, StorageError
from disclosure.storage.transactional import app_store
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
    page = render_template(
        "jobs/show.html",
        job=job,
        form=JobForm(),
        mine=job.requested_by_id == current_user.id,
        output_kept_days=service.OUTPUT_RETENTION.days,
    )
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


def produces_a_file(job: Job) -> bool:
    """Its outcome offers a file to download (still there or not)."""
    links = (job.result or {}).get("links", [])
    return job.output_blob is not None or any(link.get("endpoint") == "jobs.output" for link in links)


def _output_gone(why: str) -> tuple[str, int, dict[str, str]]:
    """The app's plain error page: the file is not there, and how to get it again."""
    page = render_template(
        "errors/error.html",
        status=410,
        title="The file is gone",
        message=why,
        detail="Prepare it again where you asked for it (the “Prepare …” button on the case's or the report's page): "
        "the new job's page offers the download once it is ready.",
        request_id=g.get("request_id", "-"),
    )
    return page, 410, {"Cache-Control": "no-store"}


@bp.route("/jobs/<public_id>/output")
@requires(Permission.ACCOUNT_SELF)
def output(public_id: str) -> Any:
    """The file the job produced, to whoever may see the job and holds its task's permission."""
    job = _job_or_404(public_id)
    if not service.may_download(current_user, job):
        abort(403)
    if job.status is not JobState.SUCCEEDED or not produces_a_file(job):
        abort(404)
    if job.output_blob is None or job.output_filename is None:
        days = service.OUTPUT_RETENTION.days
        return _output_gone(
            f"The file this job prepared was deleted {days} days after the job finished: such files hold case data "
            "and are not kept."
        )
    try:
        # open() authenticates the whole blob before handing out a byte.
        chunks = app_store().open(job.output_blob)
    except BlobMissing:
        current_app.logger.error("job %s: its output %s is missing from the blob store", job.public_id, job.output_blob)
        return _output_gone(f"{job.output_filename} is no longer in the file store.")
    except StorageError:
        current_app.logger.error("job %s: its output %s failed its integrity check", job.public_id, job.output_blob)
        return _output_gone(f"{job.output_filename} could not be read back intact from the file store.")
    response = attachment_response(chunks, job.output_filename, job.output_size)
    response.mimetype = job.output_media_type or "application/octet-stream"
    response.headers["Cache-Control"] = "no-store"
    return response
