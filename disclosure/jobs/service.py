"""Asking for a job, watching it, cancelling it, and collecting what it produced for the person who asked.

Every task is registered with the permission it needs (`task`); asking for it, seeing it and cancelling it need
that permission too, and the task re-checks it when it runs. A job is queued in the request's own transaction,
so it exists only if the request that asked for it committed. Services never commit.

A job may produce one file (a dossier or a report PDF): stored as an encrypted blob that commits with the job's
outcome (`store_output`), downloadable by whoever may see the job and holds its task's permission
(`may_download`), and deleted once OUTPUT_RETENTION has passed (`purge_expired_outputs`).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from sqlalchemy import select

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.cases.models import Case
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.jobs.models import Job, JobState
from disclosure.permissions import Permission
from disclosure.services import Actor, NotPermitted, ServiceError, SystemActor, require
from disclosure.storage.store import StorageError
from disclosure.storage.transactional import app_store, put_in_transaction

__all__ = [
    "OUTPUT_RETENTION",
    "JobContext",
    "JobError",
    "Task",
    "cancel",
    "enqueue",
    "may_download",
    "may_see",
    "periodic_tasks",
    "purge_expired_outputs",
    "reveal_secret",
    "store_output",
    "task",
    "task_for",
]

log = logging.getLogger(__name__)

#: How long a file a job produced (a dossier, a report PDF) is kept: it holds case data, and can be prepared again.
OUTPUT_RETENTION = timedelta(days=7)
#: The largest file a job may store (a PDF is rendered in memory first, so this is a guard, not a budget).
OUTPUT_MAX_BYTES = 1 << 30


class JobError(ServiceError):
    """A job cannot be asked for, cancelled or shown; the message says why."""


class JobCancelled(Exception):
    """Raised inside a running task when someone cancelled its job."""


class JobContext:
    """What a running task may do besides its work: say how far it got, notice a cancellation, keep a secret."""

    def __init__(
        self,
        job: Job,
        actor: Actor,
        report: Callable[[int, str], bool],
        commit: Callable[[], None],
    ) -> None:
        self.public_id, self.actor, self.params = job.public_id, actor, dict(job.params)
        self.case_id = job.case_id
        self._report, self._commit = report, commit
        self.secret: str | None = None

    def commit(self) -> None:
        """Commit the task's first, short step (e.g. a bundle's start event and its checkpoint) so that its long
        step holds no transaction. What is committed stays even if the task fails later: it must be true then too."""
        self._commit()

    def progress(self, percent: int, note: str) -> None:
        """Record how far the task got (0-100) with a short note, in a transaction of its own; raise
        JobCancelled if the job was cancelled meanwhile. Call it only while holding no transaction."""
        if self._report(max(0, min(100, percent)), note[:300]):
            raise JobCancelled

    def keep_secret(self, secret: str) -> None:
        """A secret for the person who asked (a bundle's passphrase): stored encrypted with the outcome and shown to
        them once."""
        self.secret = secret


#: A task: given its context, do the work and return what its page shows (never a secret).
Runner = Callable[[JobContext], Mapping[str, Any] | None]


@dataclass(frozen=True)
class Task:
    kind: str
    run: Runner
    permission: Permission
    max_attempts: int = 3
    #: A periodic task: the worker queues it itself once in every such interval.
    every: timedelta | None = None
    #: How its jobs are named when the worker queues it.
    label: str = ""


_TASKS: dict[str, Task] = {}


def task(
    kind: str, permission: Permission, max_attempts: int = 3, *, every: timedelta | None = None, label: str = ""
) -> Callable[[Runner], Runner]:
    """Register the decorated function as the task `kind` (run every `every` by the worker itself, if given)."""

    def register(run: Runner) -> Runner:
        _TASKS[kind] = Task(kind, run, permission, max_attempts, every, label or kind)
        return run

    return register


def periodic_tasks() -> list[Task]:
    return [t for t in _TASKS.values() if t.every is not None]


def task_for(kind: str) -> Task:
    try:
        return _TASKS[kind]
    except KeyError:
        raise JobError(f"There is no background task called {kind!r}.") from None


def enqueue(
    actor: Actor,
    kind: str,
    label: str,
    params: Mapping[str, Any] | None = None,
    *,
    case: Case | None = None,
    dedupe_key: str | None = None,
    ip: str | None = None,
) -> Job:
    """Queue the task `kind` for `actor`; the same `dedupe_key` asked again gives the job already queued."""
    registered = task_for(kind)
    require(actor, registered.permission)
    if dedupe_key is not None:
        existing: Job | None = db.session.execute(select(Job).where(Job.dedupe_key == dedupe_key)).scalar()
        if existing is not None:
            return existing
    job = Job(
        public_id=secrets.token_hex(16),
        kind=kind,
        label=label[:300],
        params=dict(params or {}),
        dedupe_key=dedupe_key,
        requested_by_id=None if isinstance(actor, SystemActor) else actor.id,
        case_id=case.id if case is not None else None,
        max_attempts=registered.max_attempts,
        run_after=utcnow(),
    )
    db.session.add(job)
    db.session.flush()
    record(actor, AuditAction.JOB_QUEUED, subject=f"job:{job.public_id}", ip=ip, data={"kind": kind, "label": label})
    return job


def may_see(actor: Actor, job: Job) -> bool:
    """The person who asked, or anyone holding the task's permission."""
    if not isinstance(actor, SystemActor) and job.requested_by_id == actor.id:
        return True
    registered = _TASKS.get(job.kind)
    return registered is not None and actor.can(registered.permission)


def cancel(actor: Actor, job: Job, ip: str | None = None) -> JobState:
    """Cancel a queued job at once; ask a running one to stop at its next step. Returns the state after."""
    if not may_see(actor, job):
        raise NotPermitted("You may not cancel this job.")
    if job.status.finished:
        raise JobError(f"This job has already ended ({job.status.label.lower()}); there is nothing to cancel.")
    if job.status is JobState.QUEUED:
        job.job_state, job.finished_at = JobState.CANCELLED.value, utcnow()
    else:
        job.cancel_requested = True
    record(actor, AuditAction.JOB_CANCELLED, subject=f"job:{job.public_id}", ip=ip, data={"state": job.job_state})
    db.session.flush()
    return job.status


def _cipher() -> AESGCM:
    secret = current_app.config["SECRET_KEY"].encode("utf-8")
    return AESGCM(HKDF(algorithm=SHA256(), length=32, salt=None, info=b"disclosure job-secret v1").derive(secret))


def seal_secret(job: Job, secret: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + _cipher().encrypt(nonce, secret.encode("utf-8"), job.public_id.encode("ascii"))


def reveal_secret(actor: Actor, job: Job, ip: str | None = None) -> str:
    """The job's secret, to the person who asked, once: it is erased as it is shown."""
    if isinstance(actor, SystemActor) or job.requested_by_id != actor.id:
        raise NotPermitted("Only the person who asked for this job may see its secret.")
    if job.secret is None:
        shown = f" It was shown on {job.secret_shown_at:%Y-%m-%d %H:%M} UTC." if job.secret_shown_at else ""
        raise JobError(f"There is no secret to show for this job.{shown}")
    value = _cipher().decrypt(job.secret[:12], job.secret[12:], job.public_id.encode("ascii")).decode("utf-8")
    job.secret, job.secret_shown_at = None, utcnow()
    record(actor, AuditAction.JOB_SECRET_SHOWN, subject=f"job:{job.public_id}", ip=ip)
    db.session.flush()
    return value


def may_download(actor: Actor, job: Job) -> bool:
    """Whoever may see the job and holds its task's permission today (someone who asked and has since lost the
    role may see the job, not what it produced)."""
    registered = _TASKS.get(job.kind)
    return registered is not None and may_see(actor, job) and actor.can(registered.permission)


def store_output(public_id: str, data: bytes, filename: str, media_type: str) -> Job:
    """Store `data` encrypted as the file job `public_id` produced; the blob commits with the job's outcome (a
    rollback removes it). Call it with no transaction open: the write happens before the transaction's first
    statement, so the transaction that records it stays short."""
    blob = put_in_transaction([data], OUTPUT_MAX_BYTES, owner="job")
    job = db.session.execute(select(Job).where(Job.public_id == public_id)).scalar_one()
    job.output_blob, job.output_filename, job.output_media_type = blob.name, filename[:200], media_type[:100]
    job.output_size, job.output_sha256 = blob.size, blob.sha256
    db.session.flush()
    return job


def expired_outputs(now: datetime | None = None) -> list[Job]:
    cutoff = (now or utcnow()) - OUTPUT_RETENTION
    return list(
        db.session.execute(
            select(Job).where(Job.output_blob.is_not(None), Job.finished_at < cutoff).order_by(Job.id)
        ).scalars()
    )


def purge_expired_outputs(actor: Actor, now: datetime | None = None) -> list[str]:
    """Forget the files of jobs that finished more than OUTPUT_RETENTION ago: one audit event each, the output
    columns cleared. Returns the blob names, which the caller deletes once this is committed (`delete_blobs`)."""
    require(actor, Permission.STORAGE_MAINTAIN)
    names = []
    for job in expired_outputs(now):
        assert job.output_blob is not None
        record(
            actor,
            AuditAction.JOB_OUTPUT_PURGED,
            subject=f"job:{job.public_id}",
            data={
                "kind": job.kind,
                "file": job.output_filename,
                "sha256": job.output_sha256,
                "size": job.output_size,
                "kept_days": OUTPUT_RETENTION.days,
            },
        )
        names.append(job.output_blob)
        job.output_blob = job.output_filename = job.output_media_type = job.output_sha256 = None
        job.output_size = None
    db.session.flush()
    return names


def delete_blobs(names: list[str]) -> int:
    """Delete blobs no row names any more (after the commit that forgot them). One that cannot be deleted now is
    an orphan `flask storage reconcile` removes later. Returns how many were deleted."""
    store, deleted = app_store(), 0
    for name in names:
        try:
            deleted += store.delete(name)
        except (OSError, StorageError):
            log.exception("could not delete the expired job output %s; reconciliation will", name)
    return deleted
