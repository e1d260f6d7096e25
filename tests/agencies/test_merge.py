"""Merging a duplicate into its canonical record: its cases, channels, domains, recipient certificates and field
offices move, its name becomes an alias, the record is deleted, one audit event names both and the log verifies.
A merge into itself, into its own field office, or (for intake) into a verified agency is refused; the merge form
asks for the password again."""

from __future__ import annotations

from sqlalchemy import select

from disclosure.cases import agencies
from disclosure.cases.models import Agency, AgencyAlias, Case
from disclosure.extensions import db
from disclosure.production import service as production
from disclosure.production.models import RecipientCertificate
from tests.agencies.helpers import actor, events, make_agency, verified_agency
from tests.conftest import csrf_from
from tests.factories import PASSWORD, make_case, make_user
from tests.production.helpers import rsa_certificate


def _duplicate_with_everything() -> tuple[int, int, list[str]]:
    """A canonical FBI record and an intake-made duplicate holding two cases, a channel, a domain, a recipient
    certificate and a field office. Returns (canonical id, duplicate id, case references)."""
    fbi = make_agency("Federal Bureau of Investigation", aliases=("FBI",), domains=("fbi.gov",))
    fbi_id = fbi.id
    references = [
        make_case(agency={"name": "Federal Bureau of Investigations", "country": "US"}).reference for _ in range(2)
    ]
    duplicate = db.session.execute(select(Agency).where(Agency.name == "Federal Bureau of Investigations")).scalar_one()
    admin = actor(make_user("admin"))
    agencies.add_alias(admin, duplicate, "F.B.I.", None)
    agencies.add_domain(admin, duplicate, "ic.fbi.gov", None)
    agencies.add_contact(admin, duplicate, "phone", "+1 202 324 3000", None)
    pem, _ = rsa_certificate("FBI Evidence Unit")
    production.add_recipient_certificate(admin, duplicate, "Evidence unit", pem, None)
    agencies.create_agency(
        admin, agencies.AgencyDraft("FBI Boston Field Office", "US", "us_federal", duplicate.id), None
    )
    db.session.commit()
    return fbi_id, duplicate.id, references


def _merge(client, duplicate_id: int, into: int, **fields: str):
    page = client.get(f"/agencies/{duplicate_id}/merge?into={into}").get_data(as_text=True)
    data = {"csrf_token": csrf_from(page), "into": str(into), "confirm": "y", "password": PASSWORD, **fields}
    return client.post(f"/agencies/{duplicate_id}/merge", data=data)


def test_merging_moves_the_cases_and_everything_else_and_keeps_the_log_intact(app, client, login_as):
    with app.app_context():
        fbi_id, duplicate_id, references = _duplicate_with_everything()
    login_as("intake")
    preview = client.get(f"/agencies/{duplicate_id}/merge?into={fbi_id}").get_data(as_text=True)
    assert all(reference in preview for reference in references)
    assert "Federal Bureau of Investigations, F.B.I." in preview  # the names that become aliases
    response = _merge(client, duplicate_id, fbi_id)
    assert response.status_code == 302 and response.location.endswith(f"/agencies/{fbi_id}")
    page = client.get(response.location).get_data(as_text=True)
    assert "Merged into Federal Bureau of Investigation: 2 cases moved" in page
    with app.app_context():
        assert db.session.get(Agency, duplicate_id) is None
        fbi = db.session.get(Agency, fbi_id)
        cases = db.session.execute(select(Case).where(Case.reference.in_(references))).scalars().all()
        assert {case.agency_id for case in cases} == {fbi_id}
        assert sorted(a.name for a in fbi.aliases) == ["F.B.I.", "FBI", "Federal Bureau of Investigations"]
        assert sorted(d.domain for d in fbi.domains) == ["fbi.gov", "ic.fbi.gov"]
        assert [c.value for c in fbi.contacts] == ["+1 202 324 3000"]
        assert [o.name for o in fbi.field_offices] == ["FBI Boston Field Office"]
        certificate = db.session.execute(select(RecipientCertificate)).scalar_one()
        assert certificate.agency_id == fbi_id
        assert agencies.find_by_name("Federal Bureau of Investigations", "US") == fbi
        (merged,) = events("agency.merged")
        assert merged["subject"] == f"agency:{fbi_id}"
        assert merged["data"]["canonical"] == {"id": fbi_id, "name": "Federal Bureau of Investigation", "country": "US"}
        assert merged["data"]["duplicate"] == {
            "id": duplicate_id,
            "name": "Federal Bureau of Investigations",
            "country": "US",
        }
        assert sorted(merged["data"]["cases"]) == sorted(references)
        assert merged["data"]["certificates_moved"] == 1 and merged["data"]["field_offices_moved"] == 1
        # The duplicate's own events stay in the log under its old id: nothing is rewritten.
        assert any(e["subject"] == f"agency:{duplicate_id}" for e in events("agency.alias_add"))
    verified = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert verified.exit_code == 0 and verified.output.startswith("intact:"), verified.output


def test_a_merge_into_itself_or_into_its_own_field_office_is_refused_beside_the_field(app, client, login_as):
    with app.app_context():
        fbi = make_agency("Federal Bureau of Investigation")
        office = make_agency("FBI New York Field Office", parent=fbi)
        fbi_id, office_id = fbi.id, office.id
        admin = actor(make_user("admin"))
        for into in (fbi, office):
            try:
                agencies.check_merge(admin, fbi, into)
            except agencies.AgencyError as error:
                assert error.field == "into"
            else:
                raise AssertionError(f"merging into {into.name} was not refused")
    login_as("intake")
    preview = client.get(f"/agencies/{fbi_id}/merge?into={office_id}").get_data(as_text=True)
    assert "a record cannot be merged into its own field office" in preview and "Merge the records" not in preview
    refused = _merge(client, fbi_id, office_id)
    body = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "its own field office" in body
    assert body.index('id="into"') < body.index("its own field office")
    itself = _merge(client, fbi_id, fbi_id)
    assert itself.status_code == 400 and "Choose another agency from the directory." in itself.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Agency, fbi_id) is not None and db.session.get(Agency, office_id).parent_id == fbi_id
        assert events("agency.merged") == []


def test_intake_cannot_fold_a_record_into_a_verified_agency_but_an_administrator_can(app, client, login_as):
    with app.app_context():
        fbi_id = verified_agency().id
        duplicate_id = make_agency("Fed Bureau of Investigation").id
    clerk = login_as("intake")
    refused = _merge(client, duplicate_id, fbi_id)
    assert refused.status_code == 403
    assert "only an administrator may merge another record into it" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Agency, duplicate_id) is not None
    admin_client = app.test_client()
    login_as("admin", client_=admin_client)
    assert _merge(admin_client, duplicate_id, fbi_id).status_code == 302
    with app.app_context():
        assert db.session.get(Agency, duplicate_id) is None
        assert (
            db.session.execute(
                select(AgencyAlias.agency_id).where(AgencyAlias.name == "Fed Bureau of Investigation")
            ).scalar_one()
            == fbi_id
        )
        assert clerk.id not in {e["actor"].get("id") for e in events("agency.merged")}


def test_the_merge_asks_for_the_password_and_a_tick_and_a_wrong_one_moves_nothing(app, client, login_as):
    with app.app_context():
        fbi_id = make_agency("Federal Bureau of Investigation").id
        duplicate_id = make_agency("Federal Bureau of Investigations").id
    login_as("intake")
    wrong = _merge(client, duplicate_id, fbi_id, password="not my password at all")
    body = wrong.get_data(as_text=True)
    assert wrong.status_code == 403 and "Your password was not correct; nothing was done." in body
    unticked = _merge(client, duplicate_id, fbi_id, confirm="")
    body = unticked.get_data(as_text=True)
    assert unticked.status_code == 400 and "Tick the confirmation: a merge cannot be undone." in body
    assert body.index('id="confirm"') < body.index("Tick the confirmation")
    with app.app_context():
        assert db.session.get(Agency, duplicate_id) is not None
        assert [e["data"]["action"] for e in events("auth.step_up_failed")] == ["agency.merge"]
        assert events("agency.merged") == []
