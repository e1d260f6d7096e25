"""Possible duplicates: the thresholds in disclosure/cases/agency_match.py list every true duplicate in a corpus of
real agency names and none of the look-alikes; the new-agency form and the agency page list them with a reason;
the look-up behind the intake type-ahead answers over names and aliases."""

from __future__ import annotations

import pytest

from disclosure.cases import agencies
from disclosure.cases.agency_match import Entry, close_matches, type_ahead
from disclosure.cases.models import Agency
from disclosure.extensions import db
from tests.agencies.helpers import make_agency
from tests.conftest import csrf_from

DIRECTORY = [
    "Federal Bureau of Investigation",
    "Federal Bureau of Prisons",
    "Drug Enforcement Administration",
    "New York City Police Department",
    "Los Angeles Police Department",
    "San Francisco Police Department",
    "Bundeskriminalamt",
    "Metropolitan Police Service",
    "National Crime Agency",
    "U.S. Secret Service",
    "Department of Homeland Security",
    "Police Scotland",
    "Europol",
    "Royal Canadian Mounted Police",
    "US Marshals Service",
]
ENTRIES = [Entry(index, name) for index, name in enumerate(DIRECTORY)]

#: A name someone may type, and the directory entries it must list (and no others).
CORPUS = [
    ("Federal Bureau of Investigations", {"Federal Bureau of Investigation"}),
    ("Fed. Bureau of Investigation", {"Federal Bureau of Investigation"}),
    ("Federl Bureau of Investigaton", {"Federal Bureau of Investigation"}),
    ("Federal Investigation Bureau", {"Federal Bureau of Investigation"}),
    ("FBI", {"Federal Bureau of Investigation"}),
    ("F.B.I.", {"Federal Bureau of Investigation"}),
    ("DEA", {"Drug Enforcement Administration"}),
    ("Drug Enforcement Agency", {"Drug Enforcement Administration"}),
    ("New York Police Department", {"New York City Police Department"}),
    ("Los Angeles Police Dept", {"Los Angeles Police Department"}),
    ("Bundeskriminalamt Wiesbaden", {"Bundeskriminalamt"}),
    ("Metropolitan Police", {"Metropolitan Police Service"}),
    ("Secret Service", {"U.S. Secret Service"}),
    # Look-alikes that share only generic words: nothing is listed.
    ("Police", set()),
    ("Police Department", set()),
    ("State Police", set()),
    ("National Police", set()),
    ("Department of Justice", set()),
    ("Federal Bureau of Narcotics", set()),
    ("Chicago Police Department", set()),
]


@pytest.mark.parametrize(("typed", "expected"), CORPUS, ids=[typed for typed, _ in CORPUS])
def test_the_thresholds_list_true_duplicates_and_no_look_alikes(typed, expected):
    found = {DIRECTORY[match.agency_id] for match in close_matches(typed, ENTRIES)}
    assert found == expected


def test_each_match_says_why_in_one_line():
    (initials,) = close_matches("FBI", ENTRIES)
    assert initials.why == "“FBI” are the initials of “Federal Bureau of Investigation”"
    (typo,) = close_matches("Federal Bureau of Investigations", ENTRIES)
    assert typo.why == "Name 98% alike “Federal Bureau of Investigation”"
    (words,) = close_matches("Drug Enforcement Agency", ENTRIES)
    assert words.why == "Shares the words “drug” with “Drug Enforcement Administration”"
    alias = close_matches("fbi", [Entry(7, "FBI", is_alias=True)])
    assert [m.why for m in alias] == ["Known by the alias “FBI”"]
    assert all("\n" not in m.why for typed, _ in CORPUS for m in close_matches(typed, ENTRIES))


def test_the_type_ahead_offers_what_starts_with_the_typing_then_close_matches():
    offered = [DIRECTORY[m.agency_id] for m in type_ahead("fed", ENTRIES)]
    assert offered == ["Federal Bureau of Investigation", "Federal Bureau of Prisons"]
    assert [DIRECTORY[m.agency_id] for m in type_ahead("marsh", ENTRIES)] == ["US Marshals Service"]
    assert [DIRECTORY[m.agency_id] for m in type_ahead("DEA", ENTRIES)] == ["Drug Enforcement Administration"]
    assert type_ahead("f", ENTRIES) == []


def test_a_near_duplicate_name_shows_the_possible_duplicates_before_anything_is_added(app, client, login_as):
    with app.app_context():
        fbi = make_agency("Federal Bureau of Investigation", aliases=("FBI",), domains=("fbi.gov",))
        fbi_id = fbi.id
    login_as("intake")
    page = client.get("/agencies/new").get_data(as_text=True)
    data = {"csrf_token": csrf_from(page), "name": "Federal Bureau of Investigations", "country": "US"}
    first = client.post("/agencies/new", data=data)
    body = first.get_data(as_text=True)
    assert first.status_code == 400
    assert "Possible duplicates" in body and f'href="/agencies/{fbi_id}"' in body
    assert "Name 98% alike “Federal Bureau of Investigation”" in body
    assert "These agencies look alike" in body
    created = client.post("/agencies/new", data={**data, "not_a_duplicate": "y"})
    assert created.status_code == 302
    new_page = client.get(created.location).get_data(as_text=True)
    assert "Unverified" in new_page and "Possible duplicates" in new_page
    assert "Merge this record into it" in new_page and f"into={fbi_id}" in new_page
    fbi_page = client.get(f"/agencies/{fbi_id}").get_data(as_text=True)
    assert "Federal Bureau of Investigations" in fbi_page and "Merge it into this record" in fbi_page
    with app.app_context():
        office = make_agency("FBI Field Office New York", parent=db.session.get(Agency, fbi_id))
        assert [d.agency.name for d in agencies.possible_duplicates("FBI Field Office New York")] == [
            "FBI Field Office New York",
            "Federal Bureau of Investigation",
        ]
        office_id = office.id
    # A field office and its agency are related on purpose: neither page offers to merge them.
    assert (
        "FBI Field Office New York"
        not in client.get(f"/agencies/{fbi_id}").get_data(as_text=True).split("Possible duplicates")[-1]
    )
    office_page = client.get(f"/agencies/{office_id}").get_data(as_text=True)
    assert "No other record in the directory has a name or alias close to this one." in office_page


def test_the_look_up_answers_json_over_names_and_aliases(app, client, login_as):
    with app.app_context():
        fbi = make_agency("Federal Bureau of Investigation", aliases=("FBI",))
        make_agency("Federal Bureau of Prisons")
        fbi_id = fbi.id
    login_as("reviewer")
    answer = client.get("/agencies/lookup?q=fbi")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    assert answer.headers["Cache-Control"] == "no-store"
    (match,) = answer.get_json()["matches"]
    assert match == {
        "id": fbi_id,
        "name": "Federal Bureau of Investigation",
        "country": "US",
        "matched": "FBI",
        "alias": True,
        "verified": False,
        "why": "Known by the alias “FBI”",
        "url": f"/agencies/{fbi_id}",
    }
    names = [m["name"] for m in client.get("/agencies/lookup?q=Federal").get_json()["matches"]]
    assert names == ["Federal Bureau of Investigation", "Federal Bureau of Prisons"]
    assert client.get("/agencies/lookup?q=x").get_json() == {"query": "x", "matches": []}
    assert client.get("/agencies/lookup").get_json()["matches"] == []
