"""`flask audit verify` against a database tampered with by someone who can switch the triggers off.

Each test edits the raw tables the way an administrator with database access could, and asserts the exact
line the command prints: auditors act on that line, so its wording and the seq it names are the contract.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import random
import shutil
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select

from disclosure import create_app
from disclosure.audit.actions import AuditAction
from disclosure.audit.models import AuditEvent
from disclosure.audit.service import checkpoint_file_name, record
from disclosure.audit.verify import verify_log
from disclosure.extensions import db
from disclosure.keyring import log_key_name, log_public_key
from disclosure.services import SystemActor
from disclosure_proofs.note import key_id, sign_checkpoint
from tests.conftest import base_settings, csrf_from
from tests.factories import make_user

CHAIN_DOMAIN = b"disclosure-audit-v1\x00"
Statement = tuple[str, dict[str, Any]]
SYSTEM = SystemActor("test_verify")


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


def build_log(app: Flask, count: int, start: int = 0, actor: Any = SYSTEM) -> None:
    with app.app_context():
        for index in range(start, start + count):
            record(
                actor,
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
            connection.execute(sa.text("DROP TRIGGER IF EXISTS audit_head_no_shrink"))
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
    # Kept by a witness only: `flask audit verify` also reads the checkpoint folder, so the cut must empty it too.
    shutil.move(instance / "checkpoints" / checkpoint_file_name(11), witness)
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
    shutil.move(instance / "checkpoints" / checkpoint_file_name(9), witness)  # out of the folder verify reads
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


# -- The copied actor_id and ts columns: what the auditor's views filter on ----------------------------------

ACTOR_ID = "index column actor_id edited: it differs from the hashed body"
TS = "index column ts edited: it differs from the hashed body"


@dataclass(frozen=True)
class Staff:
    """A signed-in user as record() sees one: an id and an email (no row needed: actor_id is no foreign key)."""

    id: int
    email: str


def build_log_by_everyone(app: Flask) -> tuple[int, int]:
    """Events by two real users, the system and nobody signed in, in turn, after the users' own creation."""
    with app.app_context():
        first, second = make_user("intake"), make_user("auditor")
        actors = [first, SystemActor("test_verify"), second, None]
        for index in range(12):
            record(
                actors[index % 4],
                AuditAction.USER_SIGN_IN_FAILED if actors[index % 4] is None else AuditAction.USER_SIGN_IN,
                subject=f"user:{index}",
                data={"index": index},
                ip="192.0.2.1",
            )
            db.session.commit()
    return first.id, second.id


def stored_ts(app: Flask, seq: int) -> Any:
    """The ts column as the database driver hands it over: text on SQLite, a naive datetime on PostgreSQL."""
    with app.app_context():
        return db.session.execute(sa.text("SELECT ts FROM audit_event WHERE seq = :seq"), {"seq": seq}).scalar_one()


def legacy_whole_second(app: Flask, seq: int) -> Statement:
    """SQLite: one event's ts as logs written before this version hold a whole second (no ".000000")."""
    return ("UPDATE audit_event SET ts = :legacy WHERE seq = :seq", {"legacy": stored_ts(app, seq)[:19], "seq": seq})


def shift_ts(app: Flask, backend: str, seq: int, delta: timedelta) -> Statement:
    """Move one event's ts column, written as each database holds it (SQLite: SQLAlchemy's text)."""
    if backend == "postgresql":
        return ("UPDATE audit_event SET ts = ts + :delta WHERE seq = :seq", {"delta": delta, "seq": seq})
    moved = datetime.fromisoformat(stored_ts(app, seq)) + delta
    return ("UPDATE audit_event SET ts = :ts WHERE seq = :seq", {"ts": f"{moved:%Y-%m-%d %H:%M:%S.%f}", "seq": seq})


def test_every_body_record_writes_goes_the_fast_way(app: Flask, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Users, the system and nobody signed in: every body record() writes fits the batch check, and none is gone
    # through row by row (that is what keeps a million events at hashlib's pace). A new body version, say,
    # would verify, but slowly: this is where it shows.
    from disclosure.audit import scan

    start = datetime.now(UTC).replace(microsecond=123_456, tzinfo=None) - timedelta(minutes=1)
    with freeze_time(start, auto_tick_seconds=0.001):  # never a whole second (SQLite writes those apart)
        build_log_by_everyone(app)
    diagnosed: list[int] = []
    diagnose = scan.diagnose

    def recording_diagnose(row: Any, *args: Any) -> Any:
        diagnosed.append(row[0])
        return diagnose(row, *args)

    monkeypatch.setattr(scan, "diagnose", recording_diagnose)
    assert verify(app)[0] == 0
    assert {(row.actor_id is None, json.loads(row.body)["actor"] is None) for row in events(app)} == {
        (False, False),
        (True, False),
        (True, True),
    }
    assert diagnosed == []


@pytest.mark.parametrize("batch", [4, 512])
@pytest.mark.parametrize(
    ("change", "finding"),
    [
        ("user's actor_id to the other user's", ACTOR_ID),
        ("user's actor_id to NULL", ACTOR_ID),
        ("system's actor_id to a user's", ACTOR_ID),
        ("anonymous actor_id to a user's", ACTOR_ID),
        ("ts one microsecond later", TS),
        ("ts one microsecond earlier", TS),
        ("ts one hour later", TS),
        ("actor_id and ts", "index columns (actor_id, ts) edited: they differ from the hashed body"),
    ],
)
def test_edited_actor_id_or_ts_is_named(
    app: Flask, backend: str, monkeypatch: pytest.MonkeyPatch, batch: int, change: str, finding: str
) -> None:
    # An administrator who moves someone's event to another actor or out of a time range hides it from the
    # auditor's filtered views; the body still says who and when. Batches of 4 put users seen before (whose
    # bodies' beginnings the scan remembers) ahead of the edited row; one batch of 512 meets them all at once.
    from disclosure.audit import verify as verify_module

    monkeypatch.setattr(verify_module, "BATCH", batch)
    first, second = build_log_by_everyone(app)
    rows = events(app)
    by_first = [row.seq for row in rows if row.actor_id == first]
    system = [row.seq for row in rows if json.loads(row.body)["actor"] == {"kind": "system", "name": "test_verify"}]
    anonymous = [row.seq for row in rows if json.loads(row.body)["actor"] is None]
    seq = {
        "user's actor_id to the other user's": by_first[-1],
        "user's actor_id to NULL": by_first[-2],
        "system's actor_id to a user's": system[-1],
        "anonymous actor_id to a user's": anonymous[-1],
    }.get(change, by_first[-1])
    before = rows[seq - 1]
    moves = {
        "ts one microsecond later": timedelta(microseconds=1),
        "ts one microsecond earlier": timedelta(microseconds=-1),
        "ts one hour later": timedelta(hours=1),
        "actor_id and ts": timedelta(microseconds=1),
    }
    statements = [
        shift_ts(app, backend, seq, moves[change])
        if change in moves
        else (
            "UPDATE audit_event SET actor_id = :actor WHERE seq = :seq",
            {"actor": None if change.endswith("NULL") else second, "seq": seq},
        )
    ]
    if change == "actor_id and ts":
        statements.append(("UPDATE audit_event SET actor_id = :actor WHERE seq = :seq", {"actor": second, "seq": seq}))
    tamper(app, backend, *statements)

    after = events(app)[seq - 1]
    assert after.ts - before.ts == moves.get(change, timedelta(0)), "the edit moved the column as intended"
    assert (after.body, after.leaf_hash, after.chain_hash) == (before.body, before.leaf_hash, before.chain_hash)
    assert verify(app) == (1, f"NOT intact: seq {seq}: {finding}\n")


@pytest.mark.backends("sqlite")
def test_ts_of_the_same_instant_written_another_way_is_named_on_sqlite(app: Flask, backend: str) -> None:
    # "2026-01-02T03:04:05.678901" is the same instant to a reader that parses it, but SQLite compares text, and
    # a "T" sorts after every " ": a day's filter would no longer find the event.
    build_log(app, 6)
    before = stored_ts(app, 4)
    tamper(app, backend, ("UPDATE audit_event SET ts = replace(ts, ' ', 'T') WHERE seq = 4", {}))
    assert stored_ts(app, 4) == before.replace(" ", "T")
    assert verify(app) == (1, f"NOT intact: seq 4: {TS}\n")


@pytest.mark.backends("postgresql")
def test_ts_is_read_without_a_time_zone_slip(app: Flask, backend: str) -> None:
    # PostgreSQL's ts is a timestamp without time zone: a session in another zone reads the same instant, and an
    # hour's shift is still an hour's shift there.
    build_log(app, 6)
    leaves = [leaf_of(bytes(row.body)) for row in events(app)]

    def verify_in(zone: str) -> str:
        with app.app_context(), db.engine.connect() as connection:
            connection.exec_driver_sql(f"SET TIME ZONE '{zone}'")
            return verify_log(connection, log_public_key(), log_key_name(), app.config["AUDIT_ORIGIN"]).summary()

    for zone in ("Pacific/Chatham", "America/St_Johns", "UTC"):
        assert verify_in(zone) == f"intact: 6 events, root {tree_root(leaves).hex()}", zone
    tamper(app, backend, shift_ts(app, backend, 3, timedelta(hours=1)))
    assert verify_in("Pacific/Chatham") == f"NOT intact: seq 3: {TS}"


def at_a_whole_second() -> Any:
    """The clock frozen at a whole second (its microseconds 0), a moment ago: no checkpoint falls due."""
    return freeze_time(datetime.now(UTC).replace(microsecond=0, tzinfo=None) - timedelta(seconds=5))


def test_an_event_at_a_whole_second_verifies(app: Flask, backend: str) -> None:
    # Logs written before record() used SQLAlchemy's own text form hold an event at a whole second on SQLite as
    # "2026-01-02 03:04:05" (sqlite3's adapter drops ".000000"): the same instant, and not an edit.
    build_log(app, 3)
    with at_a_whole_second():
        second = datetime.now(UTC).replace(tzinfo=None)
        build_log(app, 1, start=3)
    build_log(app, 2, start=4)
    assert json.loads(events(app)[3].body)["ts"] == f"{second:%Y-%m-%dT%H:%M:%S}.000000Z"
    assert stored_ts(app, 4) == (f"{second:%Y-%m-%d %H:%M:%S}.000000" if backend == "sqlite" else second)
    if backend == "sqlite":
        tamper(app, backend, legacy_whole_second(app, 4))
        assert stored_ts(app, 4) == f"{second:%Y-%m-%d %H:%M:%S}"
    leaves = [leaf_of(bytes(row.body)) for row in events(app)]
    assert verify(app) == (0, f"intact: 6 events, root {tree_root(leaves).hex()}\n")

    tamper(app, backend, shift_ts(app, backend, 4, timedelta(microseconds=1)))
    assert verify(app) == (1, f"NOT intact: seq 4: {TS}\n")


@pytest.mark.parametrize(
    ("seq", "wrong"),
    [(2, 41), (4, None), (6, 9), (8, 44), (12, 43)],
    ids=["quote in the email", "backslash in the email", "email that spells an id", "non-ASCII email", "new email"],
)
def test_actors_of_every_shape_verify_and_their_ids_are_still_checked(
    app: Flask, backend: str, seq: int, wrong: int | None
) -> None:
    # The scan reads a user's id from the body's bytes, after their email: emails that JSON escapes (one of them
    # spelling out another id), and a user whose email changed.
    emails = ['quote"d@example.org', "back\\slash@example.org", '","id":9,"kind":"user"}', "ünïcödé@example.org"]
    with app.app_context():
        for index, email in enumerate([*emails, "changed@example.org", "changed-again@example.org"]):
            for _ in range(2):
                record(Staff(40 + min(index, 4), email), AuditAction.USER_SIGN_IN, subject=f"user:{index}")
        db.session.commit()
    assert [row.actor_id for row in events(app)] == [40, 40, 41, 41, 42, 42, 43, 43, 44, 44, 44, 44]
    leaves = [leaf_of(bytes(row.body)) for row in events(app)]
    assert verify(app) == (0, f"intact: 12 events, root {tree_root(leaves).hex()}\n")

    tamper(app, backend, ("UPDATE audit_event SET actor_id = :actor WHERE seq = :seq", {"actor": wrong, "seq": seq}))
    assert verify(app) == (1, f"NOT intact: seq {seq}: {ACTOR_ID}\n")


def verify_through_the_page(app: Flask, client: FlaskClient) -> str:
    """Press "Verify now", run the job as the worker does, and return the job's page."""
    from disclosure.jobs import worker

    page = client.get("/audit/checkpoint")
    assert page.status_code == 200
    response = client.post("/audit/checkpoint", data={"csrf_token": csrf_from(page.get_data(as_text=True))})
    assert response.status_code == 302 and "/jobs/" in response.location
    with app.app_context():
        worker.work("test-worker", once=True, periodic=False, heartbeat_every=0.05)
    return client.get(response.location).get_data(as_text=True)


def test_verify_now_button_shows_intact_and_is_recorded(app: Flask, client: FlaskClient, login_as: Any) -> None:
    auditor = login_as("auditor")
    html = verify_through_the_page(app, client)
    verified = next(row for row in reversed(events(app)) if row.action == "audit.verified")
    body = json.loads(verified.body)
    size = body["data"]["size"]
    assert f"intact: {size} events, root " in html and "NOT intact" not in html
    assert verified.actor_id == auditor.id and verified.seq == size + 1  # it verified every event before its own
    assert (body["outcome"], body["ip"]) == ("success", "127.0.0.1")


def test_verify_now_button_reports_tampering_and_records_the_failure(
    app: Flask, backend: str, client: FlaskClient, login_as: Any
) -> None:
    login_as("auditor")
    build_log(app, 4)
    tamper(app, backend, ("UPDATE audit_event SET chain_hash = :junk WHERE seq = 3", {"junk": bytes(32)}))
    assert "NOT intact: seq 3: chain broken" in verify_through_the_page(app, client)
    body = json.loads(next(row for row in reversed(events(app)) if row.action == "audit.verified").body)
    assert (body["action"], body["outcome"]) == ("audit.verified", "failure")


def test_verify_now_is_refused_to_roles_without_audit_verify(app: Flask, client: FlaskClient, login_as: Any) -> None:
    login_as("intake")
    before = len(events(app))
    assert client.get("/audit/checkpoint").status_code == 403
    assert client.post("/audit/checkpoint", data={}).status_code in {400, 403}
    assert not any(row.action == "audit.verified" for row in events(app)[before:])


# -- The scan itself: batches, seams and the tree ------------------------------------------------------------


def test_tree_matches_the_reference_for_every_size_and_any_batching() -> None:
    from disclosure.audit.scan_tree import Tree
    from disclosure_proofs.merkle import RootBuilder

    rng = random.Random(6962)
    leaves = [hashlib.sha256(b"\x00" + str(index).encode()).digest() for index in range(300)]
    for size in range(0, 300):
        tree, at = Tree(), 0
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
    # checkpoints fall inside batches as well as on their edges. On PostgreSQL rows come 6 at a time, the next 6
    # fetched while these are checked: a finding stops the scan with a fetch still under way.
    from disclosure.audit import verify as verify_module

    monkeypatch.setattr(verify_module, "BATCH", 4)
    monkeypatch.setattr(verify_module, "POSTGRES_FETCH", 6)
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


@pytest.mark.backends("sqlite")
def test_a_body_stored_as_text_by_hand_is_checked_as_its_bytes_and_the_scan_goes_on(
    app: Flask, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Such a batch does not fit the fast check; it is gone through row by row, and the batches after it still
    # count (else the head would seem to record more events than the table holds).
    from disclosure.audit import verify as verify_module

    monkeypatch.setattr(verify_module, "BATCH", 4)
    build_log(app, 12)
    tamper(app, backend, ("UPDATE audit_event SET body = CAST(body AS TEXT) WHERE seq = 3", {}))
    with app.app_context():
        assert db.session.execute(sa.text("SELECT typeof(body) FROM audit_event WHERE seq = 3")).scalar() == "text"
    leaves = [
        leaf_of(bytes(row.body, "utf-8") if isinstance(row.body, str) else bytes(row.body)) for row in events(app)
    ]
    assert verify(app) == (0, f"intact: 12 events, root {tree_root(leaves).hex()}\n")


def test_parts_checked_apart_combine_into_the_tree_and_its_roots_at_every_mark() -> None:
    from disclosure.audit.scan_tree import PartTree, combine
    from disclosure_proofs.merkle import RootBuilder

    rng = random.Random(9162)
    leaves = [hashlib.sha256(b"\x00" + str(index).encode()).digest() for index in range(140)]
    for block in (1, 2, 4, 16):
        for size in range(0, 140, 3):
            cuts = sorted({0, size, *(rng.randrange(0, size + 1) // block * block for _ in range(rng.randrange(4)))})
            marks = {rng.randrange(1, size + 1) for _ in range(5)} if size else set()
            parts = []
            for start, end in itertools.pairwise(cuts):
                part, at = PartTree(start, block, marks), start
                while at < end:  # batches of random widths, so block edges and marks fall inside them
                    width = rng.choice([1, 3, 4, 17, 32])
                    part.extend(leaves[at : min(end, at + width)])
                    at = min(end, at + width)
                parts.append(part)
            tree, roots_at = combine(parts)
            reference = RootBuilder()
            reference.extend(leaves[:size])
            assert (tree.size, tree.root(), tree.stack) == (size, tree_root(leaves[:size]), reference.frontier)
            assert roots_at == {mark: tree_root(leaves[:mark]) for mark in marks}, (block, size, cuts)


def test_a_part_must_start_on_a_block() -> None:
    from disclosure.audit.scan_tree import PartTree

    with pytest.raises(ValueError, match="multiple of the block size"):
        PartTree(6, 4, ())


# -- Large SQLite logs in parts, the later ones checked by worker processes ----------------------------------


@dataclass
class Parts:
    """What a verification in parts did: the ranges (after, upto) given to workers, and those read here."""

    workers: list[tuple[int, int]] = field(default_factory=list)
    reads: list[tuple[int | None, int | None]] = field(default_factory=list)


@pytest.fixture
def in_parts(monkeypatch: pytest.MonkeyPatch) -> Parts:
    """Split even a small log in three (on SQLite, where workers can open the file), on 4-leaf blocks."""
    from disclosure.audit import scan_worker
    from disclosure.audit import verify as verify_module

    monkeypatch.setattr(scan_worker, "BLOCK", 4)
    monkeypatch.setattr(scan_worker, "MIN_PART", 4)
    monkeypatch.setattr(scan_worker, "available_cpus", lambda: 3)
    monkeypatch.setattr(verify_module, "BATCH", 4)
    parts = Parts()
    start, read = scan_worker.Worker.__init__, verify_module._Snapshot.event_batches

    def recording_start(worker: Any, database: str, after: int, upto: int, *rest: Any) -> None:
        parts.workers.append((after, upto))
        start(worker, database, after, upto, *rest)

    def recording_read(snapshot: Any, after: int | None = None, upto: int | None = None) -> Any:
        parts.reads.append((after, upto))
        return read(snapshot, after, upto)

    monkeypatch.setattr(scan_worker.Worker, "__init__", recording_start)
    monkeypatch.setattr(verify_module._Snapshot, "event_batches", recording_read)
    return parts


#: On SQLite: the workers' ranges; what this process reads when it needs only its own part (the workers' parts
#: were sound, or it found the first problem itself), and when it checks the rest too (a worker's was not).
WORKERS = [(8, 12), (12, 20)]
OWN_PART = [(None, 8)]
RECHECKED = [(None, 8), (8, None)]


#: The user who acts in seqs 7-9 and 16-20 of the log in parts.
STAFF = Staff(7, "staff@example.org")


def build_log_with_checkpoints_in_every_part(app: Flask, whole_second_at_16: bool = False) -> None:
    """20 events, parts (0, 8], (8, 12], (12, 20]; stored checkpoints at 1, 6, 10 and 15; STAFF acts in 7-9
    and 16-20, the system in the others."""
    build_log(app, 5)
    make_checkpoint(app)
    build_log(app, 3, start=5, actor=STAFF)
    make_checkpoint(app)
    build_log(app, 4, start=8)
    make_checkpoint(app)
    with at_a_whole_second() if whole_second_at_16 else nullcontext():
        build_log(app, 1, start=12, actor=STAFF)
    build_log(app, 4, start=13, actor=STAFF)


def swap(first: int, second: int) -> list[Statement]:
    return [
        ("UPDATE audit_event SET seq = 1000000 WHERE seq = :seq", {"seq": first}),
        ("UPDATE audit_event SET seq = :first WHERE seq = :second", {"first": first, "second": second}),
        ("UPDATE audit_event SET seq = :second WHERE seq = 1000000", {"second": second}),
    ]


EDITED = "body edited: its SHA-256 no longer matches the stored leaf hash"
BROKEN = "chain broken: the chain hash does not follow from the previous event"
COLUMNS = "index columns (action, subject) edited: they differ from the hashed body"


@pytest.mark.parametrize(
    ("change", "finding", "reads"),
    [
        ("body:3", f"seq 3: {EDITED}", OWN_PART),
        ("body:10", f"seq 10: {EDITED}", RECHECKED),
        ("body:20", f"seq 20: {EDITED}", RECHECKED),
        ("delete:8", "seq 8: row missing: the log jumps from seq 7 to seq 9", RECHECKED),
        ("delete:9", "seq 9: row missing: the log jumps from seq 8 to seq 10", RECHECKED),
        ("delete:13", "seq 13: row missing: the log jumps from seq 12 to seq 14", RECHECKED),
        ("chain:8", f"seq 8: {BROKEN}", OWN_PART),
        ("chain:12", f"seq 12: {BROKEN}", RECHECKED),
        ("chain:13", f"seq 13: {BROKEN}", RECHECKED),
        ("subject:17", f"seq 17: {COLUMNS}", RECHECKED),
        ("actor_null:8", f"seq 8: {ACTOR_ID}", OWN_PART),
        ("actor_null:18", f"seq 18: {ACTOR_ID}", RECHECKED),
        ("actor:11", f"seq 11: {ACTOR_ID}", RECHECKED),
        ("ts:5", f"seq 5: {TS}", OWN_PART),
        ("ts:9", f"seq 9: {TS}", RECHECKED),
        ("ts_hour:19", f"seq 19: {TS}", RECHECKED),
        ("swap:7:10", "seq 7: rows reordered: row 7 holds the event recorded as seq 10", OWN_PART),
        ("swap:11:14", "seq 11: rows reordered: row 11 holds the event recorded as seq 14", RECHECKED),
        # Rewritten consistently, the workers' parts are sound: only their trees, combined, give it away.
        (
            "rewrite:9",
            "history rewritten: the first 10 events no longer give the root signed in stored checkpoint #3",
            OWN_PART,
        ),
        (
            "rewrite:13",
            "history rewritten: the first 15 events no longer give the root signed in stored checkpoint #4",
            OWN_PART,
        ),
    ],
)
def test_findings_in_any_part_are_named_as_by_one_scan(
    app: Flask, backend: str, in_parts: Parts, change: str, finding: str, reads: list[tuple[int | None, int | None]]
) -> None:
    build_log_with_checkpoints_in_every_part(app)
    kind, *seqs = change.split(":")
    seq = int(seqs[0])
    if kind == "rewrite":
        forged = json.loads(events(app)[seq - 1].body)
        forged["data"]["note"] = "nothing happened"
        body = json.dumps(forged, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        statements = rewrite_from(app, seq, body)
    elif kind == "swap":
        statements = swap(seq, int(seqs[1]))
    elif kind.startswith("ts"):
        statements = [
            shift_ts(app, backend, seq, timedelta(hours=1) if kind == "ts_hour" else timedelta(microseconds=1))
        ]
    else:
        statements = [
            {
                "body": ("UPDATE audit_event SET body = :body WHERE seq = :seq", {"body": b'{"v":1}', "seq": seq}),
                "delete": ("DELETE FROM audit_event WHERE seq = :seq", {"seq": seq}),
                "chain": ("UPDATE audit_event SET chain_hash = :no WHERE seq = :seq", {"no": bytes(32), "seq": seq}),
                "subject": ("UPDATE audit_event SET subject = 'user:0' WHERE seq = :seq", {"seq": seq}),
                "actor_null": ("UPDATE audit_event SET actor_id = NULL WHERE seq = :seq", {"seq": seq}),
                "actor": ("UPDATE audit_event SET actor_id = :id WHERE seq = :seq", {"id": STAFF.id, "seq": seq}),
            }[kind]
        ]
    tamper(app, backend, *statements)
    assert verify(app) == (1, f"NOT intact: {finding}\n")
    if backend == "sqlite":
        assert (in_parts.workers, in_parts.reads) == (WORKERS, reads)
    else:
        assert (in_parts.workers, in_parts.reads) == ([], [(None, None)])


def test_an_intact_log_in_parts_gives_the_root_and_every_checkpoint_matches(
    app: Flask, backend: str, in_parts: Parts
) -> None:
    build_log_with_checkpoints_in_every_part(app)
    leaves = [leaf_of(bytes(row.body)) for row in events(app)]
    assert verify(app) == (0, f"intact: 20 events, root {tree_root(leaves).hex()}\n")
    if backend == "sqlite":
        assert (in_parts.workers, in_parts.reads) == (WORKERS, OWN_PART)
    else:
        assert (in_parts.workers, in_parts.reads) == ([], [(None, None)])


def test_a_whole_second_in_a_workers_part_is_sound(app: Flask, backend: str, in_parts: Parts) -> None:
    # Its ts column (SQLite's text without a fraction) does not fit the fast check: the worker checks that
    # batch row by row and still vouches for its part, rather than leave the rest of the log to this process.
    build_log_with_checkpoints_in_every_part(app, whole_second_at_16=True)
    if backend == "sqlite":
        tamper(app, backend, legacy_whole_second(app, 16))
    assert json.loads(events(app)[15].body)["ts"].endswith(".000000Z")
    leaves = [leaf_of(bytes(row.body)) for row in events(app)]
    assert verify(app) == (0, f"intact: 20 events, root {tree_root(leaves).hex()}\n")
    if backend == "sqlite":
        assert len(stored_ts(app, 16)) == len("2026-01-02 03:04:05")
        assert (in_parts.workers, in_parts.reads) == (WORKERS, OWN_PART)
    else:
        assert (in_parts.workers, in_parts.reads) == ([], [(None, None)])


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("failure", ["no interpreter", "worker crashes", "worker stuck"])
def test_workers_that_fail_leave_the_whole_check_to_this_process(
    app: Flask,
    backend: str,
    in_parts: Parts,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    failure: str,
) -> None:
    import sys

    from disclosure.audit import scan_worker

    if failure == "no interpreter":
        monkeypatch.setattr(sys, "executable", "/nonexistent/python3")
    elif failure == "worker crashes":
        monkeypatch.setattr(scan_worker, "_MODULE", "disclosure.audit.no_such_module")
    else:  # an executable that is not Python and never answers
        stuck = tmp_path / "not-python"
        stuck.write_text("#!/bin/sh\nexec sleep 60\n")
        stuck.chmod(0o755)
        monkeypatch.setattr(sys, "executable", str(stuck))
        monkeypatch.setattr(scan_worker, "GRACE_SECONDS", 0.0)
    build_log_with_checkpoints_in_every_part(app)
    leaves = [leaf_of(bytes(row.body)) for row in events(app)]
    assert verify(app) == (0, f"intact: 20 events, root {tree_root(leaves).hex()}\n")
    tamper(app, backend, ("UPDATE audit_event SET subject = 'user:0' WHERE seq = 17", {}))
    assert verify(app) == (1, f"NOT intact: seq 17: {COLUMNS}\n")
    assert (in_parts.workers, in_parts.reads) == (WORKERS * 2, RECHECKED * 2)
    assert "audit verification" in caplog.text and "worker" in caplog.text


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("change", ["append", "rewrite"])
def test_changes_committed_before_the_workers_start_are_judged_as_of_the_snapshot(
    app: Flask, backend: str, in_parts: Parts, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    # Workers read in snapshots of their own, a moment later. Appends lie beyond their ranges; a rewrite of the
    # log from seq 8 on (hashes and all) makes the first worker's part start from another chain hash than this
    # process's part ended with, so this process checks the rest itself, as of its own snapshot.
    from disclosure.audit import scan_worker

    build_log_with_checkpoints_in_every_part(app)
    leaves = [leaf_of(bytes(row.body)) for row in events(app)]
    forged = json.loads(events(app)[7].body)
    forged["data"]["note"] = "nothing happened"
    rewrite = rewrite_from(app, 8, json.dumps(forged, sort_keys=True, separators=(",", ":")).encode())
    start_workers = scan_worker.start_workers

    def change_then_start(*args: Any) -> Any:
        if change == "append":
            build_log(app, 3, start=100)
        else:
            tamper(app, backend, *rewrite)
        return start_workers(*args)

    monkeypatch.setattr(scan_worker, "start_workers", change_then_start)
    with app.app_context(), db.engine.connect() as connection:
        result = verify_log(connection, log_public_key(), log_key_name(), app.config["AUDIT_ORIGIN"])
    assert result.summary() == f"intact: 20 events, root {tree_root(leaves).hex()}"
    reads = OWN_PART if change == "append" else RECHECKED
    assert (in_parts.workers, in_parts.reads, len(events(app))) == (WORKERS, reads, 23 if change == "append" else 20)
