"""`flask db upgrade` builds exactly the schema the models declare, audit triggers included, on both databases."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from disclosure import create_app
from disclosure.audit.ddl import expected_trigger_names
from disclosure.cases import search
from disclosure.extensions import db
from tests.conftest import base_settings, require_postgres, wipe_postgres


def trigger_names(connection: sa.Connection) -> set[str]:
    if connection.dialect.name == "postgresql":
        query = "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    return set(connection.execute(sa.text(query)).scalars())


def check_constraints(connection: sa.Connection) -> dict[str, set[tuple[str, str]]]:
    inspector = sa.inspect(connection)
    return {
        table: {(c["name"], " ".join(str(c["sqltext"]).split())) for c in inspector.get_check_constraints(table)}
        for table in inspector.get_table_names()
        if table != "alembic_version"
    }


def empty_database(backend: str, tmp_path, name: str) -> str:
    """A database with no schema at all: the shared PostgreSQL test database emptied, or a new SQLite file."""
    if backend != "postgresql":
        return f"sqlite:///{tmp_path / name}"
    require_postgres()
    from tests.conftest import _postgres_url

    url = _postgres_url()
    drop_schema(url)
    return url


def drop_schema(url: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def restore_shared_schema(backend: str, url: str, app) -> None:
    """Leave the shared PostgreSQL test database as the other tests expect it: the metadata's schema."""
    if backend != "postgresql":
        return
    drop_schema(url)
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    wipe_postgres(url)


def test_upgrade_matches_models(backend, tmp_path, instance):
    url = empty_database(backend, tmp_path, "migrated.db")
    app = create_app(base_settings(instance, url))
    try:
        with app.app_context():
            upgrade()
            with db.engine.connect() as connection:
                context = MigrationContext.configure(
                    connection, opts={"compare_type": True, "include_name": search.include_name}
                )
                differences = compare_metadata(context, db.metadata)
                assert differences == []
                assert trigger_names(connection) == expected_trigger_names(connection.dialect.name)
                migrated_checks = check_constraints(connection)
                head = connection.execute(sa.text("SELECT id, size FROM audit_head")).all()
                assert [tuple(row) for row in head] == [(1, 0)]
            db.engine.dispose()
        # Alembic's comparison ignores CHECK constraints: compare them with a schema built from the models.
        declared_url = empty_database(backend, tmp_path, "declared.db")
        declared = create_app(base_settings(instance, declared_url))
        with declared.app_context():
            db.create_all()
            with db.engine.connect() as connection:
                assert check_constraints(connection) == migrated_checks
            db.engine.dispose()
    finally:
        restore_shared_schema(backend, url, app)


def test_upgrade_fills_the_case_log_state_from_an_existing_log(backend, tmp_path, instance):
    """A database from before revision 0006 gets each case's state folded from its events, as the app writes it."""
    from flask_migrate import downgrade

    from disclosure.reports.case_log import check, stored_rows
    from tests.reports.helpers import Staff, build

    url = empty_database(backend, tmp_path, "backfilled.db")
    app = create_app(base_settings(instance, url))
    try:
        with app.app_context():
            from disclosure.storage.keys import keyring_for_config

            keyring_for_config(app.config).init()
            upgrade()
            staff = Staff()
            for scenario in ("content", "rejected_closed", "no_data", "withdrawn"):
                build(staff, scenario)
            written = list(stored_rows(db.session.connection()))
            db.session.commit()
            downgrade(revision="0005")
            upgrade()
            backfilled = list(stored_rows(db.session.connection()))
            assert len(written) >= 12 and backfilled == written
            assert check(db.session.connection()) == (len(written), None)
            db.session.rollback()
            db.engine.dispose()
    finally:
        restore_shared_schema(backend, url, app)
