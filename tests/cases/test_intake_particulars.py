"""The intake form's further particulars (validation, signing official, offence, voluntary basis, agreement): what
is stored and shown, and every mistake refused beside its field, in one pass, with nothing saved."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from disclosure.cases.forms import AGREEMENT_PROCESSES, MAX_PENALTY_YEARS
from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.policy.request import Offence, RequestError, Validation, parse_request
from disclosure.policy.vocabulary import AuthorityKind, ProcessType, VoluntaryBasis
from disclosure.review.service import request_of
from tests.cases.page_forms import edit_form
from tests.cases.test_intake import intake_form
from tests.conftest import csrf_from
from tests.factories import make_case, request_document


class FieldErrors(HTMLParser):
    """The errors shown inside each `<div class="field">`, keyed by the id of the field's control."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.errors: dict[str, list[str]] = {}
        self._depth = 0  # <div> nesting inside the current field; 0: outside any field
        self._control: str | None = None
        self._in_error = False
        self._pending: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "div" and (self._depth or "field" in (attributes.get("class") or "").split()):
            self._depth += 1
        elif self._depth and tag in {"input", "select", "textarea"} and self._control is None:
            self._control = attributes.get("id")
        elif self._depth and tag == "li":
            self._in_error, self._pending = True, [*self._pending, ""]

    def handle_endtag(self, tag: str) -> None:
        if tag == "li":
            self._in_error = False
        elif tag == "div" and self._depth:
            self._depth -= 1
            if not self._depth:
                if self._control and self._pending:
                    self.errors[self._control] = [e.strip() for e in self._pending]
                self._control, self._pending = None, []

    def handle_data(self, data: str) -> None:
        if self._in_error:
            self._pending[-1] += data


def field_errors(html: str) -> dict[str, list[str]]:
    return FieldErrors(html).errors


def case_count(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Case)).scalar_one()


def post_intake(client, **overrides: object):
    token = csrf_from(client.get("/cases/new").get_data(as_text=True))
    return client.post("/cases/new", data=intake_form(token, **overrides))


EU_ORDER = {
    "process_type": "eu_production_order",
    "regime": "eu",
    "country": "DE",
    "authority_kind": "police",
    "authority_name": "Polizeipräsidium München",
    "docket": "K 12/26",
    "agency_name": "Bayerisches Landeskriminalamt",
    "agency_country": "DE",
    "officer_name": "KHK M. Muster",
    "officer_email": "m.muster@polizei.example",
    "timezone": "Europe/Berlin",
    "valid_until": "",
    "ndo_basis": "",
    "ndo_starts_on": "",
    "ndo_until": "",
    "categories": ["subscriber_basic", "stored_content"],
    "validator_kind": "prosecutor",
    "validator_name": "Staatsanwaltschaft München I",
    "offence_description": "Fraud",
    "offence_penalty": "5",
}

VOLUNTARY = {
    "process_type": "voluntary_disclosure",
    "authority_kind": "provider",
    "authority_name": "Trust and Safety team",
    "docket": "",
    "agency_name": "National Center for Missing and Exploited Children",
    "officer_name": "",
    "officer_email": "",
    "valid_until": "",
    "ndo_basis": "",
    "ndo_starts_on": "",
    "ndo_until": "",
    "categories": ["subscriber_basic"],
}


def test_an_eu_order_from_the_police_validated_by_a_prosecutor_is_stored_and_shown(app, client, login_as):
    login_as("intake")
    response = post_intake(client, **EU_ORDER)
    assert response.status_code == 302, field_errors(response.get_data(as_text=True))
    page = client.get(response.location).get_data(as_text=True)
    with app.app_context():
        case = db.session.execute(select(Case)).scalar_one()
        assert case.particulars == {
            "validated_by": {"kind": "prosecutor", "name": "Staatsanwaltschaft München I"},
            "offence": {"description": "Fraud", "max_penalty_years": 5, "listed": None},
        }
        request = request_of(case)
        assert request.issuing_authority.kind is AuthorityKind.POLICE
        assert request.issuing_authority.validated_by == Validation(
            AuthorityKind.PROSECUTOR, "Staatsanwaltschaft München I"
        )
        assert request.offence == Offence("Fraud", 5, None)
        assert request.voluntary_basis is None and request.agreement is None
    assert "<dt>Issued by</dt><dd>Police — Polizeipräsidium München</dd>" in page
    assert "<dt>Validated by</dt><dd>Prosecutor — Staatsanwaltschaft München I</dd>" in page
    assert "<dt>Offence</dt><dd>Fraud (max. 5 years)</dd>" in page
    for absent in ("Signed by", "Voluntary basis", "Executive agreement"):
        assert f"<dt>{absent}</dt>" not in page


def test_a_case_without_particulars_shows_none(app, client, login_as):
    login_as("intake")
    response = post_intake(client)
    assert response.status_code == 302
    page = client.get(response.location).get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(Case.particulars)).scalar_one() is None
    for absent in ("Validated by", "Signed by", "Offence", "Voluntary basis", "Executive agreement"):
        assert f"<dt>{absent}</dt>" not in page


@pytest.mark.parametrize(
    ("overrides", "stored", "shown"),
    [
        (
            {
                "process_type": "national_security_letter",
                "authority_kind": "agency",
                "official_level": "special_agent_in_charge",
            },
            {"official_level": "special_agent_in_charge"},
            "<dt>Signed by</dt><dd>Special Agent in Charge of an FBI field office</dd>",
        ),
        (
            {"process_type": "agreement_order", "regime": "uk", "country": "GB", "agreement": "us_uk"},
            {"agreement": "us_uk"},
            "<dt>Executive agreement</dt><dd>US–UK Data Access Agreement</dd>",
        ),
        (
            {
                "process_type": "eu_production_order",
                "regime": "eu",
                "country": "FR",
                "offence_description": "Ransomware attack on a hospital",
                "offence_listed": "attack_on_information_systems",
                "offence_penalty": "100",
            },
            {
                "offence": {
                    "description": "Ransomware attack on a hospital",
                    "max_penalty_years": 100,
                    "listed": "attack_on_information_systems",
                }
            },
            "<dt>Offence</dt><dd>Ransomware attack on a hospital (max. life imprisonment)<br>Listed in Art. 5(4): "
            "Attack against information systems (Directive 2013/40/EU)</dd>",
        ),
    ],
    ids=["signed-by", "agreement", "listed-offence"],
)
def test_each_particular_is_stored_and_shown_by_its_label(app, client, login_as, overrides, stored, shown):
    login_as("intake")
    response = post_intake(client, **overrides)
    assert response.status_code == 302, field_errors(response.get_data(as_text=True))
    page = client.get(response.location).get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(Case.particulars)).scalar_one() == stored
    assert shown in page


def test_a_voluntary_disclosure_with_a_basis_needs_no_officer(app, client, login_as):
    login_as("intake")
    response = post_intake(client, **VOLUNTARY, voluntary_basis="ncmec_report")
    assert response.status_code == 302, field_errors(response.get_data(as_text=True))
    page = client.get(response.location).get_data(as_text=True)
    with app.app_context():
        case = db.session.execute(select(Case)).scalar_one()
        assert case.particulars == {"voluntary_basis": "ncmec_report"}
        assert case.officer_name is None
        request = request_of(case)
        assert request.voluntary_basis is VoluntaryBasis.NCMEC_REPORT and request.officer is None
    assert "<dt>Voluntary basis</dt><dd>Report to NCMEC (child sexual abuse material)</dd>" in page
    assert "<dt>Officer</dt><dd>—</dd>" in page


def test_a_voluntary_disclosure_without_a_basis_is_refused_beside_the_basis_field(app, client, login_as):
    login_as("intake")
    response = post_intake(client, **VOLUNTARY)
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert field_errors(body) == {"voluntary_basis": ["Choose why we disclose: a voluntary disclosure needs a basis."]}
    assert "Trust and Safety team" in body  # the input is kept
    assert case_count(app) == 0


def test_other_process_still_needs_an_officer(app, client, login_as):
    login_as("intake")
    body = post_intake(client, officer_name="", officer_email="").get_data(as_text=True)
    assert field_errors(body) == {
        "officer_name": ["Give the requesting officer's name (only a voluntary disclosure may have none)."]
    }
    assert case_count(app) == 0


def test_a_basis_on_a_search_warrant_is_refused(app, client, login_as):
    login_as("intake")
    response = post_intake(client, voluntary_basis="legitimate_interests")
    assert response.status_code == 400
    assert field_errors(response.get_data(as_text=True)) == {
        "voluntary_basis": [
            "Only a voluntary disclosure has a basis; clear it for “Search warrant”, or choose “Voluntary disclosure” "
            "as the kind of process."
        ]
    }
    assert case_count(app) == 0


def test_an_agreement_on_a_search_warrant_is_refused(app, client, login_as):
    login_as("intake")
    response = post_intake(client, agreement="us_uk")
    assert response.status_code == 400
    errors = field_errors(response.get_data(as_text=True))
    assert list(errors) == ["agreement"]
    assert errors["agreement"][0].startswith("“Search warrant” cannot invoke an executive agreement; clear it")
    assert case_count(app) == 0


@pytest.mark.parametrize("penalty", ["101", "abc", "-1", "2.5"])
def test_a_penalty_that_is_not_0_to_100_years_is_refused_beside_its_field(app, client, login_as, penalty):
    login_as("intake")
    response = post_intake(client, **{**EU_ORDER, "offence_penalty": penalty})
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert field_errors(body) == {
        "offence_penalty": ["Give the maximum penalty as a whole number of years from 0 to 100 (100 for life)."]
    }
    assert f'value="{penalty}"' in body  # what was typed is shown back to be corrected
    assert case_count(app) == 0


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"validator_name": "Amtsgericht München"},
            "validator_kind",
            "Choose who validated the order, or clear the validator's name.",
        ),
        (
            {"validator_kind": "judge"},
            "validator_name",
            "Give the name of the judge, court or other authority that validated the order.",
        ),
        (
            {"offence_penalty": "5"},
            "offence_description",
            "Describe the offence as the order states it, or clear its penalty and listing.",
        ),
        (
            {"offence_listed": "terrorism"},
            "offence_description",
            "Describe the offence as the order states it, or clear its penalty and listing.",
        ),
        (
            {**VOLUNTARY, "voluntary_basis": "customer_consent", "officer_email": "someone@example.org"},
            "officer_name",
            "Give the officer's name too, or clear their badge, email and phone.",
        ),
    ],
    ids=["validator-without-kind", "validator-without-name", "penalty-alone", "listed-alone", "officer-email-alone"],
)
def test_a_half_filled_pair_says_what_to_fix(app, client, login_as, overrides, field, message):
    login_as("intake")
    response = post_intake(client, **overrides)
    assert response.status_code == 400
    assert field_errors(response.get_data(as_text=True)) == {field: [message]}
    assert case_count(app) == 0


def test_several_mistakes_are_all_shown_at_once_each_beside_its_field(app, client, login_as):
    login_as("intake")
    response = post_intake(
        client,
        officer_name="",
        validator_name="Amtsgericht München",
        offence_penalty="101",
        voluntary_basis="customer_consent",
        agreement="us_au",
        country="Germany",
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    errors = field_errors(body)
    assert set(errors) == {
        "country",
        "officer_name",
        "validator_kind",
        "offence_description",
        "offence_penalty",
        "voluntary_basis",
        "agreement",
    }
    # Plain sentences, never the vocabulary's ids.
    assert not [message for messages in errors.values() for message in messages if "_" in message]
    # A summary at the top names each of them and links to its field.
    assert "The request was not logged: 7 things need your attention" in body
    for field in errors:
        assert f'<a href="#{field}">' in body
    assert case_count(app) == 0


def test_the_form_labels_its_choices_and_groups_the_particulars(client, login_as):
    login_as("intake")
    page = client.get("/cases/new").get_data(as_text=True)
    assert '<fieldset class="card particulars" aria-labelledby="particulars-title"' in page
    assert '<h2 id="particulars-title">Further particulars (when the process has them)</h2>' in page
    assert '<label for="authority_name">Issuer&#39;s name</label>' in page
    assert ">US–UK Data Access Agreement</option>" in page
    assert ">Special Agent in Charge of an FBI field office</option>" in page
    assert ">Report to NCMEC (child sexual abuse material)</option>" in page
    assert "Reg. 2023/1543 Art. 4" in page and "at least 3 years or one Art. 5(4) lists" in page


def test_a_voluntary_disclosure_is_edited_without_an_officer_and_a_warrant_is_not(app, client, login_as):
    login_as("intake")
    with app.app_context():
        voluntary = make_case(
            process_type="voluntary_disclosure",
            voluntary_basis="ncmec_report",
            issuing_authority={"kind": "provider", "name": "Trust and Safety team", "docket": None},
            officer=None,
            non_disclosure_order=None,
        ).reference
        warrant = make_case().reference
    for reference, status in ((voluntary, 302), (warrant, 400)):
        form = edit_form(client, reference, authority_name="Renamed", officer_name="", reason="As the document says.")
        response = client.post(f"/cases/{reference}/edit", data=form)
        assert response.status_code == status
    with app.app_context():
        rows = dict(db.session.execute(select(Case.reference, Case.officer_name)).all())
        names = dict(db.session.execute(select(Case.reference, Case.authority_name)).all())
    assert rows == {voluntary: None, warrant: "SA J. Doe"}
    assert names == {voluntary: "Renamed", warrant: "Hon. A. Example, N.D. Cal."}


# The form's rules must be the parser's: every process type, with and without each key.
NOW = datetime(2027, 1, 1, tzinfo=UTC)


def parses(**overrides: object) -> bool:
    try:
        parse_request(request_document(**overrides), now=NOW)
    except RequestError:
        return False
    return True


@pytest.mark.parametrize("process", list(ProcessType), ids=lambda p: p.value)
def test_the_form_allows_a_basis_and_an_agreement_exactly_where_the_parser_does(process):
    voluntary = process is ProcessType.VOLUNTARY_DISCLOSURE
    basis = {"voluntary_basis": "ncmec_report"} if voluntary else {}
    assert parses(process_type=process.value, agreement="us_uk", **basis) is (process in AGREEMENT_PROCESSES)
    assert parses(process_type=process.value, voluntary_basis="ncmec_report") is voluntary
    assert parses(process_type=process.value) is not voluntary


def test_the_form_allows_the_penalties_the_parser_does():
    def offence(years: int) -> dict[str, object]:
        return {"description": "Fraud", "max_penalty_years": years, "listed": None}

    assert parses(offence=offence(0)) and parses(offence=offence(MAX_PENALTY_YEARS))
    assert not parses(offence=offence(MAX_PENALTY_YEARS + 1)) and not parses(offence=offence(-1))
