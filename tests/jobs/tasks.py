"""Tasks for the job tests, registered like the app's own: real database writes, real audit events."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.jobs.service import JobContext, JobError, task
from disclosure.permissions import Permission

PERMISSION = Permission.AUDIT_VERIFY


@task("test.steps", PERMISSION)
def steps(context: JobContext) -> dict[str, Any]:
    """Reports progress over `steps` steps (waiting `pause` seconds each, touching `ready` when it starts), then
    writes an audit event: what it wrote stays only if the job succeeds."""
    count, pause = int(context.params.get("steps", 3)), float(context.params.get("pause", 0))
    if ready := context.params.get("ready"):
        Path(ready).touch()
    for step in range(count):
        context.progress(int(step * 100 / count), f"step {step + 1} of {count}")
        time.sleep(pause)
    record(context.actor, AuditAction.DEMO_SEEDED, subject="test:steps", data={"steps": count})
    return {"steps_done": count}


@task("test.boom", PERMISSION, max_attempts=2)
def boom(context: JobContext) -> None:
    record(context.actor, AuditAction.DEMO_SEEDED, subject="test:boom")
    raise RuntimeError("a fault inside the task, with a detail nobody should see: /secret/path")


@task("test.refused", PERMISSION)
def refused(context: JobContext) -> None:
    raise JobError("The bundle cannot be built: the case has no production records. Add them first.")


@task("test.secret", PERMISSION)
def secret(context: JobContext) -> dict[str, Any]:
    context.keep_secret("correct horse battery staple")
    return {"bundle": "made"}
