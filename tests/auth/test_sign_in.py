"""Sign-in, the second factor, sessions and their end: what a staff member and an attacker would notice."""

from __future__ import annotations

import re
import statistics
import time
from datetime import timedelta

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select

from disclosure.audit.models import AuditEvent
from disclosure.auth import totp
from disclosure.auth.models import SignInFailure, User
from disclosure.auth.service import GENERIC_SIGN_IN_ERROR
from disclosure.extensions import db
from tests.conftest import csrf_from, fresh_csrf, sign_in
from tests.factories import PASSWORD, make_user


def signed_in(client: FlaskClient) -> bool:
    response = client.get("/")
    return response.status_code == 200 and "Sign out" in response.get_data(as_text=True)


def actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.execute(select(AuditEvent.action).order_by(AuditEvent.seq)).scalars())


def test_intake_user_signs_in_without_second_factor_and_lands_on_dashboard(app, client):
    with app.app_context():
        user = make_user("intake")
    response = sign_in(client, user.email, PASSWORD)
    assert response.status_code == 302 and response.location == "/"
    assert signed_in(client)
    assert actions(app)[-1] == "user.sign_in"


@pytest.mark.parametrize("case", ["unknown", "wrong_password", "disabled"])
def test_every_sign_in_failure_gets_the_same_generic_answer(app, client, case):
    with app.app_context():
        make_user("intake", email="known@example.org")
        make_user("intake", email="off@example.org", active=False)
    email, password = {
        "unknown": ("nobody@example.org", PASSWORD),
        "wrong_password": ("known@example.org", "wrong password entirely"),
        "disabled": ("off@example.org", PASSWORD),
    }[case]
    response = sign_in(client, email, password)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert GENERIC_SIGN_IN_ERROR in body
    assert email not in body  # nothing typed is echoed back, so bodies do not differ by account
    assert not signed_in(client)


def normalised(body: str) -> str:
    return re.sub(r'value="[^"]*"', 'value=""', body)


def test_no_enumeration_same_status_same_body_and_similar_time(app, client):
    # The production hasher here: with it, the dummy-hash verification is what keeps the times equal.
    app.config["PASSWORD_HASHER"] = "argon2id"
    with app.app_context():
        make_user("intake", email="known@example.org")
    app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"] = 10_000
    app.config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"] = 10_000

    def attempt(email: str) -> tuple[int, str, float]:
        token = fresh_csrf(client)
        started = time.perf_counter()
        response = client.post("/sign-in", data={"email": email, "password": "not the password", "csrf_token": token})
        elapsed = time.perf_counter() - started
        return response.status_code, normalised(response.get_data(as_text=True)), elapsed

    known = [attempt("known@example.org") for _ in range(30)]
    unknown = [attempt("nobody@example.org") for _ in range(30)]
    assert {status for status, _, _ in known} == {status for status, _, _ in unknown} == {200}
    assert known[0][1] == unknown[0][1]
    median_known = statistics.median(t for _, _, t in known)
    median_unknown = statistics.median(t for _, _, t in unknown)
    assert max(median_known, median_unknown) < 2 * min(median_known, median_unknown)


def test_throttling_blocks_one_account_after_five_failures_and_spares_others(app, client):
    with app.app_context():
        make_user("intake", email="target@example.org")
        make_user("intake", email="bystander@example.org")
    for _ in range(5):
        sign_in(client, "target@example.org", "wrong password entirely")
    blocked = sign_in(client, "target@example.org", PASSWORD)
    assert blocked.status_code == 200 and GENERIC_SIGN_IN_ERROR in blocked.get_data(as_text=True)
    assert sign_in(client, "bystander@example.org", PASSWORD).status_code == 302
    with freeze_time(timedelta(minutes=16)):
        other = app.test_client()
        assert sign_in(other, "target@example.org", PASSWORD).status_code == 302
    with app.app_context():
        reasons = [
            e.body
            for e in db.session.execute(select(AuditEvent).where(AuditEvent.action == "user.sign_in_failed")).scalars()
        ]
    assert b'"reason":"throttled"' in reasons[-1]


def test_throttling_per_client_address(app, client):
    app.config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"] = 3
    with app.app_context():
        make_user("intake", email="real@example.org")
    for number in range(3):
        sign_in(client, f"guess{number}@example.org", "wrong password entirely")
    assert sign_in(client, "real@example.org", PASSWORD).status_code == 200
    elsewhere = app.test_client()
    elsewhere.environ_base["REMOTE_ADDR"] = "10.9.8.7"
    assert sign_in(elsewhere, "real@example.org", PASSWORD).status_code == 302


def test_session_fixation_cookie_rotates_and_old_cookie_is_not_signed_in(app, client):
    with app.app_context():
        user = make_user("intake")
    client.get("/sign-in")
    before = client.get_cookie("__Host-session").value
    sign_in(client, user.email, PASSWORD)
    after = client.get_cookie("__Host-session").value
    assert before != after
    attacker = app.test_client()
    attacker.set_cookie("__Host-session", before, domain="localhost", secure=True)
    assert not signed_in(attacker)


def replay(app: Flask, cookie: str) -> FlaskClient:
    other = app.test_client()
    other.set_cookie("__Host-session", cookie, domain="localhost", secure=True)
    return other


def test_old_cookie_is_dead_after_sign_out(app, client):
    with app.app_context():
        user = make_user("intake")
    sign_in(client, user.email, PASSWORD)
    cookie = client.get_cookie("__Host-session").value
    assert signed_in(replay(app, cookie))
    token = csrf_from(client.get("/").get_data(as_text=True))
    client.post("/sign-out", data={"csrf_token": token})
    assert not signed_in(client)
    assert not signed_in(replay(app, cookie))
    assert "user.sign_out" in actions(app)


def test_password_change_ends_other_sessions_but_keeps_this_one(app, client):
    with app.app_context():
        user = make_user("intake")
    sign_in(client, user.email, PASSWORD)
    other = app.test_client()
    sign_in(other, user.email, PASSWORD)
    page = client.get("/account/password").get_data(as_text=True)
    response = client.post(
        "/account/password",
        data={
            "csrf_token": csrf_from(page),
            "current_password": PASSWORD,
            "new_password": "a completely new passphrase",
            "confirm": "a completely new passphrase",
        },
    )
    assert response.status_code == 302
    assert signed_in(client)
    assert not signed_in(other)


def test_disabling_an_account_ends_its_sessions(app, client, login_as):
    with app.app_context():
        victim = make_user("intake")
    victim_client = app.test_client()
    sign_in(victim_client, victim.email, PASSWORD)
    assert signed_in(victim_client)
    login_as("admin")
    page = client.get(f"/admin/users/{victim.id}").get_data(as_text=True)
    client.post(f"/admin/users/{victim.id}/disable", data={"csrf_token": csrf_from(page)})
    assert not signed_in(victim_client)
    assert "user.disabled" in actions(app)


def test_idle_timeout_after_thirty_minutes(app, client):
    with app.app_context():
        user = make_user("intake")
    sign_in(client, user.email, PASSWORD)
    with freeze_time(timedelta(minutes=29)):
        assert signed_in(client)
    with freeze_time(timedelta(minutes=29 + 31)):
        response = client.get("/")
        assert response.status_code == 302 and "/sign-in" in response.location
    assert "user.session_expired" in actions(app)


def test_absolute_timeout_after_eight_hours_even_when_active(app, client):
    with app.app_context():
        user = make_user("intake")
    sign_in(client, user.email, PASSWORD)
    for minutes in range(20, 8 * 60, 20):
        with freeze_time(timedelta(minutes=minutes)):
            assert signed_in(client), minutes
    with freeze_time(timedelta(hours=8, minutes=1)):
        assert not signed_in(client)


def test_session_cookie_attributes_and_no_remember_me(app, client):
    with app.app_context():
        user = make_user("intake")
    client.get("/sign-in")
    response = sign_in(client, user.email, PASSWORD)
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("__Host-session="))
    attributes = {part.strip().split("=")[0].lower() for part in session_cookie.split(";")[1:]}
    assert {"secure", "httponly", "path"} <= attributes
    assert "SameSite=Strict" in session_cookie and "Path=/" in session_cookie
    assert "domain" not in attributes and "expires" not in attributes
    assert not any(c.startswith("remember_token") for c in cookies)


REDIRECT_CORPUS = [
    "//evil.com",
    "/\\evil.com",
    "\\\\evil.com",
    "https://evil.com",
    "http:evil.com",
    "/%2F%2Fevil.com",
    " //evil.com",
    "javascript:alert(1)",
    "/%5Cevil.com",
    "///evil.com",
]


@pytest.mark.parametrize("target", REDIRECT_CORPUS)
def test_open_redirect_corpus_always_lands_locally(app, client, target):
    with app.app_context():
        user = make_user("intake")
    token = fresh_csrf(client)
    response = client.post(
        "/sign-in", data={"email": user.email, "password": PASSWORD, "csrf_token": token, "next": target}
    )
    assert response.status_code == 302
    assert response.location == "/"


def test_local_next_is_honoured(app, client):
    with app.app_context():
        user = make_user("intake")
    token = fresh_csrf(client)
    response = client.post(
        "/sign-in", data={"email": user.email, "password": PASSWORD, "csrf_token": token, "next": "/account/password"}
    )
    assert response.location == "/account/password"


def test_reviewer_must_enrol_a_second_factor_with_a_server_rendered_qr_code(app, client):
    with app.app_context():
        user = make_user("reviewer", second_factor=False)
    response = sign_in(client, user.email, PASSWORD)
    assert response.location.endswith("/sign-in/code")
    assert not signed_in(client)
    page = client.get("/sign-in/code").get_data(as_text=True)
    assert "Set up your second factor" in page
    assert 'src="data:image/svg+xml' in page and "<script" not in page
    secret = re.search(r'class="mono">([A-Z2-7]{32})<', page).group(1)
    response = client.post("/sign-in/code", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_from(page)})
    assert response.status_code == 302 and signed_in(client)
    assert "user.second_factor_enrolled" in actions(app)
    with app.app_context():
        stored = db.session.get(User, user.id)
        assert secret.encode() not in stored.totp_secret_enc  # encrypted at rest
        assert totp.decrypt_secret(user.id, stored.totp_secret_enc) == secret


def test_a_totp_code_is_accepted_once(app, client):
    with app.app_context():
        user = make_user("admin")
    code = pyotp.TOTP(user.totp_secret).now()
    for attempt_client, expected_ok in ((client, True), (app.test_client(), False)):
        token = fresh_csrf(attempt_client)
        attempt_client.post("/sign-in", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
        page = attempt_client.get("/sign-in/code").get_data(as_text=True)
        response = attempt_client.post("/sign-in/code", data={"code": code, "csrf_token": csrf_from(page)})
        assert (response.status_code == 302) is expected_ok
    assert "user.second_factor_failed" in actions(app)


def test_second_factor_step_is_unreachable_without_a_password(app, client):
    response = client.get("/sign-in/code")
    assert response.status_code == 302 and response.location.endswith("/sign-in")


def test_admin_resets_second_factor_and_the_user_enrols_again(app, client, login_as):
    with app.app_context():
        producer = make_user("producer")
    login_as("admin")
    page = client.get(f"/admin/users/{producer.id}").get_data(as_text=True)
    # Removing someone's second factor needs a tick confirming it: without it nothing changes.
    unconfirmed = client.post(
        f"/admin/users/{producer.id}/second-factor/reset", data={"csrf_token": csrf_from(page)}, follow_redirects=True
    )
    assert "Nothing was changed: tick the box to confirm removing the second factor." in unconfirmed.get_data(
        as_text=True
    )
    assert "user.second_factor_reset" not in actions(app)
    client.post(
        f"/admin/users/{producer.id}/second-factor/reset", data={"csrf_token": csrf_from(page), "confirm_reset": "y"}
    )
    assert "user.second_factor_reset" in actions(app)
    fresh = app.test_client()
    sign_in(fresh, producer.email, PASSWORD)
    assert "Set up your second factor" in fresh.get("/sign-in/code").get_data(as_text=True)


def test_admin_password_reset_forces_a_change_at_next_sign_in(app, client, login_as):
    with app.app_context():
        user = make_user("intake")
    login_as("admin")
    page = client.get(f"/admin/users/{user.id}").get_data(as_text=True)
    client.post(
        f"/admin/users/{user.id}/password",
        data={"csrf_token": csrf_from(page), "password": "temporary passphrase 2026"},
    )
    assert "user.password_reset" in actions(app)
    fresh = app.test_client()
    sign_in(fresh, user.email, "temporary passphrase 2026")
    response = fresh.get("/")
    assert response.status_code == 302 and response.location.endswith("/account/password")


def wrong_code(secret: str) -> str:
    """Six digits that no step the server accepts now (the window around the current one) would produce."""
    totp_ = pyotp.TOTP(secret)
    now = time.time()
    valid = {totp_.at(now + offset) for offset in range(-120, 121, 30)}
    return next(code for code in (f"{n:06d}" for n in range(1_000_000)) if code not in valid)


def failures_on_record(app: Flask) -> int:
    with app.app_context():
        return len(db.session.execute(select(SignInFailure.id)).all())


def test_refused_password_and_code_stay_on_record_and_count_towards_the_pause(app, client):
    """A refusal rolls back what the request wrote; a failed sign-in must still be recorded and counted."""
    app.config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"] = 3
    with app.app_context():
        user = make_user("admin")
    response = sign_in(client, user.email, "wrong password entirely")
    assert response.status_code == 200 and GENERIC_SIGN_IN_ERROR in response.get_data(as_text=True)
    assert actions(app)[-1] == "user.sign_in_failed" and failures_on_record(app) == 1

    for expected in (2, 3):
        token = fresh_csrf(client)
        assert (
            "/sign-in/code"
            in client.post("/sign-in", data={"email": user.email, "password": PASSWORD, "csrf_token": token}).location
        )
        page = client.get("/sign-in/code").get_data(as_text=True)
        refused = client.post(
            "/sign-in/code", data={"code": wrong_code(user.totp_secret), "csrf_token": csrf_from(page)}
        )
        assert refused.status_code == 200 and "That code is not valid" in refused.get_data(as_text=True)
        # The failure that starts the pause is followed by the owner's notice (auth.lockout_notice).
        failures = [action for action in actions(app) if action != "auth.lockout_notice"]
        assert failures[-1] == "user.second_factor_failed" and failures_on_record(app) == expected
        assert not signed_in(client)

    # Three failures on record: the account is paused, so even the right password and code are refused.
    assert sign_in(client, user.email, PASSWORD, user.totp_secret).status_code == 200
    assert not signed_in(client)
    assert actions(app)[-1] == "user.sign_in_failed"


def test_a_refused_password_change_changes_nothing_and_records_only_the_failed_step_up(app, client):
    with app.app_context():
        user = make_user("intake")
        stored_hash = db.session.get(User, user.id).password_hash
    sign_in(client, user.email, PASSWORD)
    before = actions(app)
    page = client.get("/account/password").get_data(as_text=True)
    response = client.post(
        "/account/password",
        data={
            "csrf_token": csrf_from(page),
            "current_password": "not my password at all",
            "new_password": "a completely new passphrase",
            "confirm": "a completely new passphrase",
        },
    )
    # The wrong current password is a failed step-up: counted on its own throttle and on record, nothing else.
    assert response.status_code == 403 and "Your password was not correct" in response.get_data(as_text=True)
    assert actions(app) == [*before, "auth.step_up_failed"]
    with app.app_context():
        assert db.session.get(User, user.id).password_hash == stored_hash
