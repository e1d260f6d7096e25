"""Backup and restore with the database blob backend: the blobs (and bundles kept among them) travel inside the
database dump, so the backup claims no blob folder, and the restore checks every blob decrypts from the rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from disclosure.extensions import db
from disclosure.storage.store import store_for_app
from tests.backup.conftest import document_contents, flask, manifest_of, seed
from tests.storage.test_reconcile import build_bundle, producing_case

pytestmark = pytest.mark.backends("postgresql")


def test_backup_and_restore_with_blobs_in_the_database(
    app: Flask, second_instance: Flask, tmp_path: Path, passphrase_file: Path
) -> None:
    app.config["BLOB_BACKEND"] = second_instance.config["BLOB_BACKEND"] = "database"
    seeded = seed(app, cases=2)
    reference, producer = producing_case(app)
    build_bundle(app, reference, producer)
    out = tmp_path / "backup"

    created = flask(app, "backup", "create", "--out", str(out), "--passphrase-file", str(passphrase_file))

    assert created.exit_code == 0, created.output
    manifest = manifest_of(out)
    assert manifest["blobs"] == "database"
    assert sorted({part["kind"] for part in manifest["parts"]}) == ["checkpoint", "database", "keys"]
    assert manifest["problems"] == []
    assert "blobs: inside the database part (the database blob backend)" in created.output
    assert not (out / "blobs").exists()

    second_instance.config["BLOB_BACKEND"] = "file"
    refused = flask(second_instance, "backup", "restore", str(out), "--passphrase-file", str(passphrase_file))
    assert refused.exit_code != 0 and "made with the database blob backend" in refused.output, refused.output
    second_instance.config["BLOB_BACKEND"] = "database"

    restored = flask(second_instance, "backup", "restore", str(out), "--passphrase-file", str(passphrase_file))

    assert restored.exit_code == 0, restored.output
    assert "restore: every check passed" in restored.output
    # 4 documents, 1 production record and the bundle's ZIP, each decrypted from the restored rows.
    assert "blobs: 6 of the 6 that rows name decrypt to the SHA-256 on record" in restored.output
    assert "bundles: 1 kept in the blob store, checked with the blobs" in restored.output
    contents = document_contents(second_instance)
    assert {reference: contents[reference] for reference in seeded.documents} == seeded.documents
    with second_instance.app_context():
        assert len(list(store_for_app(second_instance.config, second_instance.instance_path).names())) == 6
        db.session.remove()
    assert not (Path(second_instance.instance_path) / "blobs").exists()
    assert flask(second_instance, "storage", "verify").exit_code == 0
