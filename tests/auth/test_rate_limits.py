"""Issue 17, finding 12: signing audit checkpoints and building bundles are limited per person, at most 6 a minute
(RATE_LIMIT_PER_MINUTE), counted in the database so that every app process sees the same count. Over the limit
the answer is a plain 429 page saying when to try again, with Retry-After, and nothing is done."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import func, select

from disclosure.app import create_app
from disclosure.audit.models import AuditCheckpoint
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.jobs.models import Job
from tests.conftest import HttpsClient, base_settings, csrf_from, sign_in
from tests.factories import PASSWORD, make_user


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_report_checkpoints_are_limited_per_person_across_app_processes(app, client, instance, database_url):
    with app.app_context():
        auditor = make_user("auditor")
        other = make_user("auditor")
    # A second app process on the same database: nothing it counts is shared in memory with the first.
    second = create_app({**base_settings(instance, database_url), "SECRET_KEY": app.config["SECRET_KEY"]})
    second.test_client_class = HttpsClient
    client_two = second.test_client()
    for c in (client, client_two):
        assert sign_in(c, auditor.email, auditor.password).status_code == 302
    token_one = csrf_from(client.get("/audit/checkpoint").get_data(as_text=True))
    token_two = csrf_from(client_two.get("/audit/checkpoint").get_data(as_text=True))
    for n in range(6):
        c, token = (client, token_one) if n % 2 else (client_two, token_two)
        assert c.post("/reports/checkpoint", data={"csrf_token": token}).status_code == 302
    signed = count(app, AuditCheckpoint)
    refused = client.post("/reports/checkpoint", data={"csrf_token": token_one})
    body = refused.get_data(as_text=True)
    assert refused.status_code == 429 and "Too many requests" in body
    assert re.search(r"Try again in \d+ seconds?\.", body)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert client_two.post("/reports/checkpoint", data={"csrf_token": token_two}).status_code == 429
    assert count(app, AuditCheckpoint) == signed  # nothing signed
    # Someone else is not limited by it.
    other_client = app.test_client()
    sign_in(other_client, other.email, other.password)
    token = csrf_from(other_client.get("/audit/checkpoint").get_data(as_text=True))
    assert other_client.post("/reports/checkpoint", data={"csrf_token": token}).status_code == 302
    # A minute later the person may sign again.
    with freeze_time(utcnow() + timedelta(seconds=61), tick=True):
        assert client.post("/reports/checkpoint", data={"csrf_token": token_one}).status_code == 302
    with second.app_context():
        db.engine.dispose()


def test_verify_now_is_limited(app, client, login_as):
    login_as("auditor")
    token = csrf_from(client.get("/audit/checkpoint").get_data(as_text=True))
    for _ in range(6):
        assert client.post("/audit/checkpoint", data={"csrf_token": token}).status_code == 302
    refused = client.post("/audit/checkpoint", data={"csrf_token": token})
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert count(app, Job, Job.kind == "audit.verify") == 6


@pytest.mark.parametrize("url", ["/audit/bundles", "/reports/transparency/bundle"])
def test_bundles_are_limited_per_person(app, client, login_as, url):
    login_as("auditor")
    token = csrf_from(client.get("/audit/").get_data(as_text=True))
    period = {"csrf_token": token, "start": "2026-01-01", "end": "2026-01-31", "password": PASSWORD}
    for n in range(6):
        assert client.post(url, data={**period, "nonce": f"n{n}"}).status_code == 302
    refused = client.post(url, data={**period, "nonce": "seventh"})
    assert refused.status_code == 429 and "Try again in" in refused.get_data(as_text=True)
    kinds = ("audit.extract_bundle", "report.bundle", "bundle.build")
    assert count(app, Job, Job.kind.in_(kinds)) == 6
