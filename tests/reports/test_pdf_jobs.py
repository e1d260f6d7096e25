"""Report PDFs and case dossiers are prepared by jobs: a button queues one, the worker renders it holding no lock,
the PDF is stored as an encrypted blob with the job's outcome, and the job's page offers the download; expired
PDFs are deleted (audit-logged), and a file that is gone says so in plain words.

Observed before: both PDFs were rendered inside the request, holding a web worker and, on SQLite, the database's
only write lock, for as long as WeasyPrint took.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from disclosure.audit.models import AuditEvent
from disclosure.audit.service import checkpoint_now
from disclosure.auth import service as accounts
from disclosure.auth.models import User
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.jobs import service as jobs
from disclosure.jobs import worker
from disclosure.jobs.models import Job, JobState
from disclosure.jobs.tasks import DOSSIER_PDF, PURGE_OUTPUTS, TRANSPARENCY_PDF
from disclosure.permissions import GRANTS, Permission, Role
from disclosure.reports import render
from disclosure.services import SystemActor
from disclosure.storage.transactional import app_store
from tests.conftest import csrf_from, sign_in
from tests.factories import make_case, make_user
from tests.locks import write_now
from tests.reports.helpers import Staff, build
from tests.reports.test_reports import END, START, built  # noqa: F401 - the fixture

REPORT = f"/reports/transparency?from={START}&to={END}"


def run_jobs(heartbeat_every: float = 0.05) -> int:
    return worker.work("test-worker", once=True, periodic=False, heartbeat_every=heartbeat_every)


def job_of(public_id: str) -> Job:
    db.session.expire_all()
    return db.session.execute(select(Job).where(Job.public_id == public_id)).scalar_one()


def public_id_of(response: Any) -> str:
    assert response.status_code == 302, response.status_code
    found = re.fullmatch(r".*/jobs/([0-9a-f]{32})", response.location)
    assert found, response.location
    return found[1]


def form_fields(page: str, action: str) -> dict[str, str]:
    """The hidden fields of the form posting to `action`, as a browser would send them."""
    form = page.split(f'action="{action}"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'<input[^>]*?name="([^"]+)"[^>]*?value="([^"]*)"', form))


def prepare_report_pdf(client: Any, checkpoint: int) -> str:
    page = client.get(f"{REPORT}&checkpoint={checkpoint}").get_data(as_text=True)
    assert "Prepare PDF" in page and "Download PDF" not in page
    return public_id_of(client.post("/reports/transparency/pdf", data=form_fields(page, "/reports/transparency/pdf")))


def prepare_dossier(client: Any, reference: str) -> str:
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "Prepare the dossier (PDF)" in page
    action = f"/cases/{reference}/dossier"
    return public_id_of(client.post(action, data=form_fields(page, action)))


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def download(client: Any, public_id: str) -> Any:
    page = client.get(f"/jobs/{public_id}").get_data(as_text=True)
    assert f'href="/jobs/{public_id}/output"' in page
    return client.get(f"/jobs/{public_id}/output")


# -- the whole path ------------------------------------------------------------------------------------------------


def test_the_report_pdf_is_prepared_by_a_job_and_downloaded_from_its_page(app, client, login_as, built):  # noqa: F811
    login_as("auditor")
    public_id = prepare_report_pdf(client, built["checkpoint"])
    with app.app_context():
        assert job_of(public_id).kind == TRANSPARENCY_PDF and job_of(public_id).status is JobState.QUEUED
        assert run_jobs() == 1
        done = job_of(public_id)
        assert done.status is JobState.SUCCEEDED, done.error
        assert done.output_filename == f"transparency-{START}-{END}.pdf" and done.output_media_type == "application/pdf"
    response = download(client, public_id)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith(f'attachment; filename="transparency-{START}-{END}.pdf"')
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert int(response.headers["Content-Length"]) == len(response.data) == done.output_size
    text = pdf_text(response.data)
    assert "Transparency report" in text
    assert f"Rejected {len(built['outcomes']['rejected'])}" in text
    assert "0\u2013249" in text and "< 3" in text
    reader = PdfReader(io.BytesIO(response.data))
    assert "pdfaid" in str(reader.xmp_metadata and reader.xmp_metadata.rdf_root.toxml())  # PDF/A
    assert hashlib.sha256(response.data).hexdigest() == done.output_sha256


def test_the_dossier_is_prepared_by_a_job_and_holds_the_case(app, client, login_as):
    with app.app_context():
        case = build(Staff(), "content_closed")
        reference = case.reference
    login_as("auditor")
    public_id = prepare_dossier(client, reference)
    with app.app_context():
        assert run_jobs() == 1
        done = job_of(public_id)
        assert done.status is JobState.SUCCEEDED, done.error and done.case_id == case.id
    response = download(client, public_id)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith(f'attachment; filename="{reference}-dossier.pdf"')
    text = pdf_text(response.data).replace("\n", "")
    assert f"Case dossier {reference}" in text and "case.create" in text
    # The job's page links back to the case it was for.
    assert f'href="/cases/{reference}"' in client.get(f"/jobs/{public_id}").get_data(as_text=True)


def test_the_same_pdf_asked_for_twice_is_one_job_until_it_ends(app, client, login_as, built):  # noqa: F811
    login_as("auditor")
    page = client.get(f"{REPORT}&checkpoint={built['checkpoint']}").get_data(as_text=True)
    fields = form_fields(page, "/reports/transparency/pdf")
    first = public_id_of(client.post("/reports/transparency/pdf", data=fields))
    assert public_id_of(client.post("/reports/transparency/pdf", data=fields)) == first  # a double click
    assert prepare_report_pdf(client, built["checkpoint"]) == first  # another tab, while it is queued
    with app.app_context():
        run_jobs()
    assert public_id_of(client.post("/reports/transparency/pdf", data=fields)) == first  # the same form, resent
    second = prepare_report_pdf(client, built["checkpoint"])  # asked for again, once it has ended
    assert second != first
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Job)).scalar_one() == 2


def test_old_pdf_addresses_send_the_auditor_to_the_page_that_prepares_them(app, client, login_as, built):  # noqa: F811
    with app.app_context():
        reference = make_reference()
    login_as("auditor")
    response = client.get(f"/reports/transparency.pdf?from={START}&to={END}&checkpoint={built['checkpoint']}")
    assert response.status_code == 302
    assert response.location == f"/reports/transparency?from={START}&to={END}&checkpoint={built['checkpoint']}"
    assert "prepared in the background" in client.get(response.location).get_data(as_text=True)
    response = client.get(f"/cases/{reference}/dossier.pdf")
    assert response.status_code == 302 and response.location == f"/cases/{reference}"
    assert "Prepare the dossier (PDF)" in client.get(response.location).get_data(as_text=True)
    assert client.get("/cases/DR-0000-00000/dossier.pdf").status_code == 404
    assert (
        client.post("/cases/DR-0000-00000/dossier", data={"csrf_token": csrf_from(client.get("/").text)}).status_code
        == 404
    )
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Job)).scalar_one() == 0


def make_reference() -> str:
    return str(make_case().reference)


# -- who may ---------------------------------------------------------------------------------------------------


def finished_dossier(app: Any, client: Any, login_as: Any) -> tuple[str, str, Any]:
    """A dossier job asked for and run for one auditor, who is then signed out."""
    with app.app_context():
        reference = make_reference()
    asker = login_as("auditor")
    public_id = prepare_dossier(client, reference)
    with app.app_context():
        run_jobs()
        assert job_of(public_id).status is JobState.SUCCEEDED
    client.post("/sign-out", data={"csrf_token": csrf_from(client.get("/").text)})
    return reference, public_id, asker


@pytest.mark.parametrize("role", list(Role))
def test_who_may_ask_for_and_download_a_pdf_follows_the_permissions_table(app, client, login_as, role):
    reference, public_id, _ = finished_dossier(app, client, login_as)
    login_as(role.value)
    allowed = Permission.REPORT_VIEW in GRANTS[role]
    token = csrf_from(client.get("/").text)
    asked = client.post(f"/cases/{reference}/dossier", data={"csrf_token": token})
    report = client.post("/reports/transparency/pdf", data={"csrf_token": token})
    fetched = client.get(f"/jobs/{public_id}/output")
    old = client.get(f"/cases/{reference}/dossier.pdf")
    if allowed:
        assert asked.status_code == 302 and "/jobs/" in asked.location
        assert report.status_code == 400  # no period: a refusal in words, never a 500
        assert fetched.status_code == 200 and fetched.data.startswith(b"%PDF-")
        assert old.status_code == 302
    else:
        assert asked.status_code == report.status_code == old.status_code == 403
        # Another person's job does not exist for someone without the task's permission.
        assert fetched.status_code == 404 and not fetched.data.startswith(b"%PDF-")


def test_who_asked_and_has_since_lost_the_role_sees_the_job_but_not_its_pdf(app, client, login_as):
    _, public_id, asker = finished_dossier(app, client, login_as)
    with app.app_context():
        accounts.set_roles(SystemActor("tests"), db.session.get(User, asker.id), ["intake"], None)
        db.session.commit()
    sign_in(client, asker.email, asker.password, asker.totp_secret)
    assert client.get(f"/jobs/{public_id}").status_code == 200
    assert client.get(f"/jobs/{public_id}/output").status_code == 403


def test_an_unknown_or_unfinished_job_has_no_output(app, client, login_as):
    with app.app_context():
        reference = make_reference()
    login_as("auditor")
    public_id = prepare_dossier(client, reference)
    assert client.get(f"/jobs/{public_id}/output").status_code == 404  # not ready yet
    assert client.get(f"/jobs/{'0' * 32}/output").status_code == 404


# -- no lock while rendering -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [DOSSIER_PDF, TRANSPARENCY_PDF])
def test_other_writers_never_wait_for_a_pdf_being_read_or_rendered(app, backend, monkeypatch, kind):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    moments: list[str] = []
    render_pdf, timeline_of, transparency_html = render.pdf_from_html, render.timeline_of, render.transparency_html

    def rendering(html: str, fetcher: Any = None) -> bytes:
        write_now(url, backend)
        moments.append("rendering")
        return render_pdf(html, fetcher)

    def reading_timeline(case: Any) -> Any:
        write_now(url, backend)
        moments.append("reading")
        return timeline_of(case)

    def reading_report(report: Any, organisation: str) -> str:
        write_now(url, backend)
        moments.append("reading")
        return transparency_html(report, organisation)

    monkeypatch.setattr(render, "pdf_from_html", rendering)
    monkeypatch.setattr(render, "timeline_of", reading_timeline)
    monkeypatch.setattr(render, "transparency_html", reading_report)
    with app.app_context():
        auditor = db.session.get(User, make_user("auditor").id)
        case = make_case()
        checkpoint = checkpoint_now(SystemActor("tests"), "report")
        db.session.commit()
        today = utcnow().date().isoformat()
        params = {"from": today, "to": today, "checkpoint": checkpoint.id}
        job = jobs.enqueue(auditor, kind, "test", params if kind == TRANSPARENCY_PDF else {}, case=case)
        db.session.commit()
        public_id = job.public_id
        # A slow heartbeat: its own short writes are not what this test is about.
        assert run_jobs(heartbeat_every=60) == 1
        done = job_of(public_id)
        assert done.status is JobState.SUCCEEDED, done.error
        assert moments == ["reading", "rendering"] and done.output_blob is not None


def test_a_pdf_job_that_fails_keeps_no_file(app, client, login_as, monkeypatch):
    with app.app_context():
        reference = make_reference()
        names_before = set(app_store().names())
    login_as("auditor")
    public_id = prepare_dossier(client, reference)

    def store_then_fail(public_id: str, data: bytes, filename: str, media_type: str) -> Any:
        jobs.store_output(public_id, data, filename, media_type)
        raise RuntimeError("the disk went away after the PDF was stored")

    from disclosure.jobs import tasks

    monkeypatch.setattr(tasks, "store_output", store_then_fail)
    with app.app_context():
        done = job_of(public_id)
        done.max_attempts = done.attempts + 1
        db.session.commit()
        run_jobs()
        done = job_of(public_id)
        assert done.status is JobState.FAILED and done.output_blob is None
        assert set(app_store().names()) == names_before


# -- retention and missing files --------------------------------------------------------------------------------


def test_pdfs_older_than_seven_days_are_deleted_and_logged(app, client, login_as):
    with app.app_context():
        first, second = make_reference(), make_reference()
    login_as("auditor")
    old_job, new_job = prepare_dossier(client, first), prepare_dossier(client, second)
    with app.app_context():
        assert run_jobs() == 2
        old, new = job_of(old_job), job_of(new_job)
        old.finished_at = utcnow() - jobs.OUTPUT_RETENTION - timedelta(minutes=1)
        new.finished_at = utcnow() - jobs.OUTPUT_RETENTION + timedelta(hours=1)
        old_blob, old_file, old_sha = old.output_blob, old.output_filename, old.output_sha256
        db.session.commit()
        # The worker queues the purge by itself every hour, as it queues every periodic task.
        assert PURGE_OUTPUTS in {t.kind for t in jobs.periodic_tasks()}
        assert jobs.task_for(PURGE_OUTPUTS).every == timedelta(hours=1)
        purge = jobs.enqueue(SystemActor("job worker test"), PURGE_OUTPUTS, jobs.task_for(PURGE_OUTPUTS).label)
        db.session.commit()
        assert run_jobs() == 1
        purge = job_of(purge.public_id)
        assert purge.status is JobState.SUCCEEDED, purge.error
        assert "1 expired job output(s) forgotten, 1 file(s) deleted" in purge.result["outcome"]
        old, new = job_of(old_job), job_of(new_job)
        assert (old.output_blob, old.output_filename, old.output_size, old.output_sha256) == (None,) * 4
        assert new.output_blob is not None and app_store().exists(new.output_blob)
        assert not app_store().exists(old_blob)
        event = db.session.execute(select(AuditEvent).where(AuditEvent.action == "job.output_purged")).scalar_one()
        assert event.subject == f"job:{old_job}"
        body = json.loads(bytes(event.body))
        assert body["data"]["file"] == old_file and body["data"]["sha256"] == old_sha
    gone = client.get(f"/jobs/{old_job}/output")
    assert gone.status_code == 410 and "The file is gone" in gone.text and "Prepare it again" in gone.text
    assert "deleted 7 days after" in client.get(f"/jobs/{old_job}").text
    assert client.get(f"/jobs/{new_job}/output").status_code == 200


def test_a_pdf_whose_file_is_missing_says_so_and_how_to_get_it_again(app, client, login_as):
    with app.app_context():
        reference = make_reference()
    login_as("auditor")
    public_id = prepare_dossier(client, reference)
    with app.app_context():
        run_jobs()
        assert app_store().delete(job_of(public_id).output_blob)
    response = client.get(f"/jobs/{public_id}/output")
    assert response.status_code == 410
    assert "The file is gone" in response.text and "Prepare it again" in response.text
    assert response.headers["Content-Type"].startswith("text/html") and "Reference:" in response.text


def test_reconcile_counts_a_job_output_as_referenced(app, client, login_as):
    from disclosure.storage.reconcile import reconcile

    with app.app_context():
        reference = make_reference()
    login_as("auditor")
    public_id = prepare_dossier(client, reference)
    with app.app_context():
        run_jobs()
        name = job_of(public_id).output_blob
        report = reconcile(dry_run=False, grace=timedelta(0))
        assert not [f for f in report.findings if f.name == name]
        db.session.commit()
        assert app_store().exists(name)
        # Once the job no longer names it, the same file is an orphan.
        job_of(public_id).output_blob = None
        db.session.commit()
        assert [f.kind.value for f in reconcile(dry_run=True, grace=timedelta(0)).findings if f.name == name] == [
            "orphan"
        ]
