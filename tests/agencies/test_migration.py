"""Migration 0026 keeps old data valid: every agency becomes a record with no aliases, unverified; a channel
verified before keeps its verifier and time, with source "unknown (before the directory)" and the "how" its audit
event recorded. Downgrading leaves the agencies and channels as they were."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from disclosure import create_app
from disclosure.extensions import db
from tests.conftest import base_settings
from tests.test_migration_stairway import event_body
from tests.test_migrations import empty_database, restore_shared_schema

AT = datetime(2026, 11, 2, 14, 5, 0)


def test_agencies_and_verified_channels_from_before_the_directory_stay_valid(backend, tmp_path, instance):
    url = empty_database(backend, tmp_path, "directory.db")
    app = create_app(base_settings(instance, url))
    try:
        with app.app_context():
            upgrade(revision="0025")
            with db.engine.begin() as connection:
                connection.execute(
                    sa.text(
                        "INSERT INTO user_account (email, name, password_hash, active, must_change_password, "
                        "demo_second_factor_exempt, created_at, password_changed_at, time_zone) VALUES "
                        "('clerk@example.org', 'Intake Clerk', 'x', true, false, false, :at, :at, 'UTC')"
                    ),
                    {"at": AT},
                )
                connection.execute(
                    sa.text("INSERT INTO agency (name, country, created_at) VALUES (:n, 'US', :at)"),
                    [{"n": "Federal  Bureau of Investigation", "at": AT}, {"n": "FBI", "at": AT}],
                )
                connection.execute(
                    sa.text(
                        "INSERT INTO agency_contact (agency_id, kind, value, verified_at, verified_by_id) VALUES "
                        "(1, 'phone', '+1 202 324 3000', :at, 1), (1, 'email', 'legal@fbi.gov', :at, 1), "
                        "(2, 'email', 'tips@fbi.gov', NULL, NULL)"
                    ),
                    {"at": AT},
                )
                body = event_body(
                    1, "agency.contact_verified", "agency:1", {"contact": 1, "how": "Called the published number"}
                )
                connection.execute(
                    sa.text(
                        "INSERT INTO audit_event (seq, ts, body, leaf_hash, chain_hash, action, actor_id, subject) "
                        "VALUES (1, :at, :body, :h, :h, 'agency.contact_verified', 1, 'agency:1')"
                    ),
                    {"at": AT, "body": body, "h": bytes(32)},
                )
            upgrade(revision="0026")
            with db.engine.connect() as connection:
                agencies = connection.execute(
                    sa.text("SELECT id, name_key, regime, parent_id, verified_at FROM agency ORDER BY id")
                ).all()
                assert [tuple(row) for row in agencies] == [
                    (1, "federal bureau of investigation", None, None, None),
                    (2, "fbi", None, None, None),
                ]
                assert connection.execute(sa.text("SELECT count(*) FROM agency_alias")).scalar_one() == 0
                contacts = connection.execute(
                    sa.text(
                        "SELECT id, verified_by_id, verified_source, verified_how, retired_at FROM agency_contact "
                        "ORDER BY id"
                    )
                ).all()
                assert [tuple(row) for row in contacts] == [
                    (1, 1, "before_directory", "Called the published number", None),
                    (2, 1, "before_directory", "Not recorded (before the directory)", None),
                    (3, None, None, None, None),
                ]
                refused = False
                try:
                    with connection.begin_nested():
                        connection.execute(sa.text("UPDATE agency_contact SET verified_source = NULL WHERE id = 1"))
                except sa.exc.IntegrityError:
                    refused = True
                assert refused, "a verified channel without a source is refused by the database"
            downgrade(revision="0025")
            with db.engine.connect() as connection:
                rows = connection.execute(sa.text("SELECT id, verified_by_id FROM agency_contact ORDER BY id")).all()
                assert [tuple(row) for row in rows] == [(1, 1), (2, 1), (3, None)]
                assert connection.execute(sa.text("SELECT count(*) FROM agency")).scalar_one() == 2
            db.engine.dispose()
    finally:
        restore_shared_schema(backend, url, app)
