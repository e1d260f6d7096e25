"""The signed-in home page and the public health check."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import text

from disclosure.auth.access import requires
from disclosure.extensions import db
from disclosure.permissions import Permission

bp = Blueprint("site", __name__)


@bp.route("/")
@requires(Permission.ACCOUNT_SELF)
def index() -> Any:
    return render_template("site/index.html")


@bp.route("/health")
def health() -> Any:
    """Public: says only whether the database answers, nothing about the deployment."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        db.session.rollback()
        return {"status": "unavailable"}, 503
    return {"status": "ok"}
