"""`flask demo seed`: demo accounts for trying Disclosure out. Idempotent: a second run changes nothing.

DEMO ONLY: demo accounts are exempt from the second factor so that a first look needs no authenticator
app. Never seed a production database.
"""

from __future__ import annotations

import secrets

import click
from flask.cli import AppGroup

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import SystemActor, record, require_schema
from disclosure.auth import service
from disclosure.extensions import db
from disclosure.permissions import Role

demo_cli = AppGroup("demo", help="Demo data (never in production).")

DEMO_DOMAIN = "demo.disclosure.test"
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
    """Create one demo user per role (passwords printed once) and the sample data."""
    require_schema()
    actor = SystemActor("flask demo seed")
    created = []
    for role, name in DEMO_NAMES.items():
        email = f"{role.value}@{DEMO_DOMAIN}"
        if service.find_user(email) is not None:
            continue
        password = demo_password()
        user = service.create_user(actor, email, name, [role.value], password, must_change_password=False)
        user.demo_second_factor_exempt = True
        created.append((email, password, role))
    if created:
        record(actor, AuditAction.DEMO_SEEDED, subject="demo", data={"users": [email for email, _, _ in created]})
    db.session.commit()
    if not created:
        click.echo("demo data already present; nothing changed (passwords were printed when first seeded)")
        return
    click.echo("Demo accounts (DEMO ONLY: second factor not enforced). Passwords are shown this once:")
    for email, password, role in created:
        click.echo(f"  {role.value:<9} {email:<34} {password}")
