"""/notifications: each person sees, counts and marks read their own notifications only, and chooses how each kind
reaches them by email. One user can neither read nor mark another's: the id answers 404 and nothing changes."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from disclosure.audit.models import AuditEvent
from disclosure.auth.models import User
from disclosure.cases import service as cases
from disclosure.extensions import db
from disclosure.notifications import service
from disclosure.notifications.models import Delivery, NotificationKind
from tests.conftest import csrf_from
from tests.factories import make_case, make_user
from tests.notifications.steps import notifications

HEADER_COUNT = re.compile(r'>Notifications <span class="badge badge-warn">(\d+)<span class="sr-only"> unread</span>')


def assign_to(reviewer_id: int, count: int) -> list[str]:
    assigner = db.session.get_one(User, make_user("reviewer").id)
    references = []
    for _ in range(count):
        case = make_case()
        cases.assign(assigner, case, db.session.get_one(User, reviewer_id), None, None)
        db.session.commit()
        references.append(case.reference)
    return references


def header_count(html: str) -> int:
    match = HEADER_COUNT.search(html)
    return int(match.group(1)) if match else 0


def test_the_list_shows_ones_own_notifications_and_the_header_counts_the_unread(app, client, login_as):
    me = login_as("reviewer")
    with app.app_context():
        mine = assign_to(me.id, 2)
        someone_else = make_user("reviewer")
        theirs = assign_to(someone_else.id, 1)
    page = client.get("/notifications")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert header_count(html) == 2
    for reference in mine:
        assert f"Case {reference} (Search warrant) was assigned to you." in html
        assert f'href="/cases/{reference}"' in html
    assert theirs[0] not in html
    assert header_count(client.get("/").get_data(as_text=True)) == 2  # on every page


def test_marking_read_one_and_all(app, client, login_as):
    me = login_as("reviewer")
    with app.app_context():
        assign_to(me.id, 3)
        first = notifications(recipient_id=me.id)[0].id
    token = csrf_from(client.get("/notifications").get_data(as_text=True))
    response = client.post(f"/notifications/{first}/read", data={"csrf_token": token})
    assert response.status_code == 302 and response.location.endswith("/notifications")
    assert header_count(client.get("/notifications").get_data(as_text=True)) == 2
    client.post(f"/notifications/{first}/read", data={"csrf_token": token})  # again: nothing more happens
    response = client.post("/notifications/read-all", data={"csrf_token": token}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "2 notifications marked read." in html and header_count(html) == 0
    with app.app_context():
        assert all(n.read_at is not None for n in notifications(recipient_id=me.id))


def test_one_user_cannot_read_or_mark_anothers_notifications(app, client, login_as):
    with app.app_context():
        other = make_user("reviewer")
        assign_to(other.id, 2)
        theirs = [n.id for n in notifications(recipient_id=other.id)]
    me = login_as("reviewer", "auditor")
    with app.app_context():
        assign_to(me.id, 1)
    html = client.get("/notifications").get_data(as_text=True)
    token = csrf_from(html)
    for notification_id in theirs:
        assert f"/notifications/{notification_id}/read" not in html
        assert client.post(f"/notifications/{notification_id}/read", data={"csrf_token": token}).status_code == 404
    assert client.post("/notifications/read-all", data={"csrf_token": token}).status_code == 302
    with app.app_context():
        assert all(n.read_at is None for n in notifications(recipient_id=other.id))  # untouched
        assert all(n.read_at is not None for n in notifications(recipient_id=me.id))
        with_their_ids = [service.own_notification(me.id, notification_id) for notification_id in theirs]
        assert with_their_ids == [None, None]


def test_the_settings_page_saves_each_choice_and_records_it(app, client, login_as):
    me = login_as("producer")
    page = client.get("/notifications/settings")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'name="due_soon"' in html and 'name="emergency_received"' not in html
    assert "Always emailed at once" in html and "An emergency request arrived" in html
    form = {"csrf_token": csrf_from(html)}
    form.update({kind.value: "immediate" for kind in service.CHOOSABLE})
    form["due_soon"] = form["ready_to_produce"] = "digest"
    response = client.post("/notifications/settings", data=form, follow_redirects=True)
    assert "Saved." in response.get_data(as_text=True)
    with app.app_context():
        chosen = service.preferences_of(db.session.get_one(User, me.id))
        assert chosen[NotificationKind.DUE_SOON] is Delivery.DIGEST
        assert chosen[NotificationKind.READY_TO_PRODUCE] is Delivery.DIGEST
        assert chosen[NotificationKind.ASSIGNED] is Delivery.IMMEDIATE
        assert chosen[NotificationKind.EMERGENCY_RECEIVED] is Delivery.IMMEDIATE
        recorded = db.session.execute(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "user.settings_changed", AuditEvent.subject == f"user:{me.id}")
        ).scalar_one()
        assert recorded == 1
    again = client.post("/notifications/settings", data=form, follow_redirects=True)
    assert "Nothing changed" in again.get_data(as_text=True)
    form["due_soon"] = "weekly"
    refused = client.post("/notifications/settings", data=form)
    assert refused.status_code == 400 and "Not a valid choice" in refused.get_data(as_text=True)


def test_the_settings_page_says_when_no_email_is_sent(app, client, login_as):
    login_as("intake")
    assert "sends no email yet" in client.get("/notifications/settings").get_data(as_text=True)
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_FROM="Disclosure <d@example.net>")
    assert "sends no email yet" not in client.get("/notifications/settings").get_data(as_text=True)
