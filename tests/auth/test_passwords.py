"""The password rules a person meets when choosing a password, and argon2id hashing."""

from __future__ import annotations

import pytest

from disclosure.auth.passwords import (
    PasswordRejected,
    check_new_password,
    common_passwords,
    hash_password,
    verify_password,
)


@pytest.mark.parametrize(
    "password, reason",
    [
        ("short pass", "at least 12"),
        ("x" * 129, "at most 128"),
        ("qwerty123456", "common passwords"),
        ("Password123456!", "common passwords"),
        ("iloveyouiloveyou", "common passwords"),
        ("aaaaaaaaaaaaaaaa", "common passwords|different characters"),
        ("ababababababab", "different characters|common"),
        ("margaret.hamilton 1969", "name or email"),
    ],
)
def test_weak_passwords_are_refused_with_a_reason(password, reason):
    with pytest.raises(PasswordRejected, match=reason):
        check_new_password(password, email="margaret@example.org", name="Margaret Hamilton")


@pytest.mark.parametrize(
    "password", ["correct horse battery staple", "x" * 4 + "Quiet-Lantern-Orbit-57", "é" * 3 + "ñandú salta río"]
)
def test_good_passwords_pass(password):
    check_new_password(password, email="ada@example.org", name="Ada Lovelace")


def test_the_common_password_list_is_loaded():
    assert len(common_passwords()) > 19_000 and "password" in common_passwords()


def test_hashes_are_argon2id_and_verify_without_truncation(app):
    with app.app_context():
        app.config["PASSWORD_HASHER"] = "argon2id"
        stored = hash_password("p" * 128)
        assert stored.startswith("$argon2id$")
        assert verify_password(stored, "p" * 128)
        assert not verify_password(stored, "p" * 127)
        assert not verify_password(stored, "p" * 129)  # refused, not truncated
        assert not verify_password(None, "anything at all")
