"""The directory in a real browser: an administrator follows the menu to it, and the type-ahead (a script the CSP
must allow to call the look-up) offers the canonical agency for an alias typed. Any console error (a CSP
violation) or server error fails the test (tests/e2e's page fixture)."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import expect

from tests.agencies.helpers import make_agency
from tests.e2e.pages import enter_code, sign_in
from tests.factories import make_user

pytestmark = pytest.mark.e2e


def test_an_administrator_follows_the_menu_and_the_type_ahead_offers_the_agency(
    page: Any, live_app: Flask, browser_problems: Any
) -> None:
    with live_app.app_context():
        make_agency("Federal Bureau of Investigation", aliases=("FBI",), domains=("fbi.gov",))
        make_agency("Drug Enforcement Administration", aliases=("DEA",))
        admin = make_user("admin")
    sign_in(page, admin.email, admin.password)
    enter_code(page, pyotp.TOTP(admin.totp_secret).now())
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Agencies").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Agency directory")
    search = page.get_by_label("Name or alias")
    search.press_sequentially("fbi", delay=30)
    options = page.locator("#q-suggestions option")
    expect(options).to_have_count(1)
    expect(options.first).to_have_attribute("value", "Federal Bureau of Investigation")
    expect(options.first).to_have_attribute("label", "US · unverified · known as FBI")
    page.get_by_role("link", name="Add an agency").click()
    page.get_by_label("Canonical name").press_sequentially("Drug Enf", delay=30)
    expect(page.locator("#name-suggestions option").first).to_have_attribute("value", "Drug Enforcement Administration")
    page.get_by_label("Canonical name").fill("Drug Enforcement Agency")
    page.get_by_label("Country (two letters)").fill("US")
    browser_problems.expect(r"status of 400 .*/agencies/new")  # the form asks for the tick with a 400
    page.get_by_role("button", name="Add the agency").click()
    expect(page.get_by_role("heading", name="Possible duplicates")).to_be_visible()
    expect(page.get_by_text("Its alias “DEA” is the initials of this name")).to_be_visible()
    page.get_by_label("I checked the possible duplicates listed").check()
    page.get_by_role("button", name="Add the agency").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Drug Enforcement Agency (US)")
    expect(page.get_by_role("link", name="Merge this record into it")).to_be_visible()
