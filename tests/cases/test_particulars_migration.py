"""Migration 0011 widens the case's process types and issuing authorities and adds the request's particulars.

A case of a new process type cannot be stored at 0010, so the downgrade refuses and leaves it as it was. Cases of the
first shape survive the round trip, with their targets, categories and non-disclosure order (on SQLite the table is
rebuilt while other tables point at it).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from flask_migrate import downgrade, upgrade
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from disclosure import create_app
from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.policy.vocabulary import Agreement, AuthorityKind
from disclosure.review.service import request_of
from tests.conftest import base_settings
from tests.factories import make_case
from tests.test_migrations import empty_database, restore_shared_schema

UK_ORDER = {
    "process_type": "agreement_order",
    "jurisdiction": {"regime": "uk", "country": "GB", "region": None},
    "issuing_authority": {
        "kind": "police",
        "name": "Metropolitan Police",
        "validated_by": {"kind": "judge", "name": "HHJ Example, Southwark Crown Court"},
    },
    "agency": {"name": "Metropolitan Police Service", "country": "GB"},
    "agreement": "us_uk",
    "valid_until": None,
    "non_disclosure_order": None,
}


def revision() -> str:
    return str(db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one())


def test_a_case_of_a_new_process_type_keeps_its_particulars_and_blocks_the_downgrade(backend, tmp_path, instance):
    url = empty_database(backend, tmp_path, "particulars.db")
    app = create_app(base_settings(instance, url))
    try:
        with app.app_context():
            upgrade()
            reference = make_case(**UK_ORDER).reference
            db.session.expire_all()
            case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
            request = request_of(case)
            assert request.agreement is Agreement.US_UK
            assert request.issuing_authority.validated_by is not None
            assert request.issuing_authority.validated_by.kind is AuthorityKind.JUDGE
            db.session.rollback()  # end the read, so that the migration may take the database

            downgrade(revision="0011")  # later revisions step down freely; 0011's own step is the one tested
            config = app.extensions["migrate"].migrate.get_config()
            with pytest.raises(RuntimeError, match=r"holds 1 case\(s\) of a process type or issuing authority"):
                command.downgrade(config, "0010")
            db.session.rollback()
            assert revision() == "0011"
            row = db.session.execute(sa.text("SELECT process_type, particulars FROM case_file")).one()
            assert row[0] == "agreement_order" and row[1] is not None
            db.engine.dispose()
    finally:
        restore_shared_schema(backend, url, app)


def test_first_shape_cases_go_down_and_up_again_whole(backend, tmp_path, instance):
    url = empty_database(backend, tmp_path, "particulars_round_trip.db")
    app = create_app(base_settings(instance, url))
    try:
        with app.app_context():
            upgrade()
            reference = make_case().reference
            db.session.rollback()
            downgrade(revision="0010")
            connection = db.session.connection()
            insert = sa.text(
                "INSERT INTO case_file (reference, process_type, regime, country, authority_kind, authority_name, "
                "agency_id, received_at, received_via, due_at, due_explanation, emergency, timezone, summary, state, "
                "created_by_id, created_at, updated_at, version_id) SELECT 'DR-X', :process, regime, country, "
                "authority_kind, authority_name, agency_id, received_at, received_via, due_at, due_explanation, "
                "emergency, timezone, summary, state, created_by_id, created_at, updated_at, 1 FROM case_file"
            )
            with pytest.raises(DBAPIError, match="known_process"), connection.begin_nested():
                connection.execute(insert, {"process": "civil_subpoena"})
            db.session.commit()
            upgrade()
            db.session.expire_all()
            case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
            assert [t.value for t in case.targets] == ["user@example.net"]
            assert [c.value for c in case.categories] == ["subscriber_basic", "stored_content"]
            assert case.gag_order is not None and case.particulars is None
            assert request_of(case).offence is None
            db.engine.dispose()
    finally:
        restore_shared_schema(backend, url, app)
