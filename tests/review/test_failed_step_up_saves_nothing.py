"""Issue 17, finding 12: a failed step-up changes nothing. "Record decision" saves the worksheet and decides in one
attempt; with a wrong password the whole attempt is rolled back, and only the failure itself stays on record."""

from __future__ import annotations

from sqlalchemy import select

from disclosure.audit.models import AuditEvent
from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.review import service
from tests.review.helpers import case_in_review, checklist_ids, confirm_all, post_decision


def test_a_wrong_password_on_record_decision_leaves_the_worksheet_unsaved(app, client, login_as):
    reviewer = login_as("reviewer")
    with app.app_context():
        reference = case_in_review()
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        version = service.open_review(case).version_id
        seq = db.session.execute(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
    items = checklist_ids(app, reference)
    response = post_decision(
        client,
        reference,
        checks=confirm_all(items),
        counsel_note="Counsel agreed on the phone.",
        outcome="rejected",
        reason="overbroad",
        password="not my password at all",
    )
    assert response.status_code == 403 and "password was not correct" in response.get_data(as_text=True)
    with app.app_context():
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        review = service.open_review(case)
        assert review.checklist == {} and review.counsel_note == "" and review.version_id == version
        after = db.session.execute(select(AuditEvent).where(AuditEvent.seq > seq)).scalars().all()
        assert [(e.action, e.actor_id) for e in after] == [("review.step_up_failed", reviewer.id)]
