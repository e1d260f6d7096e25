"""A lost keys folder, a lost blob folder, a SQLite file copied without its WAL: each is found and explained."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from disclosure.audit.models import AuditEvent
from disclosure.extensions import db
from tests.backup.conftest import flask, manifest_of, seed


def files_in(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


def test_keys_init_refuses_new_keys_while_data_made_with_the_old_ones_exists(app: Flask) -> None:
    seed(app, cases=1)
    keys = Path(app.config["KEYS_DIR"])
    shutil.rmtree(keys)

    verified = flask(app, "audit", "verify")
    assert verified.exit_code == 1
    assert "restore the keys from your backup" in verified.output and "run `flask keys init`" not in verified.output

    refused = flask(app, "keys", "init")

    assert refused.exit_code == 1
    assert "nothing created: keys are missing, but data encrypted or signed with them exists" in refused.output
    assert "the audit-log key" in refused.output and "stored checkpoint" in refused.output
    assert "the storage key" in refused.output and "2 documents and records on file" in refused.output
    assert "flask backup restore BACKUP_DIR --keys-only" in refused.output
    assert files_in(keys) == []


def test_keys_init_names_only_the_key_whose_data_would_be_orphaned(app: Flask) -> None:
    seed(app, cases=1)
    storage = Path(app.config["KEYS_DIR"]) / "storage"
    shutil.rmtree(storage)

    refused = flask(app, "keys", "init")

    assert refused.exit_code == 1
    assert "the storage key" in refused.output and "encrypted blobs in" in refused.output
    assert "the audit-log key" not in refused.output
    assert files_in(storage) == []


def test_keys_init_still_creates_keys_where_nothing_depends_on_them(app: Flask) -> None:
    keys = Path(app.config["KEYS_DIR"])
    shutil.rmtree(keys)

    created = flask(app, "keys", "init")

    assert created.exit_code == 0, created.output
    assert "created the audit-log key" in created.output and "created storage key" in created.output
    assert (keys / "audit-log-ed25519.pem").is_file()


def test_storage_verify_fails_when_the_blob_folder_is_gone(app: Flask) -> None:
    blobs = Path(app.instance_path, "blobs")
    assert flask(app, "storage", "verify").exit_code == 0
    seed(app, cases=1)
    shutil.rmtree(blobs)

    verified = flask(app, "storage", "verify")

    assert verified.exit_code == 1
    assert f"the blob folder {blobs} does not exist, but 2 rows name a blob in it" in verified.output
    assert "flask backup restore" in verified.output
    assert not blobs.exists(), "verify must not paper over the loss by creating an empty folder"


def test_storage_verify_without_blobs_or_rows_is_fine(app: Flask) -> None:
    shutil.rmtree(Path(app.instance_path, "blobs"))
    verified = flask(app, "storage", "verify")
    assert verified.exit_code == 0, verified.output


@pytest.mark.backends("sqlite")
def test_sqlite_backup_holds_what_is_still_in_the_wal(app: Flask, tmp_path: Path, passphrase_file: Path) -> None:
    seed(app, cases=2)
    with app.app_context():
        live = db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
        database = Path(db.engine.url.database or "")
        db.session.remove()  # the pool keeps its connections, and with them the WAL, open
    assert Path(f"{database}-wal").stat().st_size > 0
    plain = tmp_path / "plain-copy.db"
    shutil.copyfile(database, plain)  # the file alone, as `cp disclosure.db` would
    with sqlite3.connect(plain) as copy:
        try:
            copied = copy.execute("SELECT count(*) FROM audit_event").fetchone()[0]
        except sqlite3.DatabaseError:
            copied = 0
    assert copied < live, "a plain copy of the file misses the events still in the WAL"

    out = tmp_path / "backup"
    assert flask(app, "backup", "create", "--out", str(out), "--passphrase-file", str(passphrase_file)).exit_code == 0

    assert not Path(f"{out / 'database.sqlite3'}-wal").exists()
    with sqlite3.connect(f"file:{out / 'database.sqlite3'}?mode=ro", uri=True) as snapshot:
        assert snapshot.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert snapshot.execute("SELECT count(*) FROM audit_event").fetchone()[0] == live
    assert manifest_of(out)["audit"]["size"] == live


def test_keys_init_imports_the_lost_log_key_but_not_a_stranger(app: Flask, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    seed(app, cases=1)
    log_key = Path(app.config["KEYS_DIR"]) / "audit-log-ed25519.pem"
    kept = tmp_path / "kept-log-key.pem"
    shutil.move(log_key, kept)
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )

    refused = flask(app, "keys", "init", "--import-log-key", str(stranger))
    assert refused.exit_code == 1 and "did not sign the checkpoints on file" in refused.output
    assert not log_key.exists()

    imported = flask(app, "keys", "init", "--import-log-key", str(kept))
    assert imported.exit_code == 0, imported.output
    assert flask(app, "audit", "verify").exit_code == 0
