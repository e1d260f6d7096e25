"""Reading an untrusted JSON document: strict RFC 8259 JSON within fixed limits, or `JsonInputError`.

A document is at most 1 MiB of UTF-8 text without a byte order mark, nested at most 32 deep, with no NaN or
Infinity, no number that overflows, no key twice in one object and no unpaired surrogate in a string. Any bytes
give either the parsed value or a `JsonInputError` whose message names the source and says what to fix; never
another exception. Pure: standard library only, no Flask.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterable
from typing import IO, Final, NoReturn

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
            parse_constant=lambda name: _refuse(f"{source} contains {name}, which JSON does not allow; write a number"),
            parse_int=lambda digits: _integer(digits, source),
            parse_float=lambda digits: _finite(digits, source),
            object_pairs_hook=lambda pairs: _unique_keys(pairs, source),
        )
    except JsonInputError:
        raise
    except json.JSONDecodeError as exc:
        _refuse(f"{source} is not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}")
    except RecursionError:
        # Unreachable past the depth check; kept so that no input can ever end in a traceback.
        _refuse(f"{source} is nested too deeply; the limit is {MAX_DEPTH} levels")
    _check_strings(value, source)
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


def _integer(digits: str, source: str) -> int:
    try:
        return int(digits)
    except ValueError:
        # Python refuses to convert an integer of more than sys.get_int_max_str_digits() digits.
        _refuse(
            f"{source} has an integer of {len(digits.lstrip('-')):,} digits; the limit is "
            f"{sys.get_int_max_str_digits():,}: write a shorter number"
        )


def _finite(digits: str, source: str) -> float:
    number = float(digits)
    if math.isinf(number):
        _refuse(f"{source} has the number {digits[:40]}, too large to represent; write a smaller number")
    return number


def _unique_keys(pairs: list[tuple[str, object]], source: str) -> dict[str, object]:
    obj: dict[str, object] = {}
    for key, value in pairs:
        if key in obj:
            name = json.dumps(key, ensure_ascii=True)
            _refuse(f"{source} has the key {name} twice in one object; keep one of them")
        obj[key] = value
    return obj


def _check_strings(value: object, source: str) -> None:
    """Refuse an unpaired surrogate (`"\\ud800"`): it is no character, and UTF-8 output cannot encode it."""
    pending: list[object] = [value]
    while pending:
        item = pending.pop()
        strings: Iterable[object] = ()
        if isinstance(item, dict):
            strings = item.keys()
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        else:
            strings = (item,)
        for string in strings:
            if isinstance(string, str) and (found := _SURROGATE.search(string)):
                _refuse(
                    f"{source} has an unpaired surrogate \\u{ord(found.group()):04x} in a string, which is no "
                    "character; write the character itself or a surrogate pair"
                )
