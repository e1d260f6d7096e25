"""Background jobs on both databases: queued with the request, claimed once, followed on their page, retried after
a fault or a killed worker, cancelled, and their secret shown once to the person who asked."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from disclosure.audit.models import AuditEvent
from disclosure.auth.models import User
from disclosure.extensions import db
from disclosure.jobs import service, worker
from disclosure.jobs.models import Job, JobState
from disclosure.permissions import GRANTS, Role
from disclosure.services import NotPermitted, SystemActor
from tests.conftest import base_settings, csrf_from
from tests.factories import make_user
from tests.jobs import tasks

PROJECT = Path(__file__).resolve().parents[2]


def queue(kind: str, who: int | None = None, **params: object) -> str:
    actor = db.session.get(User, who) if who is not None else SystemActor("test")
    job = service.enqueue(actor, kind, f"Test job {kind}", params)
    db.session.commit()
    return job.public_id


def job(public_id: str) -> Job:
    db.session.expire_all()
    return db.session.execute(select(Job).where(Job.public_id == public_id)).scalar_one()


def events(action: str) -> int:
    return db.session.execute(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    ).scalar_one()


def run_all() -> int:
    return worker.work("test-worker", once=True, heartbeat_every=0.05, periodic=False)


def test_a_job_runs_once_and_records_its_outcome_with_its_work(app):
    with app.app_context():
        public_id = queue("test.steps", steps=4)
        assert job(public_id).status is JobState.QUEUED
        assert run_all() == 1
        done = job(public_id)
        assert (done.status, done.progress, done.result, done.attempts) == (
            JobState.SUCCEEDED,
            100,
            {"steps_done": 4},
            1,
        )
        assert done.finished_at is not None and done.error == ""
        assert run_all() == 0  # nothing is run twice
        assert [events(a) for a in ("job.queued", "job.started", "job.finished", "demo.seeded")] == [1, 1, 1, 1]


def test_the_same_request_twice_gives_one_job(app):
    with app.app_context():
        operator = SystemActor("test")
        first = service.enqueue(operator, "test.steps", "Once", {}, dedupe_key="bundle:DR-1:form-abc")
        second = service.enqueue(operator, "test.steps", "Once", {}, dedupe_key="bundle:DR-1:form-abc")
        db.session.commit()
        assert first.id == second.id
        assert db.session.execute(select(func.count()).select_from(Job)).scalar_one() == 1


def test_a_request_that_rolls_back_leaves_no_job(app):
    with app.app_context():
        service.enqueue(SystemActor("test"), "test.steps", "Never", {})
        db.session.rollback()
        assert db.session.execute(select(func.count()).select_from(Job)).scalar_one() == 0
        assert run_all() == 0


def test_a_fault_is_retried_then_fails_in_plain_words_and_keeps_nothing_it_wrote(app):
    with app.app_context():
        public_id = queue("test.boom")
        run_all()
        retry = job(public_id)
        assert (retry.status, retry.attempts) == (JobState.QUEUED, 1)
        assert retry.run_after > retry.created_at  # it waits before the next attempt
        retry.run_after = retry.created_at
        db.session.commit()
        run_all()
        failed = job(public_id)
        assert (failed.status, failed.attempts) == (JobState.FAILED, 2)
        assert failed.error == "It stopped on an unexpected error; the operators' log has the details."
        assert "/secret/path" not in failed.error
        assert events("demo.seeded") == 0  # the task's own write was rolled back both times
        assert events("job.requeued") == 1 and events("job.finished") == 1


def test_a_refusal_fails_at_once_with_its_message(app):
    with app.app_context():
        public_id = queue("test.refused")
        run_all()
        failed = job(public_id)
        assert (failed.status, failed.attempts) == (JobState.FAILED, 1)
        assert failed.error.startswith("The bundle cannot be built")


def test_cancelling_a_queued_job_ends_it_and_a_running_one_stops_at_its_next_step(app):
    with app.app_context():
        operator = SystemActor("test")
        queued = queue("test.steps")
        assert service.cancel(operator, job(queued)) is JobState.CANCELLED
        db.session.commit()
        assert run_all() == 0
        running = queue("test.steps", steps=3)
        job_id = worker.claim("test-worker")
        assert job_id == job(running).id
        service.cancel(operator, job(running))
        db.session.commit()
        assert worker.run_claimed(job_id, "test-worker", heartbeat_every=0.05) is JobState.CANCELLED
        stopped = job(running)
        assert stopped.status is JobState.CANCELLED and stopped.error == "Cancelled at the request of a user."
        assert events("demo.seeded") == 0
        with pytest.raises(service.JobError, match="already ended"):
            service.cancel(operator, stopped)


def test_the_secret_is_shown_once_and_only_to_who_asked(app):
    with app.app_context():
        auditor = make_user("auditor")
        other = make_user("auditor")
        public_id = queue("test.secret", who=auditor.id)
        run_all()
        done = job(public_id)
        assert done.secret is not None and b"horse" not in done.secret  # sealed at rest
        with pytest.raises(NotPermitted):
            service.reveal_secret(db.session.get(User, other.id), done)
        assert service.reveal_secret(db.session.get(User, auditor.id), done) == "correct horse battery staple"
        db.session.commit()
        again = job(public_id)
        assert again.secret is None and again.secret_shown_at is not None
        with pytest.raises(service.JobError, match="no secret"):
            service.reveal_secret(db.session.get(User, auditor.id), again)


def test_the_page_follows_the_job_and_shows_the_secret_once(app, client, login_as):
    me = login_as("auditor")
    with app.app_context():
        public_id = queue("test.secret", who=me.id)
    page = client.get(f"/jobs/{public_id}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Waiting to start" in text
    assert '<noscript><meta http-equiv="refresh" content="3"></noscript>' in text
    assert "js/job-progress.js" in text
    policy = page.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'none'; script-src 'self';") and policy.endswith("; connect-src 'self'")
    assert "connect-src" not in client.get("/jobs").headers["Content-Security-Policy"]  # only where the script runs
    status = client.get(f"/jobs/{public_id}/status").get_json()
    assert status == {
        "state": "queued",
        "label": "Waiting to start",
        "finished": False,
        "progress": 0,
        "note": "",
        "error": "",
    }
    with app.app_context():
        run_all()
    text = client.get(f"/jobs/{public_id}").get_data(as_text=True)
    assert "Finished" in text and "noscript" not in text and "Show the passphrase once" in text
    shown = client.post(f"/jobs/{public_id}/secret", data={"csrf_token": csrf_from(text)})
    assert shown.status_code == 200 and "correct horse battery staple" in shown.get_data(as_text=True)
    assert shown.headers["Cache-Control"] == "no-store"
    later = client.get(f"/jobs/{public_id}").get_data(as_text=True)
    assert "correct horse battery staple" not in later and "is no longer kept" in later
    again = client.post(f"/jobs/{public_id}/secret", data={"csrf_token": csrf_from(later)}, follow_redirects=True)
    assert "There is no secret to show" in again.get_data(as_text=True)
    assert "correct horse battery staple" not in again.get_data(as_text=True)


@pytest.mark.parametrize("role", list(Role))
def test_who_may_see_a_job(app, client, login_as, role):
    """The person who asked, and whoever holds the task's permission (auditing, here); nobody else, not even by its
    address."""
    with app.app_context():
        public_id = queue("test.steps", who=make_user("auditor").id)
    login_as(role.value)
    allowed = service.task_for("test.steps").permission in GRANTS[role]
    assert allowed is (role in {Role.AUDITOR, Role.ADMIN})  # the table below is the grants', not a copy of them
    expected = 200 if allowed else 404
    assert client.get(f"/jobs/{public_id}").status_code == expected
    assert client.get(f"/jobs/{public_id}/status").status_code == expected


def test_a_worker_killed_mid_job_is_replaced_and_the_job_done_once(app, instance, database_url, tmp_path):
    """SIGKILL while the task runs: the job's heartbeat stops, the next worker queues it again and runs it once."""
    with app.app_context():
        ready = tmp_path / "ready"
        public_id = queue("test.steps", steps=200, pause=0.05, ready=str(ready))
    settings = base_settings(instance, database_url)
    settings["SECRET_KEY"] = app.config["SECRET_KEY"]
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(settings))
    environment = {**os.environ, "PYTHONPATH": str(PROJECT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.jobs.run_worker", str(path), "first"],
        cwd=PROJECT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "the worker never started the job"
        time.sleep(0.02)
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    with app.app_context():
        orphaned = job(public_id)
        assert orphaned.status is JobState.RUNNING and orphaned.attempts == 1 and orphaned.progress > 0
        assert worker.requeue_stalled("test-worker", timedelta(seconds=3600)) == []  # still beating, as far as we know
        time.sleep(0.5)
        assert worker.requeue_stalled("test-worker", timedelta(seconds=0.2)) == [public_id]
        requeued = job(public_id)
        assert requeued.status is JobState.QUEUED and "stopped answering" in requeued.error
        requeued.params = {"steps": 2}
        db.session.commit()
        assert run_all() == 1
        done = job(public_id)
        assert (done.status, done.attempts) == (JobState.SUCCEEDED, 2)
        assert events("demo.seeded") == 1  # the killed attempt wrote nothing


def test_two_workers_never_take_the_same_job(app):
    with app.app_context():
        queue("test.steps")
        first = worker.claim("worker-a")
        second = worker.claim("worker-b")
        assert first is not None and second is None
        assert re.match(r"worker-a", job_worker(first))


def job_worker(job_id: int) -> str:
    db.session.expire_all()
    found = db.session.get(Job, job_id)
    assert found is not None and found.worker is not None
    return found.worker


def test_a_periodic_task_is_queued_once_per_interval_however_many_workers_look(app):
    from disclosure.jobs.service import task

    @task("test.hourly", tasks.PERMISSION, every=timedelta(hours=1), label="Hourly test work")
    def hourly(context: service.JobContext) -> None:
        return None

    try:
        with app.app_context():
            first = worker.schedule_periodic("worker-a")
            second = worker.schedule_periodic("worker-b")
            hourly_jobs = [job(public_id) for public_id in first if job(public_id).kind == "test.hourly"]
            assert len(hourly_jobs) == 1 and second == []
            assert hourly_jobs[0].label == "Hourly test work" and hourly_jobs[0].requested_by_id is None
            assert {job(public_id).kind for public_id in first} == {
                "test.hourly",
                "storage.reconcile",
                "audit.checkpoint_files",
                "jobs.purge_outputs",
                "notifications.scan",
                "notifications.digest",
            }
    finally:
        service._TASKS.pop("test.hourly")


def test_a_job_whose_task_this_version_does_not_know_fails_in_plain_words_and_the_worker_goes_on(app):
    with app.app_context():
        stale = queue("test.steps")
        later = queue("test.steps")
        old = job(stale)
        old.kind = "retired.task"
        db.session.commit()
        assert run_all() == 2
        assert job(stale).status is JobState.FAILED and "no background task called 'retired.task'" in job(stale).error
        assert job(later).status is JobState.SUCCEEDED
        auditor = db.session.get(User, make_user("auditor").id)
        assert not service.may_see(auditor, job(stale))  # no task, no permission to judge by: only who asked
