"""Issue 17, finding 7: the password again before building any bundle and before an administrator's change to their
own account (disclosure.auth.step_up). A wrong one refuses beside the field, changes nothing, and counts on the
step-up throttle; a right one lasts five minutes in its session, kept on the server."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlalchemy import func, select

from disclosure.audit.models import AuditEvent
from disclosure.auth import throttle
from disclosure.auth.models import User, UserSession
from disclosure.extensions import db
from disclosure.jobs.models import Job
from tests.conftest import csrf_from
from tests.factories import PASSWORD
from tests.production.test_bundles import producing_case_with_certificate

LABEL = "Your password, to confirm"


def jobs(app, kind: str) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Job).where(Job.kind == kind)).scalar_one()


def failures(app, user_id: int) -> list[dict]:
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent.body).where(AuditEvent.action == "auth.step_up_failed", AuditEvent.actor_id == user_id)
        ).scalars()
        return [json.loads(body)["data"] for body in rows]


def build_form(client, reference: str, **fields: str):
    page = client.get(f"/cases/{reference}/production").get_data(as_text=True)
    assert LABEL in page
    nonce = re.search(r'name="nonce" type="hidden" value="([0-9a-f]+)"', page).group(1)
    return client.post(
        f"/cases/{reference}/production/bundles", data={"csrf_token": csrf_from(page), "nonce": nonce, **fields}
    )


def test_a_case_bundle_needs_the_password_and_a_wrong_one_queues_nothing(app, client, login_as, tmp_path):
    reference, certificate_id = producing_case_with_certificate(app, client, login_as, tmp_path)
    with app.app_context():
        producer = db.session.execute(select(User).order_by(User.id.desc())).scalars().first()
        producer_id, email = producer.id, producer.email

    missing = build_form(client, reference, certificate=str(certificate_id))
    assert missing.status_code == 403 and "Enter your password to confirm" in missing.get_data(as_text=True)
    wrong = build_form(client, reference, certificate=str(certificate_id), password="not my password at all")
    body = wrong.get_data(as_text=True)
    assert wrong.status_code == 403 and "Your password was not correct; nothing was done" in body
    # Beside the field: inside the form, right after the password input.
    beside = r'name="password"[^>]*>\s*(<p class="help"[^<]*</p>\s*)?<ul class="errors"><li>Your password'
    assert re.search(beside, body)
    assert jobs(app, "bundle.build") == 0
    assert failures(app, producer_id) == [{"action": "bundle.build"}]
    with app.app_context():
        assert throttle.failures_from(email, "127.0.0.1") == 0  # the sign-in throttle is untouched

    right = build_form(client, reference, certificate=str(certificate_id), password=PASSWORD)
    assert right.status_code == 302 and "/jobs/" in right.location
    # Within five minutes of it, in the same session, the field may stay empty.
    again = build_form(client, reference, certificate=str(certificate_id))
    assert again.status_code == 302 and jobs(app, "bundle.build") == 2
    with app.app_context():
        record = db.session.execute(
            select(UserSession).where(UserSession.user_id == producer_id, UserSession.ended_at.is_(None))
        ).scalar_one()
        record.stepped_up_at = record.stepped_up_at - timedelta(minutes=5, seconds=1)
        db.session.commit()
    stale = build_form(client, reference, certificate=str(certificate_id))
    assert stale.status_code == 403 and jobs(app, "bundle.build") == 2


def test_audit_extract_and_report_bundles_need_the_password(app, client, login_as):
    auditor = login_as("auditor")
    page = client.get("/audit/").get_data(as_text=True)
    assert LABEL in page
    period = {"csrf_token": csrf_from(page), "start": "2026-01-01", "end": "2026-12-31"}
    wrong = client.post("/audit/bundles", data={**period, "nonce": "a1", "password": "wrong password here"})
    body = wrong.get_data(as_text=True)
    assert wrong.status_code == 403 and "Your password was not correct; nothing was done" in body
    assert 'name="password"' in body and 'value="2026-01-01"' in body  # the form again, to try once more
    assert jobs(app, "audit.extract_bundle") == 0

    report = client.post(
        "/reports/transparency/bundle", data={**period, "nonce": "b1", "password": "wrong password here"}
    )
    assert report.status_code == 403 and jobs(app, "report.bundle") == 0
    assert [f["action"] for f in failures(app, auditor.id)] == ["audit.extract_bundle", "report.bundle"]

    right = client.post("/audit/bundles", data={**period, "nonce": "a2", "password": PASSWORD})
    assert right.status_code == 302 and jobs(app, "audit.extract_bundle") == 1


def test_wrong_step_ups_are_throttled_apart_from_sign_in(app, client, login_as):
    auditor = login_as("auditor")
    page = client.get("/audit/").get_data(as_text=True)
    period = {"csrf_token": csrf_from(page), "start": "2026-01-01", "end": "2026-12-31"}
    for n in range(5):
        client.post("/audit/bundles", data={**period, "nonce": f"w{n}", "password": "wrong password here"})
    # Paused now: even the right password is refused, and nothing is queued.
    paused = client.post("/audit/bundles", data={**period, "nonce": "r", "password": PASSWORD})
    assert paused.status_code == 403 and "Too many wrong passwords" in paused.get_data(as_text=True)
    assert jobs(app, "audit.extract_bundle") == 0
    with app.app_context():
        assert throttle.step_ups_paused(auditor.email)
        assert not throttle.is_throttled(auditor.email, "127.0.0.1")


def _admin_page(client, user_id: int) -> str:
    return client.get(f"/admin/users/{user_id}").get_data(as_text=True)


def test_an_admin_changes_nothing_on_their_own_account_without_their_password(app, client, login_as):
    admin = login_as("admin")
    page = _admin_page(client, admin.id)
    assert LABEL in page
    token = csrf_from(page)
    with app.app_context():
        before = db.session.get(User, admin.id).totp_secret_enc

    refused = client.post(
        f"/admin/users/{admin.id}/second-factor/reset", data={"csrf_token": token, "confirm_reset": "y"}
    )
    assert refused.status_code == 403 and "Enter your password to confirm" in refused.get_data(as_text=True)
    wrong = client.post(
        f"/admin/users/{admin.id}/second-factor/reset",
        data={"csrf_token": token, "password": "wrong password!!", "confirm_reset": "y"},
    )
    assert wrong.status_code == 403 and "Your password was not correct" in wrong.get_data(as_text=True)
    ended = client.post(f"/admin/users/{admin.id}/sessions/end", data={"csrf_token": token})
    assert ended.status_code == 403
    with app.app_context():
        assert db.session.get(User, admin.id).totp_secret_enc == before
        assert (
            db.session.execute(
                select(func.count())
                .select_from(UserSession)
                .where(UserSession.user_id == admin.id, UserSession.ended_at.is_(None))
            ).scalar_one()
            == 1
        )
    assert [f["action"] for f in failures(app, admin.id)] == ["admin.second_factor"]

    # Their own password is never reset here, password or not: only with the current one, on the account page.
    reset = client.post(
        f"/admin/users/{admin.id}/password",
        data={"csrf_token": token, "password": "a brand new passphrase 2026"},
    )
    assert reset.status_code == 302
    with app.app_context():
        from disclosure.auth import passwords

        assert passwords.verify_password(db.session.get(User, admin.id).password_hash, PASSWORD)

    done = client.post(
        f"/admin/users/{admin.id}/second-factor/reset",
        data={"csrf_token": token, "password": PASSWORD, "confirm_reset": "y"},
    )
    assert done.status_code == 302
    with app.app_context():
        assert db.session.get(User, admin.id).totp_secret_enc is None


def test_changing_ones_own_password_always_needs_the_current_one_and_counts_wrong_ones(app, client, login_as):
    user = login_as("auditor")
    page = client.get("/account/password").get_data(as_text=True)
    new = "another long passphrase 2026"
    data = {"csrf_token": csrf_from(page), "new_password": new, "confirm": new}
    wrong = client.post("/account/password", data={**data, "current_password": "not the password"})
    assert wrong.status_code == 403 and "Your password was not correct" in wrong.get_data(as_text=True)
    assert [f["action"] for f in failures(app, user.id)] == ["user.password"]
    with app.app_context():
        assert (
            db.session.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "user.password_changed")
            ).scalar_one()
            == 0
        )
    right = client.post("/account/password", data={**data, "current_password": PASSWORD})
    assert right.status_code == 302
