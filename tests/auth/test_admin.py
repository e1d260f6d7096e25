"""User administration through the pages an administrator uses, and the audit record it leaves."""

from __future__ import annotations

import json

from sqlalchemy import select

from disclosure.audit.models import AuditEvent
from disclosure.auth.models import User
from disclosure.extensions import db
from tests.conftest import csrf_from, sign_in
from tests.factories import PASSWORD


def events(app, action):
    with app.app_context():
        return [
            json.loads(e.body)
            for e in db.session.execute(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            ).scalars()
        ]


def test_admin_creates_a_user_who_must_change_the_temporary_password(app, client, login_as):
    admin = login_as("admin")
    page = client.get("/admin/users/new").get_data(as_text=True)
    response = client.post(
        "/admin/users/new",
        data={
            "csrf_token": csrf_from(page),
            "email": "New.Person@Example.org",
            "name": "New Person",
            "roles": ["intake", "auditor"],
            "password": "temporary passphrase 2026",
        },
    )
    assert response.status_code == 302
    with app.app_context():
        user = db.session.execute(select(User).where(User.email == "new.person@example.org")).scalar_one()
        assert {r.value for r in user.roles} == {"intake", "auditor"} and user.must_change_password
    created = events(app, "user.create")[-1]
    assert created["actor"]["id"] == admin.id and created["ip"] == "127.0.0.1"
    assert "temporary passphrase" not in json.dumps(created)
    assert "new.person@example.org" in client.get("/admin/users").get_data(as_text=True)


def test_create_user_form_errors_say_what_to_fix_and_keep_the_input(app, client, login_as):
    login_as("admin")
    page = client.get("/admin/users/new").get_data(as_text=True)
    response = client.post(
        "/admin/users/new",
        data={"csrf_token": csrf_from(page), "email": "not-an-email", "name": "Kept Name", "password": "short"},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Choose at least one role." in body and "Kept Name" in body
    assert 'aria-invalid="true"' in body
    with app.app_context():
        assert db.session.execute(select(User).where(User.name == "Kept Name")).first() is None


def test_duplicate_email_is_refused_clearly(app, client, login_as):
    admin = login_as("admin")
    page = client.get("/admin/users/new").get_data(as_text=True)
    response = client.post(
        "/admin/users/new",
        data={
            "csrf_token": csrf_from(page),
            "email": admin.email,
            "name": "Twin",
            "roles": ["intake"],
            "password": "temporary passphrase 2026",
        },
        follow_redirects=True,
    )
    assert f"An account for {admin.email} already exists." in response.get_data(as_text=True)


def test_role_change_is_recorded_with_a_diff_and_ends_the_users_sessions(app, client, login_as):
    from tests.factories import make_user

    with app.app_context():
        target = make_user("intake")
    target_client = app.test_client()
    sign_in(target_client, target.email, target.password)
    login_as("admin")
    page = client.get(f"/admin/users/{target.id}").get_data(as_text=True)
    client.post(f"/admin/users/{target.id}/roles", data={"csrf_token": csrf_from(page), "roles": ["auditor"]})
    diff = events(app, "user.roles_changed")[-1]["data"]["diff"]["roles"]
    assert diff == {"from": ["intake"], "to": ["auditor"]}
    assert target_client.get("/").status_code == 302


def test_admin_cannot_disable_themselves_or_drop_their_own_admin_role(app, client, login_as):
    admin = login_as("admin")
    page = client.get(f"/admin/users/{admin.id}").get_data(as_text=True)
    token = csrf_from(page)
    # With their password (the step-up their own account asks for): refused all the same.
    response = client.post(
        f"/admin/users/{admin.id}/disable", data={"csrf_token": token, "password": PASSWORD}, follow_redirects=True
    )
    assert "You cannot disable your own account." in response.get_data(as_text=True)
    response = client.post(
        f"/admin/users/{admin.id}/roles",
        data={"csrf_token": token, "roles": ["intake"], "password": PASSWORD},
        follow_redirects=True,
    )
    assert "cannot remove your own administrator role" in response.get_data(as_text=True)
    assert events(app, "user.disabled") == []


def test_auditor_sees_users_but_cannot_change_them(app, client, login_as):
    login_as("auditor")
    page = client.get("/admin/users")
    assert page.status_code == 200 and "New user" not in page.get_data(as_text=True)
    assert client.get("/admin/users/new").status_code == 403
