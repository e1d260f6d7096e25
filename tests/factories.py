"""Factories as plain functions: they build real rows through the services, as the app would."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pyotp

from disclosure.auth import service, totp
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.services import SystemActor

_counter = itertools.count(1)
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class MadeUser:
    id: int
    email: str
    password: str
    totp_secret: str | None


def make_user(
    *roles: str,
    email: str | None = None,
    password: str = PASSWORD,
    second_factor: bool | None = None,
    active: bool = True,
    must_change_password: bool = False,
) -> MadeUser:
    """A committed user; with a second factor enrolled when their roles require one (or when asked)."""
    roles = roles or ("intake",)
    email = email or f"user{next(_counter)}@example.org"
    user = service.create_user(
        SystemActor("tests"),
        email,
        f"Test User {email.split('@')[0]}",
        roles,
        password,
        must_change_password=must_change_password,
    )
    user.active = active
    secret = None
    if second_factor or (second_factor is None and user.second_factor_required):
        secret = pyotp.random_base32()
        user.totp_secret_enc = totp.encrypt_secret(user.id, secret)
        user.totp_enrolled_at = utcnow()
    db.session.commit()
    return MadeUser(user.id, user.email, password, secret)


def request_document(**overrides: object) -> dict[str, object]:
    """DESIGN's example request document, with overrides."""
    doc: dict[str, object] = {
        "process_type": "search_warrant",
        "jurisdiction": {"regime": "us_federal", "country": "US", "region": None},
        "issuing_authority": {"kind": "judge", "name": "Hon. A. Example, N.D. Cal.", "docket": "5:26-mj-01234"},
        "agency": {"name": "Federal Bureau of Investigation", "country": "US"},
        "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
        "received_at": "2026-11-02T14:05:00Z",
        "received_via": "email",
        "due_at": None,
        "emergency": False,
        "valid_until": "2026-11-16",
        "targets": [{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
        "categories": ["subscriber_basic", "stored_content"],
        "non_disclosure_order": {"basis": "18 USC 2705(b)", "until": "2027-05-01"},
    }
    doc.update(overrides)
    return doc


def make_case(logged_by: MadeUser | None = None, state: str | None = None, **overrides: object):  # type: ignore[no-untyped-def]
    """A committed case logged through the intake service; `state` forces a later state for read-side tests."""
    from disclosure.auth.models import User
    from disclosure.cases.service import log_request
    from disclosure.policy.request import parse_request

    logger = logged_by or make_user("intake")
    actor = db.session.get(User, logger.id)
    case = log_request(actor, parse_request(request_document(**overrides), now=utcnow()))
    if state is not None:
        case.state = state
    db.session.commit()
    return case
