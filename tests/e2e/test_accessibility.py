"""Every page a role reaches meets WCAG 2.2 AA as axe-core checks it, in a real browser (issue 16).

Each role signs in on a seeded instance (cases in every state, an approved and a rejected case, a comment), and the
pages it can reach by following links are checked one by one with axe-core, injected by the test (through the
browser's debugging protocol, not the page: the app serves no script but its own). The intake form is also checked
showing its errors. Any violation fails, naming the page, the rule and the first elements it found.
"""

from __future__ import annotations

from collections import deque
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select

from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.workflow import State
from tests.e2e.pages import enter_code, sign_in
from tests.factories import make_case, make_user

pytestmark = pytest.mark.e2e

WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}}
SKIP = ("/static/", "/sign-out", "/keys/", "/output", ".pdf", ".csv", ".zip", "/documents/", "/download")
PAGES_PER_ROLE = 18


def seed() -> list[str]:
    from disclosure.auth.models import User
    from disclosure.cases import comments
    from tests.production.helpers import approved_case
    from tests.review.helpers import case_in_review, decide_in_full

    references = [approved_case()]
    reviewer = make_user("reviewer")
    rejected = case_in_review(reviewer)
    case = db.session.execute(select(Case).where(Case.reference == rejected)).scalar_one()
    decide_in_full(db.session.get(User, reviewer.id), case, "rejected")
    comments.add_comment(db.session.get(User, make_user("intake").id), case, "Asked the agent for a narrower order.")
    db.session.commit()
    references.append(rejected)
    references.append(case_in_review())
    for state in (State.RECEIVED, State.NEEDS_INFO, State.CLOSED):
        references.append(make_case(state=state.value, emergency=state is State.RECEIVED).reference)
    return references


def violations(axe: Axe, page: Any) -> list[str]:
    results = axe.run(page, options=WCAG_AA).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(f"{n['target'][0]} {n['html'][:100]}" for n in v["nodes"][:3])
        for v in results
    ]


def crawl(page: Any, start: list[str]) -> dict[str, list[str]]:
    axe = Axe()
    queue, seen, found = deque(start), set(), {}
    origin = urlsplit(page.url).netloc
    while queue and len(seen) < PAGES_PER_ROLE:
        url = queue.popleft()
        if url in seen or any(part in url for part in SKIP):
            continue
        seen.add(url)
        response = page.goto(url)
        if response is None or response.status >= 400 or "text/html" not in response.headers.get("content-type", ""):
            continue
        if problems := violations(axe, page):
            found[url] = problems
        for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
            parts = urlsplit(href)
            if parts.netloc == origin and not any(part in href for part in SKIP):
                queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


@pytest.mark.parametrize("role", ["intake", "reviewer", "producer", "auditor", "admin"])
def test_every_page_a_role_reaches_meets_wcag_2_2_aa(page: Any, live_app: Flask, role: str) -> None:
    with live_app.app_context():
        references = seed()
        user = make_user(role)
    sign_in(page, user.email, user.password)
    if user.totp_secret:
        enter_code(page, pyotp.TOTP(user.totp_secret).now())
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    start = ["/"] if role == "admin" else ["/", "/cases/", *[f"/cases/{r}" for r in references]]
    if role == "reviewer":
        start.append(f"/cases/{references[2]}/review")
    if role == "producer":
        start.append(f"/cases/{references[0]}/production")
    assert crawl(page, start) == {}


def test_the_intake_form_showing_its_errors_meets_wcag_2_2_aa(
    page: Any, live_app: Flask, browser_problems: Any
) -> None:
    browser_problems.expect(r"status of 400 .*/cases/new")  # the form with its errors answers 400
    with live_app.app_context():
        clerk = make_user("intake")
    sign_in(page, clerk.email, clerk.password)
    page.goto("/cases/new")
    page.get_by_role("button", name="Log request").click()
    expect(page.get_by_role("heading", name="The request was not logged", exact=False)).to_be_visible()
    assert violations(Axe(), page) == []
