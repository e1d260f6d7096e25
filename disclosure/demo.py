"""`flask demo seed`: demo accounts for trying Disclosure out. Idempotent: a second run changes nothing.

DEMO ONLY: it runs in development mode alone (DISCLOSURE_DEV=1, as `make setup` sets it) and refuses otherwise, so a
production database never gets accounts whose passwords were printed to a terminal. The accounts are exempt from
the second factor, so that a first look needs no authenticator app, only while DEMO_SECOND_FACTOR_EXEMPT is true
(the default); set it false to seed demo accounts that must enrol like anyone else.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from disclosure import unit_of_work
from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record, require_schema
from disclosure.auth import service
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.permissions import Role
from disclosure.services import SystemActor

demo_cli = AppGroup("demo", help="Demo data (never in production).")

DEMO_DOMAIN = "demo.disclosure.test"
#: Exit status of a refused command, as click uses for a usage error.
REFUSED = 2
NOT_IN_DEV_MODE = (
    "refused: `flask demo seed` creates accounts whose passwords are printed here, so it runs only in development "
    "mode. Run it as DISCLOSURE_DEV=1 flask demo seed (make setup does), and never against a production database."
)
DEMO_NAMES = {
    Role.INTAKE: "Ines Intake",
    Role.REVIEWER: "Rita Reviewer",
    Role.PRODUCER: "Paul Producer",
    Role.AUDITOR: "Aude Auditor",
    Role.ADMIN: "Adam Admin",
}


def demo_password() -> str:
    return "-".join(secrets.token_urlsafe(6) for _ in range(3))


@demo_cli.command("seed")
def seed() -> None:
    """Create one demo user per role (passwords printed once) and sample cases. Development mode only."""
    if not current_app.config.get("DEV_MODE"):
        click.echo(NOT_IN_DEV_MODE, err=True)
        raise SystemExit(REFUSED)
    exempt = bool(current_app.config.get("DEMO_SECOND_FACTOR_EXEMPT"))
    require_schema()
    actor = SystemActor("flask demo seed")
    created = []
    # All or nothing; the passwords are printed only once the accounts holding them are committed.
    with unit_of_work.command("nothing seeded"):
        for role, name in DEMO_NAMES.items():
            email = f"{role.value}@{DEMO_DOMAIN}"
            if service.find_user(email) is not None:
                continue
            password = demo_password()
            user = service.create_user(actor, email, name, [role.value], password, must_change_password=False)
            user.demo_second_factor_exempt = exempt
            created.append((email, password, role))
        cases = seed_cases() if created else []
        reviewer_password = next((pw for email, pw, role in created if role is Role.REVIEWER), None)
        ready = approve_and_produce(cases[0], reviewer_password) if cases and reviewer_password else None
        if created:
            record(
                actor,
                AuditAction.DEMO_SEEDED,
                subject="demo",
                data={"users": [email for email, _, _ in created], "cases": cases, "ready_to_bundle": ready},
            )
    if not created:
        click.echo("demo data already present; nothing changed (passwords were printed when first seeded)")
        return
    if exempt:
        click.echo("Demo accounts (DEMO ONLY: second factor not enforced). Passwords are shown this once:")
    else:
        click.echo(
            "Demo accounts (DEMO ONLY; reviewer, producer and admin enrol a second factor at first sign-in, "
            "as DEMO_SECOND_FACTOR_EXEMPT is off). Passwords are shown this once:"
        )
    for email, password, role in created:
        click.echo(f"  {role.value:<9} {email:<34} {password}")
    click.echo(f"Sample cases: {', '.join(cases)}")
    if ready:
        click.echo(f"ready to bundle: {ready}")


def _sample_requests(now: datetime) -> list[dict[str, Any]]:
    """Fictional requests (example domains, documentation IP ranges) covering the common kinds of process."""

    def at(days: float) -> str:
        return (now - timedelta(days=days)).isoformat(timespec="seconds").replace("+00:00", "Z")

    fbi = {"name": "Federal Bureau of Investigation", "country": "US"}
    return [
        {
            "process_type": "search_warrant",
            "jurisdiction": {"regime": "us_federal", "country": "US"},
            "issuing_authority": {"kind": "judge", "name": "Hon. A. Example, N.D. Cal.", "docket": "5:26-mj-01234"},
            "agency": fbi,
            "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "badge": "1234"},
            "received_at": at(3),
            "received_via": "email",
            "valid_until": (now + timedelta(days=11)).date().isoformat(),
            "targets": [{"kind": "email", "value": "suspect@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
            "categories": ["subscriber_basic", "account_records", "stored_content"],
            "non_disclosure_order": {
                "basis": "18 USC 2705(b)",
                "until": (now + timedelta(days=177)).date().isoformat(),
            },
        },
        {
            "process_type": "subpoena",
            "jurisdiction": {"regime": "us_state", "country": "US", "region": "California"},
            "issuing_authority": {"kind": "prosecutor", "name": "Deputy DA R. Roe", "docket": "GJ-2026-118"},
            "agency": {"name": "San Francisco Police Department", "country": "US"},
            "officer": {"name": "Sgt. K. Lee"},
            "received_at": at(12),
            "received_via": "fax",
            "due_at": (now + timedelta(days=2)).date().isoformat(),
            "targets": [{"kind": "domain", "value": "shop.example.org"}, {"kind": "customer_id", "value": "C-100482"}],
            "categories": ["subscriber_basic", "stored_content"],
        },
        {
            "process_type": "emergency_request",
            "jurisdiction": {"regime": "uk", "country": "GB"},
            "issuing_authority": {"kind": "police", "name": "Metropolitan Police Service"},
            "agency": {"name": "Metropolitan Police Service", "country": "GB"},
            "officer": {"name": "DS P. Shaw", "phone": "+44 20 7946 0000"},
            "received_at": at(0.05),
            "received_via": "portal",
            "emergency": True,
            "targets": [{"kind": "username", "value": "quietriver"}],
            "categories": ["subscriber_basic", "stored_content"],
        },
        {
            "process_type": "preservation_request",
            "jurisdiction": {"regime": "us_federal", "country": "US"},
            "issuing_authority": {"kind": "agency", "name": "FBI Cyber Division"},
            "agency": fbi,
            "officer": {"name": "SA M. Ruiz"},
            "received_at": at(30),
            "received_via": "email",
            "targets": [
                {"kind": "ip", "value": "198.51.100.23", "from": "2026-10-01T08:00:00Z", "to": "2026-10-01T09:00:00Z"}
            ],
            "categories": ["account_records"],
        },
    ]


def seed_cases() -> list[str]:
    from disclosure.auth.models import User
    from disclosure.cases.service import log_request
    from disclosure.policy.request import parse_request

    intake = db.session.execute(select(User).where(User.email == f"intake@{DEMO_DOMAIN}")).scalar_one()
    now = utcnow()
    return [
        log_request(intake, parse_request(raw, now=now), None, timezone="America/New_York").reference
        for raw in _sample_requests(now)
    ]


SAMPLE_MAILBOX = (
    "From: suspect@example.net\nTo: partner@example.org\nDate: Tue, 03 Mar 2026 10:15:00 +0000\n"
    "Subject: sample message (demo data)\n\nThis is fictional demo content.\n"
)


def approve_and_produce(reference: str, reviewer_password: str) -> str:
    """Take the sample warrant through review (approved) and attach one record, ready for a bundle."""
    from disclosure.auth.models import User
    from disclosure.cases.models import Case
    from disclosure.cases.service import apply_action
    from disclosure.production.service import add_record
    from disclosure.review import service as review
    from disclosure.review.scope import ScopeEntry
    from disclosure.workflow import Action

    case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
    reviewer = db.session.execute(select(User).where(User.email == f"reviewer@{DEMO_DOMAIN}")).scalar_one()
    producer = db.session.execute(select(User).where(User.email == f"producer@{DEMO_DOMAIN}")).scalar_one()
    apply_action(reviewer, case, Action.START_REVIEW, None, None)
    current = review.open_review(case)
    if current is None:
        raise RuntimeError(f"{reference}: starting the review opened no review round")
    evaluation = review.evaluation_for(current)
    answers = {item.id: {"answer": "yes", "note": "demo"} for item in evaluation.checklist}
    grounds = {
        c.value: {"grounds": ["legal_process" if "content" in c.value else "law_requires"]} for c in case.categories
    }
    review.save_worksheet(reviewer, current, answers, grounds, "", None, None)
    scope = [ScopeEntry(t.kind, t.value, tuple(c.value for c in case.categories), None, None) for t in case.targets]
    review.decide(reviewer, current, "approved", password=reviewer_password, ip=None, scope=scope)
    add_record(producer, case, case.targets[0].value, "stored_content", [SAMPLE_MAILBOX.encode()], "mailbox.mbox", None)
    return reference
