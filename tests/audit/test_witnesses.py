"""The log's tail against someone who holds the database, the instance folder and even the log key (issue 17, 5).

Verify reads every checkpoint file in the checkpoint folder by default, so a cut tail with its checkpoint rows
deleted and the head recomputed is named by the file; witnesses cosign checkpoints on hosts of their own, so a
re-signed, shorter log still fails against a cosigned copy; the log key can live outside the instance folder,
encrypted with a passphrase. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from flask import Flask
from flask.testing import FlaskClient

from disclosure.audit.service import checkpoint_file_name
from disclosure.keyring import LOG_KEY_FILE, KeyMissing, init_log_key, load_log_key, log_key_name
from disclosure_proofs.note import sign_checkpoint
from tests.audit.test_verify import (
    build_log,
    events,
    make_checkpoint,
    tamper,
    tree_root,
    truncate_to,
    verify,
    verify_through_the_page,
)


def run(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


@pytest.fixture
def witness(app: Flask, tmp_path: Path) -> dict[str, Path]:
    """A witness on "another host" (its own folder) and its public key in the app's WITNESS_KEYS folder."""
    host = tmp_path / "witness-host"
    result = run(app, "audit", "witness-key", "new", "witness-a", "--out", str(host))
    assert result.exit_code == 0, result.output
    assert (host / "witness-a.key").stat().st_mode & 0o777 == 0o600
    vkeys = tmp_path / "witness-keys"
    vkeys.mkdir()
    shutil.copy(host / "witness-a.vkey", vkeys / "witness-a.vkey")
    app.config["WITNESS_KEYS"] = str(vkeys)
    return {"host": host, "key": host / "witness-a.key"}


def cosign(app: Flask, checkpoint: Path, key: Path, out: Path | None = None) -> Any:
    args = ["audit", "cosign", str(checkpoint), "--key", str(key)]
    return run(app, *args, *(["--out", str(out)] if out else []))


def test_a_cut_tail_with_its_checkpoint_rows_deleted_and_the_head_recomputed_is_named_by_the_folder_file(
    app: Flask, backend: str, instance: Path, client: FlaskClient, login_as: Any
) -> None:
    login_as("auditor")  # before the log is built: signing in appends events too
    start = len(events(app))
    build_log(app, 10 - start)
    make_checkpoint(app)  # seq 11, signed at size 11, its file in the checkpoint folder
    build_log(app, 4, start=10)
    tamper(app, backend, *truncate_to(app, 8))
    kept = instance / "checkpoints" / checkpoint_file_name(11)
    # No --checkpoint: the folder is read by default, by the command and by the "Verify now" job alike.
    assert verify(app) == (
        1,
        f"NOT intact: seq 9: tail truncated: checkpoint file {kept} covers 11 events, the log holds 8\n",
    )
    # Pressing the button records events of its own before the job runs, so the log has grown a little since.
    page = verify_through_the_page(app, client)
    assert f"NOT intact: seq 11: tail truncated: checkpoint file {kept} covers 11 events, the log holds 10" in page


def test_verify_reports_the_newest_cosigned_size(app: Flask, instance: Path, witness: dict[str, Path]) -> None:
    build_log(app, 10)
    make_checkpoint(app)
    result = cosign(app, instance / "checkpoints" / checkpoint_file_name(11), witness["key"])
    assert result.exit_code == 0, result.output
    cosigned = instance / "checkpoints" / "checkpoint-000000000011.cosigned.txt"
    assert cosigned.exists() and cosigned.read_text().count("\u2014 witness-a ") == 1
    build_log(app, 2, start=11)
    leaves = [bytes(row.leaf_hash) for row in events(app)]
    assert verify(app) == (
        0,
        f"intact: 13 events, root {tree_root(leaves).hex()}; newest cosigned checkpoint: size 11, by witness-a\n",
    )


def test_a_re_signed_shorter_log_still_fails_against_the_witness_copy(
    app: Flask, backend: str, instance: Path, witness: dict[str, Path]
) -> None:
    build_log(app, 10)
    make_checkpoint(app)
    folder = instance / "checkpoints"
    # The witness fetches the checkpoint, cosigns it on its own host and keeps its copy there.
    witness_copy = witness["host"] / "log-at-11.txt"
    assert cosign(app, folder / checkpoint_file_name(11), witness["key"], out=witness_copy).exit_code == 0
    build_log(app, 4, start=10)

    # The attacker holds the database, the instance folder and the log key: cut the tail, fix the head, empty the
    # folder and re-sign a checkpoint of the shorter log in place of the one the witness saw.
    tamper(app, backend, *truncate_to(app, 8))
    leaves = [bytes(row.leaf_hash) for row in events(app)]
    for path in folder.iterdir():
        if path.name != checkpoint_file_name(1):  # the first event's checkpoint stays: it is in the shorter log
            path.unlink()
    with app.app_context():
        forged = sign_checkpoint(app.config["AUDIT_ORIGIN"], 8, tree_root(leaves), load_log_key(), log_key_name())
    (folder / checkpoint_file_name(11)).write_text(forged)
    code, output = verify(app)
    assert (code, output) == (
        0,
        f"intact: 8 events, root {tree_root(leaves).hex()}; no checkpoint cosigned by a configured witness\n",
    ), "what the instance holds alone is consistent: only the witness's copy can tell"

    assert verify(app, witness_copy) == (
        1,
        f"NOT intact: seq 9: tail truncated: checkpoint file {witness_copy} (cosigned by witness-a) covers 11 "
        "events, the log holds 8\n",
    )
    # Nor will the witness vouch for the forgery: it cosigned size 11 and refuses anything smaller.
    refused = cosign(app, folder / checkpoint_file_name(11), witness["key"], out=witness["host"] / "forged.txt")
    assert refused.exit_code == 1 and "would mean the log lost its tail" in refused.output
    assert not (witness["host"] / "forged.txt").exists()


def test_an_altered_cosignature_is_named(app: Flask, instance: Path, witness: dict[str, Path]) -> None:
    build_log(app, 3)
    make_checkpoint(app)
    copy = witness["host"] / "cosigned.txt"
    assert cosign(app, instance / "checkpoints" / checkpoint_file_name(4), witness["key"], out=copy).exit_code == 0
    lines = copy.read_text().split("\n")
    raw = bytearray(base64.b64decode(lines[-2].rsplit(" ", 1)[1]))
    raw[-1] ^= 1
    lines[-2] = lines[-2].rsplit(" ", 1)[0] + " " + base64.b64encode(bytes(raw)).decode()
    copy.write_text("\n".join(lines))
    assert verify(app, copy) == (
        1,
        f"NOT intact: checkpoint file {copy}: cosignature by witness witness-a does not verify; "
        "the checkpoint was altered\n",
    )


def test_the_log_key_can_live_outside_the_instance_folder_encrypted_with_a_passphrase(
    app: Flask, instance: Path, tmp_path: Path
) -> None:
    build_log(app, 3)
    outside = tmp_path / "vault" / "log.pem"
    outside.parent.mkdir()
    with app.app_context():
        key = load_log_key()
    outside.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"correct horse battery staple"),
        )
    )
    (instance / "keys" / LOG_KEY_FILE).unlink()
    app.config.update(LOG_KEY_FILE=str(outside), LOG_KEY_PASSPHRASE="correct horse battery staple")
    assert b"ENCRYPTED PRIVATE KEY" in outside.read_bytes()
    make_checkpoint(app)
    code, output = verify(app)
    assert code == 0 and output.startswith("intact: 4 events"), output

    app.config["LOG_KEY_PASSPHRASE"] = "wrong passphrase, wrong"
    with app.app_context(), pytest.raises(KeyMissing, match="wrong passphrase"):
        load_log_key()
    app.config["LOG_KEY_PASSPHRASE"] = None
    with app.app_context(), pytest.raises(KeyMissing, match="it is encrypted: set DISCLOSURE_LOG_KEY_PASSPHRASE"):
        load_log_key()


def test_keys_init_writes_a_new_log_key_encrypted_where_log_key_file_says(app: Flask, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "log.pem"
    app.config.update(LOG_KEY_FILE=str(target), LOG_KEY_PASSPHRASE="another long passphrase")
    with app.app_context():
        assert init_log_key() == f"created the audit-log key {target}"
        assert target.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert target.stat().st_mode & 0o777 == 0o600
        load_log_key()
