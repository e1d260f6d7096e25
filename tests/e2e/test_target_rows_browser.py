"""Target rows with script (issue 16, targets): "Add another target" adds a row in the page without a round trip,
"Remove" takes one away, the rows people hear are renumbered, and the server takes the rows the script made. The
page fixture fails the test on any console error, so a script the CSP refused would fail it too."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from disclosure.cases.models import Case
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.policy.vocabulary import Category
from tests.e2e.pages import active_id, expect_dashboard, sign_in
from tests.factories import make_user

pytestmark = pytest.mark.e2e


def test_target_rows_are_added_and_removed_in_the_page(page: Any, live_app: Flask) -> None:
    with live_app.app_context():
        clerk = make_user("intake")
    sign_in(page, clerk.email, clerk.password)
    expect_dashboard(page)
    page.goto("/cases/new")
    rows = page.locator("#target-rows tbody tr")
    expect(rows).to_have_count(4)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if r.method == "POST" else None)
    add = page.get_by_role("button", name="Add another target")
    for shown in (5, 6, 7):
        add.click()
        expect(rows).to_have_count(shown)
        expect(page.locator("#target-rows-status")).to_have_text(f"Row {shown} added.")
    assert requests == [], "the script adds rows without posting the form"
    assert active_id(page) == "targets-6-kind", "focus moves to the new row"
    for row in range(7):
        page.locator(f"#targets-{row}-kind").select_option("username")
        page.locator(f"#targets-{row}-value").fill(f"user{row}")
    page.get_by_role("button", name="Remove target 3").click()
    expect(rows).to_have_count(6)
    expect(page.locator("#targets-3-value")).to_have_attribute("aria-label", "Identifier (row 3)")

    page.locator("#process_type").select_option("subpoena")
    page.locator("#authority_kind").select_option("prosecutor")
    page.locator("#authority_name").fill("AUSA R. Roe, S.D.N.Y.")
    page.locator("#regime").select_option("us_federal")
    page.locator("#country").fill("US")
    page.locator("#agency_name").fill("Drug Enforcement Administration")
    page.locator("#agency_country").fill("US")
    page.locator("#officer_name").fill("SA K. Poe")
    received = (utcnow() - timedelta(days=1)).date()
    page.locator("#received_at").fill(f"{received.isoformat()}T09:05")
    page.locator("#received_via").select_option("email")
    page.get_by_label(Category.SUBSCRIBER_BASIC.label).check()
    page.locator("#summary").press("Enter")  # a new line in the notes, not a submit
    page.locator("#agency_name").press("Enter")  # Enter in a text box logs the request (not "add a row")
    expect(page).to_have_url(re.compile(rf"/cases/DR-{received.year}-00001$"))
    with live_app.app_context():
        case = db.session.execute(select(Case)).scalar_one()
        assert sorted(t.value for t in case.targets) == ["user0", "user1", "user3", "user4", "user5", "user6"]
