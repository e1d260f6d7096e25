"""The device cookie: proof that this browser completed a sign-in to an account before.

It is signed with the instance secret (itsdangerous), names the user, is HttpOnly, Secure (a `__Host-` name),
SameSite=Strict and lasts a year. It signs no one in: it only lets the right password through the sign-in pause
on a device its owner used before, so a stranger's failures cannot lock the owner out.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Response, after_this_request, current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

#: How long a device stays known after its last sign-in (each sign-in renews it).
DEVICE_LIFETIME = timedelta(days=365)
_SALT = "disclosure device cookie v1"


def cookie_name() -> str:
    # The __Host- prefix needs Secure; only the development setting (plain http://127.0.0.1) drops both.
    return "__Host-device" if current_app.config.get("SESSION_COOKIE_SECURE", True) else "disclosure_device"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def known_user_id() -> int | None:
    """The user this browser signed in as before, if its device cookie is genuine and not expired."""
    value = request.cookies.get(cookie_name())
    if not value:
        return None
    try:
        data = _serializer().loads(value, max_age=int(DEVICE_LIFETIME.total_seconds()))
    except BadSignature:
        return None
    user_id = data.get("u") if isinstance(data, dict) else None
    return user_id if isinstance(user_id, int) else None


def remember(user_id: int) -> None:
    """Give this browser the device cookie naming the user, on the response to the completed sign-in."""
    value = _serializer().dumps({"u": user_id})

    @after_this_request
    def _set(response: Response) -> Response:
        response.set_cookie(
            cookie_name(),
            value,
            max_age=int(DEVICE_LIFETIME.total_seconds()),
            path="/",
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE", True)),
            httponly=True,
            samesite="Strict",
        )
        return response
