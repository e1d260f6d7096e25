"""Migration 0010 lets a decision find that no records are held; below it there is no word for that outcome.

With a "no records" decision on file, the downgrade to 0009 refuses and leaves the schema and the decision as they
were (decisions are append-only: there is nothing faithful to turn it into). Without one, it goes down, the narrower
check refuses the outcome again, and the upgrade brings it back with the decision's append-only triggers.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from flask_migrate import downgrade, upgrade
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from disclosure import create_app
from disclosure.auth.models import User
from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.review.models import Outcome
from tests.conftest import base_settings
from tests.factories import make_user
from tests.review.helpers import case_in_review, decide_in_full
from tests.test_migrations import empty_database, restore_shared_schema


def revision() -> str:
    return str(db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one())


def test_the_downgrade_keeps_a_no_records_decision_by_refusing(backend, tmp_path, instance):
    url = empty_database(backend, tmp_path, "no_records.db")
    app = create_app(base_settings(instance, url))
    try:
        with app.app_context():
            upgrade()
            reference = case_in_review(logged_by=make_user("intake"))
            case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
            decision = decide_in_full(db.session.get(User, make_user("reviewer").id), case, "no_records")
            assert decision.outcome is Outcome.NO_RECORDS
            db.session.commit()

            # Alembic's own command: Flask-Migrate's would log the error and exit.
            downgrade(revision="0010")  # later revisions step down freely; 0010's own step is the one tested
            config = app.extensions["migrate"].migrate.get_config()
            with pytest.raises(RuntimeError, match=r"holds 1 'no records held' decision\(s\), which revision 0009"):
                command.downgrade(config, "0009")
            db.session.rollback()
            assert revision() == "0010"
            outcomes = db.session.execute(sa.text("SELECT outcome, text FROM review_decision")).all()
            assert [tuple(row) for row in outcomes] == [("no_records", "Reasons given.")]
            db.engine.dispose()
    finally:
        restore_shared_schema(backend, url, app)


def test_down_and_up_again_without_one(backend, tmp_path, instance):
    url = empty_database(backend, tmp_path, "no_records_round_trip.db")
    app = create_app(base_settings(instance, url))
    try:
        with app.app_context():
            upgrade()
            reference = case_in_review(logged_by=make_user("intake"))
            case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
            decide_in_full(db.session.get(User, make_user("reviewer").id), case, "rejected")
            db.session.commit()

            downgrade(revision="0009")
            connection = db.session.connection()
            with pytest.raises(DBAPIError), connection.begin_nested():
                connection.execute(sa.text("UPDATE review_decision SET text = 'changed'"))  # still append-only
            insert = sa.text(
                "INSERT INTO review_decision (review_id, case_id, outcome, decided_by_id, decided_at, reason_codes, "
                "text, policy_sha256, engine, checklist, grounds, counsel_note) SELECT review_id + 1000, case_id, "
                ":outcome, decided_by_id, decided_at, '[]', 'Searched.', policy_sha256, engine, checklist, grounds, "
                "counsel_note FROM review_decision"
            )
            with pytest.raises(DBAPIError, match="known_outcome"), connection.begin_nested():
                connection.execute(insert, {"outcome": "no_records"})
            db.session.commit()

            upgrade(revision="0010")
            assert revision() == "0010"
            connection = db.session.connection()
            with pytest.raises(DBAPIError), connection.begin_nested():
                connection.execute(sa.text("DELETE FROM review_decision"))  # append-only again after batch mode
            with pytest.raises(DBAPIError, match="no_records_says_what_was_searched"), connection.begin_nested():
                connection.execute(
                    sa.text(insert.text.replace("'Searched.'", "''")),
                    {"outcome": "no_records"},
                )
            db.session.rollback()
            db.engine.dispose()
    finally:
        restore_shared_schema(backend, url, app)
