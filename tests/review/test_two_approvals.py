"""Interception orders need two distinct reviewers; parallel approvals give exactly one decision."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from disclosure.auth.models import User
from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.review import service
from disclosure.review.models import Decision
from disclosure.services import ServiceError
from tests.factories import PASSWORD, make_user
from tests.review.helpers import WIRETAP, case_in_review


def prepared(app, **overrides):
    """A case in review with its checklist confirmed and its ground cited; returns (reference, review id)."""
    with app.app_context():
        reference = case_in_review(**(overrides or WIRETAP))
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        review = service.open_review(case)
        evaluation = service.evaluation_for(review)
        worker = db.session.get(User, make_user("reviewer").id)
        answers = {item.id: {"answer": "yes", "note": ""} for item in evaluation.checklist}
        cited = {
            c.value: {"grounds": ["legal_process" if "content" in c.value else "law_requires"], "reason": ""}
            for c in case.categories
        }
        service.save_worksheet(worker, review, answers, cited, "", None, None)
        db.session.commit()
        return reference, review.id


def approve(app, review_id, reviewer_id, reference):
    with app.app_context():
        from disclosure.review.models import Review

        review = db.session.get(Review, review_id)
        case = review.case
        scope = [
            service.ScopeEntry(t.kind, t.value, tuple(c.value for c in case.categories), None, None)
            for t in case.targets
        ]
        result = service.decide(
            db.session.get(User, reviewer_id), review, "approved", password=PASSWORD, ip=None, scope=scope
        )
        db.session.commit()
        return type(result).__name__


def test_a_wiretap_needs_two_distinct_reviewers(app):
    reference, review_id = prepared(app)
    with app.app_context():
        first, second = make_user("reviewer").id, make_user("reviewer").id
    assert approve(app, review_id, first, reference) == "Approval"
    with app.app_context():
        assert db.session.execute(select(Case.state).where(Case.reference == reference)).scalar_one() == "in_review"
    import pytest

    with pytest.raises(service.ReviewError, match="different reviewer"):
        approve(app, review_id, first, reference)
    assert approve(app, review_id, second, reference) == "Decision"
    with app.app_context():
        decision = db.session.execute(select(Decision)).scalar_one()
        assert decision.outcome == "approved" and sorted(decision.approvers) == sorted([first, second])
        assert db.session.execute(select(Case.state).where(Case.reference == reference)).scalar_one() == "approved"


def test_parallel_approvals_give_exactly_one_decision(app, backend):
    reference, review_id = prepared(app, process_type="search_warrant", categories=["stored_content"])
    with app.app_context():
        reviewers = [make_user("reviewer").id for _ in range(2)]
    barrier = threading.Barrier(2, timeout=30)
    outcomes: list[str] = []

    def run(reviewer_id: int) -> None:
        barrier.wait()
        try:
            outcomes.append(approve(app, review_id, reviewer_id, reference))
        except ServiceError as error:
            outcomes.append(type(error).__name__)
        except Exception as error:
            outcomes.append(f"error:{type(error).__name__}")

    threads = [threading.Thread(target=run, args=(reviewer,)) for reviewer in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Decision)).scalar_one() == 1
    assert sorted(outcomes)[0] == "Decision" and len(outcomes) == 2
    assert outcomes.count("Decision") == 1
