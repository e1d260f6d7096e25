"""Files follow the database: what killed and failed writers leave is found by `flask storage verify` and removed by
`flask storage reconcile`, with an audit event for each removal, and nothing a committed row names is ever touched.

The situations are made for real: `flask` commands in a child process SIGKILLed at a chosen moment
(tests/storage/crash_app.py), a PostgreSQL connection terminated in the middle of an upload, a blob writer killed
mid-write, a blob file deleted by hand. A grace period of 0 stands for "an hour later".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy import func, select

from disclosure.audit.actions import AuditAction
from disclosure.audit.models import AuditEvent
from disclosure.auth.models import User
from disclosure.cases.models import Case
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.production import bundles, service
from disclosure.production.models import Bundle, ProductionRecord
from disclosure.storage.models import FileArea, PendingFile
from disclosure.storage.reconcile import Kind, reconcile
from disclosure.storage.store import BlobStore, store_for_app
from disclosure.storage.transactional import FileRemovedMeanwhile, staged_file
from tests.conftest import base_settings
from tests.factories import make_user
from tests.production.helpers import approved_case
from tests.storage.test_crash import PROJECT, kill_when_ready
from tests.storage.test_crash import start as start_writer

GRACE = "STORAGE_RECONCILE_GRACE"
MAIL = b"From: a@example.net\nSubject: evidence\n\nMeet at noon.\n" * 50


# -- set-up ----------------------------------------------------------------------------------------------------


def store_of(app: Flask) -> BlobStore:
    return store_for_app(app.config, app.instance_path)


def bundle_folder(app: Flask) -> Path:
    return Path(app.instance_path) / "bundles"


def files_in(folder: Path) -> list[str]:
    """Every file and folder below `folder`, as relative paths (the store's empty .tmp and shard folders left out)."""
    if not folder.exists():
        return []
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() or (p.is_dir() and p.name.startswith(".extract-"))
    )


def producing_case(app: Flask) -> tuple[str, str]:
    """(reference, producer's email) of an approved case holding one committed production record."""
    with app.app_context():
        reference = approved_case(("stored_content",))
        producer = make_user("producer")
        actor = db.session.get(User, producer.id)
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        service.add_record(actor, case, "user@example.net", "stored_content", [MAIL], "mailbox.mbox", None)
        db.session.commit()
    return reference, producer.email


def build_bundle(app: Flask, reference: str, email: str) -> str:
    with app.app_context():
        actor = db.session.execute(select(User).where(User.email == email)).scalar_one()
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        bundle, _ = bundles.build_case_bundle(actor, case, [], True, None)
        db.session.commit()
        return f"{bundle.public_id}.zip"


def kill_at(app: Flask, tmp_path: Path, moment: str, *command: str) -> None:
    """Run `flask COMMAND` in a child process on the same instance and database; SIGKILL it at `moment`."""
    settings = tmp_path / "child-settings.json"
    settings.write_text(json.dumps(base_settings(Path(app.instance_path), app.config["SQLALCHEMY_DATABASE_URI"])))
    ready = tmp_path / f"ready-{moment}"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.storage.crash_app", str(settings), str(ready), moment, "--", *command],
        cwd=PROJECT,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    kill_when_ready(process, ready)


def run(app: Flask, *args: str, grace: float | None = None) -> Any:
    if grace is not None:
        app.config[GRACE] = grace
    try:
        return app.test_cli_runner().invoke(args=["storage", *args])
    finally:
        app.config.pop(GRACE, None)


def pending_rows(app: Flask) -> list[tuple[str, str, str]]:
    with app.app_context():
        rows = db.session.execute(select(PendingFile.area, PendingFile.name, PendingFile.owner)).all()
        db.session.rollback()
    return [tuple(row) for row in rows]


def removal_events(app: Flask) -> list[dict[str, Any]]:
    with app.app_context():
        bodies = db.session.execute(
            select(AuditEvent.body).where(AuditEvent.action == str(AuditAction.STORAGE_FILE_REMOVED))
        ).scalars()
        events = [json.loads(body) for body in bodies]
        db.session.rollback()
    return events


def count(app: Flask, model: Any) -> int:
    with app.app_context():
        number = db.session.execute(select(func.count()).select_from(model)).scalar_one()
        db.session.rollback()
    return int(number)


def reconciled_cleanly(app: Flask, kinds: set[str]) -> list[dict[str, Any]]:
    """Reconcile with no grace: each finding removed (exit 0), then nothing left to find; the removal events."""
    result = run(app, "reconcile", grace=0)
    assert result.exit_code == 0, result.output
    events = removal_events(app)
    assert {event["data"]["finding"] for event in events} == kinds, result.output
    assert all(event["actor"] == {"kind": "system", "name": "flask storage reconcile"} for event in events)
    again = run(app, "reconcile", grace=0)
    assert again.exit_code == 0 and "nothing to reconcile" in again.output, again.output
    assert removal_events(app) == events
    assert pending_rows(app) == []
    return events


# -- what a committed write leaves: nothing to find ------------------------------------------------------------


def test_committed_documents_records_and_bundles_leave_no_pending_rows_and_are_never_removed(app):
    reference, email = producing_case(app)
    bundle_file = build_bundle(app, reference, email)
    blobs, bundle_files = files_in(store_of(app).root), files_in(bundle_folder(app))
    assert len(blobs) == 1 and bundle_files == [bundle_file]
    assert pending_rows(app) == []

    result = run(app, "reconcile", grace=0)
    assert result.exit_code == 0, result.output
    assert "nothing to reconcile: every file matches the database" in result.output
    assert (files_in(store_of(app).root), files_in(bundle_folder(app))) == (blobs, bundle_files)
    assert removal_events(app) == []
    verified = run(app, "verify")
    assert verified.exit_code == 0, verified.output


def test_a_refused_write_leaves_neither_file_nor_pending_row(app):
    reference, email = producing_case(app)
    before = files_in(store_of(app).root)
    with app.app_context():
        actor = db.session.execute(select(User).where(User.email == email)).scalar_one()
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        service.add_record(actor, case, "user@example.net", "stored_content", [MAIL], "second.mbox", None)
        assert len(files_in(store_of(app).root)) == 2
        db.session.rollback()
    assert files_in(store_of(app).root) == before
    assert pending_rows(app) == []
    assert count(app, ProductionRecord) == 1


# -- killed writers --------------------------------------------------------------------------------------------


def test_an_upload_killed_after_its_blob_was_written_is_removed(app, backend, tmp_path):
    reference, email = producing_case(app)
    committed = files_in(store_of(app).root)
    upload = tmp_path / "mailbox-2.mbox"
    upload.write_bytes(MAIL)
    kill_at(
        app, tmp_path, "after-blob",
        "production", "add", reference, str(upload), "--target", "user@example.net",
        "--category", "stored_content", "--as", email,
    )  # fmt: skip
    left = sorted(set(files_in(store_of(app).root)) - set(committed))
    assert len(left) == 1 and count(app, ProductionRecord) == 1  # a complete blob that no row names
    name = Path(left[0]).name
    # PostgreSQL: staged in its own transaction, it outlived the kill. SQLite: the request held the only write lock.
    assert pending_rows(app) == ([("blob", name, "production_record")] if backend == "postgresql" else [])

    young = run(app, "reconcile")
    assert young.exit_code == 0 and "1 write(s) in progress left alone" in young.output, young.output
    assert len(files_in(store_of(app).root)) == 2

    events = reconciled_cleanly(app, {"abandoned" if backend == "postgresql" else "orphan"})
    assert [event["data"]["file"] for event in events] == [name]
    assert files_in(store_of(app).root) == committed


def test_a_bundle_killed_after_its_rename_is_removed(app, backend, tmp_path):
    reference, email = producing_case(app)
    kill_at(
        app, tmp_path, "after-rename",
        "bundle", "build", reference, "--passphrase-only", "--out", str(tmp_path / "out.zip"), "--as", email,
    )  # fmt: skip
    (left,) = files_in(bundle_folder(app))
    assert left.endswith(".zip") and count(app, Bundle) == 0  # a complete signed bundle, no row, no event
    with app.app_context():
        built = db.session.execute(select(func.count()).where(AuditEvent.action == str(AuditAction.BUNDLE_BUILT)))
        assert built.scalar_one() == 0
        db.session.rollback()

    dry = run(app, "reconcile", "--dry-run", grace=0)
    assert dry.exit_code == 1 and f"bundle {left}" in dry.output and "(would be removed)" in dry.output, dry.output
    assert files_in(bundle_folder(app)) == [left]

    # The build commits its start before writing, so on SQLite too its file was staged under a pending row.
    events = reconciled_cleanly(app, {"abandoned"})
    assert [event["data"]["file"] for event in events] == [left]
    assert files_in(bundle_folder(app)) == []


def test_a_bundle_killed_mid_write_leaves_a_partial_that_is_removed(app, backend, tmp_path):
    reference, email = producing_case(app)
    kill_at(
        app, tmp_path, "mid-bundle",
        "bundle", "build", reference, "--passphrase-only", "--out", str(tmp_path / "out.zip"), "--as", email,
    )  # fmt: skip
    (partial,) = files_in(bundle_folder(app))
    assert partial.endswith(".partial") and (bundle_folder(app) / partial).stat().st_size > len(MAIL)

    verified = run(app, "verify", grace=0)
    assert verified.exit_code == 1 and f"partial: {partial}: a bundle whose build never finished" in verified.output

    events = reconciled_cleanly(app, {"partial"})
    assert [event["data"]["file"] for event in events] == [partial]
    assert files_in(bundle_folder(app)) == []


def test_a_purge_killed_after_its_commit_is_finished(app, tmp_path):
    reference, email = producing_case(app)
    bundle_file = build_bundle(app, reference, email)
    with app.app_context():
        db.session.execute(sa.update(Bundle).values(expires_at=utcnow() - timedelta(days=1)))
        db.session.commit()
    kill_at(app, tmp_path, "before-unlink", "bundle", "purge")
    with app.app_context():
        assert db.session.execute(select(Bundle.purged_at)).scalar_one() is not None
        db.session.rollback()
    assert files_in(bundle_folder(app)) == [bundle_file]  # marked purged, still there

    verified = run(app, "verify")
    assert verified.exit_code == 1 and f"purged_present: bundle {bundle_file}" in verified.output

    events = reconciled_cleanly(app, {"purged_present"})
    assert [event["data"]["file"] for event in events] == [bundle_file]
    assert files_in(bundle_folder(app)) == []
    assert count(app, Bundle) == 1  # the row stays, as the record


def test_a_blob_writer_killed_mid_write_leaves_a_partial_that_is_removed(app, tmp_path):
    store = store_of(app)
    ready = tmp_path / "ready"
    writer = start_writer("put", str(store.root), str(store.keyring.folder), str(ready), "PLAINTEXT-MARKER")
    assert writer.stdout is not None
    finished = writer.stdout.readline().strip()  # a complete blob that no row names either
    kill_when_ready(writer, ready)
    (partial,) = store.temporary_files()

    young = run(app, "verify")
    assert young.exit_code == 0, young.output  # a minute-old partial may be a write in progress
    verified = run(app, "verify", grace=0)
    assert verified.exit_code == 1, verified.output
    assert f"partial: .tmp/{partial.name}: an encrypted file whose writer never finished" in verified.output
    assert f"orphan: encrypted file {finished}" in verified.output

    events = reconciled_cleanly(app, {"partial", "orphan"})
    assert sorted(event["data"]["file"] for event in events) == sorted([f".tmp/{partial.name}", finished])
    assert files_in(store.root) == []


# -- a lost database connection ----------------------------------------------------------------------------------


@pytest.mark.backends("postgresql")
def test_an_upload_cut_off_from_postgresql_leaves_nothing_behind(app):
    reference, email = producing_case(app)
    committed = files_in(store_of(app).root)

    def cut_off_halfway(pid: int) -> Any:
        yield MAIL
        admin = sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
        with admin.begin() as connection:
            connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.dispose()
        yield MAIL

    with app.app_context():
        actor = db.session.execute(select(User).where(User.email == email)).scalar_one()
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        pid = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with pytest.raises(sa.exc.DBAPIError):
            service.add_record(actor, case, "user@example.net", "stored_content", cut_off_halfway(pid), "x.mbox", None)
        db.session.rollback()
    assert files_in(store_of(app).root) == committed
    assert pending_rows(app) == []
    assert count(app, ProductionRecord) == 1


@pytest.mark.backends("postgresql")
def test_a_write_outlasting_the_grace_period_is_refused_rather_than_committed_without_its_file(app):
    with app.app_context():
        with (
            pytest.raises(FileRemovedMeanwhile, match="nothing was saved"),
            staged_file(FileArea.BLOB, "ab" * 16, "case_document") as target,
        ):
            # Reconcile, an hour on, removes the pending row while the file is still being written.
            with db.engine.begin() as connection:
                connection.execute(sa.delete(PendingFile))
            target.path.parent.mkdir(parents=True, exist_ok=True)
            target.path.write_bytes(b"the upload")
        db.session.rollback()
        assert not store_of(app).exists("ab" * 16)


# -- orphans and missing files -----------------------------------------------------------------------------------


def test_an_orphan_blob_is_reported_by_verify_and_removed_by_reconcile_only_when_asked(app):
    producing_case(app)
    store = store_of(app)
    committed = files_in(store.root)
    orphan = store.put([b"an upload whose row never committed"], max_bytes=100).name  # as the old code left them

    fresh = run(app, "reconcile", "--dry-run")
    assert fresh.exit_code == 0 and "1 write(s) in progress left alone" in fresh.output, fresh.output
    dry = run(app, "reconcile", "--dry-run", grace=0)
    assert dry.exit_code == 1, dry.output
    assert f"orphan: encrypted file {orphan}" in dry.output and "is named by no document or production record" in (
        dry.output
    )
    assert store.exists(orphan) and removal_events(app) == []
    verified = run(app, "verify", grace=0)
    assert verified.exit_code == 1 and f"orphan: encrypted file {orphan}" in verified.output

    events = reconciled_cleanly(app, {"orphan"})
    assert events[0]["data"]["file"] == orphan and events[0]["subject"] == "storage"
    assert files_in(store.root) == committed
    assert run(app, "verify", grace=0).exit_code == 0


def test_a_missing_blob_is_reported_for_a_person_and_nothing_is_removed(app):
    reference, _ = producing_case(app)
    store = store_of(app)
    with app.app_context():
        name = db.session.execute(select(ProductionRecord.blob_name)).scalar_one()
        db.session.rollback()
    store.path(name).unlink()
    orphan = store.put([b"an orphan beside it"], max_bytes=100).name

    result = run(app, "reconcile", grace=0)
    assert result.exit_code == 1, result.output
    assert (
        f"missing: encrypted file {name} is not there; the production record mailbox.mbox of {reference} names it "
        "(needs a person)"
    ) in result.output
    assert "restore it from a backup" in result.output
    assert not store.exists(orphan)  # what could be fixed was fixed
    assert count(app, ProductionRecord) == 1
    assert [event["data"]["file"] for event in removal_events(app)] == [orphan]
    again = run(app, "reconcile", grace=0)
    assert again.exit_code == 1 and "1 for a person" in again.output

    with app.app_context():  # what the periodic job calls
        report = reconcile(dry_run=False, grace=timedelta(0))
        db.session.commit()
    assert [(f.kind, f.area, f.name, f.fixed) for f in report.findings] == [(Kind.MISSING, FileArea.BLOB, name, False)]
    assert report.needs_a_person == report.findings and report.exit_code == 1
