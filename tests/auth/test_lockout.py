"""Nobody can lock another person out (issue 17, finding 10).

Five failures in 15 minutes used to refuse even the right password for everyone: anyone could lock any account.
Now the pause is per account and address, grows with each further failure, never applies to a device that signed
in to the account before, and the owner is told.
"""

from __future__ import annotations

from datetime import timedelta

from freezegun import freeze_time
from sqlalchemy import select

from disclosure.audit.models import AuditEvent
from disclosure.auth import throttle
from disclosure.auth.service import GENERIC_SIGN_IN_ERROR
from disclosure.extensions import db
from tests.conftest import fresh_csrf, sign_in
from tests.factories import PASSWORD, make_user

WRONG = "wrong password entirely"


def test_the_owner_signs_in_from_a_known_device_while_a_stranger_has_failed_many_times(app, client):
    with app.app_context():
        user = make_user("intake")
    assert sign_in(client, user.email, PASSWORD).status_code == 302  # the owner's device becomes known
    device = client.get_cookie("__Host-device")
    assert device is not None
    owner = app.test_client()  # a new session on the owner's device: only its device cookie is kept
    owner.set_cookie("__Host-device", device.value, domain="localhost", secure=True)
    stranger = app.test_client()  # same address (127.0.0.1), no device cookie
    for _ in range(12):
        assert sign_in(stranger, user.email, WRONG).status_code == 200
    refused = sign_in(stranger, user.email, PASSWORD)
    assert refused.status_code == 200 and GENERIC_SIGN_IN_ERROR in refused.get_data(as_text=True)
    assert sign_in(owner, user.email, PASSWORD).status_code == 302


def test_the_device_cookie_is_signed_httponly_secure_strict_and_long_lived(app, client):
    with app.app_context():
        user = make_user("intake")
    response = sign_in(client, user.email, PASSWORD)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("__Host-device="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Max-Age=31536000" in cookie and "Domain" not in cookie
    forged = app.test_client()
    forged.set_cookie("__Host-device", "eyJ1IjoxfQ.forged.signature", domain="localhost", secure=True)
    for _ in range(5):
        sign_in(forged, user.email, WRONG)
    assert sign_in(forged, user.email, PASSWORD).status_code == 200  # a forged cookie is no known device


def test_the_pause_grows_with_each_further_failure_and_then_lets_the_right_password_through(app, client):
    with app.app_context():
        user = make_user("intake")
        assert throttle.pause_after(4) == timedelta(0)
        assert throttle.pause_after(5) == timedelta(minutes=1)
        assert throttle.pause_after(6) == timedelta(minutes=2)
        assert throttle.pause_after(40) == timedelta(minutes=15)
    for _ in range(5):
        sign_in(client, user.email, WRONG)
    assert sign_in(client, user.email, PASSWORD).status_code == 200  # paused: the sixth failure doubles it
    with freeze_time(timedelta(seconds=90)):
        assert sign_in(app.test_client(), user.email, PASSWORD).status_code == 200  # 2 minutes now
    with freeze_time(timedelta(minutes=8)):
        assert sign_in(app.test_client(), user.email, PASSWORD).status_code == 302


def test_another_address_is_not_paused_by_a_strangers_failures(app, client):
    with app.app_context():
        user = make_user("intake")
    for _ in range(8):
        sign_in(client, user.email, WRONG)
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.1.2.3"
    assert sign_in(elsewhere, user.email, PASSWORD).status_code == 302


def test_the_owner_is_told_of_the_pause_at_their_next_sign_in(app, client):
    with app.app_context():
        user = make_user("intake")
    stranger = app.test_client()
    stranger.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    for _ in range(7):
        sign_in(stranger, user.email, WRONG)
    with app.app_context():
        notices = (
            db.session.execute(select(AuditEvent).where(AuditEvent.action == "auth.lockout_notice")).scalars().all()
        )
    assert len(notices) == 1 and notices[0].subject == f"user:{user.id}"
    response = sign_in(client, user.email, PASSWORD)
    assert response.status_code == 302
    page = client.get(response.location).get_data(as_text=True)
    assert "203.0.113.9" in page and "was paused after 5 failed attempts" in page


def test_failed_step_ups_do_not_pause_sign_in(app, client):
    with app.app_context():
        user = make_user("intake")
        for _ in range(10):
            throttle.note_step_up_failure(user.email)
        db.session.commit()
        assert throttle.step_ups_paused(user.email)
        assert not throttle.is_throttled(user.email, "127.0.0.1")
    assert sign_in(client, user.email, PASSWORD).status_code == 302


def test_the_dashboards_account_card_keeps_listing_recent_pauses(app, client):
    with app.app_context():
        user = make_user("intake")
    stranger = app.test_client()
    stranger.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    for _ in range(6):
        sign_in(stranger, user.email, WRONG)
    sign_in(client, user.email, PASSWORD)
    client.get("/")  # the sign-in's own notice is shown once, here
    # Signed in again later: the flash is gone, the card still says it.
    client.post("/sign-out", data={"csrf_token": fresh_csrf(client, "/")})
    sign_in(client, user.email, PASSWORD)
    client.get("/")
    page = client.get("/").get_data(as_text=True)
    card = page[page.index("Your account") :]
    assert "Paused sign-ins, last 30 days" in card and "203.0.113.7" in card
    with freeze_time(throttle.utcnow() + timedelta(days=31)):
        sign_in(client, user.email, PASSWORD)
        later = client.get("/").get_data(as_text=True)
        assert "203.0.113.7" not in later
