"""The background tasks: each registered with the permission that asking for it, and running it, needs.

A task is a boundary like a view: it runs services, and its outcome commits with its work (the worker does that).
A task with a long step commits its short first step itself (`context.commit()`), so that nothing holds a lock
while it computes. A task that renders a PDF reads what it needs in a read transaction (no write lock, even on
SQLite), renders holding no transaction, and stores the PDF as the job's output in the short transaction that
records its outcome.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from disclosure.cases.models import Case
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.jobs.service import (
    OUTPUT_RETENTION,
    JobContext,
    JobError,
    delete_blobs,
    purge_expired_outputs,
    store_output,
    task,
)
from disclosure.permissions import Permission
from disclosure.production import bundles
from disclosure.production.models import RecipientCertificate
from disclosure.services import require
from disclosure.storage.reconcile import reconcile
from disclosure.unit_of_work import reading_beside_writers

BUNDLE_BUILD = "bundle.build"
RECONCILE = "storage.reconcile"
VERIFY = "audit.verify"
CHECKPOINT_FILES = "audit.checkpoint_files"
AUDIT_EXTRACT_BUNDLE = "audit.extract_bundle"
REPORT_BUNDLE = "report.bundle"
TRANSPARENCY_PDF = "report.transparency_pdf"
DOSSIER_PDF = "case.dossier_pdf"
PURGE_OUTPUTS = "jobs.purge_outputs"
PDF = "application/pdf"


@task(BUNDLE_BUILD, Permission.PRODUCTION_MANAGE)
def build_case_bundle(context: JobContext) -> dict[str, Any]:
    """A case's disclosure bundle: check and sign the checkpoint (committed), then encrypt and sign the records with
    no transaction open, then record the bundle with the job's outcome."""
    case = db.session.get(Case, context.case_id)
    if case is None:
        raise JobError("The case this bundle was for no longer exists.")
    wanted = [int(i) for i in context.params.get("certificates", [])]
    certificates = list(
        db.session.execute(select(RecipientCertificate).where(RecipientCertificate.id.in_(wanted))).scalars()
    )
    if len(certificates) != len(set(wanted)) or any(c.agency_id != case.agency_id for c in certificates):
        raise JobError("A chosen recipient certificate is no longer on file for the case's agency; build again.")
    inputs = bundles.plan_case_bundle(
        context.actor, case, certificates, bool(context.params.get("passphrase_only")), context.params.get("ip")
    )
    context.commit()
    context.progress(10, f"Encrypting and signing {len(inputs.files)} record(s)")
    bundle, passphrase = bundles.finish_case_bundle(context.actor, inputs, context.params.get("ip"))
    if passphrase is not None:
        context.keep_secret(passphrase)
    return {
        "bundle": bundle.filename,
        "SHA-256": bundle.sha256,
        "size": f"{bundle.size:,} bytes",
        "links": [
            {
                "text": f"Download {bundle.filename}",
                "endpoint": "production.download",
                "args": {"public_id": bundle.public_id},
            },
            {
                "text": "Back to the case's production",
                "endpoint": "production.case_production",
                "args": {"reference": case.reference},
            },
        ],
    }


def _auditor_bundle(context: JobContext, plan: Any, download: str, back: dict[str, Any]) -> dict[str, Any]:
    """An auditor's bundle from its planned first step: commit that, compute and write the bundle holding no
    transaction, record it with the job's outcome."""
    from disclosure.production.auditor_bundles import finish_auditor_bundle

    context.commit()
    context.progress(10, "Computing the contents at the bundle's checkpoint, then signing and encrypting them")
    bundle, passphrase = finish_auditor_bundle(context.actor, plan, context.params.get("ip"))
    if passphrase is not None:
        context.keep_secret(passphrase)
    return {
        "bundle": bundle.filename,
        "SHA-256": bundle.sha256,
        "size": f"{bundle.size:,} bytes",
        "links": [
            {"text": f"Download {bundle.filename}", "endpoint": download, "args": {"public_id": bundle.public_id}},
            back,
        ],
    }


def _period(context: JobContext) -> tuple[date, date]:
    try:
        return date.fromisoformat(context.params["from"]), date.fromisoformat(context.params["to"])
    except (KeyError, TypeError, ValueError) as error:
        raise JobError("This job does not name its period; ask for it again from the report's page.") from error


@task(AUDIT_EXTRACT_BUNDLE, Permission.AUDIT_EXPORT)
def build_audit_extract_bundle(context: JobContext) -> dict[str, Any]:
    """The period's audit-log extract as a signed, passphrase-only bundle (the auditor's export page)."""
    from disclosure.audit.extract_bundle import plan_audit_extract_bundle

    start, end = _period(context)
    plan = plan_audit_extract_bundle(context.actor, start, end, [], True, context.params.get("ip"))
    back = {
        "text": "Back to the audit log",
        "endpoint": "audit.events",
        "args": {"start": start.isoformat(), "end": end.isoformat()},
    }
    return _auditor_bundle(context, plan, "audit.download_bundle", back)


@task(REPORT_BUNDLE, Permission.REPORT_VIEW)
def build_report_bundle(context: JobContext) -> dict[str, Any]:
    """The period's transparency report (PDF and CSV) as a signed, passphrase-only bundle."""
    from disclosure.reports.bundle import plan_report_bundle

    start, end = _period(context)
    raw = context.params.get("checkpoint")
    checkpoint_id = int(raw) if raw is not None else None
    plan = plan_report_bundle(context.actor, start, end, [], True, context.params.get("ip"), checkpoint_id)
    args: dict[str, Any] = {"from": start.isoformat(), "to": end.isoformat()}
    if checkpoint_id is not None:
        args["checkpoint"] = checkpoint_id
    back = {"text": "Back to the transparency report", "endpoint": "reports.transparency", "args": args}
    return _auditor_bundle(context, plan, "reports.download_bundle", back)


def _pdf_outcome(context: JobContext, html: str, filename: str, back: dict[str, Any]) -> dict[str, Any]:
    """Render `html` (its facts already read, in a read transaction now ended) holding no transaction, then store
    the PDF as the job's output in the short transaction that records the job's outcome."""
    from disclosure.reports.render import pdf_from_html

    context.progress(20, "Rendering the PDF")
    data = pdf_from_html(html)
    context.progress(90, "Storing the PDF")
    job = store_output(context.public_id, data, filename, PDF)
    return {
        "file": filename,
        "SHA-256": job.output_sha256,
        "size": f"{job.output_size:,} bytes",
        "kept until": f"{utcnow() + OUTPUT_RETENTION:%Y-%m-%d %H:%M} UTC, then deleted (prepare it again after that)",
        "links": [
            {"text": f"Download {filename}", "endpoint": "jobs.output", "args": {"public_id": context.public_id}},
            back,
        ],
    }


@task(TRANSPARENCY_PDF, Permission.REPORT_VIEW)
def prepare_transparency_pdf(context: JobContext) -> dict[str, Any]:
    """The period's transparency report as PDF/A, computed at the checkpoint the page showed: read beside other
    users' writes, then rendered and stored (see _pdf_outcome)."""
    from disclosure.reports import render
    from disclosure.reports import service as reports
    from disclosure.reports.queries import resolve_checkpoint
    from disclosure.reports.transparency import ReportError

    start, end = _period(context)
    with reading_beside_writers():
        require(context.actor, Permission.REPORT_VIEW)
        try:
            checkpoint = resolve_checkpoint(int(context.params["checkpoint"]))
            report = reports.transparency_report(start, end, checkpoint)
        except (KeyError, TypeError, ValueError) as error:  # ReportError is a ValueError
            reason = str(error) if isinstance(error, ReportError) else "the job does not name its audit checkpoint"
            raise JobError(
                f"The report cannot be computed: {reason}. Prepare it again from the report's page."
            ) from error
        html = render.transparency_html(report, reports.organisation())
        back = {
            "text": "Back to the transparency report",
            "endpoint": "reports.transparency",
            "args": {"from": start.isoformat(), "to": end.isoformat(), "checkpoint": checkpoint.id},
        }
    return _pdf_outcome(context, html, f"transparency-{start}-{end}.pdf", back)


@task(DOSSIER_PDF, Permission.REPORT_VIEW)
def prepare_dossier_pdf(context: JobContext) -> dict[str, Any]:
    """A case's dossier (its facts, review, production and full timeline) as PDF/A: read beside other users'
    writes, then rendered and stored (see _pdf_outcome)."""
    from disclosure.reports import render

    with reading_beside_writers():
        require(context.actor, Permission.REPORT_VIEW)
        case = db.session.get(Case, context.case_id)
        if case is None:
            raise JobError("The case this dossier was for no longer exists.")
        reference = case.reference
        html = render.dossier_html(case)
    back = {"text": f"Back to case {reference}", "endpoint": "cases.show", "args": {"reference": reference}}
    return _pdf_outcome(context, html, f"{reference}-dossier.pdf", back)


@task(
    PURGE_OUTPUTS,
    Permission.STORAGE_MAINTAIN,
    every=timedelta(hours=1),
    label=f"Delete the files jobs produced more than {OUTPUT_RETENTION.days} days ago",
)
def purge_job_outputs(context: JobContext) -> dict[str, Any]:
    """Dossiers and report PDFs hold case data: each is deleted OUTPUT_RETENTION after its job finished. The
    audit events and the cleared columns commit first; the files go after (one left behind is an orphan that
    reconciliation removes)."""
    names = purge_expired_outputs(context.actor)
    context.commit()
    deleted = delete_blobs(names)
    if not names:
        return {"outcome": "no job output had expired"}
    return {"outcome": f"{len(names)} expired job output(s) forgotten, {deleted} file(s) deleted"}


@task(VERIFY, Permission.AUDIT_VERIFY)
def verify_audit_log(context: JobContext) -> dict[str, Any]:
    """Recompute the whole log against its stored and filed checkpoints (long on a large log) and record the
    verdict."""
    from disclosure.audit.actions import AuditAction
    from disclosure.audit.cli import folder_checkpoints, run_verification
    from disclosure.audit.service import record

    context.progress(5, "Reading the log and recomputing every hash")
    result = run_verification(folder_checkpoints(set()))
    record(
        context.actor,
        AuditAction.AUDIT_VERIFIED,
        subject="audit",
        ip=context.params.get("ip"),
        outcome="success" if result.intact else "failure",
        data={"size": result.size, "summary": result.summary()},
    )
    verdict = result.summary()
    if result.intact:
        verdict += f" ({result.checkpoints_checked} signed checkpoints checked)"
    return {"verdict": verdict}


@task(
    CHECKPOINT_FILES,
    Permission.AUDIT_CHECKPOINT,
    every=timedelta(minutes=10),
    label="Write the files of signed checkpoints that are not in the checkpoint folder",
)
def write_missing_checkpoint_files(context: JobContext) -> dict[str, Any]:
    """A checkpoint commits with the change that signed it; its file is written after. Should that fail (a full
    or read-only folder), this writes it once the folder is back, and fails (to be tried again) until then.

    A folder that lost its oldest file was emptied or replaced: that is for `flask audit verify` and a person, and
    this job refuses rather than rebuild the outside copies from the database they are there to check.
    """
    from flask import current_app
    from sqlalchemy import func

    from disclosure.audit.models import AuditCheckpoint
    from disclosure.audit.service import missing_checkpoint_files, write_checkpoint_file

    folder = Path(current_app.config["AUDIT_CHECKPOINT_DIR"])
    missing = missing_checkpoint_files(folder)
    oldest = db.session.execute(select(func.min(AuditCheckpoint.id))).scalar_one()
    if any(checkpoint.id == oldest for checkpoint in missing):
        # The folder lost its oldest file: it was emptied or replaced, not left behind by a failed write (a mount
        # that comes back brings its files back). Refilling it from the database would rebuild the copies kept
        # outside the database from the database itself, and hide a rewritten tail (issue 17).
        raise JobError(
            f"The checkpoint folder has lost its oldest checkpoint's file ({len(missing)} of the signed checkpoints "
            "have none): it was emptied, replaced or is not mounted. Nothing is rewritten from the database. Run "
            "`flask audit verify`, then restore the folder from a backup or remount it."
        )
    written = 0
    for checkpoint in missing:
        try:
            written += write_checkpoint_file(folder, checkpoint.size, checkpoint.note)
        except OSError as error:
            raise JobError(
                f"{len(missing) - written} signed checkpoint(s) still have no file: the checkpoint folder cannot be "
                f"written ({error.strerror or error}). It is tried again every few minutes."
            ) from error
    return {"outcome": f"{written} checkpoint file(s) written" if written else "every checkpoint has its file"}


@task(
    RECONCILE, Permission.STORAGE_MAINTAIN, every=timedelta(hours=6), label="Reconcile stored files with the database"
)
def reconcile_files(context: JobContext) -> dict[str, Any]:
    """Find files without their rows (and rows without their files) and remove what is safe to remove."""
    report = reconcile(dry_run=False, actor=context.actor)
    # A missing file needs a person (the outcome says so, and `flask storage verify` fails on it); what could be
    # removed is removed all the same, so the job succeeds.
    return {"outcome": " ".join(report.lines())}


# Notifications (issue 19): one job per email, retried with the worker's backoff; the reminder scan every quarter
# of an hour and the daily digests every hour, queued by the workers themselves. The kinds are those
# disclosure.notifications.service queues.
NOTIFY_SEND = "notifications.send"
NOTIFY_SCAN = "notifications.scan"
NOTIFY_DIGEST = "notifications.digest"
#: Attempts at one email: with the worker's backoff (30 s, 1 min, then 5 min) a relay may be away some 20 minutes.
NOTIFY_SEND_ATTEMPTS = 6


@task(NOTIFY_SEND, Permission.USER_VIEW, max_attempts=NOTIFY_SEND_ATTEMPTS)
def send_notification_email(context: JobContext) -> dict[str, Any]:
    """Send one notification email or digest; a failed attempt is recorded on the message and tried again."""
    from disclosure.notifications.tasks import send_email

    return send_email(context)


@task(
    NOTIFY_SCAN,
    Permission.USER_VIEW,
    every=timedelta(minutes=15),
    label="Remind people of deadlines (due, overdue, orders ending, preservations lapsing, changes waiting)",
)
def scan_notification_reminders(context: JobContext) -> dict[str, Any]:
    """`flask notifications send-due`, run by a worker: each reminder is created once, however many run it."""
    from disclosure.notifications.tasks import scan

    return scan(context)


@task(
    NOTIFY_DIGEST,
    Permission.USER_VIEW,
    every=timedelta(hours=1),
    label="Send the daily digests of notifications",
)
def send_notification_digests(context: JobContext) -> dict[str, Any]:
    """Each person's notifications of the day before, for those who asked for a daily digest, in one email."""
    from disclosure.notifications.tasks import digests

    return digests(context)
