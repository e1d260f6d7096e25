"""Internal comments on a case: threaded, audit-logged by hash, never edited, and never in letters or bundles
(issue 16: a legal team had no way to leave each other notes on a case)."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from sqlalchemy import select

from disclosure.audit.models import AuditEvent
from disclosure.cases.comments import CaseComment
from disclosure.extensions import db
from disclosure.permissions import Role
from tests.conftest import csrf_from
from tests.factories import make_case

NOTE = "Agent Doe called: the second address is a typo; they will send a corrected order."


def post_comment(client, reference: str, body: str, reply_to: str = ""):
    token = csrf_from(client.get(f"/cases/{reference}").get_data(as_text=True))
    return client.post(f"/cases/{reference}/comments", data={"csrf_token": token, "body": body, "reply_to": reply_to})


def test_a_comment_and_its_reply_show_as_a_thread_with_their_authors(app, client, login_as):
    with app.app_context():
        reference = make_case().reference
    login_as("intake")
    assert post_comment(client, reference, NOTE).status_code == 302
    with app.app_context():
        first = db.session.execute(select(CaseComment.id)).scalar_one()
    login_as("reviewer")
    assert post_comment(client, reference, "Thanks; I will wait for it.", reply_to=str(first)).status_code == 302
    page = client.get(f"/cases/{reference}").get_data(as_text=True)
    thread = page[page.index('<h2 id="comments-title">') :]
    assert thread.index(NOTE) < thread.index("Thanks; I will wait for it.")
    assert re.search(r'<article class="comment comment-reply">\s*<p class="comment-meta"><strong>Test User', thread)
    assert "Added an internal comment." in page and "Replied to an internal comment." in page


def test_the_log_holds_the_comments_hash_not_its_text(app, client, login_as):
    with app.app_context():
        reference = make_case().reference
    login_as("intake")
    post_comment(client, reference, NOTE)
    with app.app_context():
        body = db.session.execute(select(AuditEvent.body).where(AuditEvent.action == "comment.added")).scalar_one()
        data = json.loads(bytes(body))["data"]
        assert data["sha256"] == hashlib.sha256(NOTE.encode()).hexdigest() and data["length"] == len(NOTE)
        assert NOTE not in bytes(body).decode()


def test_an_empty_or_overlong_comment_is_refused_beside_its_field(app, client, login_as):
    with app.app_context():
        reference = make_case().reference
    login_as("intake")
    empty = post_comment(client, reference, "   ")
    assert empty.status_code == 400 and "Write the comment before you add it." in empty.get_data(as_text=True)
    long = post_comment(client, reference, "x" * 4001)
    assert long.status_code == 400 and "4000" in long.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(CaseComment)).first() is None


def test_a_reply_to_another_cases_comment_is_refused(app, client, login_as):
    with app.app_context():
        one, other = make_case().reference, make_case().reference
    login_as("intake")
    post_comment(client, one, NOTE)
    with app.app_context():
        first = db.session.execute(select(CaseComment.id)).scalar_one()
    response = post_comment(client, other, "Sneaky", reply_to=str(first))
    assert response.status_code == 400
    assert "The comment you answered is not on this case" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", list(Role))
def test_who_may_comment(app, client, login_as, role):
    with app.app_context():
        reference = make_case().reference
    token_page = app.test_client()
    login_as("intake", client_=token_page)
    token = csrf_from(token_page.get(f"/cases/{reference}").get_data(as_text=True))
    login_as(role.value)
    page = client.get("/").get_data(as_text=True)
    token = csrf_from(page) or token
    response = client.post(f"/cases/{reference}/comments", data={"csrf_token": token, "body": "note"})
    may = role in (Role.INTAKE, Role.REVIEWER, Role.PRODUCER)
    assert response.status_code == (302 if may else 403), role
    with app.app_context():
        assert (db.session.execute(select(CaseComment)).first() is not None) is may


def test_letters_never_carry_a_comment(app, client, login_as):
    from disclosure.review.letters import letter_html
    from disclosure.review.service import decisions_of
    from tests.production.helpers import approved_case

    with app.app_context():
        reference = approved_case()
    login_as("intake")
    post_comment(client, reference, NOTE)
    with app.app_context():
        from disclosure.cases.models import Case

        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        assert NOTE not in letter_html(decisions_of(case)[-1])


def test_only_the_case_pages_read_comments():
    """Letters, bundles, reports and exports never import the comments module, so none can carry a comment."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "disclosure"
    readers = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "disclosure.cases.comments" in path.read_text()
        or "from disclosure.cases import comments" in path.read_text()
    )
    assert readers == ["cases/views.py"]
