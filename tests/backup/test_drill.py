"""The whole drill, on both databases: seed, back up, restore into an empty instance, and check what came back."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import select

from disclosure.audit.actions import AuditAction
from disclosure.audit.models import AuditEvent
from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure_proofs.merkle import root_from_leaves
from tests.backup.conftest import document_contents, flask, manifest_of, seed
from tests.factories import make_user


def test_backup_and_restore_drill(
    app: Flask, second_instance: Flask, backend: str, tmp_path: Path, passphrase_file: Path
) -> None:
    seeded = seed(app, cases=3)
    with app.app_context():
        make_user("reviewer")  # enrolled in a second factor, encrypted under the instance's secret key
        db.session.remove()
    assert flask(app, "audit", "checkpoint").exit_code == 0  # a checkpoint file beside the interval one
    out = tmp_path / "backup"

    created = flask(app, "backup", "create", "--out", str(out), "--passphrase-file", str(passphrase_file))

    assert created.exit_code == 0, created.output
    manifest = manifest_of(out)
    assert manifest["format"] == "disclosure-backup/1"
    assert manifest["database"]["dialect"] == backend
    assert manifest["keys"] == "encrypted"
    kinds = sorted({part["kind"] for part in manifest["parts"]})
    assert kinds == ["blob", "checkpoint", "database", "keys"]
    assert len([part for part in manifest["parts"] if part["kind"] == "blob"]) == 6
    assert manifest["problems"] == []
    assert f"audit log: {manifest['audit']['size']} events, root {manifest['audit']['root']}" in created.output
    assert b"please preserve" not in b"".join(path.read_bytes() for path in out.rglob("*") if path.is_file())

    restored = flask(second_instance, "backup", "restore", str(out), "--passphrase-file", str(passphrase_file))

    assert restored.exit_code == 0, restored.output
    assert "restore: every check passed" in restored.output
    assert f"audit log: intact, {manifest['audit']['size']} events, root {manifest['audit']['root']}" in (
        restored.output
    )
    assert "blobs: 6 of the 6 that rows name decrypt to the SHA-256 on record" in restored.output
    assert "second factors: all 1 open under the secret key in effect" in restored.output
    with second_instance.app_context():
        references = set(db.session.execute(select(Case.reference)).scalars())
        events = db.session.execute(select(AuditEvent).order_by(AuditEvent.seq)).scalars().all()
        leaves = [bytes(event.leaf_hash) for event in events]
        db.session.remove()
    assert references == set(seeded.documents)
    assert document_contents(second_instance) == seeded.documents
    # The restored log is the backed-up one, then the restore's own event.
    size = manifest["audit"]["size"]
    assert root_from_leaves(leaves[:size]).hex() == manifest["audit"]["root"]
    assert [event.action for event in events[size:]] == [str(AuditAction.BACKUP_RESTORED)]
    verified = flask(second_instance, "audit", "verify")
    assert verified.exit_code == 0 and verified.output.startswith(f"intact: {size + 1} events"), verified.output
    assert flask(second_instance, "storage", "verify").exit_code == 0

    with app.app_context():
        recorded = db.session.execute(
            select(AuditEvent.body).where(AuditEvent.action == str(AuditAction.BACKUP_CREATED))
        ).scalar_one()
        db.session.remove()
    assert manifest["audit"]["root"] in recorded.decode()
