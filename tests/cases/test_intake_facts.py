"""Intake refuses facts that cannot be true, asks for a tick on facts that are possible but unusual, and shows every
mistake at once, in dates as people read them; a file is judged by its content and the person is told.

Each test is an observation from the daily-work review (issue 16) that held on main before this change.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from disclosure.audit.models import AuditEvent
from disclosure.cases.models import Case, Document, NonDisclosureOrder
from disclosure.clock import utcnow
from disclosure.extensions import db
from tests.cases.test_intake import intake_form
from tests.cases.test_intake_particulars import case_count, field_errors
from tests.conftest import csrf_from
from tests.documents import pdf

# Dates relative to today, so that the rules about "more than 90 days ago" judge these the same on any day.
TODAY = utcnow().date()
RECEIVED = TODAY - timedelta(days=10)


def recent(**overrides: object) -> dict[str, object]:
    """A valid warrant received ten days ago, with the given fields changed."""
    facts: dict[str, object] = {
        "received_at": f"{RECEIVED.isoformat()}T09:05",
        "timezone": "UTC",
        "issued_on": (RECEIVED - timedelta(days=1)).isoformat(),
        "valid_until": (RECEIVED + timedelta(days=14)).isoformat(),
        "ndo_starts_on": RECEIVED.isoformat(),
        "ndo_until": (RECEIVED + timedelta(days=180)).isoformat(),
    }
    facts.update(overrides)
    return facts


def post(client, files: dict[str, tuple[bytes, str]] | None = None, **overrides: object):
    token = csrf_from(client.get("/cases/new").get_data(as_text=True))
    data = intake_form(token, **recent(**overrides))
    for name in [key for key, value in data.items() if value is None]:
        del data[name]
    for name, (content, filename) in (files or {}).items():
        data[name] = (io.BytesIO(content), filename)
    return client.post("/cases/new", data=data, content_type="multipart/form-data")


def no_targets() -> dict[str, object]:
    return {f"targets-{row}-{part}": "" for row in range(2) for part in ("kind", "value", "date_from", "date_to")}


def people_date(day: date) -> str:
    return f"{day.day} {day:%B %Y}"


def only_case(app) -> Case:
    with app.app_context():
        case = db.session.execute(select(Case)).scalar_one()
        db.session.expunge(case)
        return case


def test_a_due_date_before_receipt_is_refused_in_words(app, client, login_as):
    login_as("intake")
    due = RECEIVED - timedelta(days=3)
    response = post(client, due_on=due.isoformat())
    assert response.status_code == 400
    assert field_errors(response.get_data(as_text=True))["due_on"] == [
        f"The due date ({people_date(due)}) is before the request arrived ({people_date(RECEIVED)}). "
        "Correct one of them."
    ]
    assert case_count(app) == 0


def test_a_receipt_in_1990_is_refused_and_no_1990_reference_is_given(app, client, login_as):
    login_as("intake")
    response = post(
        client, received_at="1990-03-01T10:00", issued_on="1990-02-28", valid_until=None, ndo_starts_on=None
    )
    assert response.status_code == 400
    assert field_errors(response.get_data(as_text=True))["received_at"] == [
        "Check the year: 1 March 1990 is before 1 January 2000, earlier than any request this system holds."
    ]
    assert case_count(app) == 0


def test_a_receipt_more_than_90_days_ago_is_logged_only_once_confirmed(app, client, login_as):
    login_as("intake")
    old = TODAY - timedelta(days=120)
    facts = {
        "received_at": f"{old.isoformat()}T09:05",
        "issued_on": old.isoformat(),
        "valid_until": (old + timedelta(days=14)).isoformat(),
        "ndo_starts_on": old.isoformat(),
        "ndo_until": (old + timedelta(days=180)).isoformat(),
    }
    first = post(client, **facts)
    assert first.status_code == 400
    assert field_errors(first.get_data(as_text=True))["confirm_old_receipt"] == [
        f"It arrived on {people_date(old)}, more than 90 days ago. Check the date, or tick this box if it really "
        "arrived then."
    ]
    assert case_count(app) == 0
    confirmed = post(client, confirm_old_receipt="y", **facts)
    assert confirmed.status_code == 302
    assert only_case(app).received_at.date() == old


def test_a_receipt_in_the_future_says_what_time_it_is_now_in_plain_words(app, client, login_as):
    login_as("intake")
    tomorrow = TODAY + timedelta(days=1)
    response = post(client, received_at=f"{tomorrow.isoformat()}T09:05", issued_on=None, ndo_starts_on=None)
    message = field_errors(response.get_data(as_text=True))["received_at"][0]
    assert message.startswith(f"This is in the future: it is now {people_date(utcnow().date())}, ")
    assert "T" not in message.split(":", 1)[1].split("(")[0] and "+00:00" not in message


def test_expiry_before_issue_is_refused_in_words_not_field_names(app, client, login_as):
    login_as("intake")
    issued, until = RECEIVED - timedelta(days=1), RECEIVED - timedelta(days=5)
    response = post(client, issued_on=issued.isoformat(), valid_until=until.isoformat())
    errors = field_errors(response.get_data(as_text=True))
    assert errors["valid_until"] == [
        f"The process cannot expire ({people_date(until)}) before it was issued ({people_date(issued)}). "
        "Correct one of them."
    ]
    assert "valid_until" not in " ".join(errors["valid_until"])


def test_a_due_date_after_the_process_expires_needs_a_tick(app, client, login_as):
    login_as("intake")
    until, due = RECEIVED + timedelta(days=5), RECEIVED + timedelta(days=20)
    first = post(client, valid_until=until.isoformat(), due_on=due.isoformat())
    assert field_errors(first.get_data(as_text=True))["confirm_due_after_expiry"] == [
        f"The due date ({people_date(due)}) is after the process expires ({people_date(until)}). Check both "
        "dates, or tick this box if the document says so."
    ]
    assert case_count(app) == 0
    assert (
        post(client, valid_until=until.isoformat(), due_on=due.isoformat(), confirm_due_after_expiry="y").status_code
        == 302
    )


def test_a_warrant_with_no_targets_is_logged_only_once_confirmed_and_then_waits_for_them(app, client, login_as):
    login_as("intake")
    first = post(client, **no_targets())
    assert first.status_code == 400
    assert field_errors(first.get_data(as_text=True))["confirm_no_targets"] == [
        "No target is given. Add the accounts or identifiers the process names, or tick this box to log it without "
        "targets: the case then waits for the requester to name them."
    ]
    assert case_count(app) == 0
    confirmed = post(client, confirm_no_targets="y", **no_targets())
    assert confirmed.status_code == 302
    page = client.get(confirmed.location).get_data(as_text=True)
    assert "It waits for the requester to name the targets." in page
    case = only_case(app)
    assert case.state == "needs_info"
    with app.app_context():
        actions = db.session.execute(
            select(AuditEvent.action).where(AuditEvent.subject == case.subject).order_by(AuditEvent.seq)
        ).scalars()
        assert list(actions) == ["case.create", "case.transition"]


def test_a_preservation_request_with_no_targets_is_refused_even_when_ticked(app, client, login_as):
    login_as("intake")
    response = post(
        client,
        process_type="preservation_request",
        categories=["subscriber_basic"],
        confirm_no_targets="y",
        **no_targets(),
    )
    assert response.status_code == 400
    assert field_errors(response.get_data(as_text=True))["confirm_no_targets"] == [
        "A preservation request must name what to preserve: add the accounts or identifiers it names."
    ]
    assert case_count(app) == 0


def test_a_gag_order_with_a_basis_must_say_when_it_ends(app, client, login_as):
    login_as("intake")
    response = post(client, ndo_until=None)
    assert field_errors(response.get_data(as_text=True))["ndo_until"] == [
        "Say when the order ends: its end date, its length in days, or tick “The order is indefinite”."
    ]
    assert case_count(app) == 0
    both = post(client, ndo_indefinite="y")
    assert field_errors(both.get_data(as_text=True))["ndo_until"] == [
        "Give only one of: the end date, the length in days, or “indefinite”."
    ]
    assert case_count(app) == 0


def test_a_gag_order_of_180_days_is_counted_from_its_start_and_shown(app, client, login_as):
    login_as("intake")
    response = post(client, ndo_until=None, ndo_days="180")
    assert response.status_code == 302
    end = RECEIVED + timedelta(days=180)
    assert end.isoformat() in client.get(response.location).get_data(as_text=True)
    with app.app_context():
        order = db.session.execute(select(NonDisclosureOrder)).scalar_one()
        assert (order.starts_on, order.expires_on) == (RECEIVED, end)


def test_an_explicitly_indefinite_gag_order_is_stored_as_indefinite(app, client, login_as):
    login_as("intake")
    assert post(client, ndo_until=None, ndo_indefinite="y").status_code == 302
    with app.app_context():
        assert db.session.execute(select(NonDisclosureOrder.expires_on)).scalar_one() is None


def test_every_mistake_is_shown_at_once_with_a_summary_linking_to_each(app, client, login_as):
    login_as("intake")
    response = post(
        client,
        due_on=(RECEIVED - timedelta(days=1)).isoformat(),
        issued_on=(RECEIVED + timedelta(days=2)).isoformat(),
        ndo_until=None,
        country="Germany",
        **no_targets(),
    )
    body = response.get_data(as_text=True)
    errors = field_errors(body)
    assert set(errors) == {"due_on", "issued_on", "ndo_until", "country", "confirm_no_targets"}
    assert "The request was not logged: 5 things need your attention" in body
    for field in errors:
        assert f'<a href="#{field}">' in body


def test_a_file_chosen_before_a_failed_submit_is_named_as_not_kept(app, client, login_as):
    login_as("intake")
    response = post(client, files={"legal_process": (pdf(pages=1), "warrant.pdf")}, country="Germany")
    assert response.status_code == 400
    assert field_errors(response.get_data(as_text=True))["legal_process"] == [
        "The file you chose (warrant.pdf) was not kept, because the request was not logged: choose it again "
        "before you log the request."
    ]
    with app.app_context():
        assert db.session.execute(select(Document)).first() is None


@pytest.mark.parametrize("route", ["intake", "upload"])
def test_a_text_file_named_pdf_is_kept_as_text_and_the_person_is_told(app, client, login_as, route):
    login_as("intake")
    text = b"Please preserve the account user@example.net.\n"
    if route == "intake":
        response = post(client, files={"legal_process": (text, "warrant.pdf")})
    else:
        assert post(client).status_code == 302
        reference = only_case(app).reference
        token = csrf_from(client.get(f"/cases/{reference}").get_data(as_text=True))
        response = client.post(
            f"/cases/{reference}/documents",
            data={"csrf_token": token, "kind": "correspondence", "file": (io.BytesIO(text), "warrant.pdf")},
            content_type="multipart/form-data",
        )
    assert response.status_code == 302
    page = client.get(response.location).get_data(as_text=True)
    assert "warrant.pdf is plain text, not what its name says (.pdf); it was kept as warrant.txt." in page
    with app.app_context():
        document = db.session.execute(select(Document)).scalar_one()
        assert (document.filename, document.content_type) == ("warrant.txt", "text/plain")
