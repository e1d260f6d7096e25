"""Each person reads times in their own time zone, with the UTC instant on hover (issue 16)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime

from sqlalchemy import select

from disclosure.audit.models import AuditEvent
from disclosure.auth.models import User
from disclosure.extensions import db
from disclosure.timezones import render, zone_names
from tests.conftest import csrf_from
from tests.factories import make_case


def _received_line(html: str) -> str:
    match = re.search(r"<dt>Received</dt><dd>(.*?)</dd>", html, re.S)
    assert match, "the case page names when the request was received"
    return match.group(1)


def test_a_new_account_reads_times_in_utc(app, client, login_as):
    login_as("intake")
    with app.app_context():
        case = make_case(received_at="2026-11-02T14:05:00Z")
        reference = case.reference
    line = _received_line(client.get(f"/cases/{reference}").get_data(as_text=True))
    assert "2026-11-02 14:05 UTC" in line


def test_choosing_a_time_zone_shows_every_time_in_it_with_utc_on_hover(app, client, login_as):
    user = login_as("intake")
    with app.app_context():
        case = make_case(received_at="2026-11-02T14:05:00Z")
        reference = case.reference
    page = client.get("/account").get_data(as_text=True)
    response = client.post(
        "/account", data={"csrf_token": csrf_from(page), "time_zone": "Europe/Berlin"}, follow_redirects=True
    )
    assert response.status_code == 200
    assert "Times are now shown in Europe/Berlin" in response.get_data(as_text=True)

    line = _received_line(client.get(f"/cases/{reference}").get_data(as_text=True))
    assert "2026-11-02 15:05 CET" in line  # Berlin is an hour ahead of UTC in November
    assert 'title="2026-11-02 14:05 UTC"' in line
    assert 'datetime="2026-11-02T14:05:00Z"' in line

    listing = client.get("/cases/").get_data(as_text=True)
    assert "CET</time>" in listing and "(UTC)" not in listing  # the list's column no longer claims UTC

    with app.app_context():
        assert db.session.get(User, user.id).time_zone == "Europe/Berlin"
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.settings_changed")).one()
        assert event.subject == f"user:{user.id}"
        assert json.loads(event.body)["data"] == {"time_zone": {"from": "UTC", "to": "Europe/Berlin"}}


def test_a_zone_not_on_the_list_is_refused_beside_the_field_and_changes_nothing(app, client, login_as):
    user = login_as("reviewer")
    page = client.get("/account").get_data(as_text=True)
    response = client.post("/account", data={"csrf_token": csrf_from(page), "time_zone": "Mars/Olympus_Mons"})
    assert response.status_code == 400
    assert "Not a valid choice" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, user.id).time_zone == "UTC"
        assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.settings_changed")).all() == []


def test_saving_the_same_zone_says_nothing_changed_and_logs_nothing(app, client, login_as):
    login_as("auditor")
    page = client.get("/account").get_data(as_text=True)
    response = client.post("/account", data={"csrf_token": csrf_from(page), "time_zone": "UTC"}, follow_redirects=True)
    assert "Nothing changed: that was already your time zone." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.settings_changed")).all() == []


def test_summer_time_and_naive_database_values():
    # SQLite hands back naive datetimes: they are UTC, and summer time is the zone's own.
    summer = render(datetime(2026, 7, 1, 12, 0), "America/New_York")
    assert ">2026-07-01 08:00 EDT<" in summer and 'title="2026-07-01 12:00 UTC"' in summer
    assert ">2026-12-01 07:00 EST<" in render(datetime(2026, 12, 1, 12, 0, tzinfo=UTC), "America/New_York")
    # A day with no time of day is not moved between zones, and an unknown zone falls back to UTC.
    assert ">2026-12-01<" in render(date(2026, 12, 1), "Asia/Tokyo")
    assert ">2026-12-01 12:00 UTC<" in render(datetime(2026, 12, 1, 12, 0), "Gone/Away")
    assert render(None, "UTC") == "—"
    assert zone_names()[0] == "UTC" and "Europe/Berlin" in zone_names()
