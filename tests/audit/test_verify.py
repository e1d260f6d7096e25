"""`flask audit verify` against a database tampered with by someone who can switch the triggers off.

Each test edits the raw tables the way an administrator with database access could, and asserts the exact
line the command prints: auditors act on that line, so its wording and the seq it names are the contract.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from disclosure import create_app
from disclosure.audit.actions import AuditAction
from disclosure.audit.models import AuditEvent
from disclosure.audit.note import key_id, sign_checkpoint
from disclosure.audit.service import SystemActor, checkpoint_file_name, record
from disclosure.extensions import db
from disclosure.keyring import log_key_name, log_public_key
from tests.conftest import base_settings, csrf_from

CHAIN_DOMAIN = b"disclosure-audit-v1\x00"
Statement = tuple[str, dict[str, Any]]


def leaf_of(body: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + body).digest()


def tree_root(leaves: Sequence[bytes]) -> bytes:
    """RFC 6962 MTH, independent of disclosure.audit.merkle."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + tree_root(leaves[:split]) + tree_root(leaves[split:])).digest()


def frontier_of(leaves: Sequence[bytes]) -> bytes:
    parts, start = [], 0
    for bit in reversed(range(len(leaves).bit_length())):
        if len(leaves) & (1 << bit):
            parts.append(tree_root(leaves[start : start + (1 << bit)]))
            start += 1 << bit
    return b"".join(parts)


def build_log(app: Flask, count: int, start: int = 0) -> None:
    with app.app_context():
        for index in range(start, start + count):
            record(
                SystemActor("test_verify"),
                AuditAction.USER_ROLES_CHANGED if index % 2 else AuditAction.USER_CREATE,
                subject=f"user:{index}",
                data={"index": index, "note": f"event number {index}"},
                ip="192.0.2.1",
            )
            db.session.commit()


def events(app: Flask) -> list[Any]:
    with app.app_context():
        return list(db.session.execute(select(AuditEvent.__table__).order_by(AuditEvent.seq)).all())


def tamper(app: Flask, backend: str, *statements: Statement) -> None:
    """Run raw SQL with the append-only triggers out of the way, as a database administrator could."""
    with app.app_context(), db.engine.begin() as connection:
        if backend == "postgresql":
            # Superuser only: replica mode skips ordinary triggers for this transaction.
            connection.execute(sa.text("SET LOCAL session_replication_role = replica"))
        else:
            for table in ("audit_event", "audit_checkpoint"):
                connection.execute(sa.text(f"DROP TRIGGER IF EXISTS {table}_no_update"))
                connection.execute(sa.text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
        for sql, params in statements:
            connection.execute(sa.text(sql), params)


def verify(app: Flask, *checkpoint_files: Path) -> tuple[int, str]:
    args = ["audit", "verify"]
    for path in checkpoint_files:
        args += ["--checkpoint", str(path)]
    result = app.test_cli_runner().invoke(args=args)
    return result.exit_code, result.output


def make_checkpoint(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["audit", "checkpoint"])
    assert result.exit_code == 0, result.output


def rewrite_from(app: Flask, seq: int, new_body: bytes) -> list[Statement]:
    """Replace one body and recompute every later leaf, chain hash and the head, leaving no inner trace."""
    rows = events(app)
    bodies = [bytes(row.body) for row in rows]
    bodies[seq - 1] = new_body
    statements: list[Statement] = []
    previous, leaves = bytes(32), []
    for index, body in enumerate(bodies, start=1):
        leaf = leaf_of(body)
        chain = hashlib.sha256(CHAIN_DOMAIN + previous + leaf).digest()
        if index >= seq:
            decoded = json.loads(body)
            statements.append(
                (
                    "UPDATE audit_event SET body = :body, leaf_hash = :leaf, chain_hash = :chain, "
                    "subject = :subject "
                    "WHERE seq = :seq",
                    {"body": body, "leaf": leaf, "chain": chain, "subject": decoded["subject"], "seq": index},
                )
            )
        previous = chain
        leaves.append(leaf)
    statements.append(
        (
            "UPDATE audit_head SET chain_tip = :tip, frontier = :frontier WHERE id = 1",
            {"tip": previous, "frontier": frontier_of(leaves)},
        )
    )
    return statements


def truncate_to(app: Flask, size: int) -> list[Statement]:
    """Delete the tail after size, and every stored checkpoint that would give it away, and fix the head."""
    rows = events(app)[:size]
    return [
        ("DELETE FROM audit_event WHERE seq > :size", {"size": size}),
        ("DELETE FROM audit_checkpoint WHERE size > :size", {"size": size}),
        (
            "UPDATE audit_head SET size = :size, chain_tip = :tip, frontier = :frontier WHERE id = 1",
            {
                "size": size,
                "tip": bytes(rows[-1].chain_hash),
                "frontier": frontier_of([bytes(r.leaf_hash) for r in rows]),
            },
        ),
    ]


def test_verify_without_a_schema_says_to_run_the_migrations(tmp_path: Path) -> None:
    bare = create_app(base_settings(tmp_path / "instance", f"sqlite:///{tmp_path / 'empty.db'}"))
    result = bare.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "has `flask db upgrade` been run?" in result.output and "Traceback" not in result.output


def test_intact_log_exits_0_and_prints_size_and_root(app: Flask) -> None:
    build_log(app, 12)
    leaves = [leaf_of(bytes(row.body)) for row in events(app)]
    assert verify(app) == (0, f"intact: 12 events, root {tree_root(leaves).hex()}\n")


def test_one_changed_byte_in_one_body_is_named(app: Flask, backend: str) -> None:
    build_log(app, 12)
    body = bytearray(events(app)[4].body)
    at = body.index(b"event number")
    body[at] ^= 0x20  # "event" -> "Event": one byte
    tamper(app, backend, ("UPDATE audit_event SET body = :body WHERE seq = 5", {"body": bytes(body)}))
    assert verify(app) == (
        1,
        "NOT intact: seq 5: body edited: its SHA-256 no longer matches the stored leaf hash\n",
    )


def test_one_deleted_row_in_the_middle_is_named(app: Flask, backend: str) -> None:
    build_log(app, 12)
    tamper(app, backend, ("DELETE FROM audit_event WHERE seq = 6", {}))
    assert verify(app) == (1, "NOT intact: seq 6: row missing: the log jumps from seq 5 to seq 7\n")


def test_two_swapped_rows_are_named(app: Flask, backend: str) -> None:
    build_log(app, 12)
    # Through a free number: the primary key is checked row by row on both databases.
    tamper(
        app,
        backend,
        ("UPDATE audit_event SET seq = 1000004 WHERE seq = 4", {}),
        ("UPDATE audit_event SET seq = 4 WHERE seq = 7", {}),
        ("UPDATE audit_event SET seq = 7 WHERE seq = 1000004", {}),
    )
    assert verify(app) == (1, "NOT intact: seq 4: rows reordered: row 4 holds the event recorded as seq 7\n")


def test_deleted_tail_is_caught_by_the_head_row(app: Flask, backend: str) -> None:
    build_log(app, 12)
    tamper(app, backend, ("DELETE FROM audit_event WHERE seq > 10", {}))
    assert verify(app) == (
        1,
        "NOT intact: seq 11: tail truncated: the head records 12 events, the table holds 10\n",
    )


def test_truncated_tail_with_head_fixed_is_caught_only_by_an_earlier_checkpoint(
    app: Flask, backend: str, instance: Path, tmp_path: Path
) -> None:
    build_log(app, 10)
    make_checkpoint(app)  # records seq 11 and signs size 11
    witness = tmp_path / "witness-checkpoint.txt"
    shutil.copyfile(instance / "checkpoints" / checkpoint_file_name(11), witness)
    build_log(app, 4, start=10)
    tamper(app, backend, *truncate_to(app, 8))

    # Without the witness the cut is invisible: this proves the head and stored checkpoints were fixed up.
    leaves = [bytes(row.leaf_hash) for row in events(app)]
    assert verify(app) == (0, f"intact: 8 events, root {tree_root(leaves).hex()}\n")
    assert verify(app, witness) == (
        1,
        f"NOT intact: seq 9: tail truncated: checkpoint file {witness} covers 11 events, the log holds 8\n",
    )


def test_history_rewritten_consistently_is_caught_by_a_stored_checkpoint(app: Flask, backend: str) -> None:
    build_log(app, 8)
    make_checkpoint(app)  # stored checkpoint #2 at size 9 (#1 is the first event's, at size 1)
    build_log(app, 3, start=8)
    forged = json.loads(events(app)[2].body)
    forged["subject"] = "user:999"
    body = json.dumps(forged, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    tamper(app, backend, *rewrite_from(app, 3, body))
    assert verify(app) == (
        1,
        "NOT intact: history rewritten: the first 9 events no longer give the root signed in stored checkpoint #2\n",
    )


def test_history_rewritten_and_stored_checkpoints_deleted_is_caught_by_a_kept_file(
    app: Flask, backend: str, instance: Path, tmp_path: Path
) -> None:
    build_log(app, 8)
    make_checkpoint(app)
    witness = tmp_path / "kept.txt"
    shutil.copyfile(instance / "checkpoints" / checkpoint_file_name(9), witness)
    forged = json.loads(events(app)[2].body)
    forged["data"]["note"] = "nothing happened"
    body = json.dumps(forged, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    tamper(app, backend, *rewrite_from(app, 3, body), ("DELETE FROM audit_checkpoint", {}))

    assert verify(app)[0] == 0, "the rewrite is consistent: without a checkpoint nothing can tell"
    assert verify(app, witness) == (
        1,
        "NOT intact: history rewritten: "
        f"the first 9 events no longer give the root signed in checkpoint file {witness}\n",
    )


def test_checkpoint_signed_by_another_key_is_reported_as_forged(app: Flask, tmp_path: Path) -> None:
    build_log(app, 5)
    leaves = [bytes(row.leaf_hash) for row in events(app)]
    with app.app_context():
        name, origin, real_key = log_key_name(), app.config["AUDIT_ORIGIN"], log_public_key()
    forged = tmp_path / "forged.txt"
    # Same origin, same key name, a true root even: only the key differs.
    forged.write_text(sign_checkpoint(origin, 5, tree_root(leaves), Ed25519PrivateKey.generate(), name))
    assert verify(app, forged) == (
        1,
        f"NOT intact: checkpoint file {forged}: checkpoint signature invalid or forged "
        f"(note has no signature by key {name}+{key_id(name, real_key).hex()})\n",
    )


def test_checkpoint_with_a_changed_root_is_reported_as_forged(app: Flask, instance: Path, tmp_path: Path) -> None:
    build_log(app, 5)
    make_checkpoint(app)
    note = (instance / "checkpoints" / checkpoint_file_name(6)).read_text()
    origin, size, _root, rest = note.split("\n", 3)
    altered = tmp_path / "altered.txt"
    altered.write_text("\n".join([origin, size, base64.b64encode(bytes(32)).decode(), rest]))
    with app.app_context():
        name, kid = log_key_name(), key_id(log_key_name(), log_public_key()).hex()
    assert verify(app, altered) == (
        1,
        f"NOT intact: checkpoint file {altered}: checkpoint signature invalid or forged "
        f"(signature by {name}+{kid} does not verify; the note was altered)\n",
    )


def test_forged_checkpoint_inserted_into_the_database_is_reported(app: Flask, backend: str) -> None:
    build_log(app, 5)  # stored checkpoint #1 at size 1
    with app.app_context():
        name, origin = log_key_name(), app.config["AUDIT_ORIGIN"]
    note = sign_checkpoint(origin, 3, bytes(32), Ed25519PrivateKey.generate(), name)
    # INSERT needs no trigger dropped: append-only tables accept new rows.
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO audit_checkpoint (size, root, note, reason, created_at) "
                "VALUES (3, :root, :note, 'manual', CURRENT_TIMESTAMP)"
            ),
            {"root": bytes(32), "note": note},
        )
    code, output = verify(app)
    assert code == 1
    assert output.startswith("NOT intact: stored checkpoint #2: checkpoint signature invalid or forged (")


@pytest.mark.parametrize(
    ("change", "finding"),
    [
        (
            "chain",
            "NOT intact: seq 5: chain broken: the chain hash does not follow from the previous event\n",
        ),
        (
            "body_and_leaf",
            "NOT intact: seq 5: chain broken: the chain hash does not follow from the previous event\n",
        ),
        (
            "action_column",
            "NOT intact: seq 5: index columns (action, subject) edited: they differ from the hashed body\n",
        ),
        (
            "subject_column",
            "NOT intact: seq 5: index columns (action, subject) edited: they differ from the hashed body\n",
        ),
        ("head_tip", "NOT intact: the head's chain tip differs from the last event's chain hash\n"),
        ("head_frontier", "NOT intact: the head's tree frontier differs from the recomputed tree\n"),
    ],
)
def test_other_edits_are_named(app: Flask, backend: str, change: str, finding: str) -> None:
    build_log(app, 8)
    body = bytes(events(app)[4].body).replace(b"event number", b"event NUMBER")
    head = events(app)
    statements = {
        "chain": ("UPDATE audit_event SET chain_hash = :junk WHERE seq = 5", {"junk": bytes(32)}),
        "body_and_leaf": (
            "UPDATE audit_event SET body = :body, leaf_hash = :leaf WHERE seq = 5",
            {"body": body, "leaf": leaf_of(body)},
        ),
        "action_column": ("UPDATE audit_event SET action = 'user.sign_in' WHERE seq = 5", {}),
        "subject_column": ("UPDATE audit_event SET subject = 'user:1' WHERE seq = 5", {}),
        "head_tip": ("UPDATE audit_head SET chain_tip = :tip", {"tip": bytes(head[3].chain_hash)}),
        "head_frontier": (
            "UPDATE audit_head SET frontier = :frontier",
            {"frontier": frontier_of([bytes(r.leaf_hash) for r in head[:7]] + [bytes(32)])},
        ),
    }
    tamper(app, backend, statements[change])
    assert verify(app) == (1, finding)


def test_rows_appended_behind_the_heads_back_are_named(app: Flask) -> None:
    build_log(app, 4)
    rows = events(app)
    body = bytes(rows[-1].body).replace(b'"seq":4', b'"seq":5')
    leaf = leaf_of(body)
    chain = hashlib.sha256(CHAIN_DOMAIN + bytes(rows[-1].chain_hash) + leaf).digest()
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            sa.insert(AuditEvent.__table__).values(
                seq=5,
                ts=rows[-1].ts,
                body=body,
                leaf_hash=leaf,
                chain_hash=chain,
                action=rows[-1].action,
                actor_id=None,
                subject=rows[-1].subject,
            )
        )
    assert verify(app) == (1, "NOT intact: seq 5: rows appended behind the head's back (head size 4)\n")


def test_verify_now_button_shows_intact_and_is_recorded(app: Flask, client: FlaskClient, login_as: Any) -> None:
    auditor = login_as("auditor")
    page = client.get("/audit/checkpoint")
    assert page.status_code == 200
    size = len(events(app))
    response = client.post("/audit/checkpoint", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"intact: {size} events, root " in html and "NOT intact" not in html

    verified = events(app)[-1]
    body = json.loads(verified.body)
    assert verified.action == "audit.verified" and verified.actor_id == auditor.id
    assert (body["outcome"], body["ip"], body["data"]["size"]) == ("success", "127.0.0.1", size)


def test_verify_now_button_reports_tampering_and_records_the_failure(
    app: Flask, backend: str, client: FlaskClient, login_as: Any
) -> None:
    login_as("auditor")
    build_log(app, 4)
    tamper(app, backend, ("UPDATE audit_event SET chain_hash = :junk WHERE seq = 3", {"junk": bytes(32)}))
    page = client.get("/audit/checkpoint")
    response = client.post("/audit/checkpoint", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert "NOT intact: seq 3: chain broken" in response.get_data(as_text=True)
    body = json.loads(events(app)[-1].body)
    assert (body["action"], body["outcome"]) == ("audit.verified", "failure")


def test_verify_now_is_refused_to_roles_without_audit_verify(app: Flask, client: FlaskClient, login_as: Any) -> None:
    login_as("intake")
    before = len(events(app))
    assert client.get("/audit/checkpoint").status_code == 403
    assert client.post("/audit/checkpoint", data={}).status_code in {400, 403}
    assert not any(row.action == "audit.verified" for row in events(app)[before:])


# -- The scan itself: batches, seams and the tree ------------------------------------------------------------


def test_tree_matches_the_reference_for_every_size_and_any_batching() -> None:
    from disclosure.audit.merkle import RootBuilder
    from disclosure.audit.verify import _Tree

    rng = random.Random(6962)
    leaves = [hashlib.sha256(b"\x00" + str(index).encode()).digest() for index in range(300)]
    for size in range(0, 300):
        tree, at = _Tree(), 0
        while at < size:  # batches of random widths, so aligned and unaligned runs both occur
            width = rng.choice([1, 3, 16, 17, 32, 64, 100])
            tree.extend(leaves[at : min(size, at + width)])
            at = min(size, at + width)
        reference = RootBuilder()
        reference.extend(leaves[:size])
        assert (tree.size, tree.root(), tree.stack) == (size, tree_root(leaves[:size]), reference.frontier), size


@pytest.mark.parametrize(
    ("change", "finding"),
    [
        (None, None),
        ("body", "NOT intact: seq 6: body edited: its SHA-256 no longer matches the stored leaf hash\n"),
        ("delete", "NOT intact: seq 8: row missing: the log jumps from seq 7 to seq 9\n"),
        (
            "subject",
            "NOT intact: seq 9: index columns (action, subject) edited: they differ from the hashed body\n",
        ),
    ],
)
def test_findings_and_checkpoints_across_batch_seams(
    app: Flask, backend: str, monkeypatch: pytest.MonkeyPatch, change: str | None, finding: str | None
) -> None:
    # Batches of 4 rows put seams everywhere: a sound batch goes the fast way, the bad one row by row, and
    # checkpoints fall inside batches as well as on their edges.
    from disclosure.audit import verify as verify_module

    monkeypatch.setattr(verify_module, "BATCH", 4)
    build_log(app, 5)
    make_checkpoint(app)  # size 6
    build_log(app, 7, start=5)
    make_checkpoint(app)  # size 14
    build_log(app, 3, start=12)
    statements = {
        "body": ("UPDATE audit_event SET body = :body WHERE seq = 6", {"body": b'{"action":"x"}'}),
        "delete": ("DELETE FROM audit_event WHERE seq = 8", {}),
        "subject": ("UPDATE audit_event SET subject = 'user:0' WHERE seq = 9", {}),
    }
    if change is not None:
        tamper(app, backend, statements[change])
        assert verify(app) == (1, finding)
        return
    leaves = [leaf_of(bytes(row.body)) for row in events(app)]
    assert verify(app) == (0, f"intact: 17 events, root {tree_root(leaves).hex()}\n")


def test_subjects_that_json_escapes_do_not_pass_for_tampering(app: Flask) -> None:
    # The fast path compares raw bytes; a subject with quotes, backslashes or non-ASCII must still verify.
    with app.app_context():
        for subject in ('quote"d', "back\\slash", "ünïcödé ✓", "tab\tand\nnewline", None):
            record(SystemActor("test_verify"), AuditAction.AUDIT_VERIFIED, subject=subject, data={"s": subject})
        db.session.commit()
    assert verify(app)[0] == 0
