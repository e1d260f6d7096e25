"""The declarative base, column types and engine settings shared by every model.

Invariants: datetimes are stored as UTC and always read back timezone-aware; constraint names are
deterministic so Alembic migrations match the models; SQLite runs with WAL, foreign keys, a busy
timeout, synchronous=FULL and BEGIN IMMEDIATE (the audit log's append lock).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime stored as naive UTC and read back as aware UTC, identically on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: pass an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION), type_annotation_map={datetime: UTCDateTime()}
    )


SQLITE_BUSY_TIMEOUT_MS = 10_000


#: Execution option for a connection that only reads (e.g. a report's queries running side by side).
READ_ONLY = "disclosure_read_only"


def configure_sqlite(engine: Engine) -> None:
    """Apply the SQLite settings and SQLAlchemy's documented pysqlite BEGIN IMMEDIATE recipe."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, emit BEGIN, so that it can be BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Every transaction takes the write lock up front: audit appends stay serialized and a
        # read transaction never fails to upgrade to a write half-way through a request. A connection
        # opened with READ_ONLY never writes, so it reads beside a writer with a plain (deferred) BEGIN.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


#: A pooled PostgreSQL connection idle longer than this is pinged before it is handed out again.
IDLE_PING_SECONDS = 30.0


def configure_postgres(engine: Engine) -> None:
    """Ping a pooled connection before reuse only when it has sat idle: a server connection goes stale (restarts,
    idle timeouts) while unused, and pinging one in constant use would add a round trip to every request (about a
    quarter of an audit append). A dead connection is replaced: the pool retries the checkout with a new one.
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as error:  # any failure means the connection cannot be used
            raise DisconnectionError("stale connection; the pool replaces it") from error
        finally:
            if not dbapi_connection.closed and dbapi_connection.info.transaction_status != 0:
                dbapi_connection.rollback()
