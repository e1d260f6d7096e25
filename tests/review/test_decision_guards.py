"""What the review page refuses before it records a decision: an empty decision, and facts that changed after the
reviewer loaded the page (each an observation from the daily-work review, issue 16)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from disclosure.audit.models import AuditEvent
from disclosure.auth.models import User
from disclosure.cases import service as cases
from disclosure.extensions import db
from disclosure.review import service as review
from tests.factories import PASSWORD, make_user
from tests.review.helpers import case_in_review, post_decision, review_form
from tests.review.test_no_records import SEARCHED, case_of, state_and_outcomes


def test_an_empty_decision_asks_for_an_outcome_not_for_a_password(app, client, login_as):
    login_as("reviewer")
    with app.app_context():
        reference = case_in_review()
    response = post_decision(client, reference, password="")
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Choose an outcome: approve, reject, ask for more information, or no records held." in body
    assert "Your password was not correct" not in body
    with app.app_context():
        # No password was asked for, so no failed confirmation is on record either.
        failures = select(func.count()).where(AuditEvent.action == "review.step_up_failed")
        assert db.session.execute(failures).scalar_one() == 0
    assert state_and_outcomes(app, reference) == ("in_review", [])


def test_a_decision_on_facts_changed_since_the_page_was_loaded_is_refused(app, client, login_as):
    login_as("reviewer")
    with app.app_context():
        reference = case_in_review()
    form = review_form(client, reference, decide="1", outcome="no_records", searched=SEARCHED, password=PASSWORD)
    with app.app_context():  # meanwhile, intake corrects when the process expires
        case = case_of(reference)
        editor = db.session.get(User, make_user("intake").id)
        changes = cases.CaseChanges(valid_until=(case.valid_until or case.received_at.date()) + timedelta(days=30))
        cases.update_case(editor, case, changes, None, None, reason="The order runs 30 days longer.")
        db.session.commit()
    stale = client.post(f"/cases/{reference}/review", data=form)
    assert stale.status_code == 409
    assert "was changed by someone else" in stale.get_data(as_text=True)
    assert state_and_outcomes(app, reference) == ("in_review", [])
    # Having now seen the corrected facts, the reviewer can decide.
    assert post_decision(client, reference, outcome="no_records", searched=SEARCHED).status_code == 302
    with app.app_context():
        assert [d.outcome.value for d in review.decisions_of(case_of(reference))] == ["no_records"]
