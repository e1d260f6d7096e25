"""The worker: claims queued jobs one at a time and runs them, on either database.

The job table is the queue (no second server, and a job is queued in the same transaction as the request that
asked for it, so a rolled-back request leaves no job behind). A claim is one short UPDATE of the oldest due job
(`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers never take the same one; SQLite has one writer at a
time, which serialises claims by itself). While a task runs, a thread beats its heartbeat in short transactions of
its own; a job whose heartbeat stops for `stall_after` (its worker was killed) is queued again, until its attempts
run out. A task's own writes commit in one short transaction with its outcome, so a job either finished with
everything it produced or produced nothing (files it wrote before dying are reconciliation's to remove).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from types import FrameType
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.auth.models import User
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.jobs.models import Job, JobState
from disclosure.jobs.service import (
    JobCancelled,
    JobContext,
    JobError,
    enqueue,
    periodic_tasks,
    seal_secret,
    task_for,
)
from disclosure.services import Actor, SystemActor
from disclosure.unit_of_work import REFUSALS

__all__ = ["claim", "requeue_stalled", "run_claimed", "schedule_periodic", "work", "worker_name"]

log = logging.getLogger(__name__)

#: How long a failed attempt waits before the next, by attempt number (1, 2, …): a minute, then five.
BACKOFF = (timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=5))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def _operator(name: str) -> SystemActor:
    return SystemActor(f"job worker {name}")


def claim(name: str) -> int | None:
    """Take the oldest due queued job for this worker, in one short committed transaction; None when none is due."""
    now = utcnow()
    due = (
        select(Job.id)
        .where(Job.job_state == JobState.QUEUED.value, Job.run_after <= now)
        .order_by(Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    taken = db.session.execute(
        update(Job)
        .where(Job.id == due, Job.job_state == JobState.QUEUED.value)
        .values(
            job_state=JobState.RUNNING.value,
            attempts=Job.attempts + 1,
            worker=name,
            heartbeat_at=now,
            started_at=func.coalesce(Job.started_at, now),
        )
        .returning(Job.id, Job.public_id, Job.kind, Job.attempts)
        .execution_options(synchronize_session=False)
    ).first()
    if taken is None:
        db.session.rollback()
        return None
    job_id, public_id, kind, attempt = taken
    record(
        _operator(name), AuditAction.JOB_STARTED, subject=f"job:{public_id}", data={"kind": kind, "attempt": attempt}
    )
    db.session.commit()
    return int(job_id)


def schedule_periodic(name: str) -> list[str]:
    """Queue each periodic task once per interval: the interval's number is the job's dedupe key, so several
    workers looking at once still queue it once."""
    queued = []
    now = utcnow()
    for periodic in periodic_tasks():
        assert periodic.every is not None
        slot = int(now.timestamp() // periodic.every.total_seconds())
        key = f"every:{periodic.kind}:{slot}"
        if db.session.execute(select(Job.id).where(Job.dedupe_key == key)).first() is not None:
            continue
        try:
            job = enqueue(_operator(name), periodic.kind, periodic.label, {}, dedupe_key=key)
            db.session.commit()
            queued.append(job.public_id)
        except IntegrityError:  # another worker queued it first
            db.session.rollback()
    return queued


def requeue_stalled(name: str, stall_after: timedelta) -> list[str]:
    """Queue again (or fail, once its attempts are spent) every running job whose heartbeat stopped."""
    cutoff = utcnow() - stall_after
    stalled = list(
        db.session.execute(
            select(Job)
            .where(Job.job_state == JobState.RUNNING.value, Job.heartbeat_at < cutoff)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    for job in stalled:
        lost = f"The worker running it ({job.worker}) stopped answering during attempt {job.attempts}."
        if job.attempts >= job.max_attempts:
            _end(job, JobState.FAILED, f"{lost} No attempts are left.", name)
        else:
            job.job_state, job.worker, job.run_after, job.error = JobState.QUEUED.value, None, utcnow(), lost
            record(_operator(name), AuditAction.JOB_REQUEUED, subject=f"job:{job.public_id}", data={"reason": lost})
    db.session.commit()
    return [job.public_id for job in stalled]


def _end(job: Job, state: JobState, error: str, name: str) -> None:
    job.job_state, job.error, job.finished_at, job.worker = state.value, error, utcnow(), None
    record(
        _operator(name),
        AuditAction.JOB_FINISHED,
        subject=f"job:{job.public_id}",
        data={"kind": job.kind, "outcome": state.value, "attempts": job.attempts},
        outcome="success" if state is JobState.SUCCEEDED else "failure",
    )


class _Heartbeat:
    """Beats a running job's heartbeat in short transactions of its own, and answers whether it was cancelled."""

    def __init__(self, engine: Engine, job_id: int, every: float) -> None:
        self.engine, self.job_id, self.every = engine, job_id, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def write(self, **values: Any) -> bool:
        """Write `values` and the heartbeat; True when the job was asked to stop. Best effort: a busy database
        costs a beat, never the job."""
        table = Job.__table__
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    update(table).where(table.c.id == self.job_id).values(heartbeat_at=utcnow(), **values)
                )
                return bool(
                    connection.execute(select(table.c.cancel_requested).where(table.c.id == self.job_id)).scalar()
                )
        except DBAPIError:
            log.warning("job %s: could not record its heartbeat or progress this time", self.job_id)
            return False

    def report(self, percent: int, note: str) -> bool:
        return self.write(progress=percent, progress_note=note)

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            self.write()


def _actor_of(job: Job, name: str) -> Actor:
    if job.requested_by_id is None:
        return _operator(name)
    user = db.session.get(User, job.requested_by_id)
    return user if user is not None else _operator(name)


def run_claimed(job_id: int, name: str, heartbeat_every: float = 5.0) -> JobState:
    """Run a job this worker claimed, and record its outcome."""
    job = db.session.get(Job, job_id)
    assert job is not None
    try:
        registered = task_for(job.kind)
    except JobError as unknown:  # queued by a version that had the task; this one has not
        return _settle(job_id, name, JobState.FAILED, str(unknown))
    engine = db.engine
    with _Heartbeat(engine, job_id, heartbeat_every) as beat:
        context = JobContext(job, _actor_of(job, name), beat.report, db.session.commit)
        db.session.commit()  # hold no transaction while the task computes
        try:
            result = registered.run(context)
            job = db.session.get(Job, job_id)
            assert job is not None
            job.progress, job.result = 100, dict(result or {})
            if context.secret is not None:
                job.secret = seal_secret(job, context.secret)
            _end(job, JobState.SUCCEEDED, "", name)
            db.session.commit()
            return JobState.SUCCEEDED
        except JobCancelled:
            return _settle(job_id, name, JobState.CANCELLED, "Cancelled at the request of a user.")
        except REFUSALS as refusal:
            return _settle(job_id, name, JobState.FAILED, str(refusal))
        except Exception:
            log.exception("job %s (%s) failed", job_id, registered.kind)
            return _settle(job_id, name, None, "It stopped on an unexpected error; the operators' log has the details.")


def _settle(job_id: int, name: str, state: JobState | None, error: str) -> JobState:
    """After a failed attempt: nothing the task wrote stays; the job ends, or (state None) is queued again."""
    db.session.rollback()
    job = db.session.get(Job, job_id)
    assert job is not None
    if state is None and job.attempts < job.max_attempts:
        wait = BACKOFF[min(job.attempts, len(BACKOFF)) - 1]
        job.job_state, job.worker, job.run_after, job.error = JobState.QUEUED.value, None, utcnow() + wait, error
        record(_operator(name), AuditAction.JOB_REQUEUED, subject=f"job:{job.public_id}", data={"reason": error})
        db.session.commit()
        return JobState.QUEUED
    _end(job, state or JobState.FAILED, error, name)
    db.session.commit()
    return state or JobState.FAILED


def work(
    name: str,
    *,
    poll: float = 2.0,
    stall_after: timedelta = timedelta(minutes=2),
    heartbeat_every: float = 5.0,
    once: bool = False,
    periodic: bool = True,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Claim and run jobs until told to stop (or, with `once`, until none is due). Returns how many ran."""
    ran = 0
    while not should_stop():
        try:
            if periodic:
                schedule_periodic(name)
            requeue_stalled(name, stall_after)
            job_id = claim(name)
        except DBAPIError:  # the database went away: keep the worker, try again after a pause
            log.exception("job worker %s: could not reach the queue", name)
            db.session.rollback()
            if once:
                break
            time.sleep(max(poll, 5.0))
            continue
        if job_id is None:
            if once:
                break
            time.sleep(poll)
            continue
        run_claimed(job_id, name, heartbeat_every)
        ran += 1
    return ran


class StopFlag:
    """Set by SIGTERM or SIGINT: the worker finishes the job it is running, then stops."""

    def __init__(self) -> None:
        self.stopping = False
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._set)

    def _set(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def __call__(self) -> bool:
        return self.stopping
