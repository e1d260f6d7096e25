"""Concurrent writers: appends are serialized by the head row, so seq stays gapless and the log verifies.

PostgreSQL (SELECT ... FOR UPDATE): 8 threads x 250 appends, each its own transaction. SQLite (BEGIN
IMMEDIATE): 4 x 100. These tests build their own app instead of the parametrized `app` fixture so that each
backend runs exactly the workload meant for it; the PostgreSQL one uses a database of its own, so a wipe by
another test session on the shared test database cannot interleave with it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import select

from disclosure import create_app
from disclosure.audit.actions import AuditAction
from disclosure.audit.models import AuditCheckpoint, AuditEvent
from disclosure.audit.service import checkpoint_file_name, record
from disclosure.audit.verify import verify_log
from disclosure.extensions import db
from disclosure.keyring import init_log_key, log_key_name, log_public_key
from disclosure.services import SystemActor
from tests.conftest import POSTGRES_ADMIN_URL, POSTGRES_TEST_DB, base_settings, require_postgres

# Beside the suite's own test database, and named after it, so that runs kept apart by DISCLOSURE_TEST_PG_DB
# stay apart here too.
CONCURRENCY_DB = f"{POSTGRES_TEST_DB}_audit_concurrency"
CHECKPOINT_EVERY = 100


def build_app(instance: Path, url: str) -> Flask:
    for name in ("keys", "checkpoints"):
        (instance / name).mkdir(parents=True, exist_ok=True)
    settings = base_settings(instance, url) | {"AUDIT_CHECKPOINT_EVERY": CHECKPOINT_EVERY}
    application = create_app(settings)
    with application.app_context():
        db.create_all()
        init_log_key()
    return application


@pytest.fixture
def postgres_app(tmp_path: Path) -> Iterator[Flask]:
    require_postgres()
    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if not connection.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": CONCURRENCY_DB}
        ).first():
            connection.execute(sa.text(f'CREATE DATABASE "{CONCURRENCY_DB}"'))
    admin.dispose()
    url = sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=CONCURRENCY_DB).render_as_string(hide_password=False)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    application = build_app(tmp_path / "instance", url)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[Flask]:
    application = build_app(tmp_path / "instance", f"sqlite:///{tmp_path / 'concurrency.db'}")
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def hammer(app: Flask, writers: int, appends: int) -> None:
    """Start all writers at once; each appends in its own app context and commits every event on its own."""
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            barrier.wait()
            for index in range(appends):
                with app.app_context():
                    record(
                        SystemActor(f"writer-{writer}"),
                        AuditAction.AUDIT_VERIFIED,
                        subject=f"writer:{writer}",
                        data={"index": index},
                    )
                    db.session.commit()
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    assert not errors, f"{len(errors)} writers failed, first: {errors[0]!r}"


def assert_gapless_and_verified(app: Flask, writers: int, appends: int) -> None:
    total = writers * appends
    with app.app_context():
        rows = db.session.execute(select(AuditEvent.seq, AuditEvent.subject).order_by(AuditEvent.seq)).all()
        checkpoints = db.session.execute(select(AuditCheckpoint.size, AuditCheckpoint.reason)).all()
        with db.engine.connect() as connection:
            result = verify_log(connection, log_public_key(), log_key_name(), app.config["AUDIT_ORIGIN"])
    assert [seq for seq, _ in rows] == list(range(1, total + 1))
    for writer in range(writers):
        assert sum(subject == f"writer:{writer}" for _, subject in rows) == appends
    assert result.intact, result.summary()
    assert result.size == total
    # Every count checkpoint was signed exactly once, and its note reached the checkpoint folder.
    assert sorted(size for size, reason in checkpoints if reason == "count") == list(
        range(CHECKPOINT_EVERY, total + 1, CHECKPOINT_EVERY)
    )
    assert result.checkpoints_checked == len(checkpoints)
    folder = Path(app.config["AUDIT_CHECKPOINT_DIR"])
    assert {path.name for path in folder.iterdir()} == {checkpoint_file_name(size) for size, _ in checkpoints}


@pytest.mark.postgres
def test_eight_postgres_writers_append_2000_gapless_events(postgres_app: Flask) -> None:
    hammer(postgres_app, writers=8, appends=250)
    assert_gapless_and_verified(postgres_app, writers=8, appends=250)


def test_four_sqlite_writers_append_400_gapless_events(sqlite_app: Flask) -> None:
    hammer(sqlite_app, writers=4, appends=100)
    assert_gapless_and_verified(sqlite_app, writers=4, appends=100)


def verify_while_appending(app: Flask, rounds: int) -> list[str]:
    """Verify repeatedly while a writer keeps committing; return every summary that was not intact."""
    with app.app_context():
        for index in range(1500):  # a log long enough that each scan overlaps several commits
            record(SystemActor("seed"), AuditAction.AUDIT_VERIFIED, subject="seed", data={"index": index})
        db.session.commit()
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            while not stop.is_set():
                with app.app_context():
                    record(SystemActor("writer"), AuditAction.AUDIT_VERIFIED, subject="writer")
                    db.session.commit()
        except BaseException as error:  # reported by the main thread
            errors.append(error)

    writer = threading.Thread(target=write)
    writer.start()
    problems, sizes = [], []
    try:
        with app.app_context():
            key, name, origin = log_public_key(), log_key_name(), app.config["AUDIT_ORIGIN"]
            for _ in range(rounds):
                with db.engine.connect() as connection:
                    result = verify_log(connection, key, name, origin)
                sizes.append(result.size)
                if not result.intact:
                    problems.append(result.summary())
    finally:
        stop.set()
        writer.join(timeout=60)
    assert not errors, repr(errors[0])
    assert len(set(sizes)) > 1, "the writer never committed during verification: the test proved nothing"
    return problems


@pytest.mark.postgres
def test_postgres_verification_during_appends_reads_one_snapshot(postgres_app: Flask) -> None:
    # Under READ COMMITTED the head, read after the events, would be ahead of them: a false "tail truncated".
    assert verify_while_appending(postgres_app, rounds=15) == []


def test_sqlite_verification_during_appends_reads_one_snapshot(sqlite_app: Flask) -> None:
    assert verify_while_appending(sqlite_app, rounds=15) == []
