"""Connection health: a database connection killed between requests costs no request; one killed during a request
gives the app's own error page (never a traceback or the server's bare 500), is invalidated so that nothing reuses
it, and the next request works. Tested by really terminating PostgreSQL backends from a separate connection."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from disclosure.audit import service as audit_service
from disclosure.audit.actions import AuditAction
from disclosure.audit.models import AuditEvent
from disclosure.extensions import db
from tests.conftest import csrf_from

REFERENCE = re.compile(r'Reference: <span class="mono">([0-9a-f]{16})</span>')


def terminate(app, pids: list[int] | None = None) -> int:
    """Terminate the app's server connections (all of them, or those given) from a connection of our own."""
    with app.app_context():
        admin = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as connection:
            if pids is None:
                sql = (
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                return int(connection.execute(sa.text(sql)).scalar_one())
            for pid in pids:
                connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            return len(pids)
    finally:
        admin.dispose()


def the_apps_error_page(response) -> str:
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Something went wrong" in body and "Traceback" not in body
    match = REFERENCE.search(body)
    assert match, "the page shows no reference"
    assert response.headers["X-Request-Id"] == match.group(1)
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    return match.group(1)


def sign_out_events(app) -> int:
    with app.app_context():
        return db.session.query(AuditEvent).filter_by(action=str(AuditAction.USER_SIGN_OUT)).count()


@pytest.mark.backends("postgresql")
def test_connections_terminated_between_requests_cost_no_request(app, client, login_as):
    login_as("intake")
    assert client.get("/").status_code == 200  # the pool now holds a connection the server is about to drop
    assert terminate(app) >= 1
    assert client.get("/").status_code == 200
    assert terminate(app) >= 1
    token = csrf_from(client.get("/account/password").get_data(as_text=True))
    assert terminate(app) >= 1
    # An audited write, on a pool whose every connection the server has dropped.
    response = client.post("/sign-out", data={"csrf_token": token})
    assert response.status_code == 302 and "/sign-in" in response.location
    assert sign_out_events(app) == 1


@pytest.mark.backends("postgresql")
@pytest.mark.parametrize("propagate", [False, True], ids=["production", "testing"])
def test_a_connection_lost_during_an_audit_append_is_invalidated_and_answered_with_the_error_page(
    app, client, login_as, monkeypatch, caplog, propagate
):
    app.config["PROPAGATE_EXCEPTIONS"] = propagate
    login_as("intake")
    token = csrf_from(client.get("/account/password").get_data(as_text=True))
    lock_head = audit_service._lock_head
    lost = []

    def lose_the_connection_first(connection):
        # The raw-driver append reads the head row first: the server drops the connection just before.
        monkeypatch.setattr(audit_service, "_lock_head", lock_head)
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        terminate(app, [pid])
        lost.append(connection)
        return lock_head(connection)

    monkeypatch.setattr(audit_service, "_lock_head", lose_the_connection_first)
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        response = client.post("/sign-out", data={"csrf_token": token})
    reference = the_apps_error_page(response)
    assert lost, "the append never ran"

    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    # One error, the one the page refers to: the rollback after it did not fail in turn.
    assert [record.getMessage() for record in errors] == [f"unhandled error, request id {reference}, POST /sign-out"]
    error = errors[0].exc_info[1]
    assert isinstance(error, sa.exc.DBAPIError) and error.connection_invalidated
    assert "FOR UPDATE" in str(error) and "parameters" not in str(error).lower()

    # Nothing was written (the sign-out is not on record, the session lives on) and the next requests work.
    assert sign_out_events(app) == 0
    assert client.get("/").status_code == 200
    response = client.post("/sign-out", data={"csrf_token": token})
    assert response.status_code == 302 and sign_out_events(app) == 1


@pytest.mark.backends("postgresql")
@pytest.mark.parametrize("propagate", [False, True], ids=["production", "testing"])
def test_a_rollback_that_fails_after_an_error_still_gives_the_error_page(app, client, login_as, caplog, propagate):
    """Driver SQL run outside SQLAlchemy (as audit verification's streaming reads are) on a connection the server
    dropped: SQLAlchemy learns of the loss only when the error handler's rollback fails on it."""
    from disclosure.auth.access import requires
    from disclosure.permissions import Permission

    @requires(Permission.ACCOUNT_SELF)
    def raw_read():
        connection = db.session.connection()
        terminate(app, [connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()])
        connection.connection.driver_connection.execute("SELECT 1")
        return "unreachable"

    app.add_url_rule("/raw-read", "raw_read", raw_read)
    app.config["PROPAGATE_EXCEPTIONS"] = propagate
    login_as("intake")
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        response = client.get("/raw-read")
    reference = the_apps_error_page(response)
    messages = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert messages == [
        f"unhandled error, request id {reference}, GET /raw-read",
        "the rollback failed; the transaction ends without it",
    ]
    assert client.get("/").status_code == 200


@pytest.mark.backends("sqlite")
def test_the_error_page_is_drawn_even_when_the_database_cannot_be_opened_again(app, client, login_as, database_url):
    """The error page's layout asks the database who is signed in; with the database gone it is drawn without
    the layout, still the app's page with its reference, never the server's bare 500 or a traceback."""
    login_as("intake")
    database = Path(database_url.removeprefix("sqlite:///"))
    moved = database.with_name("moved")
    moved.mkdir()
    for part in database.parent.glob(f"{database.name}*"):
        shutil.move(part, moved / part.name)
    database.mkdir()  # a folder where the file was: SQLite cannot open it
    with app.app_context():
        db.engine.dispose()
    try:
        response = client.get("/")
    finally:
        database.rmdir()
        for part in moved.iterdir():
            shutil.move(part, database.parent / part.name)
    the_apps_error_page(response)
    assert client.get("/").status_code == 200
