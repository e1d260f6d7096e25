"""What a restore refuses before it touches anything, and what it finds wrong after."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from disclosure.audit.actions import AuditAction
from disclosure.audit.models import AuditEvent
from disclosure.auth.models import User
from disclosure.cases.models import Case
from disclosure.extensions import db
from tests.backup.conftest import checkpoint_sizes, document_contents, flask, manifest_of, seed
from tests.factories import make_case


def back_up(app: Flask, out: Path, passphrase_file: Path) -> dict[str, object]:
    created = flask(app, "backup", "create", "--out", str(out), "--passphrase-file", str(passphrase_file))
    assert created.exit_code == 0, created.output
    return manifest_of(out)


def restore_events(app: Flask) -> list[dict[str, object]]:
    with app.app_context():
        bodies = db.session.execute(
            select(AuditEvent.body).where(AuditEvent.action == str(AuditAction.BACKUP_RESTORED))
        ).scalars()
        found = [json.loads(body) for body in bodies]
        db.session.remove()
    return found


def test_restoring_an_older_backup_is_reported_as_rolled_back(
    app: Flask, backend: str, tmp_path: Path, passphrase_file: Path
) -> None:
    app.config["AUDIT_CHECKPOINT_EVERY"] = 4
    seed(app, cases=1)
    old = back_up(app, tmp_path / "old", passphrase_file)
    size = old["audit"]["size"]
    seed(app, cases=2, tag="after the backup ")  # more audited activity: a checkpoint is signed past the backup
    folder = Path(app.config["AUDIT_CHECKPOINT_DIR"])
    assert max(checkpoint_sizes(folder)) > size

    old_backup = str(tmp_path / "old")
    restored = flask(app, "backup", "restore", old_backup, "--force", "--passphrase-file", "/dev/null")
    assert restored.exit_code == 2, "the keys need their passphrase"
    restored = flask(app, "backup", "restore", old_backup, "--force", "--passphrase-file", str(passphrase_file))

    assert restored.exit_code == 1, restored.output
    assert "FAILED: audit log rolled back: seq" in restored.output
    assert f"the log holds {size}" in restored.output
    assert "The restored log is shorter than a checkpoint" in restored.output
    assert f"audit log: size and root equal the manifest's ({size} events)" in restored.output
    verified = flask(app, "audit", "verify")
    assert verified.exit_code == 1
    assert verified.output.startswith("NOT intact: seq ") and "tail truncated: checkpoint file" in verified.output
    # The restore is on record in the restored log, as a failure; the rolled-back cases are gone.
    (event,) = restore_events(app)
    assert event["outcome"] == "failure" and event["actor"] == {"kind": "system", "name": "flask backup restore"}
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Case)).scalar_one() == 1
        db.session.remove()


def test_a_tampered_part_is_refused_and_named_before_anything_is_touched(
    app: Flask, second_instance: Flask, tmp_path: Path, passphrase_file: Path
) -> None:
    seed(app, cases=1)
    out = tmp_path / "backup"
    manifest = back_up(app, out, passphrase_file)
    blob = next(part["path"] for part in manifest["parts"] if part["kind"] == "blob")
    data = bytearray((out / blob).read_bytes())
    data[40] ^= 1
    (out / blob).write_bytes(bytes(data))
    (out / "keys.enc").write_bytes((out / "keys.enc").read_bytes()[:-1])

    restored = flask(second_instance, "backup", "restore", str(out), "--passphrase-file", str(passphrase_file))

    assert restored.exit_code == 1
    assert "the backup does not match its manifest; nothing was restored" in restored.output
    assert f"{blob}: altered" in restored.output and "keys.enc: altered" in restored.output
    instance = Path(second_instance.instance_path)
    assert not instance.exists() or [path for path in instance.rglob("*") if path.is_file()] == []


def test_a_part_altered_with_its_manifest_is_refused_by_what_keys_enc_vouches_for(
    app: Flask, second_instance: Flask, tmp_path: Path, passphrase_file: Path
) -> None:
    import hashlib

    seed(app, cases=1)
    out = tmp_path / "backup"
    manifest = back_up(app, out, passphrase_file)
    checkpoint = next(part for part in manifest["parts"] if part["kind"] == "checkpoint")
    forged = b"a checkpoint of someone else's choosing\n"
    (out / checkpoint["path"]).write_bytes(forged)
    checkpoint["size"], checkpoint["sha256"] = len(forged), hashlib.sha256(forged).hexdigest()
    manifest["audit"]["size"] += 1
    (out / "manifest.json").write_text(json.dumps(manifest))

    restored = flask(second_instance, "backup", "restore", str(out), "--passphrase-file", str(passphrase_file))

    assert restored.exit_code == 1
    assert "the manifest was altered after the backup was made" in restored.output
    assert f"{checkpoint['path']}: not the part keys.enc vouches for" in restored.output
    assert "audit: the manifest says" in restored.output
    instance = Path(second_instance.instance_path)
    assert not instance.exists() or [path for path in instance.rglob("*") if path.is_file()] == []


def test_a_wrong_passphrase_restores_nothing(
    app: Flask, second_instance: Flask, tmp_path: Path, passphrase_file: Path
) -> None:
    seed(app, cases=1)
    out = tmp_path / "backup"
    back_up(app, out, passphrase_file)
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase at all, sorry\n")

    restored = flask(second_instance, "backup", "restore", str(out), "--passphrase-file", str(wrong))

    assert restored.exit_code == 1
    assert "does not open with this passphrase" in restored.output
    instance = Path(second_instance.instance_path)
    assert not instance.exists() or [path for path in instance.rglob("*") if path.is_file()] == []


def test_a_target_holding_data_is_refused_without_force(app: Flask, tmp_path: Path, passphrase_file: Path) -> None:
    seed(app, cases=1)
    out = tmp_path / "backup"
    back_up(app, out, passphrase_file)
    with app.app_context():
        make_case()
        db.session.remove()
    before = document_contents(app)

    refused = flask(app, "backup", "restore", str(out), "--passphrase-file", str(passphrase_file))

    assert refused.exit_code == 1
    assert "the target is not empty; nothing was restored (--force restores over it)" in refused.output
    for holder in ("the database holds data: ", "the blob folder", "the checkpoint folder", "the keys folder"):
        assert holder in refused.output
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Case)).scalar_one() == 2
        db.session.remove()
    assert document_contents(app) == before


def test_forced_restore_keeps_a_differing_key_beside_and_never_deletes_it(
    app: Flask, tmp_path: Path, passphrase_file: Path
) -> None:
    seed(app, cases=1)
    out = tmp_path / "backup"
    back_up(app, out, passphrase_file)
    ca = Path(app.config["KEYS_DIR"]) / "pki" / "bundle-ca.pem"
    ca.write_bytes(b"another CA\n")

    restored = flask(app, "backup", "restore", str(out), "--force", "--passphrase-file", str(passphrase_file))

    assert restored.exit_code == 0, restored.output
    kept = list(ca.parent.glob("bundle-ca.pem.replaced-*"))
    assert [path.read_bytes() for path in kept] == [b"another CA\n"]
    assert ca.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert f"a different file was in place and is kept as {kept[0]}" in restored.output


def test_restore_finds_a_second_factor_that_no_longer_opens(
    app: Flask, second_instance: Flask, tmp_path: Path, passphrase_file: Path
) -> None:
    from tests.factories import make_user

    with app.app_context():
        make_user("reviewer")  # enrolled in TOTP, encrypted under the instance's secret key
        db.session.remove()
    out = tmp_path / "backup"
    back_up(app, out, passphrase_file)
    second_instance.config["SECRET_KEY"] = "a different secret key, not kept with the backup"

    restored = flask(second_instance, "backup", "restore", str(out), "--passphrase-file", str(passphrase_file))

    assert restored.exit_code == 1
    assert "1 of 1 second-factor secrets" in restored.output and "restore the secret key" in restored.output


def test_keys_only_restore_brings_back_lost_keys(app: Flask, tmp_path: Path, passphrase_file: Path) -> None:
    seeded = seed(app, cases=1)
    out = tmp_path / "backup"
    back_up(app, out, passphrase_file)
    shutil.rmtree(app.config["KEYS_DIR"])
    assert flask(app, "audit", "verify").exit_code == 1

    restored = flask(app, "backup", "restore", str(out), "--keys-only", "--passphrase-file", str(passphrase_file))

    assert restored.exit_code == 0, restored.output
    assert "database: restored" not in restored.output
    assert document_contents(app) == seeded.documents
    assert flask(app, "audit", "verify").exit_code == 0


@pytest.mark.backends("sqlite")
def test_bad_arguments_exit_2(app: Flask, tmp_path: Path, passphrase_file: Path) -> None:
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "something").write_text("x")
    created = flask(app, "backup", "create", "--out", str(occupied), "--passphrase-file", str(passphrase_file))
    assert created.exit_code == 2 and "is not empty" in created.output

    short = tmp_path / "short"
    short.write_text("too short\n")
    created = flask(app, "backup", "create", "--out", str(tmp_path / "new"), "--passphrase-file", str(short))
    assert created.exit_code == 2 and "at least 16" in created.output
    assert not (tmp_path / "new").exists()

    created = flask(app, "backup", "create", "--out", str(tmp_path / "new"))  # no terminal to ask at
    assert created.exit_code == 2 and "--passphrase-file" in created.output

    restored = flask(app, "backup", "restore", str(occupied), "--force")
    assert restored.exit_code == 2 and "holds no manifest.json" in restored.output


@pytest.mark.backends("sqlite")
def test_without_keys_the_backup_holds_no_key_material(app: Flask, tmp_path: Path) -> None:
    seed(app, cases=1)
    out = tmp_path / "backup"
    created = flask(app, "backup", "create", "--out", str(out), "--without-keys")
    assert created.exit_code == 0, created.output
    assert manifest_of(out)["keys"] == "left out"
    assert not (out / "keys.enc").exists()
    key_bytes = [path.read_bytes() for path in Path(app.config["KEYS_DIR"]).rglob("*") if path.is_file()]
    backed_up = b"".join(path.read_bytes() for path in out.rglob("*") if path.is_file())
    assert key_bytes and not any(key in backed_up for key in key_bytes)
    assert "keys: left out (--without-keys)" in created.output


def test_a_blob_lost_from_the_store_is_a_problem_of_the_backup(
    app: Flask, tmp_path: Path, passphrase_file: Path
) -> None:
    from disclosure.cases.models import Document

    seed(app, cases=1)
    with app.app_context():
        name = db.session.execute(select(Document.blob_name)).scalars().first()
        db.session.remove()
    next(Path(app.instance_path, "blobs").rglob(name)).unlink()

    created = flask(app, "backup", "create", "--out", str(tmp_path / "b"), "--passphrase-file", str(passphrase_file))

    assert created.exit_code == 1
    assert f"PROBLEM: blob {name} is named by a row but is not in the blob store" in created.output
    assert manifest_of(tmp_path / "b")["problems"] == [
        f"blob {name} is named by a row but is not in the blob store {Path(app.instance_path, 'blobs')}"
    ]


def test_restore_is_recorded_with_the_operator_and_the_manifest(
    app: Flask, second_instance: Flask, tmp_path: Path, passphrase_file: Path
) -> None:
    seed(app, cases=1)
    out = tmp_path / "backup"
    manifest = back_up(app, out, passphrase_file)
    restored = flask(second_instance, "backup", "restore", str(out), "--passphrase-file", str(passphrase_file))
    assert restored.exit_code == 0, restored.output
    (event,) = restore_events(second_instance)
    assert event["outcome"] == "success"
    assert event["data"]["created_at"] == manifest["created_at"]
    assert event["data"]["audit_root"] == manifest["audit"]["root"]
    with second_instance.app_context():
        assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 1
        db.session.remove()


@pytest.mark.parametrize("command", ["create", "restore"])
def test_an_operator_without_the_grant_backs_up_and_restores_nothing(
    app: Flask, tmp_path: Path, passphrase_file: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    from disclosure import services

    seed(app, cases=1)
    out = tmp_path / "backup"
    if command == "restore":
        back_up(app, out, passphrase_file)
    with app.app_context():
        before = db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
        db.session.remove()
    monkeypatch.setattr(services, "OPERATOR_GRANTS", frozenset())
    args = ["--out", str(out)] if command == "create" else [str(out), "--force"]

    result = flask(app, "backup", command, *args, "--passphrase-file", str(passphrase_file))

    assert result.exit_code == 1 and "may not do this" in result.output, result.output
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == before
        db.session.remove()
    if command == "create":
        assert not out.exists()


def test_kept_bundles_travel_with_the_backup_and_are_checked(
    app: Flask, second_instance: Flask, tmp_path: Path, passphrase_file: Path
) -> None:
    import hashlib
    from datetime import timedelta

    from disclosure.clock import utcnow
    from disclosure.production.models import Bundle

    content = b"PK\x05\x06" + bytes(18)  # an empty ZIP stands in for a built bundle
    folder = Path(app.instance_path, "bundles")
    folder.mkdir()
    (folder / "b0b0b0b0b0b0b0b0.zip").write_bytes(content)
    with app.app_context():
        db.session.add(
            Bundle(
                public_id="b0b0b0b0b0b0b0b0",
                kind="report",
                filename="report.zip",
                sha256=hashlib.sha256(content).hexdigest(),
                size=len(content),
                file_count=0,
                checkpoint_size=0,
                expires_at=utcnow() + timedelta(days=30),
            )
        )
        db.session.commit()
        db.session.remove()
    out = tmp_path / "backup"
    manifest = back_up(app, out, passphrase_file)
    assert [part["path"] for part in manifest["parts"] if part["kind"] == "bundle"] == ["bundles/b0b0b0b0b0b0b0b0.zip"]

    restored = flask(second_instance, "backup", "restore", str(out), "--passphrase-file", str(passphrase_file))

    assert restored.exit_code == 0, restored.output
    assert "bundles: 1 of 1 kept (not purged) are in place and intact" in restored.output
    assert Path(second_instance.instance_path, "bundles", "b0b0b0b0b0b0b0b0.zip").read_bytes() == content


def test_restore_into_a_freshly_migrated_database(
    app: Flask, second_instance: Flask, tmp_path: Path, passphrase_file: Path
) -> None:
    from flask_migrate import upgrade

    seeded = seed(app, cases=1)
    out = tmp_path / "backup"
    back_up(app, out, passphrase_file)
    Path(second_instance.instance_path).mkdir(parents=True, exist_ok=True)
    with second_instance.app_context():
        upgrade()  # `flask db upgrade` on the new host first: its audit head and revision are no data
        db.session.remove()

    restored = flask(second_instance, "backup", "restore", str(out), "--passphrase-file", str(passphrase_file))

    assert restored.exit_code == 0, restored.output
    assert document_contents(second_instance) == seeded.documents


@pytest.mark.backends("sqlite")
def test_the_secret_key_travels_in_keys_enc_and_replaces_a_fresh_instance_s(
    app: Flask, tmp_path: Path, passphrase_file: Path
) -> None:
    from disclosure import create_app
    from disclosure.instance import init_instance
    from tests.conftest import base_settings
    from tests.factories import make_user

    secret = Path(app.instance_path, "secret_key")
    secret.write_text(app.config["SECRET_KEY"] + "\n")  # as `python -m disclosure.instance init` keeps it
    secret.chmod(0o600)
    with app.app_context():
        make_user("reviewer")
        db.session.remove()
    out = tmp_path / "backup"
    back_up(app, out, passphrase_file)
    fresh = tmp_path / "fresh"
    init_instance(fresh)  # a new host: its own secret key, empty folders
    settings = base_settings(fresh, f"sqlite:///{fresh / 'disclosure.db'}")
    del settings["SECRET_KEY"]
    target = create_app(settings)

    restored = flask(target, "backup", "restore", str(out), "--passphrase-file", str(passphrase_file))

    assert restored.exit_code == 0, restored.output
    assert "second factors: all 1 open under the secret key in effect" in restored.output
    assert (fresh / "secret_key").read_text().strip() == app.config["SECRET_KEY"]
    assert len(list(fresh.glob("secret_key.replaced-*"))) == 1
    with target.app_context():
        db.engine.dispose()
