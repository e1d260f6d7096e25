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
        f"intact: 13 events, root {tree_root(leaves).hex()}; newest cosigned checkpoint: size 11, by witness-a; "
        "the log of 13 events extends it (consistency proof from 11 to 13 verified)\n",
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


# -- A witness cosigns only a checkpoint that extends the last one it cosigned (issue 17) -----------------------


def consistency_proof(app: Flask, old_size: int, checkpoint: Path, out: Path) -> Any:
    return run(
        app, "audit", "consistency-proof", "--from", str(old_size), "--checkpoint", str(checkpoint), "--out", str(out)
    )


def cosign_with_proof(app: Flask, checkpoint: Path, key: Path, proof: Path, out: Path) -> Any:
    return run(app, "audit", "cosign", str(checkpoint), "--key", str(key), "--proof", str(proof), "--out", str(out))


def test_a_witness_cosigns_a_larger_checkpoint_only_with_a_proof_that_it_extends_the_last(
    app: Flask, instance: Path, witness: dict[str, Path]
) -> None:
    """Observed on main: the witness compared sizes only, so any larger checkpoint signed with the log key (a
    rewritten history, grown past the size it had seen) was cosigned."""
    folder = instance / "checkpoints"
    build_log(app, 10)
    make_checkpoint(app)
    first = witness["host"] / "kept-11.txt"
    assert cosign(app, folder / checkpoint_file_name(11), witness["key"], out=first).exit_code == 0
    build_log(app, 4, start=11)
    make_checkpoint(app)  # size 16
    grown = folder / checkpoint_file_name(16)

    refused = cosign(app, grown, witness["key"], out=witness["host"] / "kept-16.txt")
    assert refused.exit_code == 1, refused.output
    assert "this witness cosigned" in refused.output and "at size 11" in refused.output
    assert "--proof" in refused.output and "flask audit consistency-proof --from 11" in refused.output
    assert not (witness["host"] / "kept-16.txt").exists()

    proof = witness["host"] / "proof-11-16.txt"
    made = consistency_proof(app, 11, grown, proof)
    assert made.exit_code == 0, made.output
    assert proof.read_text().startswith("old 11\n")
    done = cosign_with_proof(app, grown, witness["key"], proof, witness["host"] / "kept-16.txt")
    assert done.exit_code == 0, done.output
    assert "cosigned" in done.output and "consistent with size 11" in done.output
    state = (witness["host"] / "witness-a.key.state").read_text()
    assert state.split(" ")[1] == "16" and (witness["host"] / "witness-a.key.state").stat().st_mode & 0o777 == 0o600

    # A proof from another size than the witness's last is refused, naming the size it needs.
    build_log(app, 2, start=16)
    make_checkpoint(app)  # size 19
    later = folder / checkpoint_file_name(19)
    stale = witness["host"] / "proof-11-19.txt"
    assert consistency_proof(app, 11, later, stale).exit_code == 0
    wrong = cosign_with_proof(app, later, witness["key"], stale, witness["host"] / "kept-19.txt")
    assert wrong.exit_code == 1 and "a proof from size 11, but this witness last cosigned size 16" in wrong.output


def test_a_witness_refuses_a_rewritten_history_grown_past_what_it_saw(
    app: Flask, backend: str, instance: Path, witness: dict[str, Path]
) -> None:
    """The attacker holds the database, the instance folder and the log key: rewrite an early event, append, sign
    a larger checkpoint of the forged log and hand the witness a proof computed from the forged tables."""
    import json

    from tests.audit.test_verify import rewrite_from

    folder = instance / "checkpoints"
    build_log(app, 10)
    make_checkpoint(app)
    assert cosign(app, folder / checkpoint_file_name(11), witness["key"], out=witness["host"] / "k.txt").exit_code == 0
    forged_body = json.loads(events(app)[2].body)
    forged_body["data"]["note"] = "nothing happened"
    body = json.dumps(forged_body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    tamper(app, backend, *rewrite_from(app, 3, body), ("DELETE FROM audit_checkpoint", {}))
    build_log(app, 5, start=11)
    leaves = [bytes(row.leaf_hash) for row in events(app)]
    with app.app_context():
        forged = sign_checkpoint(
            app.config["AUDIT_ORIGIN"], len(leaves), tree_root(leaves), load_log_key(), log_key_name()
        )
    forged_file = witness["host"] / "forged.txt"
    forged_file.write_text(forged)
    # Larger than what the witness saw, signed with the log key: on main that was enough to be cosigned.
    plain = cosign(app, forged_file, witness["key"], out=witness["host"] / "cosigned-forgery.txt")
    assert plain.exit_code == 1 and "Give --proof" in plain.output, plain.output
    proof = witness["host"] / "proof.txt"
    assert consistency_proof(app, 11, forged_file, proof).exit_code == 0, "the forged tables agree with themselves"

    refused = cosign_with_proof(app, forged_file, witness["key"], proof, witness["host"] / "cosigned-forgery.txt")
    assert refused.exit_code == 1, refused.output
    assert "does not extend the checkpoint this witness cosigned at size 11" in refused.output
    assert "forked or rewritten" in refused.output
    assert not (witness["host"] / "cosigned-forgery.txt").exists()
    assert (witness["host"] / "witness-a.key.state").read_text().split(" ")[1] == "11"


def test_verify_shows_that_the_grown_log_extends_the_newest_cosigned_checkpoint(
    app: Flask, instance: Path, witness: dict[str, Path]
) -> None:
    build_log(app, 10)
    make_checkpoint(app)
    assert cosign(app, instance / "checkpoints" / checkpoint_file_name(11), witness["key"]).exit_code == 0
    build_log(app, 300, start=11)  # past a full tile: the proof reads stored tiles as well as leaves
    size = len(events(app))
    code, output = verify(app)
    assert code == 0, output
    assert output.endswith(
        f"newest cosigned checkpoint: size 11, by witness-a; the log of {size} events extends it "
        f"(consistency proof from 11 to {size} verified)\n"
    ), output


def test_a_damaged_or_malformed_proof_is_refused_and_nothing_is_cosigned(
    app: Flask, instance: Path, witness: dict[str, Path]
) -> None:
    folder = instance / "checkpoints"
    build_log(app, 10)
    make_checkpoint(app)
    assert cosign(app, folder / checkpoint_file_name(11), witness["key"], out=witness["host"] / "k.txt").exit_code == 0
    build_log(app, 20, start=11)
    make_checkpoint(app)
    grown = folder / checkpoint_file_name(32)
    proof = witness["host"] / "proof.txt"
    assert consistency_proof(app, 11, grown, proof).exit_code == 0
    lines = proof.read_text().splitlines()
    flipped = bytearray(base64.b64decode(lines[1]))
    flipped[0] ^= 1
    damaged = witness["host"] / "damaged.txt"
    damaged.write_text("\n".join([lines[0], base64.b64encode(bytes(flipped)).decode(), *lines[2:]]) + "\n")
    malformed = witness["host"] / "malformed.txt"
    malformed.write_text("old 11\nnot base64!\n")
    for bad, message in ((damaged, "does not extend the checkpoint"), (malformed, "line 2 is not a base64")):
        refused = cosign_with_proof(app, grown, witness["key"], bad, witness["host"] / "out.txt")
        assert refused.exit_code == 1 and message in refused.output, refused.output
        assert not (witness["host"] / "out.txt").exists()
    too_far = consistency_proof(app, 40, grown, witness["host"] / "p.txt")
    assert too_far.exit_code == 1 and "larger than the checkpoint's size 32" in too_far.output
