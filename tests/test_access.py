"""Deny by default, proven over the whole url_map: anonymous clients, every role, CSRF on every POST."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from werkzeug.routing import Rule

from disclosure.auth.access import PUBLIC_ENDPOINTS, required_permission
from disclosure.permissions import GRANTS, Permission, Role
from tests.conftest import csrf_from

#: werkzeug's rule syntax, <converter(arguments):name> with the converter optional, as its documentation gives it.
RULE_ARGUMENT = re.compile(r"<(?:(?P<converter>[A-Za-z_]\w*)(?:\((?P<options>[^)]*)\))?:)?(?P<name>[A-Za-z_]\w*)>")
#: A value for each converter the app uses, chosen to name nothing that exists (no row has id 999999).
SAMPLE_VALUES: dict[str, Any] = {"int": 999999, "default": "x", "string": "x", "path": "x"}


def sample_values(rule: Rule) -> dict[str, Any]:
    """A value for each of the rule's arguments, chosen by the converter its URL pattern names."""
    values: dict[str, Any] = {}
    for match in RULE_ARGUMENT.finditer(rule.rule):
        converter = match["converter"] or "default"
        assert converter in SAMPLE_VALUES, f"{rule.rule}: add a sample value for the {converter!r} converter"
        values[match["name"]] = SAMPLE_VALUES[converter]
    assert set(values) == rule.arguments, rule.rule
    return values


def routes(app: Flask) -> list[tuple[str, str, str]]:
    """(endpoint, method, url) for every rule, with sample values for its arguments, each url checked to reach it."""
    adapter = app.url_map.bind("localhost")
    found = []
    for rule in app.url_map.iter_rules():
        values = {"filename": "css/disclosure.css"} if rule.endpoint == "static" else sample_values(rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            url = adapter.build(rule.endpoint, values, method=method)
            matched, _ = adapter.match(url, method=method, return_rule=True)
            assert matched is rule, (rule.rule, method, url)
            found.append((rule.endpoint, method, url))
    return found


def test_every_endpoint_declares_a_permission_or_is_public(app):
    undeclared = [
        endpoint
        for endpoint, _, _ in routes(app)
        if endpoint not in PUBLIC_ENDPOINTS and required_permission(app, endpoint) is None
    ]
    assert undeclared == []


def test_anonymous_clients_reach_only_the_public_allowlist(app, client):
    for endpoint, method, url in routes(app):
        response = client.open(url, method=method)
        if endpoint in PUBLIC_ENDPOINTS:
            continue
        if method == "GET":
            assert response.status_code == 302 and "/sign-in" in response.location, (endpoint, method)
        else:
            assert response.status_code in {400, 401, 403}, (endpoint, method, response.status_code)
        assert "Sign out" not in response.get_data(as_text=True)


def test_a_view_that_forgets_its_permission_is_refused_even_to_an_administrator(app, client, login_as):
    app.add_url_rule("/forgotten", "forgotten", lambda: "secret data")
    login_as("admin", "auditor", "intake")  # (an administrator never also reviews or produces)
    response = client.get("/forgotten")
    assert response.status_code == 403
    assert "secret data" not in response.get_data(as_text=True)


@pytest.mark.parametrize("role", list(Role))
def test_role_by_endpoint_matrix_follows_the_permissions_table(app, client, login_as, role):
    login_as(role.value)
    token = csrf_from(client.get("/").get_data(as_text=True))
    checked = 0
    for endpoint, method, url in routes(app):
        if endpoint in PUBLIC_ENDPOINTS or endpoint == "auth.sign_out":
            continue
        permission = required_permission(app, endpoint)
        allowed = permission in GRANTS[role]
        data: dict[str, Any] = {"csrf_token": token} if method == "POST" else {}
        response = client.open(url, method=method, data=data)
        if allowed:
            assert response.status_code not in {403, 500}, (role, endpoint, method, response.status_code)
        else:
            assert response.status_code == 403, (role, endpoint, method, response.status_code)
        checked += 1
    assert checked >= 10


def test_every_post_without_a_token_or_with_another_sessions_token_is_refused(app, client, login_as):
    login_as("admin", "auditor")
    other = app.test_client()
    foreign = csrf_from(other.get("/sign-in").get_data(as_text=True))
    posts = [(endpoint, url) for endpoint, method, url in routes(app) if method == "POST"]
    assert posts
    for endpoint, url in posts:
        assert client.post(url, data={}).status_code == 400, endpoint
        assert client.post(url, data={"csrf_token": foreign}).status_code == 400, endpoint


def test_a_cross_site_post_is_refused_even_with_a_valid_token(app, client, login_as):
    login_as("intake")
    token = csrf_from(client.get("/").get_data(as_text=True))
    response = client.post("/sign-out", data={"csrf_token": token}, headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 400
    response = client.post("/sign-out", data={"csrf_token": token}, headers={"Origin": "https://evil.example"})
    assert response.status_code == 400
    assert "Sign out" in client.get("/").get_data(as_text=True)


def test_permissions_table_grants_nothing_beyond_the_vocabulary():
    for role, granted in GRANTS.items():
        assert Permission.ACCOUNT_SELF in granted, role
        assert granted <= set(Permission)
    assert Permission.USER_MANAGE in GRANTS[Role.ADMIN]
    assert not any(Permission.USER_MANAGE in GRANTS[r] for r in Role if r is not Role.ADMIN)
