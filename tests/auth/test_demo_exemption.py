"""Issue 17 finding 11, the rest: a demo account's second-factor exemption holds only while the instance allows it
(DEMO_SECOND_FACTOR_EXEMPT, read at request time), not merely because the account was seeded with it."""

from __future__ import annotations

from disclosure.auth.models import User
from disclosure.extensions import db
from tests.conftest import sign_in
from tests.factories import make_user


def exempt_reviewer(app) -> User:
    with app.app_context():
        made = make_user("reviewer", second_factor=False)
        db.session.get(User, made.id).demo_second_factor_exempt = True
        db.session.commit()
        return made


def test_the_exemption_ends_when_the_setting_is_turned_off(app, client):
    reviewer = exempt_reviewer(app)
    app.config["DEMO_SECOND_FACTOR_EXEMPT"] = False
    response = sign_in(client, reviewer.email, reviewer.password)
    assert response.status_code == 302 and response.location.endswith("/sign-in/code")
    with app.app_context():
        assert db.session.get(User, reviewer.id).second_factor_required


def test_the_exemption_holds_while_the_setting_is_on(app, client):
    reviewer = exempt_reviewer(app)
    app.config["DEMO_SECOND_FACTOR_EXEMPT"] = True
    response = sign_in(client, reviewer.email, reviewer.password)
    assert response.status_code == 302 and "/sign-in" not in response.location
