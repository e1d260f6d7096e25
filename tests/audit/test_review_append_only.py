"""Reviews and their approvals refuse change once written (issue 17, 12): review_approval is append-only, a review
is never deleted and never changed once decided, on both databases; after `flask db harden-roles` the application
role may not even ask (no DELETE on review or pending_change, only SELECT and INSERT on review_approval).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from disclosure import create_app
from disclosure.extensions import db
from tests.audit.test_views_cli import app_role, privileges, run  # noqa: F401  (app_role is a fixture)
from tests.conftest import base_settings
from tests.factories import make_user
from tests.review.test_two_approvals import approve, prepared

REFUSED = (sa.exc.IntegrityError, sa.exc.OperationalError, sa.exc.InternalError, sa.exc.ProgrammingError)


def decided_wiretap(app: Flask) -> tuple[int, int]:
    """A wiretap review approved by two reviewers (so decided, with two approval rows); returns (decided, open)."""
    _reference, review_id = prepared(app)
    with app.app_context():
        first, second = make_user("reviewer").id, make_user("reviewer").id
    assert approve(app, review_id, first, _reference) == "Approval"
    assert approve(app, review_id, second, _reference) == "Decision"
    _other, open_id = prepared(app)
    return review_id, open_id


def refused(engine: sa.Engine, statement: str, **params: Any) -> bool:
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(statement), params)
    except REFUSED as error:
        message = str(error.orig)
        return "refused" in message or "permission denied" in message
    return False


def test_decided_reviews_and_approvals_refuse_change_on_both_databases(app: Flask) -> None:
    decided, still_open = decided_wiretap(app)
    with app.app_context():
        engine = db.engine
        assert refused(engine, "UPDATE review_approval SET created_at = created_at")
        assert refused(engine, "DELETE FROM review_approval")
        assert refused(engine, "UPDATE review SET counsel_note = 'rewritten' WHERE id = :id", id=decided)
        assert refused(engine, "DELETE FROM review WHERE id = :id", id=still_open)
        # An open review's worksheet still saves.
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE review SET counsel_note = 'draft' WHERE id = :id"), {"id": still_open})


@pytest.mark.backends("postgresql")  # roles and grants exist on PostgreSQL only
def test_harden_roles_gives_no_delete_on_reviews_and_only_insert_on_approvals(
    app: Flask,
    backend: str,
    app_role: str,  # noqa: F811 - the fixture imported above
    instance: Path,
) -> None:
    decided, still_open = decided_wiretap(app)
    result = run(app, "db", "harden-roles", "--app-role", app_role)
    assert result.exit_code == 0, result.output
    assert privileges(app, app_role, "review_approval") == {"SELECT", "INSERT"}
    assert privileges(app, app_role, "review") == {"SELECT", "INSERT", "UPDATE"}
    assert privileges(app, app_role, "pending_change") == {"SELECT", "INSERT", "UPDATE"}

    hardened = create_app(
        base_settings(instance, app.config["SQLALCHEMY_DATABASE_URI"])
        | {"SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": f"-c role={app_role}"}}}
    )
    try:
        with hardened.app_context():
            engine = db.engine
            for statement in (
                "DELETE FROM review_approval",
                "UPDATE review_approval SET created_at = created_at",
                "TRUNCATE review_approval",
                "DELETE FROM review",
                "TRUNCATE review",
                "DELETE FROM pending_change",
            ):
                assert refused(engine, statement), statement
            # The trigger still refuses what the grant allows: an UPDATE of a decided review.
            assert refused(engine, "UPDATE review SET counsel_note = 'rewritten' WHERE id = :id", id=decided)
            with engine.begin() as connection:
                connection.execute(
                    sa.text("UPDATE review SET counsel_note = 'draft' WHERE id = :id"), {"id": still_open}
                )
    finally:
        with hardened.app_context():
            db.session.remove()
            db.engine.dispose()
