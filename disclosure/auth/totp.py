"""The TOTP second factor: secrets encrypted at rest, codes accepted once, enrolment QR codes as SVG.

The secret is encrypted with AES-GCM under a key derived (HKDF) from the instance secret key, bound to the
user id, so a database copy alone does not yield anyone's second factor.
"""

from __future__ import annotations

import os
import time

import pyotp
import segno
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

ISSUER = "Disclosure"
#: Codes from one step before or after the current one are accepted, for clock drift.
VALID_WINDOW = 1
STEP_SECONDS = 30


def _key() -> bytes:
    secret = current_app.config["SECRET_KEY"].encode("utf-8")
    return HKDF(algorithm=SHA256(), length=32, salt=None, info=b"disclosure totp-secret v1").derive(secret)


def new_secret() -> str:
    return pyotp.random_base32()


def encrypt_secret(user_id: int, secret: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(_key()).encrypt(nonce, secret.encode("ascii"), str(user_id).encode("ascii"))


def decrypt_secret(user_id: int, blob: bytes) -> str:
    return AESGCM(_key()).decrypt(blob[:12], blob[12:], str(user_id).encode("ascii")).decode("ascii")


def matching_step(secret: str, code: str, last_step: int | None, now: float | None = None) -> int | None:
    """The time step the code belongs to, if it is valid and later than the last accepted step."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int((time.time() if now is None else now) // STEP_SECONDS)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if last_step is not None and step <= last_step:
            continue
        if _constant_time_equal(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def _constant_time_equal(left: str, right: str) -> bool:
    import hmac

    return hmac.compare_digest(left.encode(), right.encode())


def provisioning_uri(secret: str, email: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg_data_uri(uri: str) -> str:
    """The QR code as an SVG data: URI, rendered on the server (no script, allowed by img-src data:)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)
