"""Issue 17, finding 9: odd ids, dates and query keys get a 4xx with a plain message, never a 500.

The review found 500s from 20-digit ids (SQLite raises OverflowError past 2**63 - 1), from the filter dates
0001-01-01 and 9999-12-31 (a day is added to the end date), and from `_method`, `_external` and `_anchor` handed to
url_for through request.args in the pagination links. The named cases come first; then hypothesis walks the url_map
with random path and query values, signed in as each role.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from disclosure.permissions import Role
from tests.factories import make_case
from tests.test_access import RULE_ARGUMENT

HUGE = "9" * 20


def id_paths(reference: str) -> list[str]:
    return [
        f"/audit/events/{HUGE}",
        f"/agencies/{HUGE}",
        f"/admin/users/{HUGE}",
        f"/cases/{reference}/documents/{HUGE}",
        f"/agencies/{HUGE}/certificates",
        f"/audit/events/{2**63}",
        f"/agencies/{2**31}",
    ]


@pytest.fixture
def everyone(app, client, login_as):
    login_as("admin", "auditor", "intake")  # an administrator may not also review or produce
    with app.app_context():
        return make_case(state="in_review").reference


def test_a_huge_id_in_the_path_is_not_found(client, everyone):
    for path in id_paths(everyone):
        response = client.get(path)
        assert response.status_code == 404, (path, response.status_code)
        assert "There is nothing at this address" in response.get_data(as_text=True)


def test_a_huge_assignee_or_agency_in_a_form_or_query_is_refused_plainly(client, everyone):
    from tests.conftest import csrf_from

    token = csrf_from(client.get(f"/cases/{everyone}").get_data(as_text=True))
    response = client.post(f"/cases/{everyone}/assign", data={"csrf_token": token, "assignee": HUGE})
    assert response.status_code in {302, 400}, response.status_code
    for query in (f"agency={HUGE}", f"page={HUGE}", f"page=-{HUGE}", f"assignee={HUGE}"):
        response = client.get(f"/cases/?{query}")
        assert response.status_code in {200, 400}, (query, response.status_code)
    for query in (f"actor={HUGE}", f"page={HUGE}", f"seq={HUGE}"):
        response = client.get(f"/audit/?{query}")
        assert response.status_code in {200, 400}, (query, response.status_code)


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31", "1-01-01", "10000-01-01"])
def test_extreme_filter_dates_get_a_400_with_a_plain_message(client, everyone, day):
    for path, keys in (("/cases/", ("due_from", "due_to")), ("/audit/", ("start", "end"))):
        for key in keys:
            response = client.get(f"{path}?{key}={day}")
            body = response.get_data(as_text=True)
            assert response.status_code == 400, (path, key, day, response.status_code)
            assert "Give a date between" in body or "Not a valid date" in body, (path, key, day)


def test_a_nul_character_in_a_path_query_or_form_gets_a_plain_400(client, everyone):
    # Found by the sweep below on PostgreSQL, which refuses NUL in any text value: /bundles/%00 answered 500.
    from tests.conftest import csrf_from

    for url in ("/bundles/%00", f"/cases/{everyone}%00", "/cases/?q=a%00b", "/agencies/lookup?q=%00"):
        response = client.get(url)
        assert response.status_code == 400, (url, response.status_code)
        assert "contains a NUL character" in response.get_data(as_text=True), url
    page = client.get(f"/cases/{everyone}").get_data(as_text=True)
    response = client.post(f"/cases/{everyone}/comments", data={"csrf_token": csrf_from(page), "body": "a\x00b"})
    assert response.status_code == 400 and "contains a NUL character" in response.get_data(as_text=True)


@pytest.mark.parametrize("extra", ["_method=DELETE", "_external=1", "_anchor=x", "_scheme=javascript", "evil=1"])
def test_pagination_links_carry_only_the_filter_keys(app, client, everyone, extra):
    from disclosure.audit.actions import AuditAction
    from disclosure.audit.service import record
    from disclosure.extensions import db
    from disclosure.services import SystemActor

    with app.app_context():
        for index in range(60):
            record(SystemActor("test"), AuditAction.DEMO_SEEDED, subject=f"x:{index}", data={})
        db.session.commit()
        for _ in range(30):
            make_case()
    for path in ("/cases/?sort=reference", "/audit/?subject="):
        response = client.get(f"{path}&{extra}")
        body = response.get_data(as_text=True)
        assert response.status_code == 200, (path, extra, response.status_code)
        links = re.findall(r'<a href="([^"]*page=[^"]*)"', body)
        assert links, (path, "no pagination link")
        for link in links:
            assert extra.split("=")[0] not in link and link.startswith("/"), link


# --- The sweep -------------------------------------------------------------------------------------------------

QUERY_KEYS = [
    "page", "q", "state", "sort", "agency", "regime", "process_type", "due_from", "due_to", "queue", "assignee",
    "actor", "action", "subject", "start", "end", "from", "to", "checkpoint", "cell", "next", "seq", "id",
    "_method", "_external", "_anchor", "_scheme",
]  # fmt: skip
ODD_TEXT = st.sampled_from(
    [
        HUGE, "-" + HUGE, str(2**63), str(2**31), "0", "-1", "1e309", "NaN", "0001-01-01", "9999-12-31", "2026-02-30",
        "", " ", "%00", "\x00", "../..", "é", "\u202e", "<script>", "DELETE", "true", "reference", "-due",
    ]
)  # fmt: skip
VALUES = st.one_of(ODD_TEXT, st.integers(min_value=-(10**22), max_value=10**22).map(str), st.text(max_size=12))


def sweep_routes(app: Flask) -> list[tuple[str, list[str]]]:
    """(rule, its argument names) for every GET rule a signed-in user can ask for."""
    return sorted(
        (rule.rule, [match["name"] for match in RULE_ARGUMENT.finditer(rule.rule)])
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or set()) and rule.endpoint not in {"static"}
    )


def fill(rule: str, values: dict[str, str]) -> str:
    return RULE_ARGUMENT.sub(lambda match: quote(values[match["name"]], safe=""), rule)


#: Each role alone, then the widest combinations one person may hold (an administrator may not review or produce).
COMBINATIONS = [(role.value,) for role in Role] + [
    ("admin", "auditor", "intake"),
    ("reviewer", "producer", "auditor", "intake"),
]


@pytest.mark.parametrize("roles", COMBINATIONS, ids="+".join)
def test_no_url_with_random_path_and_query_values_gives_a_500(app, client, login_as, roles):
    role = "+".join(roles)
    login_as(*roles)
    with app.app_context():
        reference = make_case(state="in_review").reference
    routes = sweep_routes(app)

    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        route=st.sampled_from(routes),
        path_values=st.lists(st.one_of(VALUES, st.just(reference)), min_size=3, max_size=3),
        query=st.dictionaries(st.sampled_from(QUERY_KEYS), VALUES, max_size=4),
    )
    def probe(route: tuple[str, list[str]], path_values: list[str], query: dict[str, Any]) -> None:
        rule, names = route
        url = fill(rule, dict(zip(names, path_values, strict=False))) if names else rule
        if query:
            url += "?" + urlencode(query)
        response = client.get(url)
        assert response.status_code != 500, (role, url)

    probe()
