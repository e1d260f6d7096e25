"""Correcting a case's facts: each correction has a reason in the audit log; a decided case goes back for a new
review with its old decision kept; once production has begun the facts are frozen (issue 16: a producing case had
its valid-until moved to 2099, and its letters and bundles then showed the edited facts)."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from disclosure.audit.models import AuditEvent
from disclosure.auth.models import User
from disclosure.cases import service as cases
from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.review import service as review
from disclosure.workflow import Action
from tests.cases.page_forms import edit_form
from tests.conftest import csrf_from
from tests.factories import make_case, make_user
from tests.production.helpers import approved_case


def the_case(app, reference: str) -> Case:
    with app.app_context():
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        db.session.expunge(case)
        return case


def updates(app, reference: str) -> list[dict]:
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent.body)
            .where(AuditEvent.subject == f"case:{reference}", AuditEvent.action == "case.update")
            .order_by(AuditEvent.seq)
        ).scalars()
        return [json.loads(bytes(body))["data"] for body in rows]


def test_a_fact_corrected_without_a_reason_is_refused_beside_the_reason_field(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = make_case().reference
    response = client.post(f"/cases/{reference}/edit", data=edit_form(client, reference, valid_until="2026-11-30"))
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "Say why the facts are corrected (for example, what the document really says)." in body
    assert the_case(app, reference).valid_until.isoformat() == "2026-11-16"
    assert updates(app, reference) == []


def test_the_notes_alone_change_without_a_reason(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = make_case().reference
    response = client.post(f"/cases/{reference}/edit", data=edit_form(client, reference, summary="Called the agent."))
    assert response.status_code == 302
    assert updates(app, reference) == [{"diff": {"summary": {"from": "", "to": "Called the agent."}}}]


def test_correcting_an_approved_case_sends_it_back_for_review_and_keeps_the_old_decision(app, client, login_as):
    with app.app_context():
        reference = approved_case()
    login_as("intake")
    reason = "The warrant's last page says it is valid until 30 November."
    response = client.post(
        f"/cases/{reference}/edit", data=edit_form(client, reference, valid_until="2026-11-30", reason=reason)
    )
    assert response.status_code == 302
    page = client.get(response.location).get_data(as_text=True)
    assert f"Changes saved. {reference} is back in review: the decision on the old facts stays on record." in page
    case = the_case(app, reference)
    assert (case.state, case.decided_by_id, case.valid_until.isoformat()) == ("in_review", None, "2026-11-30")
    assert updates(app, reference)[-1]["reason"] == reason
    with app.app_context():
        case = db.session.get(Case, case.id)
        assert [d.outcome.value for d in review.decisions_of(case)] == ["approved"]
        moves = db.session.execute(
            select(AuditEvent.body).where(AuditEvent.subject == case.subject, AuditEvent.action == "case.transition")
        ).scalars()
        last = json.loads(bytes(list(moves)[-1]))["data"]
        assert (last["action"], last["from"], last["to"], last["note"]) == (
            "correct_facts",
            "approved",
            "in_review",
            reason,
        )
        assert last["corrected"] == ["valid_until"]


def test_once_production_has_begun_the_facts_are_frozen(app, client, login_as):
    with app.app_context():
        reference = approved_case()
        producer = db.session.get(User, make_user("producer").id)
        cases.apply_action(
            producer,
            db.session.execute(select(Case).where(Case.reference == reference)).scalar_one(),
            Action.START_PRODUCTION,
            None,
            None,
        )
        db.session.commit()
    login_as("intake")
    response = client.post(
        f"/cases/{reference}/edit",
        data=edit_form(client, reference, valid_until="2099-12-31", reason="Extended."),
    )
    assert response.status_code == 400
    assert f"Production of {reference} has begun on the approved facts, so they can no longer change." in (
        response.get_data(as_text=True)
    )
    case = the_case(app, reference)
    assert (case.state, case.valid_until.isoformat()) == ("producing", "2026-11-16")
    # The notes still can.
    notes = client.post(f"/cases/{reference}/edit", data=edit_form(client, reference, summary="Producer asked."))
    assert notes.status_code == 302 and the_case(app, reference).summary == "Producer asked."


def test_correcting_is_not_a_bare_workflow_step(app, client, login_as):
    """Only a corrected fact sends a decided case back to review: no button does it with nothing corrected."""
    with app.app_context():
        reference = approved_case()
    login_as("intake")
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "Correct the facts and review again" not in page
    version = re.search(r'name="version" value="(\d+)"', page)
    assert version is not None
    data = {"csrf_token": csrf_from(page), "action": "correct_facts", "version": version.group(1)}
    response = client.post(f"/cases/{reference}/action", data=data)
    assert response.status_code == 409
    assert "use Edit facts" in response.get_data(as_text=True)
    assert the_case(app, reference).state == "approved"
