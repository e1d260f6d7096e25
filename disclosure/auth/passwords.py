"""Password hashing (argon2id) and the password rules: 12 to 128 characters, not a common password.

Unknown accounts are verified against a dummy hash so that every sign-in failure costs the same time.
Fast hashing parameters exist for the test suite only; disclosure.config refuses them elsewhere.
"""

from __future__ import annotations

import gzip
import os
import re
import threading
from functools import cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app

MIN_LENGTH = 12
MAX_LENGTH = 128

# argon2-cffi's defaults are RFC 9106's second recommended profile (argon2id, t=3, m=64 MiB, p=4).
_HASHERS = {
    "argon2id": PasswordHasher(),
    "fast-insecure-for-tests": PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
}


class PasswordRejected(ValueError):
    """A new password breaks the password rules; the message says which."""


#: At most this many argon2 computations at once in a process (half its CPUs): a flood of sign-ins queues for them
#: instead of taking every core from the people already signed in, and takes no database lock while it waits.
HASHING_SLOTS = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) // 2))


def _hasher() -> PasswordHasher:
    return _HASHERS[current_app.config["PASSWORD_HASHER"]]


def hash_password(password: str) -> str:
    with HASHING_SLOTS:
        return _hasher().hash(password)


@cache
def _dummy_hash(hasher_name: str) -> str:
    return _HASHERS[hasher_name].hash("dummy password used to equalise timing")


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when password matches; otherwise spend the same time (a dummy hash) and return False.

    Over-long passwords are refused, never truncated, and still cost one full verification.
    """
    usable = stored_hash is not None and len(password) <= MAX_LENGTH
    target = stored_hash if usable and stored_hash else _dummy_hash(current_app.config["PASSWORD_HASHER"])
    matched: bool
    try:
        with HASHING_SLOTS:
            matched = _hasher().verify(target, password if usable else "x")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        matched = False
    return matched and usable


def needs_rehash(stored_hash: str) -> bool:
    return _hasher().check_needs_rehash(stored_hash)


@cache
def common_passwords() -> frozenset[str]:
    """The 20,000 most common passwords (Royce Williams' list, as shipped by Django under BSD-3-Clause)."""
    data = resources.files("disclosure.auth").joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(line.strip() for line in gzip.decompress(data).decode("utf-8").splitlines() if line)


_EDGE_NOISE = re.compile(r"^[\d\W_]+|[\d\W_]+$")


def check_new_password(password: str, *, email: str = "", name: str = "") -> None:
    """Raise PasswordRejected with a message that says what to change."""
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(f"Use at least {MIN_LENGTH} characters; a passphrase of several words is easiest.")
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(f"Use at most {MAX_LENGTH} characters.")
    lowered = password.lower()
    stripped = _EDGE_NOISE.sub("", lowered)
    candidates = {lowered, stripped, _repeated_unit(lowered)}
    if any(candidate in common_passwords() for candidate in candidates if len(candidate) >= 4):
        raise PasswordRejected("That password is on a list of common passwords; choose something less predictable.")
    if len(set(lowered)) < 4:
        raise PasswordRejected("Use more than three different characters.")
    personal = [email.split("@")[0].lower(), *name.lower().split()]
    if any(len(part) >= 4 and part in lowered for part in personal):
        raise PasswordRejected("Do not use your name or email address in your password.")


def _repeated_unit(text: str) -> str:
    """'abcabcabc' -> 'abc'; text that is not a repetition is returned unchanged."""
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return text[:size]
    return text
