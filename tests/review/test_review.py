"""The review as a reviewer does it: findings, checklist, grounds, narrowed approval, letters, and the guards."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader
from sqlalchemy import func, select, text

from disclosure.audit.models import AuditEvent
from disclosure.cases.models import Case, Document
from disclosure.extensions import db
from disclosure.review.models import Decision, Review
from tests.factories import PASSWORD, make_case
from tests.review.helpers import case_in_review, checklist_ids, confirm_all, post_decision, review_form

SUBPOENA = {
    "process_type": "subpoena",
    "categories": ["subscriber_basic", "stored_content"],
    "issuing_authority": {"kind": "prosecutor", "name": "AUSA B. Roe", "docket": "GJ-26-1"},
    "valid_until": None,
    "non_disclosure_order": None,
}
EMERGENCY = {
    "process_type": "emergency_request",
    "emergency": True,
    "categories": ["subscriber_basic", "stored_content"],
    "issuing_authority": {"kind": "police", "name": "Metropolitan Police"},
    "valid_until": None,
    "non_disclosure_order": None,
}


def decision_of(app, reference):
    with app.app_context():
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        row = db.session.execute(select(Decision).where(Decision.case_id == case.id)).scalars().first()
        return (
            case.state,
            (row.outcome if row else None),
            ([entry.to_json() for entry in row.scope] if row and row.scope else None),
        )


def test_subpoena_for_content_exceeds_process_and_only_subscriber_data_can_be_approved(app, client, login_as):
    login_as("reviewer")
    with app.app_context():
        reference = case_in_review(**SUBPOENA)
    page = client.get(f"/cases/{reference}/review").get_data(as_text=True)
    # The finding in words, never its id.
    assert "Exceeds what the process can compel" in page
    assert "cannot be approved (exceeds what the process can compel)" in page
    assert "exceeds_process" not in re.sub(r"<[^>]+>", " ", page)
    items = confirm_all(checklist_ids(app, reference))
    grounds = {"subscriber_basic": "law_requires", "stored_content": "legal_process"}
    forced = review_form(
        client,
        reference,
        outcome="approved",
        decide="1",
        password=PASSWORD,
        checks=items,
        grounds=grounds,
        scope={0: ["subscriber_basic", "stored_content"]},
    )
    response = client.post(f"/cases/{reference}/review", data=forced)
    assert response.status_code == 400 and "stored_content cannot be approved" in response.get_data(as_text=True)
    assert decision_of(app, reference)[:2] == ("in_review", None)
    ok = review_form(
        client,
        reference,
        outcome="approved",
        decide="1",
        password=PASSWORD,
        checks=items,
        grounds=grounds,
        scope={0: ["subscriber_basic"]},
    )
    assert client.post(f"/cases/{reference}/review", data=ok).status_code == 302
    state, outcome, scope = decision_of(app, reference)
    assert (state, outcome) == ("approved", "approved")
    assert scope[0]["categories"] == ["subscriber_basic"]


def test_emergency_content_has_no_ground_until_counsel_escalation_is_recorded(app, client, login_as):
    login_as("reviewer")
    with app.app_context():
        reference = case_in_review(**EMERGENCY)
    page = client.get(f"/cases/{reference}/review").get_data(as_text=True)
    assert "No policy ground (to counsel)" in page and "Counsel" in page
    assert "no_policy_ground" not in re.sub(r"<[^>]+>", " ", page)
    items = confirm_all(checklist_ids(app, reference))
    grounds = {"subscriber_basic": "harm_or_rights", "stored_content": "legal_process"}
    scope = {0: ["stored_content"]}
    first = client.post(
        f"/cases/{reference}/review",
        data=review_form(
            client,
            reference,
            outcome="approved",
            decide="1",
            password=PASSWORD,
            checks=items,
            grounds=grounds,
            scope=scope,
        ),
    )
    assert first.status_code == 400 and "counsel" in first.get_data(as_text=True).lower()
    escalated = post_decision(
        client,
        reference,
        outcome="approved",
        checks=items,
        grounds=grounds,
        scope=scope,
        counsel_note="Counsel (M. Okafor) approved disclosure of the last 24 h of mail: imminent threat to life.",
    )
    assert escalated.status_code == 302, escalated.get_data(as_text=True)[-3000:]
    assert decision_of(app, reference)[1] == "approved"


def test_a_warrant_approved_by_another_reviewer_gets_a_letter_naming_the_scope(app, client, login_as):
    login_as("reviewer")
    with app.app_context():
        reference = case_in_review()
    items = confirm_all(checklist_ids(app, reference))
    data = review_form(
        client,
        reference,
        outcome="approved",
        decide="1",
        password=PASSWORD,
        checks=items,
        grounds={"subscriber_basic": "law_requires", "stored_content": "legal_process"},
        scope={0: ["stored_content", "subscriber_basic"]},
        dates={0: ("2026-02-01", "2026-03-31")},
    )
    response = client.post(f"/cases/{reference}/review", data=data)
    assert response.status_code == 302
    with app.app_context():
        letter = db.session.execute(select(Document).where(Document.kind == "response_letter")).scalar_one()
        letter_id = letter.id
    pdf = client.get(f"/cases/{reference}/documents/{letter_id}").get_data()
    text_of_pdf = " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())
    assert reference in text_of_pdf and "user@example.net" in text_of_pdf
    assert "Stored content" in text_of_pdf and "1 February 2026 to 31 March 2026" in text_of_pdf


def test_the_approved_period_cannot_be_wider_than_the_request(app, client, login_as):
    login_as("reviewer")
    with app.app_context():
        reference = case_in_review()
    items = confirm_all(checklist_ids(app, reference))
    data = review_form(
        client,
        reference,
        outcome="approved",
        decide="1",
        password=PASSWORD,
        checks=items,
        grounds={"stored_content": "legal_process"},
        scope={0: ["stored_content"]},
        dates={0: ("2025-06-01", "")},
    )
    response = client.post(f"/cases/{reference}/review", data=data)
    assert response.status_code == 400 and "starts before the requested period" in response.get_data(as_text=True)


def test_approval_needs_every_checklist_element_and_a_ground(app, client, login_as):
    login_as("reviewer")
    with app.app_context():
        reference = case_in_review()
    items = checklist_ids(app, reference)
    partial = confirm_all(items[:-1])
    response = post_decision(
        client,
        reference,
        outcome="approved",
        checks=partial,
        grounds={"stored_content": "legal_process"},
        scope={0: ["stored_content"]},
    )
    assert response.status_code == 400 and "confirm the checklist element" in response.get_data(as_text=True)
    response = post_decision(
        client, reference, outcome="approved", checks=confirm_all(items), scope={0: ["stored_content"]}
    )
    assert response.status_code == 400 and "cite at least one ground" in response.get_data(as_text=True)
    response = post_decision(
        client,
        reference,
        outcome="approved",
        checks=confirm_all(items),
        grounds={"stored_content": "legitimate_interests"},
        scope={0: ["stored_content"]},
    )
    assert response.status_code == 400 and "needs a written reason" in response.get_data(as_text=True)
    assert decision_of(app, reference)[1] is None


def test_deciding_needs_the_password_again(app, client, login_as):
    reviewer = login_as("reviewer")
    with app.app_context():
        reference = case_in_review()
    response = client.post(
        f"/cases/{reference}/review",
        data=review_form(
            client, reference, outcome="rejected", decide="1", password="not my password", reason="overbroad"
        ),
    )
    assert response.status_code == 403 and "password was not correct" in response.get_data(as_text=True)
    assert decision_of(app, reference)[1] is None
    with app.app_context():
        failed = db.session.execute(select(AuditEvent).where(AuditEvent.action == "review.step_up_failed")).scalar_one()
        assert failed.actor_id == reviewer.id


def test_rejection_needs_reasons_and_is_recorded_with_its_letter(app, client, login_as):
    login_as("reviewer")
    with app.app_context():
        reference = case_in_review()
    response = client.post(
        f"/cases/{reference}/review",
        data=review_form(client, reference, outcome="rejected", decide="1", password=PASSWORD),
    )
    assert response.status_code == 400 and "at least one reason" in response.get_data(as_text=True)
    response = post_decision(
        client,
        reference,
        outcome="rejected",
        reason=["overbroad", "expired"],
        text="The warrant names no date range for the content.",
    )
    assert response.status_code == 302
    assert decision_of(app, reference)[:2] == ("rejected", "rejected")
    with app.app_context():
        assert (
            db.session.execute(
                select(func.count()).select_from(Document).where(Document.kind == "response_letter")
            ).scalar_one()
            == 1
        )


def test_needs_info_records_the_message_and_the_answer_starts_a_new_review(app, client, login_as):
    login_as("reviewer")
    with app.app_context():
        reference = case_in_review()
    response = post_decision(
        client, reference, outcome="needs_info", requester_message="Please send the signed page 3 of the warrant."
    )
    assert response.status_code == 302
    assert decision_of(app, reference)[:2] == ("needs_info", "needs_info")
    with app.app_context():
        from disclosure.auth.models import User
        from disclosure.cases import service as cases
        from disclosure.workflow import Action
        from tests.factories import make_user

        clerk = db.session.get(User, make_user("intake").id)
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        cases.apply_action(clerk, case, Action.REQUESTER_ANSWERED, None, None)
        db.session.commit()
        reviews = db.session.execute(
            select(Review.status).where(Review.case_id == case.id).order_by(Review.id)
        ).scalars()
        assert list(reviews) == ["decided", "open"]


def test_the_person_who_logged_the_case_cannot_decide_it(app, client, login_as):
    logger = login_as("intake", "reviewer")
    with app.app_context():
        from tests.factories import MadeUser

        case = make_case(logged_by=MadeUser(logger.id, logger.email, logger.password, logger.totp_secret))
        from disclosure.auth.models import User
        from disclosure.cases import service as cases
        from disclosure.workflow import Action
        from tests.factories import make_user

        other = db.session.get(User, make_user("reviewer").id)
        cases.apply_action(other, db.session.get(Case, case.id), Action.START_REVIEW, None, None)
        db.session.commit()
        reference = case.reference
    response = client.post(
        f"/cases/{reference}/review",
        data=review_form(client, reference, outcome="rejected", decide="1", password=PASSWORD, reason="overbroad"),
    )
    assert response.status_code == 403 and "another reviewer must review it" in response.get_data(as_text=True)
    assert decision_of(app, reference)[1] is None


def test_a_decision_is_immutable_in_the_database(app, client, login_as, backend):
    login_as("reviewer")
    with app.app_context():
        reference = case_in_review()
    client.post(
        f"/cases/{reference}/review",
        data=review_form(client, reference, outcome="rejected", decide="1", password=PASSWORD, reason="overbroad"),
    )
    import pytest
    from sqlalchemy.exc import DBAPIError

    with app.app_context():
        with pytest.raises(DBAPIError):
            db.session.execute(text("UPDATE review_decision SET outcome = 'approved'"))
        db.session.rollback()
        with pytest.raises(DBAPIError):
            db.session.execute(text("DELETE FROM review_decision"))
        db.session.rollback()
        assert db.session.execute(select(Decision.outcome)).scalar_one() == "rejected"


def test_a_field_error_is_shown_beside_its_field_and_nothing_is_saved(app, client, login_as):
    login_as("reviewer")
    with app.app_context():
        reference = case_in_review()
    items = checklist_ids(app, reference)
    data = review_form(client, reference, save="1", checks={items[0]: "na"}, reasons={"stored_content": "x" * 2001})
    response = client.post(f"/cases/{reference}/review", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "Some fields need attention" in page
    reason_field = page.index('name="grounds-1-reason"')
    assert 'aria-invalid="true"' in page[page.rindex("<input", 0, reason_field) : reason_field + 200]
    assert '<ul class="errors"><li>Field cannot be longer than 2000 characters.</li></ul>' in page[reason_field:]
    assert '<input checked id="checklist-0-answer-2" name="checklist-0-answer" type="radio" value="na">' in page
    with app.app_context():
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        assert db.session.execute(select(Review.checklist).where(Review.case_id == case.id)).scalar_one() == {}


def test_a_form_for_other_rows_is_refused_and_the_stored_worksheet_shown(app, client, login_as):
    login_as("reviewer")
    with app.app_context():
        reference = case_in_review()
    items = checklist_ids(app, reference)
    saved = review_form(client, reference, save="1", checks={items[0]: "yes"})
    assert client.post(f"/cases/{reference}/review", data=saved).status_code == 302
    data = review_form(client, reference, save="1", **{"checklist-0-item": "someone_elses_element"})
    response = client.post(f"/cases/{reference}/review", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 409 and "changed since this page was loaded" in page
    assert f'value="{items[0]}"' in page and "someone_elses_element" not in page
