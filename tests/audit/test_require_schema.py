"""Commands check the schema without holding the audit log's head.

Observed (soak benchmark): during a 1 GiB `flask production add` no audited write anywhere committed for about 5 s:
the command's schema check had locked the head row (SELECT … FOR UPDATE) and kept the lock while it encrypted.
"""

from __future__ import annotations

import click
import pytest
import sqlalchemy as sa

from disclosure.audit.service import require_schema
from disclosure.extensions import db


def lock_head_elsewhere(url: str, backend: str) -> None:
    """What every audited write does first, from another connection, unwilling to wait."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            if backend == "sqlite":
                connection.exec_driver_sql("PRAGMA busy_timeout = 0")
                connection.exec_driver_sql("BEGIN IMMEDIATE")
                connection.exec_driver_sql("ROLLBACK")
            else:
                with connection.begin():
                    connection.exec_driver_sql("SET LOCAL lock_timeout = '200ms'")
                    connection.exec_driver_sql("SELECT size FROM audit_head WHERE id = 1 FOR UPDATE")
    finally:
        engine.dispose()


def test_the_schema_check_leaves_no_lock_behind(app, backend):
    with app.app_context():
        require_schema()
        assert not db.session().in_transaction()
        lock_head_elsewhere(app.config["SQLALCHEMY_DATABASE_URI"], backend)


@pytest.mark.backends("sqlite")
def test_the_schema_check_still_says_to_upgrade_an_empty_database(app):
    with app.app_context():
        db.drop_all()
        with pytest.raises(click.ClickException, match="run `flask db upgrade` first"):
            require_schema()
