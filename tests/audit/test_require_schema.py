"""Commands check the schema without holding the audit log's head.

Observed (soak benchmark): during a 1 GiB `flask production add` no audited write anywhere committed for about 5 s:
the command's schema check had locked the head row (SELECT … FOR UPDATE) and kept the lock while it encrypted.
"""

from __future__ import annotations

import click
import pytest

from disclosure.audit.service import require_schema
from disclosure.extensions import db
from tests.locks import write_now


def test_the_schema_check_leaves_no_lock_behind(app, backend):
    with app.app_context():
        require_schema()
        assert not db.session().in_transaction()
        write_now(app.config["SQLALCHEMY_DATABASE_URI"], backend)


@pytest.mark.backends("sqlite")
def test_the_schema_check_still_says_to_upgrade_an_empty_database(app):
    with app.app_context():
        db.drop_all()
        with pytest.raises(click.ClickException, match="run `flask db upgrade` first"):
            require_schema()
