"""Sign-in and reading pages hold no write lock while they work (issue 17, finding 3).

SQLite has one write lock. Sign-in held it through argon2 and every page began BEGIN IMMEDIATE, so anonymous
sign-in loops slowed every signed-in page to seconds, and a page that waited past the busy timeout was a 500.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask

from disclosure import database
from disclosure.auth import passwords, service
from disclosure.extensions import db
from tests.conftest import csrf_from, fresh_csrf
from tests.factories import PASSWORD, make_user
from tests.locks import write_now


def test_the_password_is_checked_holding_no_write_lock(app, client, backend, monkeypatch):
    with app.app_context():
        user = make_user("intake")
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    checked: list[bool] = []
    verify = passwords.verify_password

    def verify_beside_a_writer(stored_hash: str | None, password: str) -> bool:
        write_now(url, backend)  # fails at once if this request holds the write lock (or the audit head's)
        checked.append(True)
        return verify(stored_hash, password)

    monkeypatch.setattr(service.passwords, "verify_password", verify_beside_a_writer)
    for password in ("wrong password entirely", PASSWORD):
        response = client.post(
            "/sign-in", data={"email": user.email, "password": password, "csrf_token": fresh_csrf(client)}
        )
        assert response.status_code in {200, 302}
    assert checked == [True, True] and response.status_code == 302


@contextmanager
def write_lock_held(app: Flask) -> Iterator[None]:
    """Another connection holds SQLite's write lock for the duration."""
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


@pytest.mark.backends("sqlite")
def test_a_signed_in_page_reads_while_someone_else_holds_the_write_lock(app, client, login_as, monkeypatch):
    login_as("intake")
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 2000)
    with app.app_context():
        db.engine.dispose()  # new connections, with the short busy timeout
    with write_lock_held(app):
        started = time.monotonic()
        response = client.get("/cases/")
        elapsed = time.monotonic() - started
    assert response.status_code == 200 and elapsed < 1.5, (response.status_code, elapsed)


@pytest.mark.backends("sqlite")
def test_a_write_that_waits_past_the_busy_timeout_gets_a_busy_page_not_a_500(app, client, login_as, monkeypatch):
    login_as("intake")
    page = client.get("/account/password").get_data(as_text=True)
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 200)
    with app.app_context():
        db.engine.dispose()
    with write_lock_held(app):
        response = client.post("/sign-out", data={"csrf_token": csrf_from(page)})
    body = response.get_data(as_text=True)
    assert response.status_code == 503, response.status_code
    assert response.headers["Retry-After"] == "5" and "Busy, try again" in body and "nothing was saved" in body
    assert client.get("/account/password").status_code == 200  # still signed in: the sign-out did not happen
