"""The app on the database blob backend (BLOB_BACKEND = "database"): documents, records and built bundles live in
PostgreSQL rows, and everything that looked at the blob folder (verify, reconcile, purge, /ready, downloads) looks
at the rows instead. Real PostgreSQL, real encryption, real bundles.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text, update

from disclosure import create_app
from disclosure.clock import utcnow
from disclosure.config import ConfigError
from disclosure.extensions import db
from disclosure.production import service
from disclosure.production.bundles import copy_out
from disclosure.production.models import Bundle, ProductionRecord
from disclosure.services import SystemActor
from disclosure.storage.database_backend import ChunkWriter, DatabaseBackend
from disclosure.storage.models import BlobChunk, BlobObject
from disclosure.storage.store import BlobStore, store_for_app
from tests.conftest import base_settings
from tests.storage.test_reconcile import (
    MAIL,
    build_bundle,
    bundle_folder,
    count,
    files_in,
    producing_case,
    reconciled_cleanly,
    run,
)

pytestmark = pytest.mark.backends("postgresql")


@pytest.fixture
def db_app(app: Flask) -> Flask:
    app.config["BLOB_BACKEND"] = "database"
    return app


def store_of(app: Flask) -> BlobStore:
    with app.app_context():
        return store_for_app(app.config, app.instance_path)


def test_the_database_backend_is_refused_on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = base_settings(tmp_path / "instance", f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ConfigError, match=r"not PostgreSQL.*DISCLOSURE_BLOB_BACKEND=file"):
        create_app({**settings, "BLOB_BACKEND": "database"})
    monkeypatch.setenv("DISCLOSURE_BLOB_BACKEND", "Database")
    with pytest.raises(ConfigError, match="keeps the encrypted files in PostgreSQL"):
        create_app(settings)
    monkeypatch.setenv("DISCLOSURE_BLOB_BACKEND", "s3")
    with pytest.raises(ConfigError, match='set it to "file"'):
        create_app(settings)


def test_store_for_app_picks_the_backend(db_app: Flask) -> None:
    store = store_of(db_app)
    assert store.kind == "database" and isinstance(store.backend, DatabaseBackend)
    db_app.config["BLOB_BACKEND"] = "file"
    assert store_of(db_app).kind == "file"


def test_records_are_rows_not_files_and_verify_checks_them(db_app: Flask) -> None:
    producing_case(db_app)
    with db_app.app_context():
        (name,) = db.session.execute(select(ProductionRecord.blob_name)).scalars().all()
        db.session.rollback()
    store = store_of(db_app)
    assert list(store.names()) == [name]
    assert store.read_all(name) == MAIL
    assert files_in(Path(db_app.instance_path) / "blobs") == []
    verified = run(db_app, "verify")
    assert verified.exit_code == 0, verified.output
    assert "checked 1 blob(s): 1 intact, 0 corrupted (the database's blob tables)" in verified.output


def test_verify_fails_on_a_corrupted_or_missing_blob(db_app: Flask) -> None:
    producing_case(db_app)
    with db_app.app_context():
        (name,) = db.session.execute(select(ProductionRecord.blob_name)).scalars().all()
        db.session.execute(text("UPDATE blob_chunk SET data = set_byte(data, 30, get_byte(data, 30) # 1)"))
        db.session.commit()
    corrupted = run(db_app, "verify")
    assert corrupted.exit_code == 1
    assert f"blob {name} is corrupted" in corrupted.output
    store_of(db_app).delete(name)
    missing = run(db_app, "verify")
    assert missing.exit_code == 1
    assert f"encrypted file {name} is not there; the production record" in missing.output


def test_an_incomplete_and_an_orphan_blob_are_found_by_verify_and_removed_by_reconcile(db_app: Flask) -> None:
    producing_case(db_app)
    store = store_of(db_app)
    assert isinstance(store.backend, DatabaseBackend)
    (record,) = store.names()
    orphan = store.put([b"an upload whose row never committed"], max_bytes=100).name
    killed = ChunkWriter(store.backend.engine, secrets.token_hex(16))  # a writer SIGKILLed after two chunks
    killed.write(secrets.token_bytes(2 << 20))
    killed._close()

    recent = run(db_app, "verify")
    assert recent.exit_code == 0, recent.output  # younger than the grace period: maybe a write in progress
    assert "1 unfinished write(s)" in recent.output
    stale = run(db_app, "verify", grace=0)
    assert stale.exit_code == 1
    assert f"orphan: encrypted file {orphan}" in stale.output
    assert f"partial: an unfinished write of blob {killed.name}" in stale.output

    events = reconciled_cleanly(db_app, {"orphan", "partial"})
    assert len(events) == 2
    assert list(store.names()) == [record]
    assert store.partial_writes() == []
    assert count(db_app, BlobChunk) == 1 and count(db_app, BlobObject) == 1
    assert store.read_all(record) == MAIL


def test_a_bundle_is_kept_in_the_blob_store_downloaded_purged_and_reconciled(
    db_app: Flask, client: FlaskClient, login_as: object
) -> None:
    reference, email = producing_case(db_app)
    zip_name = build_bundle(db_app, reference, email)
    public_id = zip_name.removesuffix(".zip")
    with db_app.app_context():
        bundle = db.session.execute(select(Bundle).where(Bundle.public_id == public_id)).scalar_one()
        blob_name, sha256, size = bundle.blob_name, bundle.sha256, bundle.size
        db.session.rollback()
    assert blob_name is not None
    assert files_in(bundle_folder(db_app)) == []  # neither the ZIP nor its .storing- folder is left on this host
    assert store_of(db_app).sha256(blob_name) == sha256

    login_as("producer")  # type: ignore[operator]
    response = client.get(f"/bundles/{public_id}")
    assert response.status_code == 200
    body = response.get_data()
    assert len(body) == size and hashlib.sha256(body).hexdigest() == sha256
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert run(db_app, "verify").exit_code == 0
    copied = Path(db_app.instance_path) / "copied.zip"  # what `flask bundle build --out` does after building
    with db_app.app_context():
        copy_out(db.session.execute(select(Bundle)).scalar_one(), copied)
        db.session.rollback()
    assert hashlib.sha256(copied.read_bytes()).hexdigest() == sha256

    with db_app.app_context():
        db.session.execute(update(Bundle).values(expires_at=utcnow() - timedelta(days=1)))
        assert service.purge_expired(SystemActor("flask bundle purge")) == [public_id]
        db.session.commit()
    assert not store_of(db_app).exists(blob_name)
    assert client.get(f"/bundles/{public_id}").status_code == 404
    clean = run(db_app, "reconcile", "--dry-run", grace=0)
    assert clean.exit_code == 0 and "nothing to reconcile" in clean.output, clean.output


def test_a_purge_killed_after_its_commit_leaves_a_blob_that_reconcile_removes(db_app: Flask) -> None:
    reference, email = producing_case(db_app)
    public_id = build_bundle(db_app, reference, email).removesuffix(".zip")
    with db_app.app_context():
        # The purge committed; its process died before the blob was deleted.
        db.session.execute(update(Bundle).values(purged_at=utcnow()))
        blob_name = db.session.execute(select(Bundle.blob_name)).scalar_one()
        db.session.commit()
    found = run(db_app, "verify")
    assert found.exit_code == 1
    assert f"purged_present: bundle {public_id}.zip (case {reference}) was purged on" in found.output
    reconciled_cleanly(db_app, {"purged_present"})
    assert not store_of(db_app).exists(blob_name)


def test_ready_checks_the_blob_tables(db_app: Flask, client: FlaskClient) -> None:
    import shutil

    shutil.rmtree(Path(db_app.instance_path) / "blobs")  # no folder is needed with the database backend
    response = client.get("/ready")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["checks"]["blob_store"] is True
    with db_app.app_context():
        db.session.remove()
        with db.engine.begin() as connection:
            connection.exec_driver_sql("ALTER TABLE blob_chunk RENAME TO blob_chunk_gone")
        try:
            response = client.get("/ready")
        finally:
            with db.engine.begin() as connection:
                connection.exec_driver_sql("ALTER TABLE blob_chunk_gone RENAME TO blob_chunk")
        db.engine.dispose()
    assert response.status_code == 503
    assert response.get_json()["checks"]["blob_store"] is False


def test_an_auditors_extract_bundle_is_kept_in_the_blob_store_and_downloads(
    db_app: Flask, client: FlaskClient, login_as: object, tmp_path: Path
) -> None:
    import re

    from tests.audit.test_auditor_bundles import build_through_the_form
    from tests.conftest import csrf_from

    login_as("auditor")  # type: ignore[operator]
    today = utcnow().date()
    page = client.get("/audit/").get_data(as_text=True)
    nonce = re.search(r'name="nonce" type="hidden" value="([0-9a-f]+)"', page)
    assert nonce is not None
    data = {"csrf_token": csrf_from(page), "nonce": nonce.group(1), "start": str(today), "end": str(today)}
    build_through_the_form(db_app, client, "/audit/bundles", data)
    with db_app.app_context():
        bundle = db.session.execute(select(Bundle)).scalar_one()
        public_id, sha256, blob_name = bundle.public_id, bundle.sha256, bundle.blob_name
        db.session.rollback()
    assert blob_name is not None and store_of(db_app).exists(blob_name)
    assert files_in(bundle_folder(db_app)) == []
    download = client.get(f"/audit/bundles/{public_id}")
    assert download.status_code == 200
    assert hashlib.sha256(download.get_data()).hexdigest() == sha256
