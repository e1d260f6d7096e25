"""Agency records: names and aliases lead to one agency per country, official domains are checked, channels carry
who verified them, when, how and from where, and an agency is verified only once an administrator vouched for it
and it has a verified channel in use. Every change is an audit event; every refusal is shown beside its field."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from disclosure.cases import agencies
from disclosure.cases.models import Agency, AgencyContact
from disclosure.extensions import db
from disclosure.services import NotPermitted
from tests.agencies.helpers import actor, events, make_agency, verified_agency
from tests.conftest import csrf_from
from tests.factories import make_case, make_user


def test_a_new_agency_is_unverified_and_its_names_lead_to_it(app):
    with app.app_context():
        agency = make_agency("Federal Bureau of Investigation", aliases=("FBI", "F.B.I."), domains=("FBI.gov",))
        assert not agency.is_verified and agency.verified_at is None
        assert [d.domain for d in agency.domains] == ["fbi.gov"]
        assert agencies.find_by_name("fbi", "us") is agency
        assert agencies.find_by_name("  federal   bureau of INVESTIGATION ", "US") is agency
        assert agencies.find_by_name("FBI", "GB") is None
        created = events("agency.create")[-1]["data"]
        assert created["name"] == "Federal Bureau of Investigation" and created["origin"] == "directory"
        assert [e["data"]["name"] for e in events("agency.alias_add")] == ["FBI", "F.B.I."]
        assert agencies.is_official_sender(agency, "sa.doe@field.fbi.gov")
        assert not agencies.is_official_sender(agency, "sa.doe@fbi.gov.example.com")


def test_a_name_or_alias_already_used_in_the_country_is_refused_but_not_in_another(app):
    with app.app_context():
        make_agency("Bundeskriminalamt", "DE", aliases=("BKA",), regime="eu")
        admin = actor(make_user("admin"))
        with pytest.raises(agencies.AgencyError) as refused:
            agencies.create_agency(admin, agencies.AgencyDraft(name="bka", country="DE"), None)
        assert refused.value.field == "name" and "Bundeskriminalamt (DE)" in str(refused.value)
        db.session.rollback()
        austrian = agencies.create_agency(admin, agencies.AgencyDraft(name="Bundeskriminalamt", country="AT"), None)
        agencies.add_alias(admin, austrian, "BKA", None)
        db.session.commit()
        assert agencies.find_by_name("BKA", "AT") is austrian


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ("gmail.com", "free mail service"),
        ("https://fbi.gov/contact", "the domain alone"),
        ("sa@fbi.gov", "the domain alone"),
        ("localhost", "not a registrable domain"),
        ("", "Enter a domain"),
    ],
)
def test_an_official_domain_is_a_real_domain_and_never_free_mail(app, domain, message):
    with app.app_context():
        agency = make_agency("Federal Bureau of Investigation")
        with pytest.raises(agencies.AgencyError) as refused:
            agencies.add_domain(actor(make_user("intake")), agency, domain, None)
        assert refused.value.field == "domain" and message in str(refused.value)


def test_renaming_keeps_the_former_name_as_an_alias_and_a_loop_of_field_offices_is_refused(app):
    with app.app_context():
        fbi = make_agency("Federal Bureau of Investigation")
        office = make_agency("FBI New York Field Office", parent=fbi)
        resident = make_agency("FBI Long Island Resident Agency", parent=office)
        clerk = actor(make_user("intake"))
        with pytest.raises(agencies.AgencyError) as refused:
            agencies.update_agency(clerk, fbi, agencies.AgencyDraft(fbi.name, "US", "us_federal", resident.id), None)
        assert refused.value.field == "parent" and "field offices" in str(refused.value)
        db.session.rollback()
        agencies.update_agency(
            clerk, office, agencies.AgencyDraft("FBI Field Office New York", "US", "us_federal", fbi.id), None
        )
        db.session.commit()
        assert [a.name for a in office.aliases] == ["FBI New York Field Office"]
        assert agencies.ancestors(resident) == [office, fbi]
        assert events("agency.update")[-1]["data"]["changes"] == {
            "name": ["FBI New York Field Office", "FBI Field Office New York"]
        }


def test_a_channel_records_who_verified_it_when_how_and_from_where_and_retiring_keeps_it(app):
    with app.app_context():
        agency = make_agency("Drug Enforcement Administration")
        clerk = actor(make_user("intake"))
        phone = agencies.add_contact(clerk, agency, "phone", "+1 202 307 1000", None)
        with pytest.raises(agencies.AgencyError) as refused:
            agencies.verify_contact(clerk, phone, None, "called it", "the request")
        assert refused.value.field == "source"
        agencies.verify_contact(clerk, phone, None, "Called the number on dea.gov", "official_website")
        db.session.commit()
        assert (phone.verified_by_id, phone.verified_source) == (clerk.id, "official_website")
        assert phone.verified_how == "Called the number on dea.gov" and phone.verified_at is not None
        assert agency.verified_channels == [phone]
        agencies.retire_contact(clerk, phone, None, "The field office moved")
        db.session.commit()
        assert agency.verified_channels == [] and db.session.get(AgencyContact, phone.id) is not None
        assert events("agency.contact_retired")[-1]["data"]["reason"] == "The field office moved"


def test_an_agency_is_verified_only_with_a_vouching_administrator_and_a_verified_channel(app):
    with app.app_context():
        agency = make_agency("U.S. Secret Service")
        admin = actor(make_user("admin"))
        with pytest.raises(agencies.AgencyError, match="no verified contact channel"):
            agencies.mark_verified(admin, agency, None)
        clerk = actor(make_user("intake"))
        email = agencies.add_contact(clerk, agency, "email", "legal@secretservice.gov", None)
        agencies.verify_contact(clerk, email, None, "Letter on file", "letter")
        with pytest.raises(NotPermitted):
            agencies.mark_verified(clerk, agency, None)
        agencies.mark_verified(admin, agency, None)
        db.session.commit()
        assert agency.is_verified
        agencies.retire_contact(admin, email, None, "Mailbox compromised")
        assert not agency.is_verified, "without a verified channel in use it is no longer verified"
        db.session.rollback()
        agencies.withdraw_verification(admin, agency, None, "Being reviewed")
        db.session.commit()
        assert not agency.is_verified
        assert [e["action"] for e in events("agency.verified") + events("agency.verification_withdrawn")] == [
            "agency.verified",
            "agency.verification_withdrawn",
        ]


def test_only_an_administrator_changes_a_verified_agencys_official_domains(app):
    with app.app_context():
        agency = verified_agency(domains=("fbi.gov",))
        clerk = actor(make_user("intake"))
        with pytest.raises(NotPermitted, match="only an administrator"):
            agencies.add_domain(clerk, agency, "ic.fbi.gov", None)
        with pytest.raises(NotPermitted):
            agencies.remove_domain(clerk, agency.domains[0], None)
        db.session.rollback()
        agencies.add_domain(actor(make_user("admin")), agency, "ic.fbi.gov", None)
        db.session.commit()
        assert sorted(d.domain for d in agency.domains) == ["fbi.gov", "ic.fbi.gov"]


def test_an_agency_logged_from_intake_is_unverified_and_one_named_by_its_alias_is_found(app):
    with app.app_context():
        fbi = make_agency("Federal Bureau of Investigation", aliases=("FBI",))
        clerk = actor(make_user("intake"))
        found, created = agencies.agency_for_intake(clerk, "fbi", "US", None)
        assert (found, created) == (fbi, False)
        new, created = agencies.agency_for_intake(clerk, "Fed. Bureau of Investigations", "US", None)
        db.session.commit()
        assert created and not new.is_verified
        assert events("agency.create")[-1]["data"]["origin"] == "intake"
        # Logging a case (today's intake) leaves the agency it creates unverified too.
        case = make_case(agency={"name": "Homeland Security Investigations", "country": "US"})
        assert not case.agency.is_verified and case.agency.name_key == "homeland security investigations"


def test_the_pages_show_each_refusal_beside_its_field(app, client, login_as):
    with app.app_context():
        agency_id = make_agency("Federal Bureau of Investigation", aliases=("FBI",)).id
    login_as("intake")
    form = client.get("/agencies/new").get_data(as_text=True)
    token = csrf_from(form)
    taken = client.post(
        "/agencies/new",
        data={"csrf_token": token, "name": "FBI", "country": "US", "not_a_duplicate": "y"},
    )
    body = taken.get_data(as_text=True)
    assert taken.status_code == 400
    assert "is already in the directory: Federal Bureau of Investigation (US)" in body
    assert body.index('id="name"') < body.index("is already in the directory") < body.index('id="country"')
    bad_country = client.post("/agencies/new", data={"csrf_token": token, "name": "Europol", "country": "E1"})
    body = bad_country.get_data(as_text=True)
    assert bad_country.status_code == 400 and "(ISO 3166)" in body
    assert body.index('id="country"') < body.index("(ISO 3166)") < body.index('id="regime"')
    free_mail = client.post(f"/agencies/{agency_id}/domains", data={"csrf_token": token, "domain": "gmail.com"})
    body = free_mail.get_data(as_text=True)
    assert free_mail.status_code == 400 and 'aria-invalid="true"' in body and "free mail service" in body
    contact = client.post(
        f"/agencies/{agency_id}/contacts", data={"csrf_token": token, "kind": "phone", "value": "call me"}
    )
    assert contact.status_code == 400 and "not a phone number" in contact.get_data(as_text=True)
    nul = client.post("/agencies/new", data={"csrf_token": token, "name": "Euro\x00pol", "country": "NL"})
    # A NUL character is refused for the whole request, before any view (disclosure.routing), with what to fix.
    assert nul.status_code == 400 and "contains a NUL character" in nul.get_data(as_text=True)
    for url in ("/agencies/?q=F%00BI", "/agencies/lookup?q=F%00BI", "/agencies/new?name=F%00BI&country=U%00S"):
        refused = client.get(url)
        assert refused.status_code == 400 and "contains a NUL character" in refused.get_data(as_text=True), url
    with app.app_context():
        assert db.session.execute(select(Agency.name)).scalars().all() == ["Federal Bureau of Investigation"]


def test_an_administrator_vouches_for_an_agency_and_withdraws_it_on_its_page(app, client, login_as):
    with app.app_context():
        agency = make_agency("U.S. Secret Service")
        clerk = actor(make_user("intake"))
        email = agencies.add_contact(clerk, agency, "email", "legal@secretservice.gov", None)
        agencies.verify_contact(clerk, email, None, "Letter on file", "letter")
        db.session.commit()
        agency_id = agency.id
    login_as("admin")
    page = client.get(f"/agencies/{agency_id}").get_data(as_text=True)
    assert "Mark the agency verified" in page and "A letter from the agency" in page
    token = csrf_from(page)
    vouched = client.post(f"/agencies/{agency_id}/verify", data={"csrf_token": token}, follow_redirects=True)
    body = vouched.get_data(as_text=True)
    assert "U.S. Secret Service is marked verified." in body and '<span class="badge badge-ok">Verified</span>' in body
    empty = client.post(f"/agencies/{agency_id}/unverify", data={"csrf_token": token, "reason": ""})
    body = empty.get_data(as_text=True)
    assert empty.status_code == 400 and body.index('id="reason"') < body.index("Say why.")
    withdrawn = client.post(
        f"/agencies/{agency_id}/unverify", data={"csrf_token": token, "reason": "Mailbox reported compromised"}
    )
    assert withdrawn.status_code == 302
    with app.app_context():
        assert not db.session.get(Agency, agency_id).is_verified
        assert events("agency.verification_withdrawn")[-1]["data"]["reason"] == "Mailbox reported compromised"
