"""Migration 0009 turns the review's JSON strings into JSON columns and back, without losing or reshaping a value.

Decisions of every outcome (one a wiretap approved by two reviewers, one a rejection after a first approval)
are written at head, taken down to 0008 and up again: down, each string is exactly what the application wrote
before 0009 (sorted keys, the engine in canonical form, the approvers from the approvals); up again, every
typed value is what it was. The decision rows stay append-only on the way.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from disclosure import create_app
from disclosure.audit.canonical import canonical_json
from disclosure.auth.models import User
from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.review import service
from disclosure.review.models import (
    Approval,
    Decision,
    Outcome,
    Review,
    encode_checklist,
    encode_grounds,
    encode_scope,
)
from tests.conftest import base_settings
from tests.factories import make_user
from tests.review.helpers import WIRETAP, case_in_review, decide_in_full
from tests.test_migrations import empty_database, restore_shared_schema


def written() -> dict[str, Any]:
    """Every review, approval and decision as plain JSON values."""
    return {
        "reviews": [
            (r.id, r.status.value, encode_checklist(r.checklist), encode_grounds(r.grounds))
            for r in db.session.execute(select(Review).order_by(Review.id)).scalars()
        ],
        "approvals": [
            (a.id, a.reviewer_id, encode_scope(a.scope))
            for a in db.session.execute(select(Approval).order_by(Approval.id)).scalars()
        ],
        "decisions": [
            (
                d.id,
                d.outcome.value,
                None if d.scope is None else encode_scope(d.scope),
                d.reason_codes,
                d.engine,
                encode_checklist(d.checklist),
                encode_grounds(d.grounds),
                d.approvers,
            )
            for d in db.session.execute(select(Decision).order_by(Decision.id)).scalars()
        ],
    }


def decide_two_ways(logger: Any) -> None:
    """A wiretap approved by two reviewers, and one rejected by a second reviewer after a first approval."""
    for second_outcome in ("approved", "rejected"):
        reference = case_in_review(logged_by=logger, **WIRETAP)
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        first, second = (db.session.get(User, make_user("reviewer").id) for _ in range(2))
        decide_in_full(first, case, "approved")
        db.session.commit()
        decide_in_full(second, case, second_outcome)
        db.session.commit()


def test_review_data_survives_downgrade_and_upgrade_unchanged(backend, tmp_path, instance):
    url = empty_database(backend, tmp_path, "typed.db")
    app = create_app(base_settings(instance, url))
    try:
        with app.app_context():
            from disclosure.storage.keys import keyring_for_config

            keyring_for_config(app.config).init()
            upgrade()
            logger = make_user("intake")
            reviewer = make_user("reviewer")
            # Every outcome revision 0009 knows (0010's downgrade refuses to drop below a "no records" decision).
            for outcome in (Outcome.APPROVED, Outcome.REJECTED, Outcome.NEEDS_INFO):
                reference = case_in_review(logged_by=logger)
                case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
                decide_in_full(db.session.get(User, reviewer.id), case, outcome.value)
                db.session.commit()
            decide_two_ways(logger)
            before = written()
            assert len(before["decisions"]) == 5 and len(before["approvals"]) == 4
            assert sorted(len(d[7]) for d in before["decisions"]) == [0, 0, 1, 1, 2]
            db.session.commit()

            downgrade(revision="0008")
            connection = db.session.connection()
            strings = connection.execute(
                sa.text(
                    "SELECT outcome, scope_json, reason_codes_json, engine_json, checklist_json, grounds_json, "
                    "approvers_json FROM review_decision ORDER BY id"
                )
            ).all()
            for row, (_, outcome, scope, codes, engine, checklist, grounds, approvers) in zip(
                strings, before["decisions"], strict=True
            ):
                assert row.outcome == outcome
                assert row.scope_json == (None if scope is None else json.dumps(scope, sort_keys=True))
                assert row.reason_codes_json == json.dumps(codes)
                assert row.engine_json == canonical_json(engine).decode()
                assert row.checklist_json == json.dumps(checklist, sort_keys=True)
                assert row.grounds_json == json.dumps(grounds, sort_keys=True)
                assert row.approvers_json == json.dumps(approvers)
            approval_scopes = connection.execute(sa.text("SELECT scope_json FROM review_approval ORDER BY id"))
            assert list(approval_scopes.scalars()) == [json.dumps(a[2], sort_keys=True) for a in before["approvals"]]
            sheets = connection.execute(sa.text("SELECT checklist_json, grounds_json FROM review ORDER BY id")).all()
            assert [tuple(s) for s in sheets] == [
                (json.dumps(r[2], sort_keys=True), json.dumps(r[3], sort_keys=True)) for r in before["reviews"]
            ]
            with pytest.raises(DBAPIError), connection.begin_nested():
                connection.execute(sa.text("UPDATE review_decision SET text = 'changed'"))
            db.session.commit()

            upgrade()
            db.session.expire_all()
            assert written() == before
            with pytest.raises(DBAPIError), db.session.connection().begin_nested():
                db.session.execute(sa.text("UPDATE review_decision SET text = 'changed'"))
            db.session.rollback()
            # The typed columns work as the application uses them after the round trip.
            latest = db.session.execute(select(Case).order_by(Case.id.desc())).scalars().first()
            assert latest is not None and service.decisions_of(latest)[-1].outcome is Outcome.REJECTED
            db.engine.dispose()
    finally:
        restore_shared_schema(backend, url, app)
