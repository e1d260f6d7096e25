"""Strict readers for the JSON values of a request document, each raising `RequestError` at the field's path.

A reader takes `(value, field)` and returns the typed value or raises with a message that says what to fix.
`JsonObject` reads an object with known keys only. Pure: no Flask, no database.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Final, TypeVar

__all__ = [
    "COUNTRY_ALIASES",
    "ROOT",
    "JsonObject",
    "RequestError",
    "at",
    "bool_value",
    "country",
    "date_value",
    "datetime_value",
    "json_type",
    "list_value",
    "member",
    "moment",
    "ordered",
    "text",
    "validated",
]

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")

#: The path of a whole document (an error about the document itself, not one of its fields).
ROOT: Final = "(document)"
_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})$")
_COUNTRY: Final = re.compile(r"^[A-Z]{2}$")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_MAX_TEXT: Final = 300
_JSON_TYPES: Final[Mapping[type, str]] = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "true/false",
    int: "a number",
    float: "a number",
}


class RequestError(ValueError):
    """A request document is malformed; `field` names the first bad field and the message says what to fix."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


def at(path: str, key: str | int) -> str:
    """The path of `key` (a name or a list index) inside `path`: `targets[1].kind`, `[2].targets`."""
    if isinstance(key, int):
        return f"{'' if path == ROOT else path}[{key}]"
    return key if path == ROOT else f"{path}.{key}"


def json_type(value: object) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


class JsonObject:
    """A JSON object being read: known keys only, required ones present; reads raise at the field's path."""

    def __init__(self, raw: object, path: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
        if not isinstance(raw, dict):
            raise RequestError(path, f"must be an object with {', '.join(required)}, not {json_type(raw)}")
        self.raw: Mapping[str, object] = raw
        self.path = path
        for key in raw:
            if key not in required and key not in optional:
                raise RequestError(
                    at(path, str(key)), f"unknown key; expected one of: {', '.join(required + optional)}"
                )
        for key in required:
            if key not in raw:
                raise RequestError(at(path, key), "is required")

    def field(self, key: str) -> str:
        return at(self.path, key)

    def get(self, key: str, read: Callable[[object, str], T]) -> T:
        return read(self.raw.get(key), self.field(key))

    def optional(self, key: str, read: Callable[[object, str], T]) -> T | None:
        """None when the key is absent or null."""
        value = self.raw.get(key)
        return None if value is None else read(value, self.field(key))


def text(value: object, field: str) -> str:
    """One line of text, stripped, not empty."""
    if not isinstance(value, str):
        raise RequestError(field, f"must be a string, not {json_type(value)}")
    value = value.strip()
    if not value:
        raise RequestError(field, "must not be empty")
    if len(value) > _MAX_TEXT or _CONTROL.search(value):
        raise RequestError(field, f"must be one line of at most {_MAX_TEXT} characters, without control characters")
    return value


def validated(check: Callable[[str], str]) -> Callable[[object, str], str]:
    """A reader for text that `check` canonicalises or refuses with ValueError."""

    def read(value: object, field: str) -> str:
        try:
            return check(text(value, field))
        except RequestError:
            raise
        except ValueError as exc:
            raise RequestError(field, str(exc)) from None

    return read


def member(vocabulary: type[E], what: str) -> Callable[[object, str], E]:
    """A reader for an id of `vocabulary`."""

    def read(value: object, field: str) -> E:
        if isinstance(value, str):
            try:
                return vocabulary(value)
            except ValueError:
                pass
        known = ", ".join(m.value for m in vocabulary)
        if isinstance(value, str):
            raise RequestError(field, f"unknown {what} {value!r}; use one of: {known}")
        got = ("true" if value else "false") if isinstance(value, bool) else json_type(value)
        raise RequestError(field, f"unknown {what}: expected text, got {got}; use one of: {known}")

    return read


#: Codes in common use that ISO 3166 gives another spelling: the EU writes Greece EL (its certificates under
#: Reg. 2023/1543 do), and UK is reserved for the United Kingdom, whose code is GB. A request is read with the ISO
#: code once, here, so that every rule (the Regulation's member states, the US-UK agreement) compares one spelling.
COUNTRY_ALIASES: Final[Mapping[str, str]] = {"EL": "GR", "UK": "GB"}


def country(value: object, field: str) -> str:
    """An ISO 3166 alpha-2 code in capitals; EL is read as GR and UK as GB."""
    if not isinstance(value, str) or not _COUNTRY.match(value):
        raise RequestError(field, "must be a two-letter ISO 3166 country code in capitals, e.g. US or DE")
    return COUNTRY_ALIASES.get(value, value)


def bool_value(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise RequestError(field, f"must be true or false, not {json_type(value)}")
    return value


def list_value(value: object, field: str) -> list[object]:
    if not isinstance(value, list):
        raise RequestError(field, f"must be a list, not {json_type(value)}")
    return value


def date_value(value: object, field: str) -> date:
    if not isinstance(value, str) or not _DATE.match(value):
        raise RequestError(field, "must be a date written YYYY-MM-DD, e.g. 2026-11-02")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RequestError(field, f"{value!r} is not a calendar date") from None


def datetime_value(value: object, field: str) -> datetime:
    """An aware date and time (ISO 8601 with Z or an offset)."""
    if not isinstance(value, str) or not _DATETIME.match(value):
        raise RequestError(
            field, "must be a date and time with its time zone, e.g. 2026-11-02T14:05:00Z or 2026-11-02T09:05:00-05:00"
        )
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise RequestError(field, f"{value!r} is not a real date and time") from None


def moment(value: object, field: str) -> date:
    """A date, or an aware datetime when a moment is meant (an IP address's time of use)."""
    if isinstance(value, str) and _DATE.match(value):
        return date_value(value, field)
    if isinstance(value, str) and _DATETIME.match(value):
        return datetime_value(value, field)
    raise RequestError(
        field, "must be a date (YYYY-MM-DD) or a date and time with its time zone (e.g. 2026-03-01T10:15:00Z)"
    )


def instant(value: date, end: bool) -> datetime:
    """A comparable instant: a whole date spans its day (UTC), a datetime is itself."""
    if isinstance(value, datetime):
        return value
    start = datetime.combine(value, time.min, tzinfo=UTC)
    return start + timedelta(days=1, microseconds=-1) if end else start


def ordered(first: date | None, last: date | None, field: str, what: str) -> None:
    """Raise at `field` when a range ends before it starts."""
    if first is not None and last is not None and instant(first, False) > instant(last, True):
        raise RequestError(field, f"{what} is before its start; swap or correct the dates")
