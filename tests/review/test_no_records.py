"""Finding that no records are held (issue #13): a reviewer's decision with a note of what was searched, which
closes the case and answers the requester with a "no records" letter, under the same guards as every decision."""

from __future__ import annotations

import io
import json
import re

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from disclosure.audit.models import AuditEvent
from disclosure.auth.models import User
from disclosure.cases import service as cases
from disclosure.cases.models import Case, Document
from disclosure.extensions import db
from disclosure.permissions import Role
from disclosure.review import service as review
from disclosure.review.models import Decision, Outcome
from disclosure.services import NotPermitted, SystemActor
from disclosure.workflow import Action, IllegalTransition
from tests.conftest import csrf_from
from tests.factories import PASSWORD, MadeUser, make_case, make_user
from tests.review.helpers import case_in_review, post_decision, review_form

SEARCHED = "Searched mail, hosting and billing systems for the two addresses; no account"
#: Two addresses, one with the period the process names and one without.
TWO_ADDRESSES = {
    "targets": [
        {"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"},
        {"kind": "email", "value": "other.person@example.org", "from": None, "to": None},
    ]
}


def case_of(reference: str) -> Case:
    return db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()


def state_and_outcomes(app, reference: str) -> tuple[str, list[Outcome]]:
    with app.app_context():
        case = case_of(reference)
        return case.state, [d.outcome for d in review.decisions_of(case)]


def events(action: str) -> list[dict]:
    rows = db.session.execute(select(AuditEvent.body).where(AuditEvent.action == action).order_by(AuditEvent.seq))
    return [json.loads(bytes(body)) for body in rows.scalars()]


def letter_text(client, app, reference: str) -> str:
    with app.app_context():
        case = case_of(reference)
        letter = db.session.execute(
            select(Document).where(Document.case_id == case.id, Document.kind == "response_letter")
        ).scalar_one()
        letter_id = letter.id
    pdf = client.get(f"/cases/{reference}/documents/{letter_id}").get_data()
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_a_reviewer_records_no_records_held_and_the_case_closes_with_its_letter(app, client, login_as):
    reviewer = login_as("reviewer")
    with app.app_context():
        reference = case_in_review(**TWO_ADDRESSES)
    page = client.get(f"/cases/{reference}/review").get_data(as_text=True)
    assert 'value="no_records"' in page and "what was searched" in page

    response = post_decision(client, reference, outcome="no_records", searched=f"  {SEARCHED}  ")
    assert response.status_code == 302 and response.location.endswith(f"/cases/{reference}")

    # Closed, not rejected: nothing will be produced, and the requester has had the answer.
    assert state_and_outcomes(app, reference) == ("closed", [Outcome.NO_RECORDS])
    with app.app_context():
        case = case_of(reference)
        decision = review.decisions_of(case)[0]
        assert (decision.text, decision.decided_by_id, decision.scope, decision.reason_codes) == (
            SEARCHED,
            reviewer.id,
            None,
            [],
        )
        moved = events("case.transition")[-1]
        assert moved["subject"] == f"case:{reference}" and moved["actor"]["id"] == reviewer.id
        assert {k: moved["data"][k] for k in ("action", "from", "to", "outcome", "text", "review")} == {
            "action": "no_records",
            "from": "in_review",
            "to": "closed",
            "outcome": "no_records",
            "text": SEARCHED,
            "review": decision.review_id,
        }
        letter_event = events("letter.created")[-1]
        assert letter_event["data"]["decision"] == decision.id
        assert letter_event["data"]["filename"] == f"{reference}-no-records-letter.pdf"

    letter = " ".join(letter_text(client, app, reference).split())
    assert "no records held" in letter.lower()
    assert "We hold no records responsive to your process" in letter
    assert reference in letter and "5:26-mj-01234" in letter
    assert "user@example.net" in letter and "1 January 2026 to 30 June 2026" in letter
    assert "other.person@example.org" in letter and "No period was named" in letter
    assert "SA J. Doe" in letter and "Legal Department" in letter
    # The search note is the reviewer's record, not the requester's: the letter does not quote it.
    assert "billing" not in letter and reviewer.email not in letter

    shown = client.get(f"/cases/{reference}").get_data(as_text=True)
    # The timeline says it in words: the step and the states, not their ids.
    assert "Record that no records are held (in review → closed)." in shown
    assert "in_review" not in shown
    review_page = client.get(f"/cases/{reference}/review").get_data(as_text=True)
    assert "No records held" in review_page and SEARCHED in review_page


def test_no_records_without_a_note_is_refused_beside_the_field_and_nothing_changes(app, client, login_as):
    login_as("reviewer")
    with app.app_context():
        reference = case_in_review()
        before = db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    # The general text box is not the note: what was searched has its own field.
    response = post_decision(client, reference, outcome="no_records", searched="   ", text="Nothing found.")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    field = page.index('name="searched"')
    textarea = page[page.rindex("<textarea", 0, field) : page.index(">", field)]
    assert 'aria-invalid="true"' in textarea
    errors_after = page[page.index("</textarea>", field) + len("</textarea>") :]
    assert re.match(
        r'\s*<p class="help" id="searched-help">[^<]*</p><ul class="errors"><li>Say what was searched', errors_after
    )
    assert "Some fields need attention" in page and "Nothing found." in page  # the input is kept
    assert state_and_outcomes(app, reference) == ("in_review", [])
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == before
        assert db.session.execute(select(func.count()).select_from(Document)).scalar_one() == 0  # no letter


def test_no_records_needs_the_password_again(app, client, login_as):
    reviewer = login_as("reviewer")
    with app.app_context():
        reference = case_in_review()
    response = post_decision(client, reference, outcome="no_records", searched=SEARCHED, password="not mine")
    assert response.status_code == 403 and "password was not correct" in response.get_data(as_text=True)
    assert state_and_outcomes(app, reference) == ("in_review", [])
    with app.app_context():
        assert [e["actor"]["id"] for e in events("review.step_up_failed")] == [reviewer.id]


def test_a_request_naming_no_identifier_cannot_be_found_to_hold_no_records(app, client, login_as):
    login_as("reviewer")
    with app.app_context():
        reference = case_in_review(targets=[])
    response = post_decision(client, reference, outcome="no_records", searched=SEARCHED)
    assert response.status_code == 400 and "nothing to search for" in response.get_data(as_text=True)
    assert state_and_outcomes(app, reference) == ("in_review", [])


@pytest.mark.parametrize("role", list(Role))
def test_recording_no_records_is_the_deciding_permission_for_every_role(app, client, login_as, role):
    """Through the page and through the service alike: only a role that may decide may find no records."""
    may_decide = role is Role.REVIEWER
    with app.app_context():
        reference = case_in_review()
    # The form as a reviewer's page gives it, sent from the role's own session with its own token.
    helper = app.test_client()
    login_as("reviewer", client_=helper)
    data = review_form(helper, reference, decide="1", outcome="no_records", searched=SEARCHED, password=PASSWORD)
    login_as(role.value)
    data["csrf_token"] = csrf_from(client.get("/").get_data(as_text=True))
    response = client.post(f"/cases/{reference}/review", data=data)
    assert response.status_code == (302 if may_decide else 403), role
    assert state_and_outcomes(app, reference) == (("closed", [Outcome.NO_RECORDS]) if may_decide else ("in_review", []))
    if may_decide:
        return
    with app.app_context():
        actor = db.session.get(User, make_user(role.value).id)
        with pytest.raises(NotPermitted):
            review.decide(
                actor, review.open_review(case_of(reference)), "no_records", password=PASSWORD, ip=None, text=SEARCHED
            )
        db.session.rollback()
        with pytest.raises(NotPermitted):
            review.decide(
                SystemActor("tests"),
                review.open_review(case_of(reference)),
                "no_records",
                password=PASSWORD,
                ip=None,
                text=SEARCHED,
            )
        db.session.rollback()
    assert state_and_outcomes(app, reference) == ("in_review", [])


def test_the_person_who_logged_the_case_cannot_find_no_records(app, client, login_as):
    logger = login_as("intake", "reviewer")
    with app.app_context():
        case = make_case(logged_by=MadeUser(logger.id, logger.email, logger.password, logger.totp_secret))
        other = db.session.get(User, make_user("reviewer").id)
        cases.apply_action(other, db.session.get(Case, case.id), Action.START_REVIEW, None, None)
        db.session.commit()
        reference = case.reference
    response = post_decision(client, reference, outcome="no_records", searched=SEARCHED)
    assert response.status_code == 403 and "another reviewer must review it" in response.get_data(as_text=True)
    assert state_and_outcomes(app, reference) == ("in_review", [])


@pytest.mark.parametrize("action", [Action.NO_RECORDS, Action.REQUEST_INFO])
def test_the_case_page_cannot_take_a_decision_without_the_review(app, client, login_as, action):
    """The workflow actions exist for the decisions; the case page's generic buttons neither offer nor take them.
    Observed: "Ask the requester for more" on the case page moved the case with no decision and no letter."""
    login_as("intake", "reviewer")
    with app.app_context():
        reference = case_in_review()
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert f'value="{action.value}"' not in page and action.label not in page
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version is not None
    response = client.post(
        f"/cases/{reference}/action",
        data={"csrf_token": csrf_from(page), "action": action.value, "version": version[1], "note": ""},
    )
    assert response.status_code == 409 and "on the review page" in response.get_data(as_text=True)
    assert state_and_outcomes(app, reference) == ("in_review", [])
    with app.app_context():
        reviewer = db.session.get(User, make_user("reviewer").id)
        with pytest.raises(IllegalTransition):
            cases.apply_action(reviewer, case_of(reference), action, None, None)
        db.session.rollback()


def test_the_database_refuses_a_no_records_decision_without_its_note(app):
    """Written past the service, a note-less "no records" decision still fails on the decision's own check."""
    with app.app_context():
        current = review.open_review(case_of(case_in_review()))
        reviewer = make_user("reviewer")

        def decision(note: str) -> Decision:
            return Decision(
                review_id=current.id,
                case_id=current.case_id,
                outcome=Outcome.NO_RECORDS,
                decided_by_id=reviewer.id,
                text=note,
                policy_sha256=current.policy_version.sha256,
                engine={},
                checklist={},
                grounds={},
            )

        with pytest.raises(IntegrityError, match="no_records_says_what_was_searched"), db.session.begin_nested():
            db.session.add(decision(""))
        with db.session.begin_nested():
            db.session.add(decision(SEARCHED))
        db.session.rollback()
