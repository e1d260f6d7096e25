"""Edit facts corrects every fact intake records (issue 16, amendments): the receipt, the due date, the kind of
process, the targets and the requested data, each with a reason and an old → new diff in the audit log, checked as
intake checks them and refused beside the field in intake's words. Before a decision a correction applies in place
(a review under way reads the corrected facts); after one it reopens the case with the old decision kept.

On main before this change the edit page had none of these fields: each correction below was silently ignored.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from disclosure.audit.models import AuditEvent
from disclosure.auth.models import User
from disclosure.cases.models import Case
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.review import service as review
from tests.cases.page_forms import edit_form
from tests.cases.test_intake_facts import RECEIVED, people_date, recent
from tests.cases.test_intake_facts import post as post_intake
from tests.cases.test_intake_particulars import field_errors
from tests.factories import make_case, make_user
from tests.production.helpers import approved_case
from tests.review.helpers import WIRETAP, case_in_review, decide_in_full

REASON = "The document says so; the first entry was a typing mistake."
TWO_TARGETS = [
    {"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"},
    {"kind": "ip", "value": "203.0.113.7", "from": "2026-03-01T10:15:00Z", "to": None},
]


def post_edit(client, reference: str, **overrides: Any):  # type: ignore[no-untyped-def]
    """Send the Edit facts page as shown, with `overrides` typed in (and the reason, unless one is given)."""
    overrides.setdefault("reason", REASON)
    return client.post(f"/cases/{reference}/edit", data=edit_form(client, reference, **overrides))


def facts(app, reference: str) -> dict[str, Any]:
    with app.app_context():
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        return {
            "state": case.state,
            "process_type": case.process_type,
            "received_at": case.received_at.isoformat(),
            "due_at": case.due_at.isoformat(),
            "due_explanation": case.due_explanation,
            "targets": sorted((t.kind, t.value, t.date_from, t.date_to) for t in case.targets),
            "categories": [c.value for c in case.categories],
            "decided_by_id": case.decided_by_id,
        }


def updates(app, reference: str) -> list[dict[str, Any]]:
    with app.app_context():
        rows = db.session.execute(
            select(AuditEvent.body)
            .where(AuditEvent.subject == f"case:{reference}", AuditEvent.action == "case.update")
            .order_by(AuditEvent.seq)
        ).scalars()
        return [json.loads(bytes(body))["data"] for body in rows]


def logged(**overrides: Any) -> str:
    """A warrant logged through the intake service (in an app context)."""
    return str(make_case(**overrides).reference)


def test_the_receipt_is_corrected_and_the_deadline_is_counted_again_from_it(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = logged()
    response = post_edit(client, reference, received_at="2026-11-03T09:30")
    assert response.status_code == 302, response.get_data(as_text=True)
    after = facts(app, reference)
    assert after["received_at"] == "2026-11-03T09:30:00+00:00"
    diff = updates(app, reference)[-1]["diff"]
    assert diff["received_at"] == {"from": "2026-11-02T14:05:00Z", "to": "2026-11-03T09:30:00Z"}
    # Ten business days (Veterans Day skipped) from the corrected receipt, not from the old one.
    assert diff["due_at"] == {"from": "2026-11-17T23:59:59Z", "to": "2026-11-18T23:59:59Z"}
    assert after["due_explanation"].startswith("10 business days after receipt on 2026-11-03")


def test_the_due_date_on_the_document_is_corrected_and_can_be_cleared_again(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = logged()
    assert post_edit(client, reference, due_on="2026-11-13").status_code == 302
    after = facts(app, reference)
    assert (after["due_at"], after["due_explanation"]) == (
        "2026-11-13T23:59:59+00:00",
        "due date stated on the document: 2026-11-13",
    )
    assert updates(app, reference)[-1]["diff"]["due_at"] == {
        "from": "2026-11-17T23:59:59Z",
        "to": "2026-11-13T23:59:59Z",
    }
    # The page shows the stated date again; emptying it counts the deadline from the process's clock once more.
    assert edit_form(client, reference)["due_on"] == "2026-11-13"
    assert post_edit(client, reference, due_on="").status_code == 302
    assert facts(app, reference)["due_at"] == "2026-11-17T23:59:59+00:00"


def test_the_kind_of_process_is_corrected(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = logged()
    response = post_edit(
        client, reference, process_type="court_order_2703d", categories=["subscriber_basic", "account_records"]
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert facts(app, reference)["process_type"] == "court_order_2703d"
    assert updates(app, reference)[-1]["diff"]["process_type"] == {
        "from": "search_warrant",
        "to": "court_order_2703d",
    }


def test_a_target_is_added(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = logged()
    response = post_edit(client, reference, **{"targets-1-kind": "username", "targets-1-value": "alice"})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert facts(app, reference)["targets"] == [
        ("email", "user@example.net", "2026-01-01", "2026-06-30"),
        ("username", "alice", None, None),
    ]
    diff = updates(app, reference)[-1]["diff"]["targets"]
    assert diff["from"] == [{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}]
    assert {"kind": "username", "value": "alice", "from": None, "to": None} in diff["to"]


def test_a_target_is_removed_by_clearing_its_row(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = logged(targets=TWO_TARGETS)
    row = {f"targets-1-{part}": "" for part in ("kind", "value", "date_from", "date_to")}
    assert post_edit(client, reference, **row).status_code == 302
    assert facts(app, reference)["targets"] == [("email", "user@example.net", "2026-01-01", "2026-06-30")]
    assert len(updates(app, reference)[-1]["diff"]["targets"]["from"]) == 2


def test_a_target_is_changed(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = logged()
    response = post_edit(client, reference, **{"targets-0-value": "User@Other.example", "targets-0-date_to": ""})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert facts(app, reference)["targets"] == [("email", "User@other.example", "2026-01-01", None)]
    assert updates(app, reference)[-1]["diff"]["targets"]["to"] == [
        {"kind": "email", "value": "User@other.example", "from": "2026-01-01", "to": None}
    ]


def test_the_requested_data_is_corrected(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = logged()
    response = post_edit(client, reference, categories=["subscriber_basic", "account_records"])
    assert response.status_code == 302
    assert facts(app, reference)["categories"] == ["subscriber_basic", "account_records"]
    assert updates(app, reference)[-1]["diff"]["categories"] == {
        "from": ["subscriber_basic", "stored_content"],
        "to": ["subscriber_basic", "account_records"],
    }


def test_the_audit_diff_names_each_changed_fact_with_its_old_and_new_value(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = logged()
    response = post_edit(
        client,
        reference,
        received_at="2026-11-02T15:00",
        due_on="2026-11-12",
        process_type="court_order_2703d",
        categories=["account_records"],
        docket="5:26-mj-09999",
        **{"targets-0-value": "admin@example.net"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    event = updates(app, reference)[-1]
    assert event["reason"] == REASON
    assert event["diff"] == {
        "received_at": {"from": "2026-11-02T14:05:00Z", "to": "2026-11-02T15:00:00Z"},
        "due_at": {"from": "2026-11-17T23:59:59Z", "to": "2026-11-12T23:59:59Z"},
        "due_explanation": {
            "from": "10 business days after receipt on 2026-11-02 (US federal holidays skipped: 2026-11-11 "
            "Veterans Day)",
            "to": "due date stated on the document: 2026-11-12",
        },
        "process_type": {"from": "search_warrant", "to": "court_order_2703d"},
        "categories": {"from": ["subscriber_basic", "stored_content"], "to": ["account_records"]},
        "docket": {"from": "5:26-mj-01234", "to": "5:26-mj-09999"},
        "targets": {
            "from": [{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
            "to": [{"kind": "email", "value": "admin@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
        },
    }


def test_the_page_as_shown_changes_nothing(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = logged(received_at="2026-11-02T14:05:30Z", targets=TWO_TARGETS)  # seconds the form does not show
    response = post_edit(client, reference, reason="")
    assert response.status_code == 302
    assert "Nothing changed." in client.get(response.location).get_data(as_text=True)
    assert updates(app, reference) == []


# Each impossible fact, as intake refuses it (tests/cases/test_intake_facts.py): the field it is refused at.
IMPOSSIBLE = {
    "due_on": {"due_on": (RECEIVED - timedelta(days=3)).isoformat()},
    "issued_on": {"issued_on": (RECEIVED + timedelta(days=1)).isoformat()},
    "valid_until": {
        "issued_on": (RECEIVED - timedelta(days=1)).isoformat(),
        "valid_until": (RECEIVED - timedelta(days=5)).isoformat(),
    },
    "received_at": {"received_at": "1990-03-01T10:00", "issued_on": "1990-02-28", "valid_until": None},
}


@pytest.mark.parametrize("field", sorted(IMPOSSIBLE))
def test_an_impossible_correction_is_refused_beside_its_field_in_intakes_words(app, client, login_as, field):
    login_as("intake")
    with app.app_context():
        reference = logged()
    intake = post_intake(client, ndo_starts_on=None, **IMPOSSIBLE[field])
    assert intake.status_code == 400
    said_at_intake = field_errors(intake.get_data(as_text=True))[field]
    corrected = {
        name: value or ""
        for name, value in recent(**IMPOSSIBLE[field]).items()
        if name in {"received_at", "timezone", "issued_on", "valid_until", "due_on"}
    }
    response = post_edit(client, reference, **corrected)
    assert response.status_code == 400
    assert field_errors(response.get_data(as_text=True))[field] == said_at_intake
    assert updates(app, reference) == []


def test_every_mistake_in_a_correction_is_shown_at_once_with_a_summary(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = logged()
    response = post_edit(
        client,
        reference,
        received_at="2026-11-02T14:05",
        due_on="2026-10-30",
        issued_on="2026-11-01",
        valid_until="2026-10-31",
        categories=None,
        officer_name="",
    )
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    errors = field_errors(body)
    assert errors["due_on"] == [
        "The due date (30 October 2026) is before the request arrived (2 November 2026). Correct one of them."
    ]
    assert errors["valid_until"] == [
        "The process cannot expire (31 October 2026) before it was issued (1 November 2026). Correct one of them."
    ]
    assert errors["categories-0"] == ["Choose at least one category of data."]
    assert errors["officer_name"] == ["Give the requesting officer's name (only a voluntary disclosure may have none)."]
    assert "The changes were not saved: 4 things need your attention" in body
    assert updates(app, reference) == []


def test_an_old_receipt_is_confirmed_again_only_when_the_correction_changes_it(app, client, login_as):
    login_as("intake")
    old = utcnow().date() - timedelta(days=120)
    with app.app_context():
        reference = logged(
            received_at=f"{old.isoformat()}T09:00:00Z", valid_until=None, non_disclosure_order=None, targets=[]
        )
    assert post_edit(client, reference, docket="GJ-2026-1").status_code == 302
    earlier = old - timedelta(days=1)
    refused = post_edit(client, reference, received_at=f"{earlier.isoformat()}T09:00")
    assert refused.status_code == 400
    assert field_errors(refused.get_data(as_text=True))["confirm_old_receipt"] == [
        f"It arrived on {people_date(earlier)}, more than 90 days ago. Check the date, or tick this box if it really "
        "arrived then."
    ]
    confirmed = post_edit(client, reference, received_at=f"{earlier.isoformat()}T09:00", confirm_old_receipt="y")
    assert confirmed.status_code == 302
    assert facts(app, reference)["received_at"].startswith(earlier.isoformat())


def test_removing_every_target_needs_a_tick_and_the_case_then_waits_for_the_requester(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = logged()
    cleared = {f"targets-0-{part}": "" for part in ("kind", "value", "date_from", "date_to")}
    refused = post_edit(client, reference, **cleared)
    assert refused.status_code == 400
    assert field_errors(refused.get_data(as_text=True))["confirm_no_targets"] == [
        "No target is given. Add the accounts or identifiers the process names, or tick this box to save it "
        "without targets: the case then waits for the requester to name them."
    ]
    assert post_edit(client, reference, confirm_no_targets="y", **cleared).status_code == 302
    after = facts(app, reference)
    assert (after["state"], after["targets"]) == ("needs_info", [])


def test_a_case_in_review_cannot_become_a_preservation_request(app, client, login_as):
    with app.app_context():
        reference = case_in_review()
    login_as("intake")
    response = post_edit(client, reference, process_type="preservation_request", categories=["subscriber_basic"])
    assert response.status_code == 400
    assert (
        "Withdraw it and log the request again as a new case."
        in field_errors(response.get_data(as_text=True))["process_type"][0]
    )
    assert facts(app, reference)["process_type"] == "search_warrant"


def test_a_correction_after_a_decision_reopens_the_case_and_keeps_the_old_decision(app, client, login_as):
    with app.app_context():
        reference = approved_case()
    login_as("intake")
    response = post_edit(
        client,
        reference,
        categories=["subscriber_basic"],
        **{"targets-1-kind": "email", "targets-1-value": "second@example.net"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(response.location).get_data(as_text=True)
    assert f"{reference} is back in review: the decision on the old facts stays on record." in page
    after = facts(app, reference)
    assert (after["state"], after["decided_by_id"], after["categories"]) == ("in_review", None, ["subscriber_basic"])
    with app.app_context():
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        assert [d.outcome.value for d in review.decisions_of(case)] == ["approved"]
        moves = db.session.execute(
            select(AuditEvent.body)
            .where(AuditEvent.subject == case.subject, AuditEvent.action == "case.transition")
            .order_by(AuditEvent.seq)
        ).scalars()
        last = json.loads(bytes(list(moves)[-1]))["data"]
    assert (last["action"], last["from"], last["to"]) == ("correct_facts", "approved", "in_review")
    assert last["corrected"] == ["categories", "targets"]


def test_a_review_under_way_reads_the_corrected_facts_and_its_old_answers_are_cleared(app, client, login_as):
    with app.app_context():
        reviewer = make_user("reviewer")
        reference = case_in_review(reviewer)
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        current = review.open_review(case)
        checklist = [item.id for item in review.evaluation_for(current).checklist]
        review.save_worksheet(
            db.session.get(User, reviewer.id),
            current,
            {item: {"answer": "yes"} for item in checklist},
            {"stored_content": {"grounds": ["legal_process"]}},
            "",
            None,
            None,
        )
        db.session.commit()
    login_as("intake")
    response = post_edit(client, reference, process_type="subpoena", categories=["subscriber_basic"])
    assert response.status_code == 302, response.get_data(as_text=True)
    with app.app_context():
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        current = review.open_review(case)
        evaluation = review.evaluation_for(current)
        assert [finding.category.value for finding in evaluation.categories] == ["subscriber_basic"]
        assert (current.checklist, current.grounds) == ({}, {})
    cleared = updates(app, reference)[-1]["worksheet_cleared"]
    assert sorted(cleared["checklist"]) == sorted(checklist) and list(cleared["grounds"]) == ["stored_content"]
    # The reviewer's page shows the subpoena's checklist, not the warrant's.
    reviewer_client = app.test_client()
    login_as("reviewer", client_=reviewer_client)
    page = reviewer_client.get(f"/cases/{reference}/review").get_data(as_text=True)
    assert "Issuing authority identified and empowered to issue this subpoena" in page
    assert "Signed by a judge" not in page


def test_a_receipt_late_in_the_evening_keeps_its_own_day_at_intake_and_on_edit(app, client, login_as):
    """21:30 in Los Angeles is the next day in UTC: a due date on the day of receipt is not before it."""
    login_as("intake")
    facts_there = {"timezone": "America/Los_Angeles", "received_at": f"{RECEIVED.isoformat()}T21:30"}
    logged_there = post_intake(client, due_on=RECEIVED.isoformat(), ndo_starts_on=None, **facts_there)
    assert logged_there.status_code == 302, field_errors(logged_there.get_data(as_text=True))
    reference = logged_there.location.rsplit("/", 1)[1]
    assert edit_form(client, reference)["received_at"] == f"{RECEIVED.isoformat()}T21:30"
    response = post_edit(client, reference, docket="LA-1")
    assert response.status_code == 302, field_errors(response.get_data(as_text=True))
    assert set(updates(app, reference)[-1]["diff"]) == {"docket"}


def test_facts_approved_once_of_two_are_not_corrected_until_the_review_asks_for_more(app, client, login_as):
    """An interception order needs two approvals: the first was given on the facts as they stand."""
    with app.app_context():
        reviewer = make_user("reviewer")
        reference = case_in_review(reviewer, **WIRETAP)
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        decide_in_full(db.session.get(User, reviewer.id), case, "approved")
        db.session.commit()
    login_as("intake")
    response = post_edit(client, reference, docket="CORRECTED-1")
    assert response.status_code == 400
    assert "a second approval is awaited: ask the requester for more information" in response.get_data(as_text=True)
    assert updates(app, reference) == []
