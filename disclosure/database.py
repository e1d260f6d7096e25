"""The declarative base, column types and engine settings shared by every model.

Invariants: datetimes are stored as UTC and always read back timezone-aware; constraint names are
deterministic so Alembic migrations match the models; SQLite runs with WAL, foreign keys, a busy
timeout, synchronous=FULL and BEGIN IMMEDIATE (the audit log's append lock) for every transaction that may write, while
a request that only reads (GET) begins deferred and waits for no writer; a connection found dead is invalidated,
never handed out again.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
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
#: Execution option for a transaction opened to write now (BEGIN IMMEDIATE even where reads begin deferred).
WRITE = "disclosure_write"

#: Set while a request reads (GET, HEAD): its transactions begin deferred, so that a page waits for no writer.
_reads_deferred: ContextVar[bool] = ContextVar("disclosure_reads_deferred", default=False)


@contextmanager
def reads_deferred() -> Iterator[None]:
    """Transactions begun inside begin deferred (SQLite), unless opened with WRITE: for requests that only read."""
    token = _reads_deferred.set(True)
    try:
        yield
    finally:
        _reads_deferred.reset(token)


def reading_deferred() -> bool:
    """Whether transactions begun now begin deferred (a reading request), so a write belongs in its own short one."""
    return _reads_deferred.get()


def is_busy(error: BaseException) -> bool:
    """Whether the error is SQLite's "database is locked" (the busy timeout ran out waiting for the write lock)."""
    original = getattr(error, "orig", error)
    text = str(original).lower()
    return type(original).__module__.startswith("sqlite3") and ("locked" in text or "busy" in text)


def make_private(database: str | None) -> None:
    """Create the SQLite file 0600 before SQLite does (it would use the umask, usually giving 0644), and take group
    and other access away from a file (and its -wal, -shm and -journal, which SQLite creates with the main file's
    mode) made earlier. The database holds warrants and customer data: only the app's own user may read it."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError:
        return  # no such folder, say: SQLite's own error says it better
    for name in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
        try:
            mode = name.stat().st_mode
            if mode & 0o077:
                name.chmod(stat.S_IMODE(mode) & 0o700)
        except OSError:
            continue  # absent, or not ours to change


def configure_sqlite(engine: Engine) -> None:
    """Apply the SQLite settings and SQLAlchemy's documented pysqlite BEGIN IMMEDIATE recipe."""

    @event.listens_for(engine, "do_connect")
    def _private_file(_dialect: Any, _record: Any, _args: Any, _params: Any) -> None:
        make_private(engine.url.database)

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
        # A transaction that may write takes the write lock up front: audit appends stay serialized and a
        # read transaction never fails to upgrade to a write half-way through a request. A connection
        # opened with READ_ONLY never writes, and a reading request (GET) writes, if at all, in a short
        # transaction of its own opened with WRITE: both read beside a writer with a plain (deferred) BEGIN.
        options = connection.get_execution_options()
        deferred = options.get(READ_ONLY, False) or (_reads_deferred.get() and not options.get(WRITE, False))
        connection.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")


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
