"""record(): what lands in audit_event and audit_head, when checkpoints are signed, what the database refuses.

Runs on SQLite and PostgreSQL. Hashes are recomputed here with plain hashlib from DESIGN's formulas, not with
the package's own helpers, so a wrong formula in disclosure.audit cannot agree with itself.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from disclosure.audit.actions import AuditAction
from disclosure.audit.models import AppendOnlyViolation, AuditCheckpoint, AuditEvent, AuditHead
from disclosure.audit.service import checkpoint_file_name, record
from disclosure.extensions import db
from disclosure.keyring import log_key_name, log_public_key
from disclosure.services import SystemActor
from disclosure_proofs.note import verify_checkpoint
from tests.conftest import sign_in
from tests.factories import PASSWORD, make_user

CHAIN_DOMAIN = b"disclosure-audit-v1\x00"
ACTOR = SystemActor("test_record")


def leaf_of(body: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + body).digest()


def chain_of(previous: bytes, leaf: bytes) -> bytes:
    return hashlib.sha256(CHAIN_DOMAIN + previous + leaf).digest()


def tree_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 MTH, written out independently of disclosure.audit.merkle."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + tree_root(leaves[:split]) + tree_root(leaves[split:])).digest()


def frontier_of(leaves: list[bytes]) -> bytes:
    """The roots of the perfect subtrees, largest first: one per set bit of the size."""
    parts, start = [], 0
    for bit in reversed(range(len(leaves).bit_length())):
        if len(leaves) & (1 << bit):
            parts.append(tree_root(leaves[start : start + (1 << bit)]))
            start += 1 << bit
    return b"".join(parts)


def stored_events(app: Flask) -> list[Any]:
    with app.app_context():
        return list(db.session.execute(select(AuditEvent.__table__).order_by(AuditEvent.seq)).all())


def stored_head(app: Flask) -> Any:
    with app.app_context():
        return db.session.execute(select(AuditHead.__table__)).one()


def stored_checkpoints(app: Flask) -> list[Any]:
    with app.app_context():
        return list(db.session.execute(select(AuditCheckpoint.__table__).order_by(AuditCheckpoint.id)).all())


def append_events(app: Flask, count: int, *, commit_each: bool = True) -> None:
    with app.app_context():
        for index in range(count):
            record(
                ACTOR,
                AuditAction.AUDIT_VERIFIED,
                subject=f"test:{index}",
                data={"index": index},
                ip="192.0.2.7",
            )
            if commit_each:
                db.session.commit()
        db.session.commit()


def test_record_appends_gapless_events_with_canonical_bodies_and_chained_hashes(app: Flask) -> None:
    with app.app_context():
        user = make_user("auditor")  # records user.create as seq 1
        from disclosure.auth.models import User

        actor = db.session.get(User, user.id)
        record(
            actor,
            AuditAction.USER_ROLES_CHANGED,
            subject=f"user:{user.id}",
            ip="198.51.100.4",
            data={"added": ["reviewer"], "removed": []},
        )
        record(
            None,
            AuditAction.USER_SIGN_IN_FAILED,
            subject=None,
            ip="203.0.113.9",
            outcome="failure",
            data={"reason": "unknown_account"},
        )
        db.session.commit()
    append_events(app, 4)

    events = stored_events(app)
    assert [event.seq for event in events] == list(range(1, 8))
    previous = bytes(32)
    for event in events:
        body = bytes(event.body)
        decoded = json.loads(body)
        # Canonical: re-encoding the parsed body gives the very bytes that were hashed.
        assert body == json.dumps(decoded, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert decoded["seq"] == event.seq and decoded["action"] == event.action and decoded["subject"] == event.subject
        assert set(decoded) >= {"actor", "action", "subject", "ip", "outcome", "data", "ts"}
        assert bytes(event.leaf_hash) == leaf_of(body)
        assert bytes(event.chain_hash) == chain_of(previous, leaf_of(body))
        previous = bytes(event.chain_hash)

    changed = json.loads(events[1].body)
    assert changed["actor"] == {"kind": "user", "id": user.id, "email": user.email}
    assert events[1].actor_id == user.id
    assert (changed["action"], changed["subject"], changed["ip"], changed["outcome"]) == (
        "user.roles_changed",
        f"user:{user.id}",
        "198.51.100.4",
        "success",
    )
    assert changed["data"] == {"added": ["reviewer"], "removed": []}
    anonymous = json.loads(events[2].body)
    assert (anonymous["actor"], anonymous["outcome"], anonymous["ip"]) == (None, "failure", "203.0.113.9")
    assert json.loads(events[3].body)["actor"] == {"kind": "system", "name": "test_record"}


def test_head_row_holds_size_chain_tip_and_frontier_of_the_whole_log(app: Flask) -> None:
    # 11 = 0b1011: three perfect subtrees (8, 2, 1), so a frontier that kept only the last root would show.
    append_events(app, 11)
    events = stored_events(app)
    leaves = [leaf_of(bytes(event.body)) for event in events]
    head = stored_head(app)
    assert head.size == 11
    assert bytes(head.chain_tip) == bytes(events[-1].chain_hash)
    assert bytes(head.frontier) == frontier_of(leaves)
    assert head.updated_at is not None


def test_a_checkpoint_is_signed_every_n_events_and_covers_the_log_at_that_size(app: Flask, instance: Path) -> None:
    app.config["AUDIT_CHECKPOINT_EVERY"] = 3
    append_events(app, 7)

    checkpoints = stored_checkpoints(app)
    # The first event of a log without any checkpoint is signed at once (the interval rule), then every 3.
    assert [(c.size, c.reason) for c in checkpoints] == [(1, "interval"), (3, "count"), (6, "count")]
    leaves = [leaf_of(bytes(event.body)) for event in stored_events(app)]
    with app.app_context():
        public_key, name, origin = log_public_key(), log_key_name(), app.config["AUDIT_ORIGIN"]
    for checkpoint in checkpoints:
        signed = verify_checkpoint(checkpoint.note, public_key, name, expected_origin=origin)
        assert signed.size == checkpoint.size
        assert signed.root == bytes(checkpoint.root) == tree_root(leaves[: checkpoint.size])
        # The same note, byte for byte, is kept outside the database.
        assert (instance / "checkpoints" / checkpoint_file_name(checkpoint.size)).read_text() == checkpoint.note


def test_checkpoint_file_appears_only_after_commit_and_never_after_rollback(app: Flask, instance: Path) -> None:
    app.config["AUDIT_CHECKPOINT_EVERY"] = 4
    folder = instance / "checkpoints"
    append_events(app, 2)  # seq 1 (interval checkpoint) and 2
    with app.app_context():
        for index in range(2):
            record(ACTOR, AuditAction.AUDIT_VERIFIED, subject="rolled-back", data={"index": index})
        assert db.session.info.get("pending_checkpoint_notes"), "a count checkpoint was due at size 4"
        assert not (folder / checkpoint_file_name(4)).exists(), "written before the transaction committed"
        db.session.rollback()
    assert not (folder / checkpoint_file_name(4)).exists()
    assert [c.size for c in stored_checkpoints(app)] == [1]

    # The same size is reached again by other events: only their (committed) checkpoint may appear.
    with app.app_context():
        for index in range(2):
            record(ACTOR, AuditAction.AUDIT_VERIFIED, subject="kept", data={"index": index})
        assert not (folder / checkpoint_file_name(4)).exists()
        db.session.commit()
    leaves = [leaf_of(bytes(event.body)) for event in stored_events(app)]
    assert [event.subject for event in stored_events(app)][2:] == ["kept", "kept"]
    with app.app_context():
        signed = verify_checkpoint((folder / checkpoint_file_name(4)).read_text(), log_public_key(), log_key_name())
    assert signed.size == 4 and signed.root == tree_root(leaves)


@pytest.mark.parametrize("model", [AuditEvent, AuditCheckpoint])
def test_orm_listener_refuses_to_modify_or_delete_audit_rows(app: Flask, model: type) -> None:
    append_events(app, 1)  # one event and its interval checkpoint
    with app.app_context():
        row = db.session.execute(select(model)).scalars().first()
        if model is AuditEvent:
            row.subject = "rewritten"
        else:
            row.reason = "rewritten"
        with pytest.raises(AppendOnlyViolation, match="append-only"):
            db.session.flush()
        db.session.rollback()

        row = db.session.execute(select(model)).scalars().first()
        db.session.delete(row)
        with pytest.raises(AppendOnlyViolation, match="append-only"):
            db.session.flush()
        db.session.rollback()
    assert len(stored_events(app)) == 1 and stored_events(app)[0].subject == "test:0"
    assert [c.reason for c in stored_checkpoints(app)] == ["interval"]


RAW_CHANGES = {
    "audit_event": [
        "UPDATE audit_event SET subject = 'rewritten' WHERE seq = 1",
        "UPDATE audit_event SET body = :junk WHERE seq = 1",
        "DELETE FROM audit_event WHERE seq = 1",
    ],
    "audit_checkpoint": [
        "UPDATE audit_checkpoint SET reason = 'rewritten'",
        "UPDATE audit_checkpoint SET root = :junk",
        "DELETE FROM audit_checkpoint",
    ],
}


def table_snapshot(app: Flask, table: str) -> list[Any]:
    with app.app_context():
        return list(db.session.execute(sa.text(f"SELECT * FROM {table} ORDER BY 1")).all())


@pytest.mark.parametrize(("table", "statement"), [(t, s) for t, statements in RAW_CHANGES.items() for s in statements])
def test_database_refuses_raw_update_and_delete(app: Flask, table: str, statement: str) -> None:
    append_events(app, 3)
    before = table_snapshot(app, table)
    assert before, "nothing to change: the test would prove nothing"
    with (
        app.app_context(),
        pytest.raises(sa.exc.DBAPIError, match="append-only"),
        db.engine.begin() as connection,
    ):
        connection.execute(sa.text(statement), {"junk": b"x" * 32})
    assert table_snapshot(app, table) == before


@pytest.mark.parametrize("table", ["audit_event", "audit_checkpoint"])
def test_database_refuses_emptying_the_table(app: Flask, backend: str, table: str) -> None:
    # PostgreSQL's TRUNCATE skips row triggers, hence its own statement trigger; SQLite has no TRUNCATE, but
    # an unqualified DELETE is its "truncate optimization", which must not slip past the row trigger either.
    append_events(app, 3)
    before = table_snapshot(app, table)
    statement = f"TRUNCATE {table}" if backend == "postgresql" else f"DELETE FROM {table}"
    with (
        app.app_context(),
        pytest.raises(sa.exc.DBAPIError, match="append-only"),
        db.engine.begin() as connection,
    ):
        connection.execute(sa.text(statement))
    assert table_snapshot(app, table) == before


def test_web_sign_in_is_recorded_with_actor_ip_and_outcome(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        user = make_user("intake")
    response = sign_in(client, user.email, PASSWORD)
    assert response.status_code == 302

    sign_ins = [event for event in stored_events(app) if event.action == "user.sign_in"]
    assert len(sign_ins) == 1
    body = json.loads(sign_ins[0].body)
    assert body["actor"] == {"kind": "user", "id": user.id, "email": user.email}
    assert (body["ip"], body["outcome"], body["subject"]) == ("127.0.0.1", "success", f"user:{user.id}")
    assert sign_ins[0].actor_id == user.id and body["ts"].endswith("Z")


def test_failed_sign_in_is_recorded_as_a_failure_without_the_password(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        user = make_user("intake")
    wrong = "Tr0ub4dor&3-not-the-password"
    response = sign_in(client, user.email, wrong)
    assert response.status_code == 200
    # Someone who types their password into the email box of an unknown account must not have it logged.
    sign_in(client, wrong, wrong)

    events = stored_events(app)
    failures = [json.loads(event.body) for event in events if event.action == "user.sign_in_failed"]
    assert len(failures) == 2
    known, unknown = failures
    assert known["actor"] == {"kind": "user", "id": user.id, "email": user.email}
    assert (known["outcome"], known["ip"], known["data"]["reason"]) == (
        "failure",
        "127.0.0.1",
        "bad_password",
    )
    assert (unknown["actor"], unknown["outcome"], unknown["ip"]) == (None, "failure", "127.0.0.1")
    for event in events:
        assert wrong.encode() not in bytes(event.body)
        assert PASSWORD.encode() not in bytes(event.body)
    assert not any(event.action == "user.sign_in" for event in events)


def test_checkpoint_file_of_an_earlier_tree_is_kept_and_the_new_note_written_beside_it(
    app: Flask, instance: Path
) -> None:
    # A database restored under an old checkpoint folder: the old file is evidence; the new note must stay.
    app.config["AUDIT_CHECKPOINT_EVERY"] = 3
    folder = instance / "checkpoints"
    (folder / checkpoint_file_name(3)).write_text("an earlier tree of size 3\n")
    append_events(app, 3)
    checkpoint = next(c for c in stored_checkpoints(app) if c.size == 3)
    assert (folder / checkpoint_file_name(3)).read_text() == "an earlier tree of size 3\n"
    beside = [path for path in folder.glob("checkpoint-000000000003-*.txt")]
    assert len(beside) == 1 and beside[0].read_text() == checkpoint.note


def test_a_rolled_back_checkpoint_does_not_postpone_the_next_interval_checkpoint(app: Flask) -> None:
    # record() remembers the latest committed checkpoint to spare a query per append; one that was only made in
    # a transaction later rolled back must not count, or the log could go a whole interval without one.
    app.config["AUDIT_CHECKPOINT_EVERY"] = 0
    with app.app_context():
        record(ACTOR, AuditAction.AUDIT_VERIFIED, subject="rolled-back")  # no checkpoint yet: one is made
        record(ACTOR, AuditAction.AUDIT_VERIFIED, subject="rolled-back")  # and seen, uncommitted, by this one
        db.session.rollback()
    assert stored_checkpoints(app) == []
    append_events(app, 1)
    assert [(c.size, c.reason) for c in stored_checkpoints(app)] == [(1, "interval")]


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("DELETE FROM audit_head", "never removed"),
        ("UPDATE audit_head SET size = 1", "only grows"),
        ("UPDATE audit_head SET size = 0, chain_tip = :zero, frontier = :empty", "only grows"),
    ],
)
def test_database_refuses_rewinding_the_head(app: Flask, backend: str, statement: str, refusal: str) -> None:
    """Cutting the log's tail would mean lowering the head's size to match: the database refuses that too."""
    append_events(app, 3)
    with app.app_context():
        before = tuple(db.session.execute(select(AuditHead.size, AuditHead.chain_tip)).one())
    with (
        app.app_context(),
        pytest.raises(sa.exc.DBAPIError, match=refusal),
        db.engine.begin() as connection,
    ):
        connection.execute(sa.text(statement), {"zero": bytes(32), "empty": b""})
    with app.app_context():
        assert tuple(db.session.execute(select(AuditHead.size, AuditHead.chain_tip)).one()) == before
        assert before[0] == 3
        record(SystemActor("tests"), AuditAction.AUDIT_VERIFIED, subject="after")
        db.session.commit()
        assert db.session.execute(select(AuditHead.size)).scalar_one() == 4  # appends still move it on


def test_an_event_at_a_whole_second_is_stored_in_the_same_text_form_as_any_other(app: Flask, backend: str) -> None:
    """The auditor's time filter compares stored times: one at exactly midnight must not sort before midnight."""
    from datetime import UTC, datetime

    from freezegun import freeze_time

    with app.app_context():
        with freeze_time(datetime(2026, 3, 1, 0, 0, 0, tzinfo=UTC)):
            record(SystemActor("tests"), AuditAction.AUDIT_VERIFIED, subject="midnight")
        db.session.commit()
        midnight = datetime(2026, 3, 1, tzinfo=UTC)
        found = db.session.execute(select(AuditEvent.subject).where(AuditEvent.ts >= midnight)).scalars().all()
        assert found == ["midnight"]
        if backend == "sqlite":
            stored = db.session.execute(sa.text("SELECT ts FROM audit_event WHERE subject = 'midnight'")).scalar_one()
            assert stored == "2026-03-01 00:00:00.000000"
