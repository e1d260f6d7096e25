"""The agency directory: contacts are added, checked by kind, and verified with a note on how."""

from __future__ import annotations

import json

from sqlalchemy import select

from disclosure.audit.models import AuditEvent
from disclosure.cases.models import Agency
from disclosure.extensions import db
from tests.conftest import csrf_from
from tests.factories import make_case


def test_intake_adds_and_verifies_a_contact(app, client, login_as):
    with app.app_context():
        make_case()
        agency_id = db.session.execute(select(Agency.id)).scalar_one()
    login_as("intake")
    page = client.get(f"/agencies/{agency_id}").get_data(as_text=True)
    token = csrf_from(page)
    bad = client.post(
        f"/agencies/{agency_id}/contacts", data={"csrf_token": token, "kind": "phone", "value": "call me"}
    )
    assert bad.status_code == 400 and "aria-invalid" in bad.get_data(as_text=True)
    good = client.post(
        f"/agencies/{agency_id}/contacts",
        data={"csrf_token": token, "kind": "email", "value": "duty.officer@fbi.example.gov"},
    )
    assert good.status_code == 302
    with app.app_context():
        contact_id = db.session.get(Agency, agency_id).contacts[0].id
    # Each channel's verification form is its own (prefixed), and says how and where the channel was found.
    fields = {"csrf_token": token, f"verify-{contact_id}-source": "official_website"}
    refused = client.post(
        f"/agencies/{agency_id}/contacts/{contact_id}/verify", data={**fields, f"verify-{contact_id}-how": ""}
    )
    assert refused.status_code == 400 and "Say how you verified it." in refused.get_data(as_text=True)
    client.post(
        f"/agencies/{agency_id}/contacts/{contact_id}/verify",
        data={**fields, f"verify-{contact_id}-how": "Called the field office's published number"},
    )
    page = client.get(f"/agencies/{agency_id}").get_data(as_text=True)
    assert "verified" in page and "duty.officer@fbi.example.gov" in page
    with app.app_context():
        verified = [
            json.loads(e.body)
            for e in db.session.execute(
                select(AuditEvent).where(AuditEvent.action == "agency.contact_verified")
            ).scalars()
        ]
    assert len(verified) == 1 and verified[0]["data"]["how"].startswith("Called")
    assert verified[0]["data"]["source"] == "official_website"
    assert "1 of 1" in client.get("/agencies/").get_data(as_text=True)


def test_reviewers_read_the_directory_but_cannot_change_it(app, client, login_as):
    with app.app_context():
        make_case()
        agency_id = db.session.execute(select(Agency.id)).scalar_one()
    login_as("reviewer")
    page = client.get(f"/agencies/{agency_id}")
    assert page.status_code == 200 and "Add contact" not in page.get_data(as_text=True)
    response = client.post(
        f"/agencies/{agency_id}/contacts",
        data={"csrf_token": csrf_from(page.get_data(as_text=True)), "kind": "email", "value": "x@example.gov"},
    )
    assert response.status_code == 403
