"""Searching cases finds substrings of references, dockets, targets, agencies, officers and notes, ranked and
highlighted, through each database's own full-text index (issue 16: search was exact-match only: "alice" and
"FBI" found nothing)."""

from __future__ import annotations

import re

from sqlalchemy import select

from disclosure.auth.models import User
from disclosure.cases import search
from disclosure.cases import service as cases
from disclosure.cases.models import Case
from disclosure.extensions import db
from tests.factories import make_case, make_user


def found(client, term: str) -> list[str]:
    page = client.get("/cases/", query_string={"q": term}).get_data(as_text=True)
    return re.findall(r'<a href="/cases/(DR-\d{4}-\d{5})">', page)


def seed(app) -> dict[str, str]:
    with app.app_context():
        alice = make_case(
            targets=[{"kind": "email", "value": "alice.smith@example.net", "from": None, "to": None}],
            agency={"name": "Federal Bureau of Investigation", "country": "US"},
        ).reference
        bob = make_case(
            targets=[{"kind": "email", "value": "bob@example.org", "from": None, "to": None}],
            agency={"name": "Metropolitan Police Service", "country": "GB"},
            issuing_authority={"kind": "judge", "name": "Westminster Magistrates", "docket": "GJ-2026-77"},
            officer={"name": "DC K. Marsh", "email": "k.marsh@met.example", "phone": None, "badge": None},
        ).reference
        return {"alice": alice, "bob": bob}


def test_a_part_of_a_target_an_agency_a_docket_or_an_officer_finds_its_case(app, client, login_as):
    refs = seed(app)
    login_as("intake")
    assert found(client, "alice") == [refs["alice"]]
    assert found(client, "ALICE.SM") == [refs["alice"]]  # any case
    assert found(client, "bureau") == [refs["alice"]]
    assert found(client, "metropolitan") == [refs["bob"]]
    assert found(client, "2026-77") == [refs["bob"]]
    assert found(client, "marsh") == [refs["bob"]]
    assert found(client, "example") and set(found(client, "example")) == set(refs.values())
    assert found(client, "nobody-here") == []


def test_an_exact_reference_or_target_ranks_before_a_substring(app, client, login_as):
    with app.app_context():
        first = make_case(targets=[{"kind": "email", "value": "ann@example.net", "from": None, "to": None}]).reference
        exact = make_case(targets=[{"kind": "username", "value": "ann", "from": None, "to": None}]).reference
    login_as("intake")
    assert found(client, "ann") == [exact, first]


def test_a_hit_in_a_target_ranks_before_a_hit_in_the_notes(app, client, login_as):
    with app.app_context():
        noted = make_case()
        noted.summary = "Mentions the account quartzfox7 in passing."
        db.session.commit()  # the search row follows the case on flush
        in_notes = noted.reference
        in_target = make_case(
            targets=[{"kind": "username", "value": "quartzfox7-backup", "from": None, "to": None}]
        ).reference
    login_as("intake")
    assert found(client, "quartzfox") == [in_target, in_notes]


def test_the_match_is_shown_highlighted_and_escaped(app, client, login_as):
    with app.app_context():
        reference = make_case(
            targets=[{"kind": "email", "value": "alice.smith@example.net", "from": None, "to": None}]
        ).reference
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        editor = db.session.get(User, make_user("intake").id)
        cases.update_case(editor, case, cases.CaseChanges(summary="Agent said <script>x</script> twice"), None, None)
        db.session.commit()
    login_as("intake")
    page = client.get("/cases/", query_string={"q": "alice"}).get_data(as_text=True)
    assert "Email address: <mark>alice</mark>.smith@example.net" in page
    notes = client.get("/cases/", query_string={"q": "said"}).get_data(as_text=True)
    assert "Notes: Agent <mark>said</mark> &lt;script&gt;x&lt;/script&gt; twice" in notes


def test_a_corrected_case_is_found_by_its_new_facts_and_not_its_old(app, client, login_as):
    with app.app_context():
        reference = make_case().reference
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        editor = db.session.get(User, make_user("intake").id)
        changes = cases.CaseChanges(docket="NEW-DOCKET-991")
        cases.update_case(editor, case, changes, None, None, reason="The docket on the order's second page.")
        db.session.commit()
    login_as("intake")
    assert found(client, "docket-991") == [reference]
    assert found(client, "mj-01234") == []


def test_short_terms_match_exactly_and_wildcards_are_literal(app, client, login_as):
    with app.app_context():
        reference = make_case(targets=[{"kind": "username", "value": "al", "from": None, "to": None}]).reference
        make_case()
    login_as("intake")
    assert found(client, "al") == [reference]  # exact target, too short for a substring
    assert found(client, "%") == [] and found(client, "___") == []


def test_the_index_can_be_rebuilt_from_the_cases(app):
    refs = seed(app)
    with app.app_context():
        db.session.execute(search.CaseSearch.__table__.delete())
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["cases", "reindex"])
    assert result.exit_code == 0, result.output
    assert "search index rebuilt for 2 cases" in result.output
    with app.app_context():
        rows = dict(db.session.execute(select(search.CaseSearch.case_id, search.CaseSearch.doc)).all())
        assert len(rows) == 2 and any("alice.smith@example.net" in doc for doc in rows.values())
    assert refs


def test_a_search_pages_through_its_matches_and_counts_them_all(app, client, login_as):
    # The page and its count come from one query for a search; past the last page shows the last one.
    with app.app_context():
        refs = {
            make_case(targets=[{"kind": "username", "value": f"pagetest-{n:02d}", "from": None, "to": None}]).reference
            for n in range(27)
        }
    login_as("intake")
    first = client.get("/cases/", query_string={"q": "pagetest"}).get_data(as_text=True)
    assert "27 matching" in first
    page_two = client.get("/cases/", query_string={"q": "pagetest", "page": 2}).get_data(as_text=True)
    beyond = client.get("/cases/", query_string={"q": "pagetest", "page": 99}).get_data(as_text=True)
    listed = re.findall(r'<a href="/cases/(DR-\d{4}-\d{5})">', first)
    listed_two = re.findall(r'<a href="/cases/(DR-\d{4}-\d{5})">', page_two)
    assert len(listed) == 25 and len(listed_two) == 2 and set(listed) | set(listed_two) == refs
    assert re.findall(r'<a href="/cases/(DR-\d{4}-\d{5})">', beyond) == listed_two and "27 matching" in beyond
