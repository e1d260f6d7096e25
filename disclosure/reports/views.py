"""Auditor report pages: the transparency report with charts, its cells' cases, CSV and PDF, and case dossiers.

Thin views: parse the period and checkpoint, call the report service, render. Only holders of report:view
reach them (auditors); downloads are attachments with a sandboxing CSP. PDFs (the report, a case's dossier) are
prepared by jobs: a button queues one and sends the auditor to its page, which offers the download once ready.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from disclosure.audit.models import AuditCheckpoint, AuditHead
from disclosure.audit.views import AuditorBundleForm, enqueue_auditor_bundle, invalid_bundle_form, send_auditor_bundle
from disclosure.auth import rate_limit
from disclosure.auth.access import client_ip, requires
from disclosure.cases.downloads import attachment_response
from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.jobs import service as jobs
from disclosure.jobs.models import Job, JobState
from disclosure.jobs.tasks import DOSSIER_PDF, REPORT_BUNDLE, TRANSPARENCY_PDF
from disclosure.permissions import Permission
from disclosure.reports import render, service
from disclosure.reports.forms import PreparePdfForm, PrepareReportPdfForm
from disclosure.reports.metrics import DEFINITIONS, humanize
from disclosure.reports.queries import cases_by_reference, latest_checkpoint, resolve_checkpoint
from disclosure.reports.transparency import OUTCOME_DEFINITIONS, ReportError, band, shown, shown_share
from disclosure.unit_of_work import REFUSALS, attempt, message_for, short_write, status_for

bp = Blueprint("reports", __name__)
#: The cases listed under one figure; a larger figure says how many are not shown.
CELL_PAGE_LIMIT = 1000


def _request_report() -> tuple[Any, Any, Any]:
    """Period and checkpoint from the query string; a bad value is a 400 with the reason."""
    try:
        start, end = service.parse_period(request.args.get("from"), request.args.get("to"))
        raw = request.args.get("checkpoint", "").strip()
        checkpoint_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else None
        if raw and checkpoint_id is None:
            raise ReportError("checkpoint must be a checkpoint number")
        checkpoint = resolve_checkpoint(checkpoint_id)
    except ReportError as error:
        abort(400, description=str(error))
    return start, end, checkpoint


def _args(start: Any, end: Any, checkpoint: AuditCheckpoint) -> dict[str, Any]:
    return {"from": start.isoformat(), "to": end.isoformat(), "checkpoint": checkpoint.id}


@bp.route("/reports/transparency")
@requires(Permission.REPORT_VIEW)
def transparency() -> Any:
    try:
        start, end = service.parse_period(request.args.get("from"), request.args.get("to"))
    except ReportError as error:
        abort(400, description=str(error))
    if not request.args.get("checkpoint", "").strip():
        # Not pinned to a checkpoint: the figures as of now, at a checkpoint signed for them if the log has grown.
        _sign_if_log_grew()
    start, end, checkpoint = _request_report()
    report, metrics = service.report_with_metrics(start, end, checkpoint)
    charts = {s.key: render.bar_chart(s.cells) for s in report.sections}
    checkpoints = db.session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(20)).scalars()
    return render_template(
        "reports/transparency.html",
        report=report,
        metrics=metrics,
        charts=charts,
        start=start,
        end=end,
        args=_args(start, end, checkpoint),
        checkpoints=list(checkpoints),
        shown=shown,
        shown_share=shown_share,
        band=band,
        humanize=humanize,
        definitions=DEFINITIONS,
        outcome_definitions=OUTCOME_DEFINITIONS,
        bundle_form=AuditorBundleForm(formdata=None, start=start, end=end, checkpoint=str(checkpoint.id)),
        pdf_form=PrepareReportPdfForm(
            formdata=None, start=start.isoformat(), end=end.isoformat(), checkpoint=str(checkpoint.id)
        ),
    )


def _sign_if_log_grew() -> None:
    """Sign the log's head for the report when it holds events the latest checkpoint does not cover (or there is
    no checkpoint yet). Signing records its own event and covers it, so reloading the page signs nothing more."""
    head = db.session.execute(select(AuditHead.size).where(AuditHead.id == 1)).scalar() or 0
    latest = latest_checkpoint()
    if latest is not None and latest.size >= head:
        return
    with short_write():
        resolve_checkpoint(create_for=current_user, ip=client_ip())


@bp.route("/reports/checkpoint", methods=["POST"])
@requires(Permission.REPORT_VIEW)
def checkpoint() -> Any:
    """Sign the log's head now, so that the report can be pinned to it (at most a few a minute per person)."""
    try:
        rate_limit.check(current_user, rate_limit.Limited.CHECKPOINT)
    except rate_limit.RateLimited as limited:
        return rate_limit.too_many(limited)
    made = resolve_checkpoint(create_for=current_user, ip=client_ip())
    flash(f"Audit checkpoint {made.size} signed; the report below is computed at it.", "success")
    args: dict[str, Any] = {
        "from": request.form.get("from", ""),
        "to": request.form.get("to", ""),
        "checkpoint": made.id,
    }
    return redirect(url_for("reports.transparency", **args))


@bp.route("/reports/transparency/cases")
@requires(Permission.REPORT_VIEW)
def cell_cases() -> Any:
    start, end, checkpoint = _request_report()
    report = service.transparency_report(start, end, checkpoint)
    key = request.args.get("cell", "")
    if key not in report.cells:
        abort(404)
    cell = report.cells[key]
    references = service.cell_cases(start, end, checkpoint, key)
    return render_template(
        "reports/cases.html",
        cell=cell,
        cases=cases_by_reference(references[:CELL_PAGE_LIMIT]),
        listed=min(len(references), CELL_PAGE_LIMIT),
        args=_args(start, end, checkpoint),
        start=start,
        end=end,
        checkpoint=checkpoint,
        pdf_form=PreparePdfForm(formdata=None),
    )


@bp.route("/reports/transparency.csv")
@requires(Permission.REPORT_VIEW)
def transparency_csv() -> Any:
    start, end, checkpoint = _request_report()
    data = render.transparency_csv(service.transparency_report(start, end, checkpoint))
    response = attachment_response([data], f"transparency-{start}-{end}.csv", len(data))
    response.mimetype = "text/csv"
    return response


@bp.route("/reports/transparency.pdf")
@requires(Permission.REPORT_VIEW)
def transparency_pdf() -> Any:
    """Where the PDF was once rendered inside the request (old links and bookmarks): to the report's page."""
    flash("The PDF is now prepared in the background: press “Prepare PDF”, and its page offers the download.", "info")
    args: dict[str, Any] = {k: v for k in ("from", "to", "checkpoint") if (v := request.args.get(k, "").strip())}
    return redirect(url_for("reports.transparency", **args))


@bp.route("/cases/<reference>/dossier.pdf")
@requires(Permission.REPORT_VIEW)
def dossier(reference: str) -> Any:
    """Where the dossier was once rendered inside the request (old links and bookmarks): to the case's page."""
    case = _case_or_404(reference)
    flash(
        "The dossier is now prepared in the background: press “Prepare the dossier (PDF)”, and its page offers the "
        "download.",
        "info",
    )
    return redirect(url_for("cases.show", reference=case.reference))


@bp.route("/reports/transparency/pdf", methods=["POST"])
@requires(Permission.REPORT_VIEW)
def prepare_transparency_pdf() -> Any:
    """Queue the report for the period, at the checkpoint the page showed, as a PDF prepared by a job."""
    form = PrepareReportPdfForm()
    if not form.validate_on_submit():
        abort(400, description=" ".join(str(m) for errors in form.errors.values() for m in errors))
    try:
        start, end = service.parse_period(form.start.data, form.end.data)
        checkpoint = resolve_checkpoint(int(form.checkpoint.data))
    except ReportError as error:
        abort(400, description=str(error))
    return _enqueue_pdf(
        form,
        TRANSPARENCY_PDF,
        f"Prepare the transparency report {start} to {end} (PDF)",
        f"{start}:{end}:{checkpoint.id}",
        {"from": start.isoformat(), "to": end.isoformat(), "checkpoint": checkpoint.id, "ip": client_ip()},
    )


@bp.route("/cases/<reference>/dossier", methods=["POST"])
@requires(Permission.REPORT_VIEW)
def prepare_dossier(reference: str) -> Any:
    """Queue the case's dossier as a PDF prepared by a job."""
    case = _case_or_404(reference)
    form = PreparePdfForm()
    if not form.validate_on_submit():
        abort(400)
    return _enqueue_pdf(
        form,
        DOSSIER_PDF,
        f"Prepare the dossier of case {case.reference} (PDF)",
        case.reference,
        {"ip": client_ip()},
        case,
    )


def _case_or_404(reference: str) -> Case:
    case = db.session.execute(select(Case).where(Case.reference == reference)).scalar()
    if case is None:
        abort(404)
    return case


def _enqueue_pdf(
    form: PreparePdfForm, kind: str, label: str, subject: str, params: dict[str, Any], case: Case | None = None
) -> Any:
    """Queue the PDF and send the auditor to the job's page. Asked again while the same PDF is being prepared for
    them, or with the same form sent twice, it is the same job."""
    prefix = f"{kind}:{current_user.id}:{subject}:"
    job = db.session.execute(
        select(Job)
        .where(
            Job.kind == kind,
            Job.requested_by_id == current_user.id,
            Job.job_state.in_([JobState.QUEUED.value, JobState.RUNNING.value]),
            Job.dedupe_key.startswith(prefix, autoescape=True),
        )
        .order_by(Job.id.desc())
        .limit(1)
    ).scalar()
    if job is None:
        nonce = (form.nonce.data or "")[:64] or None
        try:
            with attempt():
                job = jobs.enqueue(
                    current_user,
                    kind,
                    label,
                    params,
                    case=case,
                    dedupe_key=(prefix + nonce)[:200] if nonce else None,
                    ip=client_ip(),
                )
        except REFUSALS as error:
            abort(status_for(error), description=message_for(error))
    if job.status.finished:
        flash("This form was sent before: here is what it prepared.", "info")
    else:
        flash("The PDF is being prepared; this page follows it and offers the download when it is ready.", "success")
    return redirect(url_for("jobs.show", public_id=job.public_id))


@bp.route("/reports/transparency/bundle", methods=["POST"])
@requires(Permission.REPORT_VIEW)
def transparency_bundle() -> Any:
    """Queue the report for the period (at the checkpoint chosen) as PDF and CSV in a signed, passphrase-only
    bundle, built by a job."""
    form = AuditorBundleForm()
    if not form.validate_on_submit():
        invalid_bundle_form(form)
    params = {"checkpoint": int(form.checkpoint.data)} if form.checkpoint.data else {}
    return enqueue_auditor_bundle(form, REPORT_BUNDLE, "transparency report", params)


@bp.route("/reports/bundles/<public_id>")
@requires(Permission.REPORT_VIEW)
def download_bundle(public_id: str) -> Any:
    return send_auditor_bundle(public_id, "report")
