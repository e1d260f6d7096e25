"""Per-person limits on signing audit checkpoints and building bundles (issue 17, finding 12).

Each person may ask for at most RATE_LIMIT_PER_MINUTE (default 6) of each kind in any 60 seconds. The count is
read from the rows the requests themselves leave in the database (the bundle jobs queued, the checkpoints signed
and verifications asked for), so every app process sees the same count, and nothing is kept in memory. `check`
runs in the transaction that then writes the new row, holding the person's lock (their user row FOR UPDATE on
PostgreSQL; SQLite's write lock), so parallel requests are counted exactly. Over the limit, RateLimited is raised:
the app answers 429 with Retry-After, saying when to try again, and nothing is written.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from enum import StrEnum

from flask import current_app, g, render_template
from sqlalchemy import select

from disclosure.audit.actions import AuditAction
from disclosure.audit.models import AuditEvent
from disclosure.auth.models import User
from disclosure.auth.throttle import lock_account
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.jobs.models import Job
from disclosure.jobs.tasks import AUDIT_EXTRACT_BUNDLE, BUNDLE_BUILD, REPORT_BUNDLE, VERIFY

#: Default for RATE_LIMIT_PER_MINUTE.
PER_MINUTE = 6
PERIOD = timedelta(minutes=1)


class Limited(StrEnum):
    """What is limited, each counted apart."""

    BUNDLE = "bundle"
    CHECKPOINT = "checkpoint"

    @property
    def label(self) -> str:
        return {"bundle": "bundles asked for", "checkpoint": "checkpoints signed or verifications asked for"}[self]


BUNDLE_KINDS = (BUNDLE_BUILD, AUDIT_EXTRACT_BUNDLE, REPORT_BUNDLE)


class RateLimited(Exception):
    """A person asked for more of one kind within a minute than allowed; nothing was done."""

    def __init__(self, what: Limited, limit: int, retry_after: int) -> None:
        super().__init__(
            f"You have asked for {limit} {what.label} within a minute, the most allowed; nothing was done this time. "
            f"Try again in {retry_after} second{'s' if retry_after != 1 else ''}."
        )
        self.what = what
        self.retry_after = retry_after


def _recent(user_id: int, what: Limited, since: datetime) -> list[datetime]:
    if what is Limited.BUNDLE:
        kinds: tuple[str, ...] = BUNDLE_KINDS
    else:
        kinds = (VERIFY,)
    jobs = select(Job.created_at).where(Job.requested_by_id == user_id, Job.kind.in_(kinds), Job.created_at >= since)
    times = list(db.session.execute(jobs).scalars())
    if what is Limited.CHECKPOINT:
        signed = select(AuditEvent.ts).where(
            AuditEvent.actor_id == user_id,
            AuditEvent.action == AuditAction.AUDIT_CHECKPOINT.value,
            AuditEvent.ts >= since,
        )
        times += list(db.session.execute(signed).scalars())
    return times


def check(user: User, what: Limited) -> None:
    """Raise RateLimited if `user` reached the limit for `what` in the last minute; call in the writing
    transaction, before the row that counts is written."""
    limit = int(current_app.config.get("RATE_LIMIT_PER_MINUTE", PER_MINUTE))
    lock_account(user.email, user)
    now = utcnow()
    times = sorted(_recent(user.id, what, now - PERIOD))
    if len(times) < limit:
        return
    # The request is allowed again once enough of the recent ones are more than a minute old.
    frees_at = times[len(times) - limit] + PERIOD
    raise RateLimited(what, limit, max(1, math.ceil((frees_at - now).total_seconds())))


def count(user: User, what: Limited) -> int:
    """How many of `what` the person asked for in the last minute (for tests and the page)."""
    return len(_recent(user.id, what, utcnow() - PERIOD))


def too_many(error: RateLimited) -> tuple[str, int, dict[str, str]]:
    """The 429 page: what was refused and when to try again, with Retry-After."""
    page = render_template(
        "errors/error.html",
        status=429,
        title="Too many requests",
        message=str(error),
        detail=None,
        request_id=g.get("request_id", "-"),
    )
    return page, 429, {"Retry-After": str(error.retry_after)}
