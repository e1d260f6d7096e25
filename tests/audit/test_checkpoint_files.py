"""A checkpoint commits with the change that signed it; its file follows. A folder that cannot be written must not
turn a saved change into an error page, and the file is written later by a job.

Observed: with the checkpoint folder unwritable, 2 of 8 edits said "Nothing was saved" but were saved (the file was
written in the commit's after-hook, whose error escaped the commit that had already happened).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from disclosure.audit.models import AuditCheckpoint, AuditEvent
from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.jobs import worker
from disclosure.jobs.models import Job, JobState
from tests.cases.page_forms import edit_form
from tests.factories import make_case


def edit(client, reference: str, summary: str):  # type: ignore[no-untyped-def]
    form = edit_form(client, reference, summary=summary)
    return client.post(f"/cases/{reference}/edit", data=form, follow_redirects=True)


def test_an_unwritable_checkpoint_folder_neither_fails_a_saved_edit_nor_loses_its_file(app, client, login_as):
    app.config["AUDIT_CHECKPOINT_EVERY"] = 1  # every audited write signs a checkpoint
    folder = Path(app.config["AUDIT_CHECKPOINT_DIR"])
    login_as("intake")
    with app.app_context():
        reference = make_case().reference
    aside = folder.with_name("checkpoints-mount")
    folder.rename(aside)  # the mount did not come up: its files are out of reach
    folder.write_text("not a folder: the mount did not come up")  # unwritable even for root

    for attempt in range(4):
        response = edit(client, reference, f"Called the agent, attempt {attempt}.")
        text = response.get_data(as_text=True)
        assert response.status_code == 200, text[-1500:]
        assert "Nothing was saved" not in text and "nothing was saved" not in text
    with app.app_context():
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        assert case.summary == "Called the agent, attempt 3."
        signed = db.session.execute(select(AuditCheckpoint)).scalars().all()
        assert signed  # the checkpoints committed with the edits

        folder.unlink()
        aside.rename(folder)  # the mount is back, with the files it held
        queued = worker.schedule_periodic("test-worker")
        assert queued
        worker.work("test-worker", once=True, periodic=False, heartbeat_every=0.05)
        db.session.expire_all()
        job = db.session.execute(select(Job).where(Job.kind == "audit.checkpoint_files")).scalar_one()
        assert job.status is JobState.SUCCEEDED, job.error
        notes = {path.read_text(encoding="utf-8") for path in folder.glob("checkpoint-*.txt")}
        assert {c.note for c in signed} <= notes


def test_the_job_does_not_refill_an_emptied_checkpoint_folder_from_the_database(app):
    """Issue 17: the files are the copies kept outside the database. Rewriting an emptied folder from the database
    rows would rebuild them from what an attacker may have rewritten, so the job refuses and says what to do."""
    with app.app_context():
        make_case()
    assert app.test_cli_runner().invoke(args=["audit", "checkpoint"]).exit_code == 0
    folder = Path(app.config["AUDIT_CHECKPOINT_DIR"])
    for path in folder.glob("checkpoint-*.txt"):
        path.unlink()
    with app.app_context():
        assert worker.schedule_periodic("test-worker")
        worker.work("test-worker", once=True, periodic=False, heartbeat_every=0.05)
        db.session.expire_all()
        job = db.session.execute(select(Job).where(Job.kind == "audit.checkpoint_files")).scalar_one()
        assert job.status is not JobState.SUCCEEDED
        assert "has lost its oldest checkpoint's file" in (job.error or "")
        assert "Nothing is rewritten from the database" in job.error
    assert list(folder.glob("checkpoint-*.txt")) == []


def test_verify_warns_of_a_stored_checkpoint_without_its_file(app):
    """The newest checkpoint's file is written after its commit (and by a job, should that fail): a folder that
    holds the older files but not the newest is a lag, said as a warning, not a verdict."""
    with app.app_context():
        make_case()
    runner = app.test_cli_runner()
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    folder = Path(app.config["AUDIT_CHECKPOINT_DIR"])
    newest = max(folder.glob("checkpoint-*.txt"))
    assert newest != min(folder.glob("checkpoint-*.txt")), "the first event's checkpoint keeps its file"
    newest.unlink()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and result.output.startswith("intact: ")
    assert "1 stored checkpoint(s) have no file in the checkpoint folder" in result.output


def stored_checkpoints(app) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return len(db.session.execute(select(AuditCheckpoint)).scalars().all())


@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_verify_fails_when_the_checkpoint_folder_is_gone_while_checkpoints_are_stored(app, client, login_as, how):
    """Issue 17: with the whole folder deleted (or emptied, or the setting pointed at a fresh mount), verify read
    no file and said "intact", though the database holds signed checkpoints whose copies outside it are gone."""
    from tests.audit.test_verify import verify, verify_through_the_page

    login_as("auditor")
    with app.app_context():
        make_case()
    assert app.test_cli_runner().invoke(args=["audit", "checkpoint"]).exit_code == 0
    folder = Path(app.config["AUDIT_CHECKPOINT_DIR"])
    stored = stored_checkpoints(app)
    assert stored >= 2 and len(list(folder.glob("checkpoint-*.txt"))) == stored
    if how == "deleted":
        shutil.rmtree(folder)
        state = "does not exist"
    else:
        for path in folder.iterdir():
            path.unlink()
        state = "holds no checkpoint file"
    code, output = verify(app)
    assert code == 1, output
    assert output.startswith(
        f"NOT intact: the checkpoint folder {folder} {state}, but the database holds {stored} signed checkpoints"
    ), output
    page = verify_through_the_page(app, client)
    assert f"NOT intact: the checkpoint folder {folder} {state}" in page
    with app.app_context():
        verdict = (
            db.session.execute(
                select(AuditEvent).where(AuditEvent.action == "audit.verified").order_by(AuditEvent.seq.desc())
            )
            .scalars()
            .first()
        )
        assert verdict is not None and json.loads(verdict.body)["outcome"] == "failure"


def test_an_empty_folder_is_fine_while_no_checkpoint_is_stored(app):
    """A new instance: nothing signed yet, nothing to miss."""
    from tests.audit.test_verify import verify

    assert stored_checkpoints(app) == 0
    code, output = verify(app)
    assert code == 0 and output.startswith("intact: 0 events"), output
