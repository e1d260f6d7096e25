"""The README's tour (issue 16): every page it shows, at 1366 px and at 390 px wide, in a real browser.

Each page must fit its width (nothing scrolls sideways: on a phone wide tables scroll inside their own box, and at
1366 px no table needs to) and log no console error, CSP violation, uncaught error or 5xx. With
DISCLOSURE_SCREENSHOTS=1 the full-page images land in tests/e2e/screenshots as <page>-1366.png and <page>-390.png,
for the README; otherwise in a temporary folder.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from disclosure.auth.models import User
from disclosure.cases.models import Case
from disclosure.clock import utcnow
from disclosure.extensions import db
from tests.browser_fixtures import BrowserProblems
from tests.e2e.pages import await_job_outcome, enter_code, expect_dashboard, sign_in, sign_out
from tests.factories import MadeUser, make_case, make_user

pytestmark = pytest.mark.e2e

WIDTHS = (1366, 390)
HEIGHT = 900
LONG_ADDRESS = "a.very.long.customer.mailbox.address@example-hosting-customer.net"

#: The elements wider than the viewport, innermost first, for the failure message.
OVERFLOWING = """
    width => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > width + 1 && e.getClientRects().length > 0)
        .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > width + 1))
        .slice(0, 8)
        .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                  + (typeof e.className === 'string' ? ' ' + e.className : '')
                  + ' right=' + Math.round(e.getBoundingClientRect().right))
"""


def _days(n: int) -> str:
    return (utcnow() + timedelta(days=n)).date().isoformat()


def _at(n: int) -> str:
    return (utcnow() + timedelta(days=n)).replace(microsecond=0).isoformat()


def _check_fits_and_shoot(page: Any, problems: BrowserProblems, screenshots: Path, name: str, width: int) -> None:
    page.wait_for_load_state("networkidle")
    page.evaluate("document.activeElement && document.activeElement.blur()")
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width + 1, (
        f"{name} scrolls sideways at {width} px (its page is {scroll_width} px wide): "
        f"{page.evaluate(OVERFLOWING, width)}"
    )
    if width >= 1024:
        squeezed = page.evaluate(
            "[...document.querySelectorAll('.table-wrap')].filter(w => w.scrollWidth > w.clientWidth + 1).length"
        )
        assert not squeezed, f"{name}: {squeezed} table(s) scroll sideways at {width} px, where there is room"
    problems.check()
    page.screenshot(path=str(screenshots / f"{name}-{width}.png"), full_page=True)


def tour_stop(page: Any, problems: BrowserProblems, screenshots: Path, name: str, url: str) -> None:
    """Open `url` at each width, check that it fits and logged no problem, and take its picture."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": HEIGHT})
        page.goto(url)
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        _check_fits_and_shoot(page, problems, screenshots, name, width)


def sign_in_as(page: Any, user: MadeUser) -> None:
    page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})
    sign_in(page, user.email, user.password)
    if user.totp_secret:
        enter_code(page, pyotp.TOTP(user.totp_secret).now())
    expect_dashboard(page)


#: Names for the people the tour shows (the factories name everyone "Test User <email>").
NAMES = {
    "intake@example.org": "Iris Intake",
    "reviewer@example.org": "Ravi Reviewer",
    "reviewer2@example.org": "Rosa Reviewer",
    "producer@example.org": "Pat Producer",
    "auditor@example.org": "Ada Auditor",
}


def build_a_bundle(page: Any, producer: MadeUser, reference: str) -> None:
    """On the production page, seal the records for the agency with a passphrase, as a producer does."""
    page.goto(f"/cases/{reference}/production")
    page.get_by_label("Your password, to confirm", exact=True).fill(producer.password)
    page.get_by_role("button", name="Build bundle").click()
    await_job_outcome(page)
    expect(page.get_by_text("Finished")).to_be_visible()


def _seed(app: Flask) -> dict[str, Any]:
    """Cases in several states, made through the services: one in review with its warrant and a comment, one
    approved in part with its letter and a record produced, one approved and waiting for production, an emergency,
    a subpoena logged yesterday and DESIGN's example warrant, overdue by now."""
    from disclosure.cases import service as cases
    from disclosure.cases.comments import add_comment
    from disclosure.production import service as production
    from disclosure.review import letters
    from tests.documents import pdf
    from tests.review.helpers import case_in_review, decide_in_full

    with app.app_context():
        clerk = make_user("intake", email="intake@example.org")
        reviewer = make_user("reviewer", email="reviewer@example.org")
        second_reviewer = make_user("reviewer", email="reviewer2@example.org")
        producer = make_user("producer", email="producer@example.org")
        auditor = make_user("auditor", email="auditor@example.org")
        for user in db.session.execute(select(User)).scalars():
            user.name = NAMES.get(user.email, user.name)
        db.session.commit()

        def person(made: MadeUser) -> User:
            return db.session.get(User, made.id)

        def case_of(reference: str) -> Case:
            return db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()

        in_review = case_in_review(
            reviewer,
            logged_by=clerk,
            received_at=_at(-2),
            valid_until=_days(60),
            issuing_authority={"kind": "judge", "name": "Hon. B. Sample, E.D. Va.", "docket": "2:26-mj-04411"},
            categories=["subscriber_basic", "account_records", "stored_content"],
            targets=[
                {"kind": "email", "value": LONG_ADDRESS, "from": _days(-200), "to": _days(-20)},
                {"kind": "ip", "value": "203.0.113.7", "from": f"{_days(-30)}T10:15:00Z"},
            ],
        )
        cases.add_document(person(clerk), case_of(in_review), "legal_process", pdf(pages=2), "warrant.pdf", None)
        add_comment(
            person(reviewer),
            case_of(in_review),
            "Called the agency back on the number in the directory: SA Doe confirmed the warrant.",
        )
        db.session.commit()

        decided = case_in_review(
            second_reviewer,
            logged_by=clerk,
            received_at=_at(-6),
            valid_until=_days(40),
            issuing_authority={"kind": "judge", "name": "Hon. C. Model, S.D.N.Y.", "docket": "1:26-mj-00977"},
            agency={"name": "Drug Enforcement Administration", "country": "US"},
            targets=[{"kind": "email", "value": "j.example@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
        )
        cases.add_document(person(clerk), case_of(decided), "legal_process", pdf(), "warrant-00977.pdf", None)
        decision = decide_in_full(person(second_reviewer), case_of(decided), "approved", ("subscriber_basic",))
        letters.create_letter(person(second_reviewer), decision, None)
        add_comment(
            person(second_reviewer),
            case_of(decided),
            "Stored content refused: the warrant names subscriber records only. The letter says so.",
        )
        db.session.commit()
        production.add_record(
            person(producer),
            case_of(decided),
            "j.example@example.net",
            "subscriber_basic",
            [b"name,email,created\nJ. Example,j.example@example.net,2019-04-02\n"],
            "subscriber-records.csv",
            None,
        )
        db.session.commit()

        waiting = case_in_review(
            second_reviewer,
            logged_by=clerk,
            received_at=_at(-3),
            valid_until=_days(50),
            targets=[{"kind": "domain", "value": "shop-example.org", "from": "2026-03-01", "to": "2026-09-30"}],
        )
        decide_in_full(person(second_reviewer), case_of(waiting), "approved")
        db.session.commit()
        make_case(
            clerk,
            process_type="emergency_request",
            emergency=True,
            received_at=_at(0),
            valid_until=None,
            non_disclosure_order=None,
            issuing_authority={"kind": "agency", "name": "Los Angeles Police Department", "docket": None},
            agency={"name": "Los Angeles Police Department", "country": "US"},
            categories=["subscriber_basic"],
            targets=[{"kind": "username", "value": "nightowl77", "from": None, "to": None}],
        )
        make_case(
            clerk,
            process_type="subpoena",
            received_at=_at(-1),
            issuing_authority={"kind": "prosecutor", "name": "AUSA R. Roe, S.D.N.Y.", "docket": "26-GJ-118"},
            categories=["subscriber_basic"],
            targets=[{"kind": "phone", "value": "+1 212 555 0147", "from": "2026-05-01", "to": "2026-08-31"}],
        )
        make_case(clerk)  # DESIGN's example warrant, received on 2 November 2026: overdue now
    return {
        "clerk": clerk,
        "reviewer": reviewer,
        "producer": producer,
        "auditor": auditor,
        "in_review": in_review,
        "decided": decided,
    }


def test_the_tour_pages_fit_1366_and_390_px_and_are_pictured(
    page: Any, live_app: Flask, browser_problems: BrowserProblems, screenshots: Path
) -> None:
    seeded = _seed(live_app)

    # Intake: a request whose due date comes before its receipt, with most facts missing.
    browser_problems.expect(r"status of 400 .*/cases/new")  # the form with its errors answers 400
    sign_in_as(page, seeded["clerk"])
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": HEIGHT})
        page.goto("/cases/new")
        page.get_by_label("Requesting agency").fill("Federal Bureau of Investigation")
        page.get_by_label("Received", exact=True).fill(f"{_days(-1)}T09:30")
        page.get_by_label("Due date on the document").fill(_days(-5))
        page.get_by_role("button", name="Log request").click()
        summary = page.locator(".error-summary")
        expect(summary).to_be_visible()
        expect(summary).to_contain_text(re.compile("due", re.IGNORECASE))
        page.evaluate("window.scrollTo(0, 0)")
        _check_fits_and_shoot(page, browser_problems, screenshots, "intake-errors", width)
    sign_out(page)

    # The reviewer: the dashboard, a case before its decision, and its review.
    sign_in_as(page, seeded["reviewer"])
    tour_stop(page, browser_problems, screenshots, "dashboard", "/")
    tour_stop(page, browser_problems, screenshots, "case-before-decision", f"/cases/{seeded['in_review']}")
    tour_stop(page, browser_problems, screenshots, "review", f"/cases/{seeded['in_review']}/review")
    expect(page.get_by_role("heading", name="What the policy engine finds")).to_be_visible()
    sign_out(page)

    # The producer: a case approved in part, with its decision, and its production page.
    sign_in_as(page, seeded["producer"])
    build_a_bundle(page, seeded["producer"], seeded["decided"])
    tour_stop(page, browser_problems, screenshots, "case-after-decision", f"/cases/{seeded['decided']}")
    decision = page.locator("section.card").filter(has=page.get_by_role("heading", name=re.compile("^Decision: ")))
    expect(decision).to_contain_text("Approved scope")
    tour_stop(page, browser_problems, screenshots, "production", f"/cases/{seeded['decided']}/production")
    expect(page.get_by_text("subscriber-records.csv").first).to_be_visible()
    sign_out(page)

    # The auditor: the audit log and the transparency report.
    sign_in_as(page, seeded["auditor"])
    tour_stop(page, browser_problems, screenshots, "audit", "/audit/")
    expect(page.locator("table.data")).to_contain_text(f"case:{seeded['decided']}")
    tour_stop(page, browser_problems, screenshots, "report", "/reports/transparency")
