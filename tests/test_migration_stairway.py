"""Every migration, one revision at a time, up to head and back down to base, with rows in the tables.

Each upgrade must keep the rows already there; each downgrade must keep the rows of the tables it leaves and
leave a schema that its revision's upgrade accepts again. The revisions come from Alembic's script directory,
so a new migration joins the stairway without editing this file. Rows go in by raw SQL on the tables reflected
at each step, since the models describe head only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from flask_migrate import downgrade, upgrade

from disclosure import create_app
from disclosure.audit.ddl import expected_trigger_names
from disclosure.cases import search
from disclosure.extensions import db
from tests.conftest import base_settings
from tests.test_migrations import empty_database, restore_shared_schema, trigger_names

AT = datetime(2026, 11, 2, 14, 5, 0)
LATER = datetime(2026, 11, 3, 9, 30, 0)
REFERENCE = "2026-0001"
HASH = bytes(range(32))


def event_body(seq: int, action: str, subject: str, data: dict[str, Any]) -> bytes:
    body = {"v": 1, "seq": seq, "ts": "2026-11-02T14:05:00.000000Z", "actor": {"id": 1}, "action": action}
    body.update({"subject": subject, "ip": None, "outcome": "success", "data": data})
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Seed:
    """Rows inserted as soon as the revision that makes `when` (by default the table itself) has run."""

    table: str
    rows: list[dict[str, Any]]
    when: str | None = None
    #: What a downgrade below that revision makes of these rows, when the older schema has no word for them.
    below: dict[str, Any] = field(default_factory=dict)


#: In foreign-key order. Integer keys are left to the database (each table starts empty, so every first row gets
#: id 1), keeping PostgreSQL's sequences in step for migrations that insert rows themselves.
# fmt: off
SEEDS: list[Seed] = [
    Seed("user_account", [{
        "email": "intake@example.org", "name": "Intake Clerk", "password_hash": "$argon2id$v=19$m=8,t=1,p=1$x$y",
        "active": True, "must_change_password": False, "demo_second_factor_exempt": False,
        "created_at": AT, "password_changed_at": AT, "last_sign_in_at": LATER,
    }]),
    Seed("user_role", [{"user_id": 1, "role": "intake"}, {"user_id": 1, "role": "reviewer"}]),
    Seed("user_session", [{
        "token_hash": "a" * 64, "user_id": 1, "created_at": AT, "last_seen_at": LATER, "ended_at": LATER,
        "end_reason": "signed_out", "ip": "192.0.2.1", "user_agent": "stairway",
    }]),
    Seed("sign_in_failure", [{"account_key": "k" * 64, "ip": "192.0.2.2", "at": AT}]),
    Seed("audit_event", [
        {"seq": 1, "ts": AT, "body": event_body(1, "auth.user_create", "user:1", {}), "leaf_hash": HASH,
         "chain_hash": HASH, "action": "auth.user_create", "actor_id": None, "subject": "user:1"},
        {"seq": 2, "ts": AT, "leaf_hash": HASH, "chain_hash": HASH, "action": "case.create", "actor_id": 1,
         "subject": f"case:{REFERENCE}", "body": event_body(
             2, "case.create", f"case:{REFERENCE}", {"request": {"non_disclosure_order": {"until": None}}})},
        {"seq": 3, "ts": LATER, "leaf_hash": HASH, "chain_hash": HASH, "action": "case.transition", "actor_id": 1,
         "subject": f"case:{REFERENCE}", "body": event_body(
             3, "case.transition", f"case:{REFERENCE}", {"action": "start_review", "from": "received",
                                                        "to": "in_review"})},
    ]),
    Seed("audit_checkpoint", [{"size": 3, "root": HASH, "note": "stairway checkpoint\n", "reason": "count",
                           "created_at": LATER}]),
    Seed("agency", [{"name": "Federal Bureau of Investigation", "country": "US", "created_at": AT}]),
    Seed("reference_counter", [{"year": 2026, "last": 1}]),
    Seed("agency_contact", [{"agency_id": 1, "kind": "email", "value": "legal@example.gov", "verified_at": AT,
                         "verified_by_id": 1}]),
    Seed("case_file", [{
        "reference": REFERENCE, "process_type": "search_warrant", "regime": "us_federal", "country": "US",
        "region": None, "authority_kind": "judge", "authority_name": "Hon. A. Example", "docket": "5:26-mj-01234",
        "agency_id": 1, "officer_name": "SA J. Doe", "officer_badge": "1234", "officer_email": "jdoe@example.gov",
        "officer_phone": "+1 415 555 0100", "received_at": AT, "received_via": "email", "due_at": LATER,
        "due_explanation": "14 days", "emergency": False, "issued_on": date(2026, 11, 1),
        "valid_until": date(2026, 11, 16), "timezone": "America/Los_Angeles", "summary": "Stored email.",
        "state": "in_review", "assigned_to_id": 1, "created_by_id": 1, "created_at": AT, "updated_at": LATER,
        "decided_by_id": None, "decided_at": None, "version_id": 2,
    }]),
    Seed("case_category", [{"case_id": 1, "category": c} for c in ("stored_content", "subscriber_basic")]),
    Seed("case_document", [{
        "case_id": 1, "kind": "legal_process", "filename": "warrant.pdf", "content_type": "application/pdf",
        "size": 1234, "sha256": "ab" * 32, "blob_name": "c" * 32, "uploaded_by_id": 1, "uploaded_at": AT,
    }]),
    Seed("case_target", [{"case_id": 1, "kind": "email", "value": "User@Example.net", "normalized": "user@example.net",
                      "date_from": "2026-01-01", "date_to": "2026-06-30"}]),
    Seed("non_disclosure_order", [{"case_id": 1, "basis": "18 USC 2705(b)", "starts_on": date(2026, 11, 1),
                               "expires_on": date(2027, 5, 1), "version_id": 1}]),
    Seed("ndo_renewal", [{"order_id": 1, "previous_expiry": date(2027, 2, 1), "new_expiry": date(2027, 5, 1),
                      "renewed_by_id": 1, "renewed_at": LATER}]),
    Seed("policy_version", [{"sha256": "ef" * 32, "content": b"version: 1\n", "label": "Policy 2026",
                         "uploaded_by_id": 1, "created_at": AT}]),
    Seed("review", [
        {"case_id": 1, "policy_version_id": 1, "started_at": AT, "status": "decided", "checklist_json": "{}",
         "grounds_json": "{}", "counsel_note": "", "version_id": 3},
        {"case_id": 1, "policy_version_id": 1, "started_at": LATER, "status": "open",
         "checklist_json": '{"legal_process_valid": {"answer": "yes"}}',
         "grounds_json": '{"stored_content": {"grounds": ["legal_process"]}}', "counsel_note": "", "version_id": 1},
    ]),
    Seed("review_approval", [{
        "review_id": 2, "reviewer_id": 1, "created_at": LATER,
        "scope_json": '[{"categories": ["stored_content"], "from": null, "target": {"kind": "email", '
        '"value": "user@example.net"}, "to": null}]',
    }]),
    Seed("review_decision", [{
        "review_id": 1, "case_id": 1, "outcome": "needs_info", "decided_by_id": 1, "decided_at": AT,
        "scope_json": None, "reason_codes_json": "[]", "text": "Send the signed copy.", "policy_sha256": "ef" * 32,
        "engine_json": '{"approvals_required":1}', "checklist_json": "{}", "grounds_json": "{}",
        "counsel_note": "", "approvers_json": "[]",
    }]),
    # Revision 0003 lets a case hold its response letter; below it, the letter is kept as correspondence.
    Seed("case_document", [{
        "case_id": 1, "kind": "response_letter", "filename": "response.pdf", "content_type": "application/pdf",
        "size": 2048, "sha256": "de" * 32, "blob_name": "e" * 32, "uploaded_by_id": 1, "uploaded_at": LATER,
    }], when="review", below={"kind": "correspondence"}),
    Seed("recipient_certificate", [{
        "agency_id": 1, "label": "FBI legal", "pem": "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n",
        "fingerprint": "aa" * 32, "subject": "CN=legal.example.gov", "not_after": datetime(2027, 11, 2),
        "added_by_id": 1, "added_at": AT, "revoked_at": None, "revoked_by_id": None,
    }]),
    Seed("bundle", [{
        "public_id": "p" * 32, "kind": "production", "case_id": 1, "filename": "2026-0001.zip", "sha256": "bc" * 32,
        "size": 4096, "file_count": 3, "recipients_json": '["' + "aa" * 32 + '"]', "passphrase_only": False,
        "checkpoint_size": 3, "built_by_id": 1, "built_at": LATER, "expires_at": datetime(2026, 12, 3),
    }]),
    Seed("production_record", [{
        "case_id": 1, "target_id": 1, "category": "stored_content", "filename": "mailbox.mbox", "size": 99,
        "sha256": "cd" * 32, "blob_name": "d" * 32, "added_by_id": 1, "added_at": LATER,
    }]),
]
# fmt: on
#: The case-log projection a revision fills from the audit rows above: (seq, reference, state, previous_state).
PROJECTED = [(2, REFERENCE, "received", None), (3, REFERENCE, "in_review", "received")]


def revisions(app: Flask) -> list[str]:
    """Base to head, from the migration scripts themselves."""
    with app.app_context():
        script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
    assert len(script.get_heads()) == 1, f"the migrations have several heads: {script.get_heads()}"
    return [revision.revision for revision in reversed(list(script.walk_revisions("base", "heads")))]


def table_names(connection: sa.Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names()) - {"alembic_version"}


def reflected(connection: sa.Connection) -> dict[str, sa.Table]:
    """The tables as this revision left them (one bulk reflection: per table, PostgreSQL takes seconds)."""
    metadata = sa.MetaData()
    metadata.reflect(bind=connection)
    return dict(metadata.tables)


class Contents:
    """What the database should hold: the seeded rows of every table still there, as the schema now shows them."""

    def __init__(self) -> None:
        self.expected: dict[str, list[dict[str, Any]]] = {}
        #: Seeds inserted whose `when` table is still there, with the rows they added to `expected`.
        self.live: dict[int, list[dict[str, Any]]] = {}
        #: Seeds whose rows outlived their `when` table: inserting them again would repeat their unique values.
        self.kept: set[int] = set()

    def seed(self) -> None:
        """Insert every seed whose revision has now run (again)."""
        with db.engine.begin() as connection:
            tables = reflected(connection)
            for index, seed in enumerate(SEEDS):
                due = seed.table in tables and (seed.when or seed.table) in tables
                if due and index not in self.live and index not in self.kept:
                    connection.execute(tables[seed.table].insert(), seed.rows)
                    rows = [dict(row) for row in seed.rows]
                    self.expected.setdefault(seed.table, []).extend(rows)
                    self.live[index] = rows

    def after_downgrade(self) -> None:
        """Forget the tables a downgrade dropped; rewrite the rows it carried into the older vocabulary."""
        with db.engine.connect() as connection:
            present = table_names(connection)
        for index, rows in list(self.live.items()):
            seed = SEEDS[index]
            if (seed.when or seed.table) not in present:
                del self.live[index]
                for row in rows:
                    row.update(seed.below)
                self.kept.add(index)
        self.kept = {index for index in self.kept if SEEDS[index].table in present}
        self.expected = {name: rows for name, rows in self.expected.items() if name in present}

    def check(self, step: str) -> None:
        """Every table holds exactly its expected rows, in the columns it still has (JSON text may become JSON)."""
        with db.engine.connect() as connection:
            tables = reflected(connection)
            for name, rows in self.expected.items():
                table = tables[name]
                order = list(table.primary_key.columns) or list(table.columns)
                stored = [dict(row._mapping) for row in connection.execute(sa.select(table).order_by(*order))]
                assert len(stored) == len(rows), (step, name, stored)
                for want, got in zip(rows, stored, strict=True):
                    changed = {k: (v, got[k]) for k, v in want.items() if k in got and not same(v, got[k])}
                    assert changed == {}, (step, name, changed)
            if "case_log_state" in tables:
                projected = sa.text("SELECT seq, reference, state, previous_state FROM case_log_state ORDER BY seq")
                assert [tuple(row) for row in connection.execute(projected)] == PROJECTED, step


def same(expected: Any, stored: Any) -> bool:
    """A seeded value and what the database holds now: JSON text may become JSON, or come back re-serialised."""
    if isinstance(stored, memoryview):
        stored = bytes(stored)
    if expected == stored:
        return True
    if isinstance(expected, str) and expected.startswith(("{", "[")):
        return bool(json.loads(expected) == (json.loads(stored) if isinstance(stored, str) else stored))
    return False


def leftovers(connection: sa.Connection) -> list[str]:
    """Tables, triggers and functions a downgrade to base forgot."""
    found = sorted(table_names(connection) | trigger_names(connection))
    if connection.dialect.name == "postgresql":
        functions = sa.text(
            "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
        )
        found += sorted(connection.execute(functions).scalars())
    return found


def test_every_revision_up_and_down_one_at_a_time_with_data(backend, database_template, tmp_path, instance):
    # database_template: creates the PostgreSQL test database when this test is the first to need it.
    url = empty_database(backend, tmp_path, "stairway.db")
    app = create_app(base_settings(instance, url))
    steps = revisions(app)
    assert len(steps) >= 7
    contents = Contents()
    try:
        with app.app_context():
            for revision in steps:
                upgrade(revision=revision)
                contents.check(f"upgrade to {revision}")
                contents.seed()
                contents.check(f"seeded at {revision}")
            assert len(contents.live) == len(SEEDS), "a seed never went in: SEEDS names a table no revision makes"

            for revision, below in zip(reversed(steps), [*reversed(steps[:-1]), "base"], strict=True):
                downgrade(revision=below)
                contents.after_downgrade()
                contents.check(f"downgrade from {revision} to {below}")
                upgrade(revision=revision)  # the schema the downgrade left is one this revision accepts
                contents.seed()
                contents.check(f"upgrade again to {revision}")
                downgrade(revision=below)
                contents.after_downgrade()
                contents.check(f"downgrade again from {revision} to {below}")
            with db.engine.connect() as connection:
                assert leftovers(connection) == []

            upgrade()
            with db.engine.connect() as connection:
                context = MigrationContext.configure(
                    connection, opts={"compare_type": True, "include_name": search.include_name}
                )
                assert compare_metadata(context, db.metadata) == []
                assert trigger_names(connection) == expected_trigger_names(connection.dialect.name)
                head = connection.execute(sa.text("SELECT id, size FROM audit_head")).all()
                assert [tuple(row) for row in head] == [(1, 0)]
            db.engine.dispose()
    finally:
        restore_shared_schema(backend, url, app)
