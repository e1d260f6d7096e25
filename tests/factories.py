"""Factories as plain functions: they build real rows through the services, as the app would."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pyotp

from disclosure.audit.service import SystemActor
from disclosure.auth import service, totp
from disclosure.clock import utcnow
from disclosure.extensions import db

_counter = itertools.count(1)
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class MadeUser:
    id: int
    email: str
    password: str
    totp_secret: str | None


def make_user(*roles: str, email: str | None = None, password: str = PASSWORD, second_factor: bool | None = None,
              active: bool = True, must_change_password: bool = False) -> MadeUser:
    """A committed user; with a second factor enrolled when their roles require one (or when asked)."""
    roles = roles or ("intake",)
    email = email or f"user{next(_counter)}@example.org"
    user = service.create_user(SystemActor("tests"), email, f"Test User {email.split('@')[0]}", roles, password,
                               must_change_password=must_change_password)
    user.active = active
    secret = None
    if second_factor or (second_factor is None and user.second_factor_required):
        secret = pyotp.random_base32()
        user.totp_secret_enc = totp.encrypt_secret(user.id, secret)
        user.totp_enrolled_at = utcnow()
    db.session.commit()
    return MadeUser(user.id, user.email, password, secret)
