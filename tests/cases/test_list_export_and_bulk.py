"""The case list exports as CSV (formula injection neutralised) and acts on ticked cases in bulk, each case its own
audit event (issue 16: no export of a case list; no bulk assign or close)."""

from __future__ import annotations

import csv
import io
import json

from sqlalchemy import select

from disclosure.audit.models import AuditEvent
from disclosure.cases.models import Case
from disclosure.extensions import db
from tests.conftest import csrf_from
from tests.factories import make_case, make_user


def test_the_filtered_list_exports_every_matching_case_as_csv(app, client, login_as):
    with app.app_context():
        first = make_case(agency={"name": "Federal Bureau of Investigation", "country": "US"}).reference
        make_case(agency={"name": '=HYPERLINK("http://evil.example")', "country": "US"})
        for _ in range(30):  # more than one page of the list
            make_case(agency={"name": "Federal Bureau of Investigation", "country": "US"})
    login_as("intake")
    response = client.get("/cases/export.csv", query_string={"q": "bureau"})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith('attachment; filename="cases-')
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:5] == ["Reference", "Process", "Agency", "Jurisdiction", "State"]
    assert len(rows) == 1 + 31 and rows[1][0] == first
    everything = list(csv.reader(io.StringIO(client.get("/cases/export.csv").get_data(as_text=True).lstrip("\ufeff"))))
    hostile = [row for row in everything if "HYPERLINK" in row[2]]
    assert hostile and hostile[0][2].startswith("'="), "a formula must be made inert"
    with app.app_context():
        body = (
            db.session.execute(select(AuditEvent.body).where(AuditEvent.action == "cases.exported")).scalars().first()
        )
        data = json.loads(bytes(body))["data"]
        assert data == {"filters": {"q": "bureau"}, "count": 31}


def test_the_list_offers_the_export_of_what_it_shows(app, client, login_as):
    with app.app_context():
        make_case()
    login_as("intake")
    page = client.get("/cases/", query_string={"state": "received", "_external": "1"}).get_data(as_text=True)
    assert 'href="/cases/export.csv?state=received">Export these 1 as CSV' in page


def bulk(client, references: list[str], **fields: str):
    page = client.get("/cases/").get_data(as_text=True)
    data = {"csrf_token": csrf_from(page), "back": "/cases/", "case": references, **fields}
    return client.post("/cases/bulk", data=data, follow_redirects=True)


def test_bulk_close_is_all_or_nothing_and_names_each_refused_case(app, client, login_as):
    with app.app_context():
        closable = [make_case(state="disclosed").reference for _ in range(2)]
        in_review = make_case(state="in_review").reference
    login_as("intake")
    refused = bulk(client, [*closable, in_review], action="close").get_data(as_text=True)
    assert "Nothing was changed: 1 of the 3 ticked cases could not be closed." in refused
    assert f"{in_review}: " in refused and "is not possible while the case is in review" in refused
    with app.app_context():
        states = dict(db.session.execute(select(Case.reference, Case.state)).all())
        assert [states[r] for r in closable] == ["disclosed", "disclosed"]
    done = bulk(client, closable, action="close").get_data(as_text=True)
    assert f"Closed 2 cases: {closable[0]}, {closable[1]}." in done
    with app.app_context():
        states = dict(db.session.execute(select(Case.reference, Case.state)).all())
        assert [states[r] for r in closable] == ["closed", "closed"] and states[in_review] == "in_review"
        events = (
            db.session.execute(select(AuditEvent.subject).where(AuditEvent.action == "case.transition")).scalars().all()
        )
        assert sorted(events) == sorted(f"case:{r}" for r in closable)  # one event per case


def test_bulk_assign_needs_an_assignee_and_assigns_each_case(app, client, login_as):
    with app.app_context():
        references = [make_case().reference for _ in range(3)]
        reviewer = make_user("reviewer")
    login_as("intake")
    missing = bulk(client, references, action="assign").get_data(as_text=True)
    assert "Choose who to assign the ticked cases to." in missing
    done = bulk(client, references, action="assign", assignee=str(reviewer.id)).get_data(as_text=True)
    assert "Assigned 3 cases" in done
    with app.app_context():
        assert set(db.session.execute(select(Case.assigned_to_id)).scalars()) == {reviewer.id}


def test_nothing_ticked_says_so(app, client, login_as):
    with app.app_context():
        make_case()
    login_as("intake")
    assert "Tick the cases to act on first." in bulk(client, [], action="close").get_data(as_text=True)
