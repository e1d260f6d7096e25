"""Bundles are built by jobs, holding no lock while they encrypt and sign.

Observed: a 13.7 s build on SQLite gave other users "database is locked" 500s; on PostgreSQL it held the audit
log's lock, so every audited write waited for it (p99 11.4 s); a gunicorn worker timeout killed a build halfway.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from disclosure.audit.models import AuditEvent
from disclosure.auth.models import User
from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.jobs.models import Job, JobState
from disclosure.production import bundles
from disclosure.production.models import Bundle
from disclosure.workflow import Action
from tests.conftest import csrf_from
from tests.factories import PASSWORD, make_user
from tests.locks import write_now
from tests.production.helpers import approved_case, build_through_the_page
from tests.production.test_bundles import MAIL, producing_case_with_certificate
from tests.production.test_records import add


def test_other_writers_never_wait_for_a_bundle_being_built(app, backend, client, login_as, tmp_path):
    reference, _ = producing_case_with_certificate(app, client, login_as, tmp_path)
    reads = []
    with app.app_context():
        producer = db.session.get(User, make_user("producer").id)
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        inputs = bundles.plan_case_bundle(producer, case, [], True, None)
        db.session.commit()  # the job commits its first step here

        def record_then_write() -> Any:
            # In the middle of the build: it must not have to wait.
            write_now(app.config["SQLALCHEMY_DATABASE_URI"], backend)
            reads.append(True)
            return [b"a record read while the bundle is being written"]

        first = inputs.files[0]
        watched = dataclasses.replace(inputs, files=(dataclasses.replace(first, open=record_then_write, size=None),))
        bundle, passphrase = bundles.finish_case_bundle(producer, watched, None)
        db.session.commit()
        assert reads == [True] and passphrase and bundle.size > 0


def test_the_same_form_sent_twice_builds_one_bundle(app, client, login_as, tmp_path):
    reference, certificate_id = producing_case_with_certificate(app, client, login_as, tmp_path)
    page = client.get(f"/cases/{reference}/production").get_data(as_text=True)
    nonce = page.split('name="nonce" type="hidden" value="')[1].split('"')[0]
    data = {"csrf_token": csrf_from(page), "nonce": nonce, "certificate": str(certificate_id), "password": PASSWORD}
    first = client.post(f"/cases/{reference}/production/bundles", data=data)
    second = client.post(f"/cases/{reference}/production/bundles", data=data)
    assert first.status_code == second.status_code == 302 and first.location == second.location
    build_through_the_page(app, client, reference, certificate=str(certificate_id))  # a new page: a new bundle
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Job)).scalar_one() == 2
        assert db.session.execute(select(func.count()).select_from(Bundle)).scalar_one() == 2


def test_a_case_withdrawn_while_its_bundle_is_built_keeps_no_bundle(app, client, login_as, tmp_path):
    reference, _ = producing_case_with_certificate(app, client, login_as, tmp_path)
    page = client.get(f"/cases/{reference}/production").get_data(as_text=True)
    response = client.post(
        f"/cases/{reference}/production/bundles",
        data={"csrf_token": csrf_from(page), "passphrase_only": "y", "password": PASSWORD},
    )
    assert response.status_code == 302
    with app.app_context():
        from disclosure.cases import service as cases

        intake = db.session.get(User, make_user("intake").id)
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        cases.apply_action(intake, case, Action.WITHDRAW, None, None)
        db.session.commit()
        from disclosure.jobs import worker

        worker.work("test-worker", once=True, periodic=False, heartbeat_every=0.05)
        job = db.session.execute(select(Job)).scalar_one()
        assert job.status is JobState.FAILED
        assert "withdrawn" in job.error and "a bundle is built while producing" in job.error
        assert db.session.execute(select(func.count()).select_from(Bundle)).scalar_one() == 0
        assert not any(e.action == "bundle.built" for e in db.session.execute(select(AuditEvent)).scalars())
    assert not list(Path(app.instance_path, "bundles").glob("*.zip"))


@pytest.mark.parametrize("kind", ["audit_extract", "report"])
def test_other_writers_never_wait_for_an_auditor_bundle_being_built(app, backend, monkeypatch, kind):
    """The contents (the period's events read at the checkpoint, or the report computed and rendered) are read
    beside other users' writes, and the bundle is written holding no transaction."""
    from disclosure.audit.extract_bundle import plan_audit_extract_bundle
    from disclosure.clock import utcnow
    from disclosure.exports.bundle import PayloadFile
    from disclosure.production import auditor_bundles
    from disclosure.reports.bundle import plan_report_bundle
    from disclosure.services import SystemActor

    moments = []

    def probe() -> Any:
        write_now(app.config["SQLALCHEMY_DATABASE_URI"], backend)  # while the bundle is being encrypted and signed
        moments.append("writing")
        return [b"read while the bundle is being written"]

    payload = auditor_bundles._payload
    monkeypatch.setattr(
        auditor_bundles, "_payload", lambda specs: [*payload(specs), PayloadFile(name="probe", open=probe, size=None)]
    )
    with app.app_context():
        actor, today = SystemActor("tests"), utcnow().date()
        plan_for = plan_audit_extract_bundle if kind == "audit_extract" else plan_report_bundle
        plan = plan_for(actor, today, today, [], True, None)
        db.session.commit()  # the job commits its first step here

        def contents(checkpoint: Any, folder: Path) -> Any:
            write_now(app.config["SQLALCHEMY_DATABASE_URI"], backend)  # the contents are being read at the checkpoint
            specs = plan.files(checkpoint, folder)
            write_now(app.config["SQLALCHEMY_DATABASE_URI"], backend)
            moments.append("reading")
            return specs

        bundle, passphrase = auditor_bundles.finish_auditor_bundle(
            actor, dataclasses.replace(plan, files=contents), None
        )
        db.session.commit()
        assert moments == ["reading", "writing"] and passphrase and bundle.kind == kind and bundle.file_count >= 2
        built = db.session.execute(
            select(AuditEvent.action).where(AuditEvent.subject == f"bundle:{bundle.public_id}")
        ).scalars()
        assert list(built) == ["bundle.build_started", "bundle.built"]


def test_an_auditor_bundle_is_refused_inside_an_open_transaction(app):
    """Its contents must never be read in the session's write transaction: the first step is committed first."""
    from disclosure.clock import utcnow
    from disclosure.production import auditor_bundles
    from disclosure.reports.bundle import plan_report_bundle
    from disclosure.services import SystemActor

    with app.app_context():
        actor, today = SystemActor("tests"), utcnow().date()
        plan = plan_report_bundle(actor, today, today, [], True, None)
        with pytest.raises(RuntimeError, match="holding no transaction"):
            auditor_bundles.finish_auditor_bundle(actor, plan, None)
        db.session.rollback()
        assert db.session.execute(select(func.count()).select_from(Bundle)).scalar_one() == 0


def test_bundles_are_kept_in_the_shared_bundle_folder_when_one_is_set(app, client, login_as, tmp_path):
    shared = tmp_path / "shared-bundles"
    app.config["BUNDLE_DIR"] = str(shared)
    reference, certificate_id = producing_case_with_certificate(app, client, login_as, tmp_path)
    build_through_the_page(app, client, reference, certificate=str(certificate_id))
    with app.app_context():
        public_id = db.session.execute(select(Bundle.public_id)).scalar_one()
    assert [path.name for path in shared.glob("*.zip")] == [f"{public_id}.zip"]
    assert not list(Path(app.instance_path, "bundles").glob("*.zip"))
    download = client.get(f"/bundles/{public_id}")
    assert download.status_code == 200 and download.get_data() == (shared / f"{public_id}.zip").read_bytes()


def test_with_no_certificate_on_file_the_only_choice_is_already_made(app, client, login_as):
    # Issue 16: "The bundle form demands ticking its only option."
    with app.app_context():
        reference = approved_case(("stored_content",))
    login_as("producer")
    assert add(client, reference, "user@example.net", "stored_content", MAIL, "mailbox.mbox").status_code == 302
    page = client.get(f"/cases/{reference}/production").get_data(as_text=True)
    box = re.search(r'<input[^>]*id="passphrase_only"[^>]*>', page)
    assert box and " checked" in box.group(0), page
    assert "The bundle can only be sealed with a passphrase" in page
