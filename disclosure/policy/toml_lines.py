"""Line numbers for dotted field paths in a TOML text, which tomllib does not report.

A light scan of table headers and `key =` lines: good enough to point a person at the right line of a policy
file, not a TOML parser. A path not written in the file (a missing key) resolves to its nearest written
ancestor.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["TomlLines"]

_BARE_OR_QUOTED: Final = r'(?:[A-Za-z0-9_-]+|"[^"\\]*"|\'[^\']*\')'
_DOTTED: Final = rf"{_BARE_OR_QUOTED}(?:\s*\.\s*{_BARE_OR_QUOTED})*"
_ARRAY_HEADER: Final = re.compile(rf"^\s*\[\[\s*({_DOTTED})\s*\]\]\s*(?:#.*)?$")
_HEADER: Final = re.compile(rf"^\s*\[\s*({_DOTTED})\s*\]\s*(?:#.*)?$")
_KEY: Final = re.compile(rf"^\s*({_DOTTED})\s*=")
_PART: Final = re.compile(_BARE_OR_QUOTED)
_LAST_STEP: Final = re.compile(r"(?:\[\d+\]|\.[^.\[]+)$")


def _parts(dotted: str) -> list[str]:
    return [p.strip("\"'") for p in _PART.findall(dotted)]


class TomlLines:
    """Maps dotted paths (`process_types.subpoena.checklist[1].label`) to 1-based lines of a TOML text."""

    def __init__(self, text: str) -> None:
        self._lines: dict[str, int] = {}
        table = ""
        array_counts: dict[str, int] = {}
        in_multiline: str | None = None
        for number, line in enumerate(text.splitlines(), start=1):
            if in_multiline is not None:
                if line.count(in_multiline) % 2 == 1:
                    in_multiline = None
                continue
            if (match := _ARRAY_HEADER.match(line)) is not None:
                base = ".".join(_parts(match.group(1)))
                index = array_counts.get(base, 0)
                array_counts[base] = index + 1
                table = f"{base}[{index}]"
                self._lines.setdefault(table, number)
                self._lines.setdefault(base, number)
            elif (match := _HEADER.match(line)) is not None:
                table = ".".join(_parts(match.group(1)))
                self._lines.setdefault(table, number)
                # Implicit parent tables ([a.b] defines a) point at their first child's header.
                parts = table.split(".")
                for end in range(1, len(parts)):
                    self._lines.setdefault(".".join(parts[:end]), number)
            elif (match := _KEY.match(line)) is not None:
                key = ".".join(_parts(match.group(1)))
                self._lines.setdefault(f"{table}.{key}" if table else key, number)
                for quote in ('"""', "'''"):
                    if line.count(quote) % 2 == 1:
                        in_multiline = quote
                        break

    def line_of(self, path: str) -> int | None:
        """The line that writes `path`, or its nearest written ancestor; None if nothing on the path is."""
        while path:
            if path in self._lines:
                return self._lines[path]
            shorter = _LAST_STEP.sub("", path)
            if shorter == path:
                return None
            path = shorter
        return None
