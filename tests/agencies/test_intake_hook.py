"""Intake goes through the directory (issue 15): a request naming an agency by its alias is logged against the
existing record, and the form's agency name offers the directory's names as the person types."""

from __future__ import annotations

from tests.agencies.helpers import make_agency
from tests.factories import make_case


def test_a_request_naming_the_agency_by_its_alias_is_logged_against_the_existing_record(app):
    with app.app_context():
        fbi = make_agency("Federal Bureau of Investigation", aliases=("FBI",))
        case = make_case(agency={"name": "FBI", "country": "US"})
        assert case.agency_id == fbi.id


def test_the_intake_and_edit_pages_offer_the_type_ahead_and_allow_its_look_up(app, client, login_as):
    login_as("intake")
    with app.app_context():
        reference = make_case().reference
    for url in ("/cases/new", f"/cases/{reference}/edit"):
        response = client.get(url)
        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert 'data-agency-lookup="/agencies/lookup"' in page and "js/agency-lookup.js" in page, url
        # The look-up is a fetch: the page's policy must allow connecting to this site, or the browser blocks it.
        assert "connect-src 'self'" in response.headers["Content-Security-Policy"], url


def test_the_intake_form_counts_deadlines_in_the_loggers_own_time_zone(app, client, login_as):
    from disclosure.auth.models import User
    from disclosure.extensions import db

    user = login_as("intake")
    with app.app_context():
        db.session.get(User, user.id).time_zone = "America/Chicago"
        db.session.commit()
    page = client.get("/cases/new").get_data(as_text=True)
    assert '<option selected value="America/Chicago">America/Chicago</option>' in page
