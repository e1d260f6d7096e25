"""Agencies, channels and audit reads for the directory's tests, made through the real services."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from disclosure.audit.models import AuditEvent
from disclosure.auth.models import User
from disclosure.cases import agencies
from disclosure.cases.models import Agency
from disclosure.extensions import db
from tests.factories import MadeUser, make_user


def actor(made: MadeUser) -> User:
    user = db.session.get(User, made.id)
    assert user is not None
    return user


def make_agency(
    name: str,
    country: str = "US",
    *,
    aliases: tuple[str, ...] = (),
    domains: tuple[str, ...] = (),
    regime: str | None = "us_federal",
    parent: Agency | None = None,
    by: MadeUser | None = None,
) -> Agency:
    """A committed agency added through the directory's service by an administrator."""
    admin = actor(by or make_user("admin"))
    draft = agencies.AgencyDraft(
        name=name,
        country=country,
        regime=regime,
        parent_id=parent.id if parent else None,
        aliases=list(aliases),
        domains=list(domains),
    )
    agency = agencies.create_agency(admin, draft, None)
    db.session.commit()
    return agency


def verified_agency(name: str = "Federal Bureau of Investigation", **kwargs: Any) -> Agency:
    """An agency an administrator vouched for, with one verified telephone channel."""
    admin_made = make_user("admin")
    agency = make_agency(name, by=admin_made, **kwargs)
    admin = actor(admin_made)
    phone = agencies.add_contact(admin, agency, "phone", "+1 202 324 3000", None)
    agencies.verify_contact(admin, phone, None, "called the published number", "official_website")
    agencies.mark_verified(admin, agency, None)
    db.session.commit()
    return agency


def events(action: str) -> list[dict[str, Any]]:
    rows = db.session.execute(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq))
    return [json.loads(event.body) for event in rows.scalars()]
