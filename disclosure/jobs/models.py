"""A background job: long work (a bundle, a verification, a reconciliation) asked for by a request and run by a
worker, with its progress, outcome and (for a bundle) a secret shown once to the person who asked.

The row is the queue: a worker claims the oldest queued job whose time has come in one short transaction, reports
progress and a heartbeat in short transactions of its own, and records the outcome in a last one. A job whose
heartbeat stops (its worker was killed) is queued again until its attempts run out.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column, relationship

from disclosure.auth.models import User
from disclosure.clock import utcnow
from disclosure.extensions import db


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


_LABELS = {
    JobState.QUEUED: "Waiting to start",
    JobState.RUNNING: "Running",
    JobState.SUCCEEDED: "Finished",
    JobState.FAILED: "Failed",
    JobState.CANCELLED: "Cancelled",
}

_DOCUMENT = JSON().with_variant(postgresql.JSONB(), "postgresql")


class Job(db.Model):  # type: ignore[name-defined]
    __tablename__ = "job"
    __table_args__ = (
        CheckConstraint("state IN (" + ", ".join(f"'{s.value}'" for s in JobState) + ")", name="known_state"),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress_in_range"),
        CheckConstraint("attempts >= 0 AND attempts <= max_attempts", name="attempts_in_range"),
        Index("ix_job_queue", "state", "run_after", "id"),
        Index("ix_job_requested_by", "requested_by_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: What URLs and pages name the job by (never the row id).
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    #: The registered task that runs it, e.g. "bundle.build".
    kind: Mapped[str] = mapped_column(String(40))
    #: What the job does, for people: "Build the disclosure bundle for DR-2026-00042".
    label: Mapped[str] = mapped_column(String(300))
    params: Mapped[dict[str, Any]] = mapped_column(_DOCUMENT, default=dict)
    #: The same request asked twice (a double click, a retried form) gives the same job, never a second one.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    #: The column `state`; named job_state here so that `.state =` stays the case mover's alone (a test holds it).
    job_state: Mapped[str] = mapped_column("state", String(20), default=JobState.QUEUED.value)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_file.id"), default=None)
    progress: Mapped[int] = mapped_column(default=0)
    progress_note: Mapped[str] = mapped_column(String(300), default="")
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    #: Not before: a failed attempt waits a little before the next one.
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    worker: Mapped[str | None] = mapped_column(String(100), default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    #: What the job produced, for its page (e.g. the bundle's public id and file name). Never a secret.
    result: Mapped[dict[str, Any] | None] = mapped_column(_DOCUMENT, default=None)
    #: Why it failed, in plain words for the person who asked.
    error: Mapped[str] = mapped_column(Text, default="")
    #: A secret the job produced for the person who asked (a bundle's passphrase), encrypted; cleared once shown.
    secret: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    secret_shown_at: Mapped[datetime | None] = mapped_column(default=None)
    #: The file the job produced (a dossier or a report PDF): the blob store's name for it, or None when it
    #: produced none or the file was purged. Reconciliation counts it as referenced.
    output_blob: Mapped[str | None] = mapped_column(String(32), default=None)
    #: What the download is called, e.g. "dossier-DR-2026-00042.pdf".
    output_filename: Mapped[str | None] = mapped_column(String(200), default=None)
    output_media_type: Mapped[str | None] = mapped_column(String(100), default=None)
    output_size: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), default=None)
    output_sha256: Mapped[str | None] = mapped_column(String(64), default=None)

    requested_by: Mapped[User | None] = relationship()

    @property
    def status(self) -> JobState:
        return JobState(self.job_state)
