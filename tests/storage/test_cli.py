"""`flask storage rotate-key` and `flask storage verify` on the real app, with the audit event they leave."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from disclosure.audit.actions import AuditAction
from disclosure.audit.models import AuditEvent
from disclosure.extensions import db
from disclosure.storage.cli import storage_cli
from disclosure.storage.keys import keyring_for_config
from disclosure.storage.store import HEADER_SIZE, BlobStore, store_for_app


def app_store(app: Flask) -> BlobStore:
    keyring_for_config(app.config).init()
    app.cli.add_command(storage_cli)
    return store_for_app(app.config, app.instance_path)


def rotation_events(app: Flask) -> list[dict[str, object]]:
    with app.app_context():
        bodies = (
            db.session.execute(select(AuditEvent.body).where(AuditEvent.action == str(AuditAction.STORAGE_KEY_ROTATED)))
            .scalars()
            .all()
        )
        db.session.rollback()
    return [json.loads(body) for body in bodies]


def test_rotate_key_re_encrypts_everything_and_records_it(app: Flask) -> None:
    store = app_store(app)
    assert store.root == Path(app.instance_path, "blobs").resolve()
    old_key = store.keyring.current_id()
    blobs = [store.put([content], max_bytes=100) for content in (b"first", b"second")]

    result = app.test_cli_runner().invoke(args=["storage", "rotate-key"])

    assert result.exit_code == 0, result.output
    new_key = store.keyring.current_id()
    assert new_key != old_key
    assert f"created storage key {new_key}; re-encrypted 2 blob(s)" in result.output
    for blob, content in zip(blobs, (b"first", b"second"), strict=True):
        assert store.path(blob.name).read_bytes()[4:HEADER_SIZE] == new_key.encode()
        assert store.read_all(blob.name) == content
    (event,) = rotation_events(app)
    assert event["data"] == {"new_key": new_key, "blobs": 2, "corrupted": 0}
    assert event["outcome"] == "success"
    assert event["actor"] == {"kind": "system", "name": "flask storage rotate-key"}


def test_rotate_key_without_a_key_says_what_to_do(app: Flask) -> None:
    app.cli.add_command(storage_cli)
    shutil.rmtree(keyring_for_config(app.config).folder)  # as if `flask keys init` had never run
    result = app.test_cli_runner().invoke(args=["storage", "rotate-key"])
    assert result.exit_code != 0
    assert "flask keys init" in result.output
    assert rotation_events(app) == []


def test_verify_reports_the_corrupted_blob_and_exits_1(app: Flask) -> None:
    store = app_store(app)
    intact = store.put([b"intact"], max_bytes=100)
    damaged = store.put([b"damaged"], max_bytes=100)
    runner = app.test_cli_runner()

    clean = runner.invoke(args=["storage", "verify"])
    assert clean.exit_code == 0, clean.output
    assert "checked 2 blob(s): 2 intact, 0 corrupted" in clean.output

    path = store.path(damaged.name)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(raw)
    broken = runner.invoke(args=["storage", "verify"])
    assert broken.exit_code == 1
    assert "1 intact, 1 corrupted" in broken.output
    assert damaged.name in broken.output and intact.name not in broken.output
