"""Who reaches the directory: every role reads it from the menu, intake and administrators change it, only
administrators vouch for an agency. Observed before the directory work: an administrator following the Agencies
page got "Your roles do not allow this" and had no menu link to it (the link and the pages required case:view)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from disclosure.cases import agencies
from disclosure.extensions import db
from disclosure.permissions import GRANTS, Permission, Role
from tests.agencies.helpers import actor, make_agency
from tests.conftest import csrf_from
from tests.factories import make_user

MENU_LINK = re.compile(r'<nav class="primary"[^>]*>.*?<a href="(/agencies/)"[^>]*>Agencies</a>', re.S)

#: Who may use each directory endpoint, written out: the table in disclosure/permissions.py must give exactly this.
EXPECTED = {
    "agencies.index": set(Role),
    "agencies.lookup": set(Role),
    "agencies.show": set(Role),
    "agencies.new": {Role.INTAKE, Role.ADMIN},
    "agencies.edit": {Role.INTAKE, Role.ADMIN},
    "agencies.add_alias": {Role.INTAKE, Role.ADMIN},
    "agencies.remove_alias": {Role.INTAKE, Role.ADMIN},
    "agencies.add_domain": {Role.INTAKE, Role.ADMIN},
    "agencies.remove_domain": {Role.INTAKE, Role.ADMIN},
    "agencies.add_contact": {Role.INTAKE, Role.ADMIN},
    "agencies.verify_contact": {Role.INTAKE, Role.ADMIN},
    "agencies.retire_contact": {Role.INTAKE, Role.ADMIN},
    "agencies.merge": {Role.INTAKE, Role.ADMIN},
    "agencies.vouch": {Role.ADMIN},
    "agencies.withdraw": {Role.ADMIN},
}


def test_an_administrator_reaches_the_directory_from_the_menu(app, client, login_as):
    with app.app_context():
        agency = make_agency("Federal Bureau of Investigation", aliases=("FBI",))
        agency_id = agency.id
    login_as("admin")
    dashboard = client.get("/").get_data(as_text=True)
    link = MENU_LINK.search(dashboard)
    assert link, "the administrator's menu has no Agencies link"
    directory = client.get(link.group(1))
    body = directory.get_data(as_text=True)
    assert directory.status_code == 200, body[-500:]
    assert "Your roles do not allow this" not in body
    assert "Federal Bureau of Investigation" in body and "also FBI" in body
    assert 'aria-current="page">Agencies</a>' in body
    page = client.get(f"/agencies/{agency_id}").get_data(as_text=True)
    assert "Add contact" in page and "you can mark the agency verified" in page


@pytest.mark.parametrize("role", list(Role))
def test_every_role_has_the_menu_link_and_reads_the_directory(app, client, login_as, role):
    login_as(role.value)
    assert MENU_LINK.search(client.get("/").get_data(as_text=True)), role
    assert client.get("/agencies/").status_code == 200


def test_the_permissions_table_gives_the_directory_to_the_roles_the_issue_names(app):
    from tests.test_access import routes

    found = {endpoint for endpoint, _, _ in routes(app) if endpoint.startswith("agencies.")}
    assert found == set(EXPECTED), "a directory endpoint is missing from EXPECTED, or gone"
    from disclosure.auth.access import required_permission

    for endpoint, roles in EXPECTED.items():
        permission = required_permission(app, endpoint)
        assert permission is not None, endpoint
        assert {role for role in Role if permission in GRANTS[role]} == roles, endpoint


def _objects(app) -> dict[str, Any]:
    """A real agency with an alias, a domain and an unverified channel, and a second agency to merge into."""
    with app.app_context():
        agency = make_agency("Drug Enforcement Administration", aliases=("DEA",), domains=("dea.gov",))
        other = make_agency("Drug Enforcement Agency", regime=None)
        admin = actor(make_user("admin"))
        contact = agencies.add_contact(admin, agency, "email", "legal@dea.gov", None)
        db.session.commit()
        return {
            "agency_id": agency.id,
            "other_id": other.id,
            "alias_id": agency.aliases[0].id,
            "domain_id": agency.domains[0].id,
            "contact_id": contact.id,
        }


@pytest.mark.parametrize("role", list(Role))
def test_each_role_on_each_directory_endpoint_with_real_records(app, client, login_as, role):
    ids = _objects(app)
    login_as(role.value)
    token = csrf_from(client.get("/").get_data(as_text=True))
    a, o = ids["agency_id"], ids["other_id"]
    calls = [
        ("agencies.index", "GET", "/agencies/?q=dea&status=unverified"),
        ("agencies.lookup", "GET", "/agencies/lookup?q=DEA"),
        ("agencies.show", "GET", f"/agencies/{a}"),
        ("agencies.new", "GET", "/agencies/new?name=Drug+Enforcement&country=US"),
        ("agencies.new", "POST", "/agencies/new"),
        ("agencies.edit", "GET", f"/agencies/{a}/edit"),
        ("agencies.edit", "POST", f"/agencies/{a}/edit"),
        ("agencies.add_alias", "POST", f"/agencies/{a}/aliases"),
        ("agencies.add_domain", "POST", f"/agencies/{a}/domains"),
        ("agencies.add_contact", "POST", f"/agencies/{a}/contacts"),
        ("agencies.verify_contact", "POST", f"/agencies/{a}/contacts/{ids['contact_id']}/verify"),
        ("agencies.retire_contact", "POST", f"/agencies/{a}/contacts/{ids['contact_id']}/retire"),
        ("agencies.vouch", "POST", f"/agencies/{a}/verify"),
        ("agencies.withdraw", "POST", f"/agencies/{a}/unverify"),
        ("agencies.merge", "GET", f"/agencies/{o}/merge?into={a}"),
        ("agencies.merge", "POST", f"/agencies/{o}/merge"),
        ("agencies.remove_domain", "POST", f"/agencies/{a}/domains/{ids['domain_id']}/remove"),
        ("agencies.remove_alias", "POST", f"/agencies/{a}/aliases/{ids['alias_id']}/remove"),
    ]
    for endpoint, method, url in calls:
        # A POST with a valid token and no fields: refused beside its fields (400), never a 500.
        response = client.open(url, method=method, data={"csrf_token": token} if method == "POST" else None)
        if role in EXPECTED[endpoint]:
            expected = {200} if method == "GET" else {302, 400}
            assert response.status_code in expected, (role, endpoint, method, response.status_code)
        else:
            assert response.status_code == 403, (role, endpoint, method, response.status_code)
    manage = role in EXPECTED["agencies.new"]
    page = client.get(f"/agencies/{a}").get_data(as_text=True)
    assert ("Add contact" in page) is manage
    assert ("mark the agency verified" in page) is (Permission.AGENCY_VERIFY in GRANTS[role])
