"""Pooled PostgreSQL connections: a connection that died while idle (server restart, idle timeout) is replaced
before a request gets it (the pool pings it at checkout: pool_pre_ping)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from disclosure.extensions import db


@pytest.mark.backends("postgresql")
def test_a_connection_that_died_while_idle_is_replaced(app, backend):
    with app.app_context():
        with db.engine.connect() as connection:
            dead = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        # The pooled connection is now idle; a server restart (here: its backend terminated) kills it.
        admin = sa.create_engine(db.engine.url, poolclass=sa.pool.NullPool)
        with admin.connect() as connection:
            assert connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": dead}).scalar_one()
        admin.dispose()
        with db.engine.connect() as connection:
            alive = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        assert alive != dead

