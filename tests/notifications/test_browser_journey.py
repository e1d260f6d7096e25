"""In a real browser: a person chooses how notices reach them, a reminder arrives by email (read from the SMTP
server), and its link leads, through sign-in, to the case."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect

from disclosure.extensions import db
from disclosure.notifications import service
from disclosure.services import SystemActor
from tests.browser_fixtures import LiveServer
from tests.e2e.pages import sign_in, sign_out
from tests.factories import make_case, make_user
from tests.notifications.conftest import SmtpServer, body, configure_mail

pytestmark = pytest.mark.e2e


def wait_for_mail(server: SmtpServer, address: str, count: int, timeout: float = 20.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        received = server.inbox.to(address)
        if len(received) >= count:
            return received
        time.sleep(0.2)
    raise AssertionError(f"{count} email(s) to {address} did not arrive within {timeout} s")


def test_a_preference_a_reminder_by_email_and_its_link_through_sign_in(
    page: Any,
    live_app: Flask,
    live_server: LiveServer,
    smtp_server: SmtpServer,
) -> None:
    configure_mail(live_app, smtp_server.port, EXTERNAL_URL=live_server.url)
    with live_app.app_context():
        intake = make_user("intake")
        case = make_case(intake)
        reference, due = case.reference, case.due_at
        db.session.remove()

    sign_in(page, intake.email, intake.password)
    page.get_by_role("link", name="Notifications").click()
    page.get_by_role("link", name="Email settings").click()
    overdue = page.get_by_role("group", name="A response is overdue")
    overdue.get_by_label("In a daily digest email").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status")).to_contain_text("Saved.")
    expect(
        page.get_by_role("group", name="A response is overdue").get_by_label("In a daily digest email")
    ).to_be_checked()
    sign_out(page)

    with live_app.app_context():  # the scan, as the periodic job runs it: due within 1 day, then overdue
        service.send_due(SystemActor("test"), due - timedelta(hours=12))
        db.session.commit()
        service.send_due(SystemActor("test"), due + timedelta(hours=1))
        db.session.commit()
        db.session.remove()
    (reminder,) = wait_for_mail(smtp_server, intake.email, 1)  # the overdue notice waits for the digest
    assert reminder["Subject"] == f"[Disclosure] {reference}: A response is due soon"
    link = re.search(r"Open it: (\S+)", body(reminder))
    assert link is not None and link.group(1) == f"{live_server.url}/cases/{reference}"

    page.goto(link.group(1))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email address").fill(intake.email)
    page.get_by_label("Password").fill(intake.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/cases/{reference}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(reference)
    expect(page.get_by_role("link", name=re.compile(r"^Notifications 2 unread$"))).to_be_visible()
    time.sleep(0.5)
    assert len(smtp_server.inbox.to(intake.email)) == 1
