"""Parallel sign-in attempts on PostgreSQL, where nothing serialises requests but the locks the code takes.

Issue 17, finding 4: one TOTP code was accepted by several parallel sessions, and a burst of wrong passwords all
went through the throttle because each request counted the failures before any other had recorded its own.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from disclosure.audit.models import AuditEvent
from disclosure.auth.models import SignInFailure
from disclosure.extensions import db
from tests.conftest import csrf_from, fresh_csrf
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.backends("postgresql")


def in_parallel(work: list[Callable[[], Any]]) -> list[Any]:
    """Run each piece of work in its own thread, all released together; their results in order."""
    barrier = threading.Barrier(len(work), timeout=30)
    results: list[Any] = [None] * len(work)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work[index]()
        except Exception as error:  # a crash is a result the test shows, not a hung thread
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def failure_reasons(app: Flask) -> list[str]:
    with app.app_context():
        bodies = db.session.execute(
            select(AuditEvent.body).where(AuditEvent.action == "user.sign_in_failed").order_by(AuditEvent.seq)
        ).scalars()
        return [json.loads(body)["data"]["reason"] for body in bodies]


def test_one_totp_code_is_accepted_by_exactly_one_of_several_parallel_sessions(app, backend):
    with app.app_context():
        user = make_user("reviewer")
    assert user.totp_secret is not None
    sessions: list[tuple[FlaskClient, str]] = []
    for _ in range(6):
        client = app.test_client()
        response = client.post(
            "/sign-in", data={"email": user.email, "password": PASSWORD, "csrf_token": fresh_csrf(client)}
        )
        assert "/sign-in/code" in response.location
        sessions.append((client, csrf_from(client.get("/sign-in/code").get_data(as_text=True))))
    code = pyotp.TOTP(user.totp_secret).now()

    def send(client: FlaskClient, token: str) -> Any:
        return lambda: client.post("/sign-in/code", data={"code": code, "csrf_token": token}).status_code

    statuses = in_parallel([send(client, token) for client, token in sessions])
    assert sorted(statuses) == [200] * 5 + [302], statuses
    with app.app_context():
        signed_in = db.session.execute(select(AuditEvent).where(AuditEvent.action == "user.sign_in")).all()
        refused = db.session.execute(select(AuditEvent).where(AuditEvent.action == "user.second_factor_failed")).all()
    assert len(signed_in) == 1 and len(refused) == 5


def test_a_burst_of_wrong_passwords_and_the_right_one_is_counted_exactly(app, backend):
    """15 wrong passwords and the right one at once: the pause starts after exactly five wrong ones, and every
    refused attempt is on record once."""
    limit = app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]
    with app.app_context():
        # An administrator: the right password leads to the code step, so no failure is cleared by a sign-in.
        user = make_user("admin")
    clients = [app.test_client() for _ in range(16)]
    tokens = [fresh_csrf(client) for client in clients]
    passwords = ["wrong password entirely"] * 15 + [PASSWORD]

    def send(client: FlaskClient, token: str, password: str) -> Any:
        return lambda: (
            client.post("/sign-in", data={"email": user.email, "password": password, "csrf_token": token}).status_code
        )

    statuses = in_parallel([send(c, t, p) for c, t, p in zip(clients, tokens, passwords, strict=True)])
    assert all(status in {200, 302} for status in statuses), statuses
    reasons = failure_reasons(app)
    assert reasons.count("bad_password") == limit, reasons
    accepted = statuses.count(302)
    assert len(reasons) == 16 - accepted and set(reasons) <= {"bad_password", "throttled"}
    with app.app_context():
        assert len(db.session.execute(select(SignInFailure.id)).all()) == len(reasons)
