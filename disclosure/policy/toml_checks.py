"""Reading raw TOML values into typed ones while collecting every problem, each with its line and field.

A `TomlChecker` never stops at the first fault: it records a `PolicyProblem` and returns a harmless
stand-in, so one pass reports everything wrong with a file. Types are checked exactly: a TOML boolean is not
an integer and a TOML datetime is not a date. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from datetime import date
from enum import StrEnum
from typing import Final, TypeVar

from disclosure.policy.toml_lines import TomlLines

__all__ = ["PolicyProblem", "TomlChecker", "type_name"]

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")

_EXPECTED: Final[Mapping[type, str]] = {
    str: "a string",
    int: "an integer",
    bool: "true or false",
    date: "a date",
}
_FOUND: Final[Mapping[type, str]] = {
    str: "a string",
    int: "an integer",
    bool: "a boolean",
    float: "a float",
    list: "an array",
    dict: "a table",
}


def type_name(value: object) -> str:
    """How a TOML value's type is named in messages."""
    return _FOUND.get(type(value), type(value).__name__)


class PolicyProblem:
    """One thing wrong with a policy file: where (line, dotted field) and what."""

    __slots__ = ("field", "line", "message")

    def __init__(self, line: int | None, field: str, message: str) -> None:
        self.line, self.field, self.message = line, field, message

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.field}: {self.message}"

    def __repr__(self) -> str:
        return f"PolicyProblem({self.line!r}, {self.field!r}, {self.message!r})"


class TomlChecker:
    """Typed reads of raw TOML values; each fault becomes a PolicyProblem located by `TomlLines`."""

    def __init__(self, lines: TomlLines) -> None:
        self.lines = lines
        self.problems: list[PolicyProblem] = []

    def fail(self, field: str, message: str) -> None:
        self.problems.append(PolicyProblem(self.lines.line_of(field), field, message))

    def table(
        self, raw: object, field: str, required: AbstractSet[str], optional: AbstractSet[str] = frozenset()
    ) -> dict[str, object]:
        """`raw` as a table holding every required key and no unknown one."""
        if not isinstance(raw, dict):
            self.fail(field, f"must be a table, not {type_name(raw)}")
            return {}
        known = ", ".join(sorted(required | optional))
        for key in raw:
            if key not in required and key not in optional:
                self.fail(f"{field}.{key}", f"unknown key; expected one of: {known}")
        for key in sorted(required - raw.keys()):
            self.fail(f"{field}.{key}", "missing required field")
        return {str(k): v for k, v in raw.items()}

    def ids(
        self,
        raw: Mapping[str, object],
        field: str,
        vocabulary: type[E],
        what: str,
        *,
        optional: AbstractSet[E] = frozenset(),
    ) -> dict[E, dict[str, object]]:
        """The tables of `raw` by vocabulary id: every id of the vocabulary but the `optional` ones must be
        defined, and no other."""
        out: dict[E, dict[str, object]] = {}
        for key, value in raw.items():
            member = self.member(vocabulary, key, f"{field}.{key}", what)
            if member is None:
                continue
            if not isinstance(value, dict):
                self.fail(f"{field}.{key}", f"must be a table, not {type_name(value)}")
            out[member] = value if isinstance(value, dict) else {}
        for member in vocabulary:
            if member not in out and member.value not in raw and member not in optional:
                self.fail(
                    f"{field}.{member.value}", f"missing: {what} {member.value!r} is in the vocabulary but not defined"
                )
        return out

    def member(self, vocabulary: type[E], value: object, field: str, what: str) -> E | None:
        if isinstance(value, str):
            try:
                return vocabulary(value)
            except ValueError:
                pass
        self.fail(field, f"unknown {what} {value!r}; known: {', '.join(m.value for m in vocabulary)}")
        return None

    def typed(self, raw: Mapping[str, object], key: str, field: str, kind: type[T], default: T) -> T:
        value = raw.get(key, default)
        if type(value) is not kind:  # exact: a bool is not an int, a datetime is not a date
            if key in raw:
                expected = _EXPECTED.get(kind, kind.__name__)
                self.fail(f"{field}.{key}", f"must be {expected}, not {type_name(value)}")
            return default
        return value

    def text(self, raw: Mapping[str, object], key: str, field: str) -> str:
        value = self.typed(raw, key, field, str, "")
        if key in raw and isinstance(raw[key], str) and not value.strip():
            self.fail(f"{field}.{key}", "must not be empty")
        return value

    def optional_text(self, raw: Mapping[str, object], key: str, field: str) -> str | None:
        return self.text(raw, key, field) if key in raw else None

    def count(self, raw: Mapping[str, object], key: str, field: str, minimum: int = 1) -> int | None:
        if key not in raw:
            return None
        value = self.typed(raw, key, field, int, minimum)
        if value < minimum:
            self.fail(f"{field}.{key}", f"must be at least {minimum}")
        return value

    def members(self, raw: Mapping[str, object], key: str, field: str, vocabulary: type[E], what: str) -> tuple[E, ...]:
        """An array of vocabulary ids, each at most once."""
        values = raw.get(key, [])
        if not isinstance(values, list):
            self.fail(f"{field}.{key}", f"must be an array, not {type_name(values)}")
            return ()
        out: list[E] = []
        for index, value in enumerate(values):
            member = self.member(vocabulary, value, f"{field}.{key}[{index}]", what)
            if member is not None and member in out:
                self.fail(f"{field}.{key}[{index}]", f"{what} {value!r} is listed twice")
            elif member is not None:
                out.append(member)
        return tuple(out)

    def strings(
        self, raw: Mapping[str, object], key: str, field: str, pattern: re.Pattern[str], hint: str
    ) -> tuple[str, ...]:
        """An array of strings, each matching `pattern` (described to people as `hint`)."""
        values = raw.get(key, [])
        if not isinstance(values, list):
            self.fail(f"{field}.{key}", f"must be an array, not {type_name(values)}")
            return ()
        for index, value in enumerate(values):
            if not isinstance(value, str) or not pattern.match(value):
                self.fail(f"{field}.{key}[{index}]", f"{value!r} is not {hint}")
        return tuple(v for v in values if isinstance(v, str))
