"""After a decision the case page says what was decided: by whom and when, the approved scope as a table with
production's progress, what was not approved and why, and the letter (issue 16: the case page still showed only
what was requested)."""

from __future__ import annotations

from sqlalchemy import select

from disclosure.auth.models import User
from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.review import letters
from disclosure.review.service import decisions_of
from tests.factories import make_user
from tests.production.helpers import approved_case
from tests.review.helpers import case_in_review, decide_in_full


def section(page: str, heading_start: str) -> str:
    start = page.index(heading_start)
    return page[start : page.find("</section>", start)]


def test_an_approved_case_shows_its_decision_scope_refusals_and_letter(app, client, login_as):
    with app.app_context():
        reference = approved_case(categories=("subscriber_basic",))
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        decision = decisions_of(case)[-1]
        letter = letters.create_letter(db.session.get(User, decision.decided_by_id), decision, None)
        db.session.commit()
        decider, letter_name = decision.decided_by.name, letter.filename
    login_as("intake")
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    decided = section(page, '<h2 id="decision-title">Decision: Approve')
    assert f"Decided by {decider} on " in decided
    assert letter_name in decided
    scope = section(decided, "<h3>Approved scope</h3>")
    assert "Email address" in scope and "user@example.net" in scope
    assert "Basic subscriber information" in scope
    assert "Basic subscriber information: 0" in scope  # nothing produced yet
    refused = section(decided, "<h3>Not approved</h3>")
    assert "<strong>Stored content</strong>: Not approved by the reviewer." in refused


def test_a_rejected_case_shows_the_reasons_in_words(app, client, login_as):
    with app.app_context():
        reviewer = make_user("reviewer")
        reference = case_in_review(reviewer)
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        decide_in_full(db.session.get(User, reviewer.id), case, "rejected")
        db.session.commit()
    login_as("intake")
    decided = section(client.get(f"/cases/{reference}").get_data(as_text=True), '<h2 id="decision-title">')
    assert "Decision: Reject" in decided
    assert "Overbroad: not particular about the accounts or the data" in decided
    assert "overbroad" not in decided.replace("Overbroad", "")
    assert "The reviewer’s reasons (internal, not sent)" in decided and "Reasons given." in decided


def test_before_a_decision_the_page_has_no_decision_section(app, client, login_as):
    with app.app_context():
        reference = case_in_review()
    login_as("intake")
    assert 'id="decision-title"' not in client.get(f"/cases/{reference}").get_data(as_text=True)
