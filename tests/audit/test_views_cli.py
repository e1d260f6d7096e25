"""The auditor's log pages and the audit commands: filters and pages, who may look, extracts whose proofs
check out with nothing but the log's public key, clear refusals of bad input, the PostgreSQL role hardening.

Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from freezegun import freeze_time
from sqlalchemy import select

from disclosure import create_app
from disclosure.audit.actions import AuditAction
from disclosure.audit.models import AuditCheckpoint, AuditEvent
from disclosure.audit.service import record
from disclosure.audit.verify import verify_log
from disclosure.auth.models import User
from disclosure.extensions import db
from disclosure.keyring import LOG_KEY_FILE, log_key_name, log_public_key
from disclosure.services import SystemActor
from disclosure_proofs.merkle import inclusion_proof, verify_consistency, verify_inclusion
from disclosure_proofs.note import verify_checkpoint
from tests.conftest import base_settings
from tests.factories import make_user

SEQ_LINK = re.compile(r'href="/audit/events/(\d+)"')


def listed_seqs(client: FlaskClient, query: str = "") -> list[int]:
    response = client.get(f"/audit/{query}")
    assert response.status_code == 200, response.status_code
    return [int(seq) for seq in SEQ_LINK.findall(response.get_data(as_text=True))]


def seqs_where(app: Flask, *conditions: Any) -> list[int]:
    """What the page should list: the matching events, newest first."""
    with app.app_context():
        return list(
            db.session.execute(select(AuditEvent.seq).where(*conditions).order_by(AuditEvent.seq.desc())).scalars()
        )


def record_as(app: Flask, user_id: int | None, action: AuditAction, subject: str, count: int = 1) -> None:
    with app.app_context():
        actor = db.session.get(User, user_id) if user_id else SystemActor("test_views_cli")
        for index in range(count):
            record(actor, action, subject=subject, data={"index": index}, ip="192.0.2.9")
        db.session.commit()


# -- The log page --------------------------------------------------------------------------------------------


def test_log_page_filters_by_actor_email_or_id(app: Flask, client: FlaskClient, login_as: Any) -> None:
    auditor = login_as("auditor")
    with app.app_context():
        alice, bob = make_user("intake"), make_user("intake")
    record_as(app, alice.id, AuditAction.USER_PASSWORD_CHANGED, f"user:{alice.id}", count=3)
    record_as(app, bob.id, AuditAction.USER_PASSWORD_CHANGED, f"user:{bob.id}", count=2)

    by_alice = seqs_where(app, AuditEvent.actor_id == alice.id)
    assert len(by_alice) == 3
    assert listed_seqs(client, f"?actor={alice.email}") == by_alice
    assert listed_seqs(client, f"?actor={alice.email.upper()}") == by_alice  # emails are matched case-insensitively
    assert listed_seqs(client, f"?actor={alice.id}") == by_alice
    assert listed_seqs(client, f"?actor={auditor.id}") == seqs_where(app, AuditEvent.actor_id == auditor.id)


def test_log_page_filter_by_an_unknown_actor_matches_nothing(app: Flask, client: FlaskClient, login_as: Any) -> None:
    # Events without a user (system commands, unknown accounts) must not pass for the unknown person's.
    login_as("auditor")
    record_as(app, None, AuditAction.AUDIT_VERIFIED, "audit", count=2)
    assert seqs_where(app, AuditEvent.actor_id.is_(None)), "no actor-less events: the test would prove nothing"
    assert listed_seqs(client, "?actor=nobody@example.org") == []
    assert listed_seqs(client, "?actor=987654") == []
    assert listed_seqs(client, "?actor=99999999999999999999") == []  # beyond any integer column: no error page


def test_log_page_filters_by_action_and_subject(app: Flask, client: FlaskClient, login_as: Any) -> None:
    login_as("auditor")
    record_as(app, None, AuditAction.USER_DISABLED, "user:41", count=2)
    record_as(app, None, AuditAction.USER_ENABLED, "user:41")
    record_as(app, None, AuditAction.USER_DISABLED, "user:42")

    assert listed_seqs(client, "?action=user.disabled") == seqs_where(app, AuditEvent.action == "user.disabled")
    assert len(listed_seqs(client, "?action=user.disabled")) == 3
    assert listed_seqs(client, "?subject=user:41") == seqs_where(app, AuditEvent.subject == "user:41")
    assert len(listed_seqs(client, "?action=user.disabled&subject=user:41")) == 2
    assert client.get("/audit/?action=not.an.action").status_code == 400


def test_log_page_filters_by_date_range_with_the_end_day_included(
    app: Flask, client: FlaskClient, login_as: Any
) -> None:
    for day, count in (("2026-01-10", 1), ("2026-01-12", 2), ("2026-01-15", 3), ("2026-01-16", 1)):
        with freeze_time(f"{day} 23:59:59"):
            record_as(app, None, AuditAction.AUDIT_VERIFIED, f"day:{day}", count=count)
    login_as("auditor")

    listed = listed_seqs(client, "?start=2026-01-12&end=2026-01-15")
    assert listed == seqs_where(app, AuditEvent.subject.in_(["day:2026-01-12", "day:2026-01-15"]))
    assert len(listed) == 5
    assert len(listed_seqs(client, "?start=2026-01-16")) == len(seqs_where(app)) - 6
    assert listed_seqs(client, "?end=2026-01-10") == seqs_where(app, AuditEvent.subject == "day:2026-01-10")
    response = client.get("/audit/?start=2026-01-15&end=2026-01-12")
    assert response.status_code == 400 and "before the start date" in response.get_data(as_text=True)


def test_log_page_paginates_50_per_page_newest_first(app: Flask, client: FlaskClient, login_as: Any) -> None:
    login_as("auditor")
    record_as(app, None, AuditAction.AUDIT_VERIFIED, "bulk", count=120)
    everything = seqs_where(app)
    assert len(everything) > 100

    pages = [listed_seqs(client, f"?page={page}") for page in (1, 2, 3)]
    assert pages == [everything[:50], everything[50:100], everything[100:150]]
    assert listed_seqs(client, "?page=999") == everything[100:150]  # past the end: the last page
    first = client.get("/audit/").get_data(as_text=True)
    assert f"{len(everything)} matching events" in first and "Page 1 of 3" in first
    # Filters survive paging.
    assert listed_seqs(client, "?subject=bulk&page=3") == seqs_where(app, AuditEvent.subject == "bulk")[100:]


@pytest.mark.parametrize("role", ["intake", "reviewer", "producer", "admin"])
def test_log_pages_are_refused_to_every_role_but_auditor(
    app: Flask, client: FlaskClient, login_as: Any, role: str
) -> None:
    login_as(role)
    assert client.get("/audit/").status_code == 403
    assert client.get("/audit/events/1").status_code == 403


def test_log_page_answers_the_auditor_and_sends_strangers_to_sign_in(
    app: Flask, client: FlaskClient, login_as: Any
) -> None:
    assert client.get("/audit/").status_code == 302
    login_as("auditor")
    assert client.get("/audit/").status_code == 200
    assert client.get("/audit/events/1").status_code == 200


# -- flask audit export --------------------------------------------------------------------------------------


def run(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


def test_export_carries_a_signed_checkpoint_inclusion_proofs_and_a_consistency_proof(
    app: Flask, tmp_path: Path
) -> None:
    for day, count in (("2026-03-01", 3), ("2026-03-02", 5), ("2026-03-05", 4)):
        with freeze_time(f"{day} 12:00:00"):
            record_as(app, None, AuditAction.AUDIT_VERIFIED, f"day:{day}", count=count)
    assert run(app, "audit", "checkpoint").exit_code == 0  # the "previous" checkpoint the extract must extend
    record_as(app, None, AuditAction.AUDIT_VERIFIED, "after", count=3)
    out = tmp_path / "extract.jsonl"

    result = run(app, "audit", "export", "--from", "2026-03-02", "--to", "2026-03-04", "--out", str(out))
    assert result.exit_code == 0, result.output
    header, *lines = [json.loads(line) for line in out.read_text().splitlines()]
    with app.app_context():
        key, name, origin = log_public_key(), log_key_name(), app.config["AUDIT_ORIGIN"]
        all_leaves = [
            bytes(leaf) for leaf in db.session.execute(select(AuditEvent.leaf_hash).order_by(AuditEvent.seq)).scalars()
        ]

    signed = verify_checkpoint(header["checkpoint"], key, name, expected_origin=origin)
    root = bytes.fromhex(header["root"])
    assert (signed.size, signed.root) == (header["tree_size"], root)
    # The export and its checkpoint are events themselves, and the checkpoint covers them.
    assert signed.size == len(all_leaves)

    assert [line["seq"] for line in lines] == seqs_where(app, AuditEvent.subject == "day:2026-03-02")[::-1]
    for line in lines:
        leaf = hashlib.sha256(b"\x00" + line["body"].encode()).digest()
        assert leaf.hex() == line["leaf_hash"]
        proof = [bytes.fromhex(h) for h in line["inclusion_proof"]]
        assert verify_inclusion(leaf, line["seq"] - 1, signed.size, proof, root)
        # A body changed after export no longer proves anything.
        edited = hashlib.sha256(b"\x00" + line["body"].replace("day:", "DAY:").encode()).digest()
        assert not verify_inclusion(edited, line["seq"] - 1, signed.size, proof, root)

    previous = verify_checkpoint(header["previous_checkpoint"], key, name, expected_origin=origin)
    assert 0 < previous.size < signed.size
    consistency = [bytes.fromhex(h) for h in header["consistency_proof"]]
    assert verify_consistency(previous.size, signed.size, previous.root, root, consistency)
    assert not verify_consistency(previous.size, signed.size, bytes(32), root, consistency)


def test_export_inclusion_proofs_match_the_reference_for_every_event(app: Flask, tmp_path: Path) -> None:
    # 102 events: an unbalanced tree, wide enough for the proof builder's remembered subtrees to be reused.
    record_as(app, None, AuditAction.AUDIT_VERIFIED, "all", count=100)
    out = tmp_path / "all.jsonl"
    result = run(app, "audit", "export", "--from", "2000-01-01", "--to", "2100-12-31", "--out", str(out))
    assert result.exit_code == 0, result.output
    header, *lines = [json.loads(line) for line in out.read_text().splitlines()]
    with app.app_context():
        leaves = [
            bytes(leaf)
            for leaf in db.session.execute(
                select(AuditEvent.leaf_hash).where(AuditEvent.seq <= header["tree_size"]).order_by(AuditEvent.seq)
            ).scalars()
        ]
    assert len(lines) == header["tree_size"] == len(leaves)
    for line in lines:
        assert [bytes.fromhex(h) for h in line["inclusion_proof"]] == inclusion_proof(leaves, line["seq"] - 1)


@pytest.mark.parametrize("bad", ["2026-13-01", "yesterday", "01/02/2026", "2026-02-30"])
def test_export_refuses_bad_dates_saying_the_format(app: Flask, tmp_path: Path, bad: str) -> None:
    out = tmp_path / "x.jsonl"
    result = run(app, "audit", "export", "--from", bad, "--to", "2026-03-01", "--out", str(out))
    assert result.exit_code != 0 and "YYYY-MM-DD" in result.output
    result = run(app, "audit", "export", "--from", "2026-03-01", "--to", bad, "--out", str(out))
    assert result.exit_code != 0 and "YYYY-MM-DD" in result.output
    assert not out.exists()


def test_export_refuses_a_period_that_ends_before_it_starts(app: Flask, tmp_path: Path) -> None:
    record_as(app, None, AuditAction.AUDIT_VERIFIED, "x")
    before = len(seqs_where(app))
    out = tmp_path / "x.jsonl"
    result = run(app, "audit", "export", "--from", "2026-03-05", "--to", "2026-03-01", "--out", str(out))
    assert result.exit_code == 1
    assert "--to is before --from" in result.output
    assert not out.exists() and len(seqs_where(app)) == before


# -- flask audit checkpoint ----------------------------------------------------------------------------------


def test_checkpoint_command_signs_the_head_and_records_the_request(app: Flask) -> None:
    record_as(app, None, AuditAction.AUDIT_VERIFIED, "x", count=4)
    result = run(app, "audit", "checkpoint")
    assert result.exit_code == 0, result.output
    with app.app_context():
        latest = db.session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc())).scalars().first()
        last = db.session.execute(select(AuditEvent).order_by(AuditEvent.seq.desc())).scalars().first()
        signed = verify_checkpoint(latest.note, log_public_key(), log_key_name())
    assert (latest.reason, last.action, latest.size, signed.size) == (
        "manual",
        "audit.checkpoint",
        last.seq,
        last.seq,
    )
    assert result.output.startswith(f"checkpoint: {last.seq} events, root {signed.root.hex()}\n")


def test_checkpoint_command_without_a_key_fails_clearly_and_changes_nothing(app: Flask, instance: Path) -> None:
    record_as(app, None, AuditAction.AUDIT_VERIFIED, "x", count=2)
    before = len(seqs_where(app))
    (instance / "keys" / LOG_KEY_FILE).unlink()
    result = run(app, "audit", "checkpoint")
    assert result.exit_code == 1
    assert "does not exist; run `flask keys init`" in result.output
    assert "Traceback" not in result.output
    assert len(seqs_where(app)) == before


# -- flask db harden-roles -----------------------------------------------------------------------------------


@pytest.fixture
def app_role(app: Flask, backend: str) -> Iterator[str]:
    """A throwaway PostgreSQL role (roles are cluster-wide: the random suffix keeps parallel runs apart)."""
    name = f"disclosure_app_test_{secrets.token_hex(4)}"
    if backend != "postgresql":
        yield name
        return
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text(f'CREATE ROLE "{name}" NOLOGIN'))
    yield name
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
        with db.engine.begin() as connection:
            connection.execute(sa.text(f'DROP OWNED BY "{name}"'))
            connection.execute(sa.text(f'DROP ROLE "{name}"'))
        db.engine.dispose()


def privileges(app: Flask, role: str, table: str) -> set[str]:
    with app.app_context():
        return {
            privilege
            for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")
            if db.session.execute(
                sa.text("SELECT has_table_privilege(:role, :table, :privilege)"),
                {"role": role, "table": table, "privilege": privilege},
            ).scalar()
        }


def test_harden_roles_leaves_the_app_role_append_only_on_the_audit_tables(
    app: Flask, backend: str, app_role: str, instance: Path
) -> None:
    result = run(app, "db", "harden-roles", "--app-role", app_role)
    if backend != "postgresql":
        assert result.exit_code == 1 and "PostgreSQL only" in result.output
        return
    assert result.exit_code == 0, result.output
    assert privileges(app, app_role, "audit_event") == {"SELECT", "INSERT"}
    assert privileges(app, app_role, "audit_checkpoint") == {"SELECT", "INSERT"}
    assert privileges(app, app_role, "audit_head") == {"SELECT", "UPDATE"}
    assert privileges(app, app_role, "user_account") == {"SELECT", "INSERT", "UPDATE", "DELETE"}

    # The app connected as that role still records (head lock, event, checkpoint) and verifies...
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    hardened = create_app(
        base_settings(instance, url)
        | {"SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": f"-c role={app_role}"}}}
    )
    try:
        with hardened.app_context():
            assert db.session.execute(sa.text("SELECT current_user")).scalar() == app_role
            db.session.rollback()
            record(SystemActor("hardened"), AuditAction.AUDIT_VERIFIED, subject="hardened")
            record(SystemActor("hardened"), AuditAction.AUDIT_VERIFIED, subject="hardened")
            db.session.commit()
            with db.engine.connect() as connection:
                result_ = verify_log(connection, log_public_key(), log_key_name(), hardened.config["AUDIT_ORIGIN"])
            assert result_.intact and result_.size == 2
            # ...but the database refuses it any change, before a trigger is even consulted.
            for statement in (
                "UPDATE audit_event SET subject = 'x'",
                "DELETE FROM audit_event",
                "UPDATE audit_checkpoint SET reason = 'x'",
                "DELETE FROM audit_checkpoint",
                "TRUNCATE audit_event",
                "DELETE FROM audit_head",
            ):
                with (
                    pytest.raises(sa.exc.ProgrammingError, match="permission denied"),
                    db.engine.begin() as connection,
                ):
                    connection.execute(sa.text(statement))
    finally:
        with hardened.app_context():
            db.session.remove()
            db.engine.dispose()


def test_harden_roles_refuses_bad_and_unknown_role_names(app: Flask, backend: str) -> None:
    bad = run(app, "db", "harden-roles", "--app-role", 'x"; DROP TABLE audit_event; --')
    assert bad.exit_code != 0
    unknown = run(app, "db", "harden-roles", "--app-role", "no_such_role_here")
    assert unknown.exit_code == 1
    expected = "there is no PostgreSQL role" if backend == "postgresql" else "PostgreSQL only"
    assert expected in unknown.output
