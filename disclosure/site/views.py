"""The signed-in home page and the public health checks: /health (the process and its database answer) and /ready
(it can serve requests: database, blob store, keys and checkpoint folder in place)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import text

from disclosure.auth.access import requires
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.permissions import Permission
from disclosure.site.readiness import readiness

bp = Blueprint("site", __name__)


@bp.route("/")
@requires(Permission.ACCOUNT_SELF)
def index() -> Any:
    queues = None
    now = utcnow()
    if current_user.can(Permission.CASE_VIEW):
        from disclosure.cases.queries import queues as case_queues

        queues = case_queues(current_user.id, now)
    return render_template("site/index.html", queues=queues, now=now)


@bp.route("/health")
def health() -> Any:
    """Public liveness: says only whether the database answers, nothing about the deployment."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:
        return {"status": "unavailable"}, 503  # the unit of work rolls back a 5xx
    return {"status": "ok"}


@bp.route("/ready")
def ready() -> Any:
    """Public readiness: each check's name with true or false, 503 naming those that failed; never a path."""
    checks = readiness()
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        return {"status": "unavailable", "checks": checks, "failed": failed}, 503  # the unit of work rolls back
    return {"status": "ok", "checks": checks}
