"""Editing, moving, assigning a case, gag orders and the dashboard queues, as staff meet them."""

from __future__ import annotations

import json
import threading

from freezegun import freeze_time
from sqlalchemy import select

from disclosure.audit.models import AuditEvent
from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.services import Stale
from tests.cases.page_forms import edit_form, form_values
from tests.conftest import csrf_from
from tests.factories import MadeUser, make_case, make_user


def as_made(user) -> MadeUser:
    return MadeUser(user.id, user.email, user.password, user.totp_secret)


def events(app, subject, action=None):
    with app.app_context():
        statement = select(AuditEvent).where(AuditEvent.subject == subject)
        if action:
            statement = statement.where(AuditEvent.action == action)
        return [json.loads(e.body) for e in db.session.execute(statement.order_by(AuditEvent.seq)).scalars()]


def test_edit_records_one_event_with_a_diff(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = make_case().reference
    form = edit_form(
        client,
        reference,
        authority_name="Hon. B. Other",
        summary="Called the agent to confirm.",
        reason="The warrant names Judge Other; the first entry was a typing mistake.",
    )
    response = client.post(f"/cases/{reference}/edit", data=form)
    assert response.status_code == 302
    updates = events(app, f"case:{reference}", "case.update")
    assert len(updates) == 1
    assert updates[0]["data"]["reason"] == "The warrant names Judge Other; the first entry was a typing mistake."
    diff = updates[0]["data"]["diff"]
    assert diff["authority_name"] == {"from": "Hon. A. Example, N.D. Cal.", "to": "Hon. B. Other"}
    assert "officer_name" not in diff


def test_a_stale_form_gets_a_clear_conflict_and_keeps_the_users_input(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = make_case().reference
    page = client.get(f"/cases/{reference}/edit").get_data(as_text=True)
    first = {**form_values(page, "/edit"), "authority_name": "First Editor", "reason": "As the warrant says."}
    assert client.post(f"/cases/{reference}/edit", data=first).status_code == 302
    second = {
        **form_values(page, "/edit"),
        "authority_name": "Second Editor's careful text",
        "reason": "As the warrant says.",
    }
    response = client.post(f"/cases/{reference}/edit", data=second)
    body = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "changed by someone else" in body
    assert "Second Editor&#39;s careful text" in body or "Second Editor's careful text" in body
    assert "First Editor" in body  # the current version is shown beside the kept input
    with app.app_context():
        assert db.session.execute(select(Case.authority_name)).scalar_one() == "First Editor"


def test_concurrent_edits_give_one_winner(app, backend):
    """Two people save the same version at the same moment: exactly one succeeds (run on both databases)."""
    from disclosure.auth.models import User
    from disclosure.cases import service

    with app.app_context():
        case_id = make_case().id
        editors = [make_user("intake").id, make_user("intake").id]
    barrier = threading.Barrier(2, timeout=30)
    outcomes: list[str] = []

    def edit(editor_id: int, text: str) -> None:
        with app.app_context():
            # Both loaded the form at version 1; they press Save together.
            barrier.wait()
            try:
                case = db.session.get(Case, case_id)
                actor = db.session.get(User, editor_id)
                service.update_case(actor, case, service.CaseChanges(summary=text), 1, None)
                db.session.commit()
                outcomes.append("saved")
            except Stale:
                db.session.rollback()  # the unit of work's job, done by hand outside a request
                outcomes.append("conflict")
            except Exception as error:
                db.session.rollback()
                outcomes.append(f"error {type(error).__name__}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=edit, args=(editor, f"text {n}")) for n, editor in enumerate(editors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "saved"]
    assert len(events(app, f"case:{_reference(app, case_id)}", "case.update")) == 1


def _reference(app, case_id):
    with app.app_context():
        return db.session.get(Case, case_id).reference


def test_the_person_who_logged_a_case_cannot_start_its_review(app, client, login_as):
    logger = login_as("intake", "reviewer")
    with app.app_context():
        reference = make_case(logged_by=as_made(logger)).reference
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    response = client.post(
        f"/cases/{reference}/action", data={"csrf_token": csrf_from(page), "version": "1", "action": "start_review"}
    )
    assert response.status_code == 403
    assert "another reviewer must review it" in response.get_data(as_text=True)
    assert events(app, f"case:{reference}", "case.transition") == []


def test_a_reviewer_claims_and_starts_review_with_one_event_each(app, client, login_as):
    with app.app_context():
        reference = make_case().reference
    login_as("reviewer")
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert (
        client.post(f"/cases/{reference}/claim", data={"csrf_token": csrf_from(page), "version": "1"}).status_code
        == 302
    )
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "Assigned to" in page
    response = client.post(
        f"/cases/{reference}/action", data={"csrf_token": csrf_from(page), "version": "2", "action": "start_review"}
    )
    assert response.status_code == 302
    transitions = events(app, f"case:{reference}", "case.transition")
    assert [t["data"]["to"] for t in transitions] == ["in_review"]
    assert len(events(app, f"case:{reference}", "case.assign")) == 1


def test_approve_cannot_be_forced_through_the_generic_action(app, client, login_as):
    with app.app_context():
        reference = make_case(state="in_review").reference
    login_as("reviewer")
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    response = client.post(
        f"/cases/{reference}/action", data={"csrf_token": csrf_from(page), "version": "1", "action": "approve"}
    )
    assert response.status_code == 409
    with app.app_context():
        assert db.session.execute(select(Case.state)).scalar_one() == "in_review"


def test_an_auditor_can_read_a_case_but_not_move_it(app, client, login_as):
    with app.app_context():
        reference = make_case().reference
    login_as("auditor")
    page = client.get(f"/cases/{reference}")
    assert page.status_code == 200 and "Timeline" in page.get_data(as_text=True)
    response = client.post(
        f"/cases/{reference}/action",
        data={"csrf_token": csrf_from(page.get_data(as_text=True)), "version": "1", "action": "withdraw"},
    )
    assert response.status_code == 403


def test_gag_order_expiry_raises_a_notify_the_customer_task(app, client, login_as):
    with app.app_context():
        reference = make_case(non_disclosure_order={"basis": "18 USC 2705(b)", "until": "2026-12-15"}).reference
    with freeze_time("2026-12-01"):
        login_as("intake")
        dashboard = client.get("/").get_data(as_text=True)
        expiring = dashboard.split("Non-disclosure orders expiring within 30 days")[1].split("</section>")[0]
        assert reference in expiring
    with freeze_time("2026-12-20"):
        login_as("intake")
        dashboard = client.get("/").get_data(as_text=True)
        notify = dashboard.split("Notify the customer")[1].split("</section>")[0]
        assert reference in notify
        page = client.get(f"/cases/{reference}").get_data(as_text=True)
        assert "notify the customer" in page
        client.post(f"/cases/{reference}/gag-order/customer-notified", data={"csrf_token": csrf_from(page)})
        dashboard = client.get("/").get_data(as_text=True)
        assert reference not in dashboard.split("Notify the customer")[1].split("</section>")[0]
    assert len(events(app, f"case:{reference}", "ndo.customer_notified")) == 1


def test_customer_notification_is_refused_while_the_order_is_in_force(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = make_case(non_disclosure_order={"basis": "18 USC 2705(b)", "until": None}).reference
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert "indefinite" in page
    response = client.post(f"/cases/{reference}/gag-order/customer-notified", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 409 and "still in force" in response.get_data(as_text=True)


def test_queues_put_emergencies_and_overdue_cases_where_staff_look(app, client, login_as):
    with app.app_context():
        urgent = make_case(emergency=True, process_type="emergency_request", categories=["subscriber_basic"]).reference
        calm = make_case(due_at="2026-12-31", received_at="2026-11-20T10:00:00Z").reference
    with freeze_time("2026-11-25"):
        login_as("intake")
        page = client.get("/").get_data(as_text=True)
    emergencies = page.split('id="q-emergencies"')[1].split("</section>")[0]
    overdue = page.split('id="q-overdue"')[1].split("</section>")[0]
    assert urgent in emergencies and calm not in emergencies
    assert urgent in overdue and calm not in overdue


def test_list_filters_search_and_paginates(app, client, login_as):
    with app.app_context():
        first = make_case().reference
        for n in range(27):
            make_case(
                process_type="subpoena",
                categories=["subscriber_basic"],
                targets=[{"kind": "username", "value": f"user{n}"}],
                issuing_authority={"kind": "prosecutor", "name": "AUSA", "docket": f"GJ-{n}"},
            )
    login_as("intake")
    page = client.get("/cases/?process_type=search_warrant").get_data(as_text=True)
    assert first in page and "1 matching" in page
    assert "28 matching" in client.get("/cases/").get_data(as_text=True)
    assert "Page 1 of 2" in client.get("/cases/").get_data(as_text=True)
    assert first in client.get("/cases/?q=USER@example.net").get_data(as_text=True)
    assert "1 matching" in client.get("/cases/?q=GJ-7").get_data(as_text=True)
    assert client.get("/cases/?sort=reference;DROP TABLE case_file").status_code == 400
    assert client.get("/cases/?due_from=yesterday").status_code == 400
    assert client.get("/cases/?page=999").status_code == 200


def test_a_non_disclosure_order_recorded_on_the_case_page_states_its_end_or_indefinite(app, client, login_as):
    # Issue 16: an order with a basis but no end date was silently stored as indefinite.
    from disclosure.cases.models import NonDisclosureOrder

    login_as("intake")
    with app.app_context():
        reference = make_case(non_disclosure_order=None).reference
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    form = {"csrf_token": csrf_from(page), "basis": "18 USC 2705(b)", "starts_on": "2026-12-01"}
    silent = client.post(f"/cases/{reference}/gag-order", data=form)
    assert silent.status_code == 400
    assert "Give the day the order ends, or tick “Indefinite”" in silent.get_data(as_text=True)
    both = client.post(f"/cases/{reference}/gag-order", data={**form, "expires_on": "2027-06-01", "indefinite": "y"})
    assert both.status_code == 400 and "not both" in both.get_data(as_text=True)
    backwards = client.post(f"/cases/{reference}/gag-order", data={**form, "expires_on": "2026-11-01"})
    assert backwards.status_code == 400 and "cannot end before it starts" in backwards.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(NonDisclosureOrder)).scalars().all() == []
    stated = client.post(f"/cases/{reference}/gag-order", data={**form, "indefinite": "y"})
    assert stated.status_code == 302
    with app.app_context():
        (order,) = db.session.execute(select(NonDisclosureOrder)).scalars().all()
        assert order.expires_on is None
