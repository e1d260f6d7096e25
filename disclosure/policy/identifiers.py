"""Validation of the typed identifiers a request names: email, username, domain, IP, customer id and phone.

Each check returns the identifier in its canonical form (so equal identifiers compare equal) or raises
ValueError with a message that says what to fix. Pure: no Flask, no database, no network.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Final

import idna
from email_validator import EmailNotValidError, validate_email

from disclosure.policy.vocabulary import TargetKind

__all__ = ["canonical_identifier", "check_email", "check_phone"]

_USERNAME: Final = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$")
_CUSTOMER_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_PHONE: Final = re.compile(r"^\+[1-9][0-9]*(?: [0-9]+)*$")


def check_email(value: str) -> str:
    """An email address (internationalised allowed), normalised; no DNS lookup."""
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None


def check_phone(value: str) -> str:
    """A phone number in international form: + country code and number, single spaces allowed (E.164)."""
    digits = sum(ch.isdigit() for ch in value)
    if not _PHONE.match(value) or not 7 <= digits <= 15:
        raise ValueError(
            "not a phone number in international form: + then country code and number, "
            "7 to 15 digits, single spaces allowed, e.g. +1 415 555 0100"
        )
    return value


def _domain(value: str) -> str:
    name = value.lower().removesuffix(".")  # one trailing dot: the fully qualified form of the same name
    try:
        if name.endswith("."):
            raise idna.IDNAError("Empty Label")
        ascii_name = idna.encode(name, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"not a valid domain name: {exc}") from None
    if "." not in ascii_name or len(ascii_name) > 253:
        raise ValueError(
            "not a registrable domain name: give the full name with its top-level domain, e.g. example.net"
        )
    return name


def _ip(value: str) -> str:
    if "/" in value:
        raise ValueError("give one IP address, not a network; name the time or date range in from/to")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("not an IPv4 or IPv6 address, e.g. 203.0.113.7 or 2001:db8::7") from None


def _username(value: str) -> str:
    if not _USERNAME.match(value):
        raise ValueError(
            "not a username: 1 to 64 letters, digits, '.', '_' or '-', starting and ending with a letter or digit"
        )
    return value


def _customer_id(value: str) -> str:
    if not _CUSTOMER_ID.match(value):
        raise ValueError("not a customer id: 1 to 64 letters, digits, '_' or '-', starting with a letter or digit")
    return value


_CHECKS: Final[Mapping[TargetKind, Callable[[str], str]]] = {
    TargetKind.EMAIL: check_email,
    TargetKind.USERNAME: _username,
    TargetKind.DOMAIN: _domain,
    TargetKind.IP: _ip,
    TargetKind.CUSTOMER_ID: _customer_id,
    TargetKind.PHONE: check_phone,
}


def canonical_identifier(kind: TargetKind, value: str) -> str:
    """The canonical form of a target identifier of `kind`; ValueError saying what to fix if it is not one."""
    return _CHECKS[kind](value)
