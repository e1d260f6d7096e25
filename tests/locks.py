"""What every audited write does first, tried from another connection that will not wait: for the tests that hold
long work to taking no lock (SQLite's single write lock; PostgreSQL's audit head row)."""

from __future__ import annotations

import sqlalchemy as sa


def write_now(url: str, backend: str) -> None:
    """Take the write lock (SQLite) or the audit head's row lock (PostgreSQL) at once, or fail."""
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
