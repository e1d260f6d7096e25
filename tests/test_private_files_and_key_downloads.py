"""Issue 17, finding 12 (two of its points): the SQLite database and its -wal and -shm files are readable by the
app's own user only, and the key files under /keys/ carry a sandboxing Content-Security-Policy."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from disclosure.app import create_app
from disclosure.extensions import db
from tests.conftest import base_settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask():
    previous = os.umask(0o022)  # what a shell usually has: files 0644 unless the app says otherwise
    yield
    os.umask(previous)


@pytest.mark.backends("sqlite")
def test_a_new_sqlite_database_and_its_wal_and_shm_files_are_0600(backend, instance, tmp_path, usual_umask):
    path = tmp_path / "fresh" / "disclosure.db"
    path.parent.mkdir()
    app = create_app(base_settings(instance, f"sqlite:///{path}"))
    with app.app_context():
        db.create_all()
        with db.engine.connect() as connection:  # keeps the -wal and -shm files in place while we look
            connection.execute(sa.text("SELECT count(*) FROM user_account"))
            files = {name: mode(path.with_name(path.name + name)) for name in ("", "-wal", "-shm")}
        db.engine.dispose()
    assert files == {"": 0o600, "-wal": 0o600, "-shm": 0o600}


@pytest.mark.backends("sqlite")
def test_an_existing_world_readable_database_is_made_private(backend, instance, tmp_path, usual_umask):
    path = tmp_path / "old.db"
    setup = create_app(base_settings(instance, f"sqlite:///{path}"))
    with setup.app_context():
        db.create_all()
        db.engine.dispose()
    path.chmod(0o644)
    app = create_app(base_settings(instance, f"sqlite:///{path}"))
    with app.app_context():
        with db.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        db.engine.dispose()
    assert mode(path) == 0o600


@pytest.mark.parametrize("path", ["/keys/ca.pem", "/keys/crl.pem"])
def test_key_files_are_sandboxed_attachments(app, client, login_as, path):
    if path == "/keys/crl.pem":  # a revocation list exists once a signing certificate has been revoked
        from disclosure.exports import pki_revocation
        from disclosure.production.bundles import pki_dir

        folder = pki_dir(app.config)  # revoked here directly: two administrators' steps are tested elsewhere
        pki_revocation.apply_signer_revocation(pki_revocation.prepare_signer_revocation(folder, "Org", "superseded"))
    login_as("intake")
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"].split(";")[0] == "sandbox"
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
