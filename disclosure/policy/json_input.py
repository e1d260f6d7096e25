"""Reading an untrusted JSON document: strict RFC 8259 JSON within fixed limits, or `JsonInputError`.

A document is at most 1 MiB of UTF-8 text without a byte order mark, nested at most 32 deep, with no NaN or
Infinity, no number that overflows, no key twice in one object and no unpaired surrogate in a string. Any bytes
give either the parsed value or a `JsonInputError` whose message names the source and says what to fix; never
another exception. A syntax error or too deep a nesting is placed by line and column; a bad value by the path of
the field it is in, as the request parser names fields (`jurisdiction.regime`, `[0].targets[1].kind`): the
parser's hooks mark each bad value, and the first mark in document order is reported. Pure: standard library
only, no Flask.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from typing import IO, Final, NoReturn

from disclosure.policy.request_fields import ROOT, at

__all__ = ["MAX_DEPTH", "MAX_DOCUMENT_BYTES", "JsonInputError", "load_json_document", "read_json_document"]

#: The largest document read, in bytes (1 MiB): far above any real request, far below a memory problem.
MAX_DOCUMENT_BYTES: Final = 1_048_576
#: The deepest nesting of arrays and objects; a list of request documents nests four deep today.
MAX_DEPTH: Final = 32

# Byte order marks, the four-byte ones first: a UTF-32-LE mark begins with the UTF-16-LE one.
_BOMS: Final = (
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\xfe\xff", "UTF-16"),
    (b"\xff\xfe", "UTF-16"),
)
# A whole string (an unterminated one runs to the end) or one bracket: brackets inside strings don't nest.
_STRING_OR_BRACKET: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[][{}]', re.DOTALL)
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_SAVE_AS_UTF8: Final = "save it as UTF-8 (without a byte order mark)"


class JsonInputError(ValueError):
    """A JSON document is too large, not UTF-8, too deep or not strict JSON; the message says what to fix."""


@dataclass(frozen=True)
class _Refused:
    """Put by a parser hook in place of a value JSON allows but we refuse; `where` is filled in with its path.
    For a key given twice, `pairs` holds the object's members before the second one and `key` the key."""

    problem: str  #: with "{where}" where the path goes
    key: str | None = None
    pairs: tuple[tuple[str, object], ...] = ()


def read_json_document(stream: IO[bytes], *, source: str) -> object:
    """Read at most one byte over the limit from `stream`, so a huge file is refused without loading it."""
    data = stream.read(MAX_DOCUMENT_BYTES + 1)
    if len(data) > MAX_DOCUMENT_BYTES:
        _refuse_size(source, f"more than {MAX_DOCUMENT_BYTES:,} bytes")
    return load_json_document(data, source=source)


def load_json_document(data: bytes, *, source: str) -> object:
    """Parse `data` as one strict JSON document; `source` (a file name) begins every error message."""
    if len(data) > MAX_DOCUMENT_BYTES:
        _refuse_size(source, f"{len(data):,} bytes")
    text = _utf8_text(data, source)
    _check_depth(text, source)
    try:
        value = json.loads(
            text,
            parse_constant=lambda name: _Refused(
                f"contains {name} at {{where}}, which JSON does not allow; write a number"
            ),
            parse_int=_integer,
            parse_float=_finite,
            object_pairs_hook=_unique_keys,
        )
    except json.JSONDecodeError as exc:
        _refuse(f"{source} is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}")
    except RecursionError:
        # Unreachable past the depth check; kept so that no input can ever end in a traceback.
        _refuse(f"{source} is nested too deeply; the limit is {MAX_DEPTH} levels")
    if (problem := _first_problem(value, ROOT)) is not None:
        _refuse(f"{source} {problem}")
    return value


def _refuse(message: str) -> NoReturn:
    raise JsonInputError(message)


def _refuse_size(source: str, size: str) -> NoReturn:
    _refuse(f"{source} is {size}; the limit is {MAX_DOCUMENT_BYTES:,} bytes (1 MiB): split it into smaller files")


def _utf8_text(data: bytes, source: str) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            _refuse(f"{source} is {encoding} text (it starts with a byte order mark); {_SAVE_AS_UTF8}")
    if data.startswith(b"\xef\xbb\xbf"):
        _refuse(f"{source} starts with a UTF-8 byte order mark, which JSON does not allow; {_SAVE_AS_UTF8}")
    nul = data.find(b"\x00")
    if nul >= 0:
        # JSON never holds a raw NUL; text with NULs between its characters is UTF-16 or UTF-32.
        _refuse(f"{source} is not UTF-8 text: it has a NUL byte at offset {nul} (UTF-16 or UTF-32?); {_SAVE_AS_UTF8}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        _refuse(f"{source} is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}; {_SAVE_AS_UTF8}")


def _check_depth(text: str, source: str) -> None:
    """Count brackets outside strings before parsing, so that deep nesting never reaches the recursive parser.

    Up to the first syntax error the count is exact, and the parser stops there, so it never nests deeper.
    """
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                line, column = _position(text, match.start())
                _refuse(
                    f"{source} is nested too deeply: line {line} column {column} opens level {depth}; "
                    f"the limit is {MAX_DEPTH} levels"
                )
        elif token in ("]", "}"):
            depth -= 1


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - text.rfind("\n", 0, offset)


def _integer(digits: str) -> int | _Refused:
    try:
        return int(digits)
    except ValueError:
        # Python refuses to convert an integer of more than sys.get_int_max_str_digits() digits.
        return _Refused(
            f"has an integer of {len(digits.lstrip('-')):,} digits at {{where}}; the limit is "
            f"{sys.get_int_max_str_digits():,}: write a shorter number"
        )


def _finite(digits: str) -> float | _Refused:
    number = float(digits)
    if math.isinf(number):
        return _Refused(f"has the number {digits[:40]} at {{where}}, too large to represent; write a smaller number")
    return number


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object] | _Refused:
    obj: dict[str, object] = {}
    for index, (key, value) in enumerate(pairs):
        if key in obj:
            name = json.dumps(key, ensure_ascii=True)
            return _Refused(
                f"has the key {name} twice in one object, at {{where}}; keep one of them", key, tuple(pairs[:index])
            )
        obj[key] = value
    return obj


def _first_problem(value: object, path: str) -> str | None:
    """The first refused value in document order, with its path; or an unpaired surrogate (`"\\ud800"`: no
    character, and UTF-8 output cannot encode it). Recursion is bounded by the depth check."""
    if isinstance(value, _Refused):
        for key, member in value.pairs:
            if (found := _member_problem(key, member, path)) is not None:
                return found
        where = at(path, value.key) if value.key is not None else path
        return value.problem.replace("{where}", where)
    if isinstance(value, dict):
        for key, member in value.items():
            if (found := _member_problem(key, member, path)) is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _first_problem(item, at(path, index))) is not None:
                return found
    elif isinstance(value, str):
        return _surrogate(value, f"in a string at {path}")
    return None


def _member_problem(key: str, value: object, path: str) -> str | None:
    return _surrogate(key, f"in a key of {path}") or _first_problem(value, at(path, key))


def _surrogate(string: str, where: str) -> str | None:
    if (found := _SURROGATE.search(string)) is None:
        return None
    return (
        f"has an unpaired surrogate \\u{ord(found.group()):04x} {where}, which is no character; write the "
        "character itself or a surrogate pair"
    )
