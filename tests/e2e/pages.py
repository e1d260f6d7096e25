"""What a person does on the pages, as small functions over a Playwright page."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect


def sign_in(page: Any, email: str, password: str) -> None:
    """Fill in and send the sign-in form (the second factor, if asked for, is the caller's)."""
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def enter_code(page: Any, code: str) -> None:
    page.get_by_label("Six-digit code from your authenticator app").fill(code)
    page.get_by_role("button", name="Continue").click()


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("You have signed out.")


def expect_dashboard(page: Any) -> None:
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")


def active_id(page: Any) -> str:
    return str(page.evaluate("document.activeElement ? document.activeElement.id : ''"))


def tab_to_next(page: Any, limit: int = 10) -> str:
    """Press Tab until focus leaves the current element (a date input takes several: one per segment and one
    for its picker button), and return the id of the element that has focus now."""
    start = active_id(page)
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = active_id(page)
        if now != start:
            return now
    raise AssertionError(f"focus stayed on #{start} after {limit} presses of Tab")


def await_job_outcome(page: Any, timeout: float = 60_000) -> None:
    """On a job's page, wait for the job to end and bring up its outcome.

    A quick job may end before its page is first drawn: the page then shows the outcome at once. Otherwise the
    page's script follows the job and, once it ends, offers "show the outcome", which a person clicks.
    """
    expect(page.locator("#job")).to_have_attribute("data-finished", "true", timeout=timeout)
    offer = page.get_by_role("link", name="show the outcome")
    if offer.is_visible():
        offer.click()
    expect(page.get_by_role("heading", name="Outcome")).to_be_visible()
