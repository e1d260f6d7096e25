"""The declarative base, column types and engine settings shared by every model.

Invariants: datetimes are stored as UTC and always read back timezone-aware; constraint names are
deterministic so Alembic migrations match the models; SQLite runs with WAL, foreign keys, a busy
timeout, synchronous=FULL and BEGIN IMMEDIATE (the audit log's append lock); a connection found dead is invalidated,
never handed out again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, DateTime, MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
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


def execute_on_driver(connection: Connection, sql: str, parameters: tuple[Any, ...] = ()) -> Any:
    """Run DBAPI SQL on the connection's own driver connection, inside its transaction, for the hottest paths
    (the audit append) where SQLAlchemy's per-statement machinery costs more than the statement.

    What SQLAlchemy would do on an error is kept: the error comes out as SQLAlchemy's (its parameters hidden as
    the engine says), and a lost connection is invalidated, so that the rollback which follows does not fail on
    it and the pool never hands it out again.
    """
    dialect = connection.dialect
    dbapi_error = dialect.loaded_dbapi.Error
    driver = connection.connection.driver_connection
    if driver is None:
        raise RuntimeError("the connection to the database is closed")
    try:
        return driver.execute(sql, parameters)
    except dbapi_error as error:
        lost = dialect.is_disconnect(error, connection.connection, None)
        if lost:
            connection.invalidate(error)
        raise DBAPIError.instance(
            sql,
            parameters,
            error,
            dbapi_error,
            hide_parameters=connection.engine.hide_parameters,
            connection_invalidated=lost,
            dialect=dialect,
        ) from error

