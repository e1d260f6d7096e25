"""Sign-in throttling: failed attempts counted per account and per address over a sliding window.

Accounts are keyed by a hash of the normalised email, so the failure table never holds an address that was
merely typed. Sign-in and the step-up before a decision share these counts.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from disclosure.auth.models import SignInFailure
from disclosure.clock import utcnow
from disclosure.extensions import db


def normalise_email(email: str) -> str:
    return email.strip().lower()


def account_key(email: str) -> str:
    return hashlib.sha256(normalise_email(email).encode("utf-8")).hexdigest()


def _recent_failures(**where: Any) -> int:
    since = utcnow() - current_app.config["SIGN_IN_WINDOW"]
    conditions = [getattr(SignInFailure, key) == value for key, value in where.items()]
    return int(
        db.session.execute(
            select(func.count()).select_from(SignInFailure).where(SignInFailure.at >= since, *conditions)
        ).scalar_one()
    )


def is_throttled(email: str, ip: str | None) -> bool:
    config = current_app.config
    if _recent_failures(account_key=account_key(email)) >= config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"]:
        return True
    return ip is not None and _recent_failures(ip=ip) >= config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"]
