"""No page shows a vocabulary id where a person expects words: every page a role can reach on a seeded instance,
with cases in every state, is read as a person reads it (tags, attributes and scripts removed), and none may show a
known id such as `search_warrant`, `us_federal`, `exceeds_process` or `in_review` (issue 16: raw ids were shown in
several places).

The audit log's own pages are left out: there the event's action code is the record an auditor searches by.
"""

from __future__ import annotations

import html
import re
from collections import deque
from urllib.parse import urljoin, urlsplit

import pytest
from sqlalchemy import select

from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.permissions import Role
from disclosure.policy import vocabulary
from disclosure.review.models import Outcome
from disclosure.review.service import REJECTION_REASONS
from disclosure.workflow import Action, State
from tests.factories import make_case, make_user
from tests.production.helpers import approved_case
from tests.review.helpers import case_in_review, decide_in_full

ENUMS = [
    vocabulary.ProcessType,
    vocabulary.Regime,
    vocabulary.AuthorityKind,
    vocabulary.ReceivedVia,
    vocabulary.TargetKind,
    vocabulary.Category,
    vocabulary.Ground,
    vocabulary.Verdict,
    vocabulary.VoluntaryBasis,
    vocabulary.OfficialLevel,
    vocabulary.ListedOffence,
    vocabulary.Agreement,
    State,
    Action,
    Outcome,
]
#: Ids a person would have to decode: those with an underscore (single words like "email" read as words).
RAW_IDS = sorted(
    {member.value for enum in ENUMS for member in enum if "_" in member.value}
    | {code for code in REJECTION_REASONS if "_" in code}
)
RAW = re.compile(r"(?<![\w./-])(" + "|".join(map(re.escape, RAW_IDS)) + r")(?![\w/-])")
SKIP = ("/audit/", "/static/", "/sign-out", "/jobs/")
MAX_PAGES = 120


def visible_text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    page = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(page)


def links(page: str, base: str) -> list[str]:
    found = []
    for href in re.findall(r'<a [^>]*href="([^"#]+)', page):
        url = urljoin(base, html.unescape(href))
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost") or any(parts.path.startswith(s) for s in SKIP):
            continue
        found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


def seed() -> list[str]:
    """Cases in every state, of several kinds and jurisdictions, one approved, one rejected; their references."""
    references = [approved_case()]
    reviewer = make_user("reviewer")
    rejected = case_in_review(reviewer)
    case = db.session.execute(select(Case).where(Case.reference == rejected)).scalar_one()
    from disclosure.auth.models import User

    decide_in_full(db.session.get(User, reviewer.id), case, "rejected")
    db.session.commit()
    references.append(rejected)
    for state in State:
        if state not in (State.APPROVED, State.REJECTED):  # decided states need a decision (above)
            references.append(make_case(state=state.value).reference)
    references.append(
        make_case(
            process_type="court_order_2703d",
            jurisdiction={"regime": "us_state", "country": "US", "region": "CA"},
            categories=["account_records"],
        ).reference
    )
    return references


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN] + [Role.ADMIN])
def test_no_page_shows_a_raw_vocabulary_id(app, client, login_as, role):
    with app.app_context():
        references = seed()
    login_as(role.value)
    queue: deque[str] = deque(["/", "/cases/", *[f"/cases/{r}" for r in references], "/reports/transparency"])
    queue.extend(f"/cases/{r}/review" for r in references[:2])
    seen: set[str] = set()
    problems: dict[str, list[str]] = {}
    while queue and len(seen) < MAX_PAGES:
        url = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        assert response.status_code < 500, (url, response.status_code)
        if response.status_code != 200 or "text/html" not in response.content_type:
            continue
        page = response.get_data(as_text=True)
        found = sorted(set(RAW.findall(visible_text(page))))
        if found:
            problems[url] = found
        queue.extend(link for link in links(page, url) if link not in seen)
    assert len(seen) > 5, seen
    assert problems == {}, problems


def test_an_agencys_contacts_say_their_kind_in_words(app, client, login_as):
    from disclosure.cases.models import Agency, AgencyContact

    with app.app_context():
        make_case()
        agency = db.session.execute(select(Agency)).scalar_one()
        agency.contacts.append(AgencyContact(kind="phone", value="+1 202 555 0100"))
        db.session.commit()
        agency_id = agency.id
    login_as("intake")
    page = visible_text(client.get(f"/agencies/{agency_id}").get_data(as_text=True))
    assert re.search(r"Telephone\s+\+1 202 555 0100", page), page
