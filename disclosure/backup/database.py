"""The database part of a backup: a consistent snapshot and its restore, on SQLite and on PostgreSQL.

PostgreSQL: `pg_dump -Fc` reads a snapshot exported from a REPEATABLE READ transaction, and the caller's
`inspect` runs in that same transaction, so what it reads (the audit log's size and root, the blob names rows
point at) describes exactly what was dumped. `pg_restore --clean --if-exists --single-transaction` restores it
all or nothing. The password travels in PGPASSWORD, never on a command line.
SQLite: the online backup API in one step, so the copy is the database as it was when the step began, WAL
content included (a plain copy of the file misses what is still in the WAL); the copy is switched to a rollback
journal, one self-contained file. It is restored with the same API into the configured file.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection, Engine, create_engine, inspect, literal, select, table, text
from sqlalchemy.engine import URL

from disclosure.cases.search import FTS_TABLE
from disclosure.database import READ_ONLY

T = TypeVar("T")

SQLITE_FILE = "database.sqlite3"
POSTGRES_FILE = "database.pgdump"
#: Milliseconds the SQLite backup waits for a writer's lock before it gives up.
SQLITE_BUSY_MS = 30_000
#: Tables that a freshly migrated, empty database already fills (and, below, SQLite's full-text index tables).
BOOKKEEPING = {"alembic_version"}


class DatabaseBackupError(RuntimeError):
    """The snapshot or the restore failed; the message says why (pg_dump's or pg_restore's own words included)."""


def part_name(dialect: str) -> str:
    return SQLITE_FILE if dialect == "sqlite" else POSTGRES_FILE


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise DatabaseBackupError(f"cannot back up or restore the SQLite database {engine.url!r}: give it as a file")
    return Path(database)


def libpq_target(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq connection string without the password, and the environment that carries the password."""

    def quoted(value: object) -> str:
        return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"

    fields: dict[str, object] = {}
    for key, value in (("host", url.host), ("port", url.port), ("user", url.username), ("dbname", url.database)):
        if value not in (None, ""):
            fields[key] = value
    for key, given in url.query.items():
        fields[key] = given[-1] if isinstance(given, tuple) else given
    environment = dict(os.environ)
    environment.pop("PGPASSWORD", None)
    if url.password:
        environment["PGPASSWORD"] = str(url.password)
    return " ".join(f"{key}={quoted(value)}" for key, value in fields.items()), environment


def _run(command: list[str], environment: dict[str, str], what: str) -> None:
    program = shutil.which(command[0])
    if program is None:
        raise DatabaseBackupError(f"{command[0]} is not installed (needed to {what}); install the PostgreSQL client")
    completed = subprocess.run(  # noqa: S603 - a fixed program; arguments are paths and a connection string
        [program, *command[1:]], env=environment, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        detail = " ".join(completed.stderr.split())[:2000] or f"exit status {completed.returncode}"
        raise DatabaseBackupError(f"{command[0]} failed to {what}: {detail}")


def snapshot(engine: Engine, out: Path, inspect_snapshot: Callable[[Connection], T]) -> T:
    """Write the database to out and return inspect_snapshot(connection) of exactly what was written."""
    if engine.dialect.name == "postgresql":
        return _postgres_snapshot(engine, out, inspect_snapshot)
    if engine.dialect.name == "sqlite":
        return _sqlite_snapshot(engine, out, inspect_snapshot)
    raise DatabaseBackupError(f"backups support SQLite and PostgreSQL, not {engine.dialect.name}")


def _postgres_snapshot(engine: Engine, out: Path, inspect_snapshot: Callable[[Connection], T]) -> T:
    target, environment = libpq_target(engine.url)
    with engine.connect() as connection, connection.begin() as transaction:
        connection.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        exported = str(connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())
        _run(
            ["pg_dump", "--format=custom", f"--snapshot={exported}", "--no-password", f"--file={out}", target],
            environment,
            "dump the database",
        )
        result = inspect_snapshot(connection)
        transaction.rollback()  # nothing was written; ending it releases the snapshot
    return result


def _sqlite_snapshot(engine: Engine, out: Path, inspect_snapshot: Callable[[Connection], T]) -> T:
    source_path = _sqlite_path(engine)
    if not source_path.is_file():
        raise DatabaseBackupError(f"the SQLite database {source_path} does not exist")
    with (
        closing(sqlite3.connect(source_path, timeout=SQLITE_BUSY_MS / 1000)) as source,
        closing(sqlite3.connect(out)) as copy,
    ):
        source.backup(copy)  # pages=-1: one step, one read transaction: a snapshot, WAL included
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    reader = create_engine(f"sqlite:///file:{out}?mode=ro&uri=true")
    try:
        with reader.connect() as connection:
            return inspect_snapshot(connection)
    finally:
        reader.dispose()


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection that only reads: on SQLite a deferred BEGIN, which never waits for a writer's lock."""
    with engine.connect() as connection:
        connection.execution_options(**{READ_ONLY: True})
        yield connection


def holdings(engine: Engine) -> list[str]:
    """The tables that hold rows (the audit head counts only when it records events); empty for a new database."""
    if engine.dialect.name == "sqlite" and not _sqlite_path(engine).exists():
        return []
    found = []
    with reading(engine) as connection:
        for name in sorted(inspect(connection).get_table_names()):
            if name in BOOKKEEPING or name.startswith(FTS_TABLE):
                continue  # bookkeeping, or the search index's own tables (FTS5 keeps its settings in one)
            if name == "audit_head":
                size = connection.execute(text("SELECT max(size) FROM audit_head")).scalar()
                if size:
                    found.append(f"audit_head ({size} events)")
                continue
            if connection.execute(select(literal(1)).select_from(table(name)).limit(1)).first() is not None:
                found.append(name)
    return found


def restore(engine: Engine, part: Path) -> None:
    """Replace the configured database's content with the part's; the engine's pooled connections are closed first."""
    engine.dispose()
    if engine.dialect.name == "postgresql":
        target, environment = libpq_target(engine.url)
        _run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--single-transaction",
                "--no-owner",
                "--no-password",
                f"--dbname={target}",
                str(part),
            ],
            environment,
            "restore the database (nothing was changed: it runs as one transaction)",
        )
        return
    target_path = _sqlite_path(engine)
    target_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        with (
            closing(sqlite3.connect(f"{part.resolve().as_uri()}?mode=ro", uri=True)) as source,
            closing(sqlite3.connect(target_path, timeout=SQLITE_BUSY_MS / 1000)) as database,
        ):
            source.backup(database)
            database.execute("PRAGMA journal_mode=WAL")  # as the app runs it (disclosure.database)
            check = database.execute("PRAGMA quick_check").fetchone()
    except sqlite3.Error as error:
        raise DatabaseBackupError(f"the SQLite restore into {target_path} failed: {error}") from error
    if check is None or check[0] != "ok":
        raise DatabaseBackupError(f"the restored SQLite database {target_path} fails its quick check: {check}")


def migration_revision(connection: Connection) -> str | None:
    """The Alembic revision the database is at; None when it was never migrated (e.g. built from the models)."""
    if "alembic_version" not in inspect(connection).get_table_names():
        return None
    found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
    revisions = sorted(str(value) for value in found)
    return ",".join(revisions) or None
