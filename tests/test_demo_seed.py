"""Issue 17, finding 11: `flask demo seed` runs in development mode only, and DEMO_SECOND_FACTOR_EXEMPT decides
whether its accounts skip the second factor."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from disclosure.app import create_app
from disclosure.auth.models import User
from disclosure.extensions import db
from tests.conftest import base_settings


def seed(app):
    return app.test_cli_runner().invoke(args=["demo", "seed"])


def demo_users(app) -> list[User]:
    with app.app_context():
        return list(db.session.execute(select(User).where(User.email.like("%@demo.disclosure.test"))).scalars())


def test_seed_refuses_outside_development_mode_and_creates_nothing(app):
    assert not app.config["DEV_MODE"]
    result = seed(app)
    assert result.exit_code == 2, result.output
    assert "only in development mode" in result.output and "DISCLOSURE_DEV=1 flask demo seed" in result.output
    assert "@demo.disclosure.test" not in result.output
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 0


def test_seed_runs_with_disclosure_dev_set_as_make_setup_does(instance, database_url, monkeypatch):
    monkeypatch.setenv("DISCLOSURE_DEV", "1")
    app = create_app(base_settings(instance, database_url))
    with app.app_context():  # the keys the app fixture makes
        from pathlib import Path

        from disclosure.exports.pki import init_pki
        from disclosure.keyring import init_log_key
        from disclosure.storage.keys import keyring_for_config

        init_log_key()
        keyring_for_config(app.config).init()
        init_pki(Path(app.config["KEYS_DIR"]) / "pki", "Disclosure Test Provider")
    result = seed(app)
    assert result.exit_code == 0, result.output
    assert "second factor not enforced" in result.output
    assert {user.email.split("@")[0] for user in demo_users(app)} == {
        "intake", "reviewer", "producer", "auditor", "admin"
    }  # fmt: skip
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("exempt", [True, False])
def test_demo_second_factor_exempt_is_honoured(app, exempt):
    app.config["DEV_MODE"] = True
    app.config["DEMO_SECOND_FACTOR_EXEMPT"] = exempt
    result = seed(app)
    assert result.exit_code == 0, result.output
    assert ("second factor not enforced" in result.output) is exempt
    users = {user.email.split("@")[0]: user for user in demo_users(app)}
    assert all(user.demo_second_factor_exempt is exempt for user in users.values())
    with app.app_context():
        reviewer = db.session.get(User, users["reviewer"].id)
        assert reviewer is not None and reviewer.second_factor_required is not exempt


def test_an_unexempt_demo_reviewer_is_sent_to_enrol_a_second_factor(app, client):
    app.config["DEV_MODE"] = True
    app.config["DEMO_SECOND_FACTOR_EXEMPT"] = False
    output = seed(app).output
    line = next(line.split() for line in output.splitlines() if line.strip().startswith("reviewer "))
    from tests.conftest import fresh_csrf

    response = client.post("/sign-in", data={"csrf_token": fresh_csrf(client), "email": line[1], "password": line[2]})
    assert response.status_code == 302
    assert "/sign-in/code" in response.location or "second" in response.location, response.location
