"""The case page offers each workflow step only to those who may take it (issue 16: intake saw "Start review")."""

from __future__ import annotations

import re

import pytest

from disclosure.permissions import Role
from tests.factories import make_case


def buttons(page: str) -> list[str]:
    forms = re.findall(r'action="/cases/[^"]+/action">.*?<button[^>]*>([^<]+)</button>', page, flags=re.S)
    return [label.strip() for label in forms]


@pytest.mark.parametrize(
    "role, expected",
    [
        (Role.INTAKE, ["Mark withdrawn"]),
        (Role.REVIEWER, ["Start review"]),
        (Role.PRODUCER, []),
        (Role.AUDITOR, []),
    ],
)
def test_a_received_case_offers_each_role_only_its_own_steps(app, client, login_as, role, expected):
    with app.app_context():
        reference = make_case().reference
    login_as(role.value)
    assert buttons(client.get(f"/cases/{reference}").get_data(as_text=True)) == expected


def test_the_person_who_logged_a_case_is_not_offered_its_review(app, client, login_as):
    user = login_as("intake", "reviewer")
    with app.app_context():
        reference = make_case(logged_by=user).reference
    assert "Start review" not in buttons(client.get(f"/cases/{reference}").get_data(as_text=True))


def test_long_notes_fold_so_the_case_page_stays_readable(app, client, login_as):
    """A 5,000-character note made the case page 4,800 px tall; now its start shows and the rest folds."""
    with app.app_context():
        reference = make_case().reference
        from sqlalchemy import select

        from disclosure.cases.models import Case
        from disclosure.extensions import db

        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        case.summary = "Called the agent. " * 270
        db.session.commit()
    login_as("intake")
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    assert '<details class="long-note"><summary>' in page
    assert "Show all 4,860 characters" in page
