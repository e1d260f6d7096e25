"""The approved scope as a reviewer narrows it: targets of the case × categories × a period within the request's.

Pure apart from reading the case's targets: checks that each entry names a target of the case and keeps its
period inside the requested one. What the policy lets a reviewer approve is checked in disclosure.policy.scope.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from disclosure.cases.models import Case
from disclosure.policy.request_fields import instant, moment
from disclosure.policy.scope import ScopeError


@dataclass(frozen=True)
class ScopeEntry:
    """One target with the categories and the period approved for it."""

    kind: str
    value: str
    categories: tuple[str, ...]
    start: str | None
    end: str | None

    def to_json(self) -> dict[str, Any]:
        """The stored and audited shape, which production and the bundle manifest read too."""
        return {
            "target": {"kind": self.kind, "value": self.value},
            "categories": list(self.categories),
            "from": self.start,
            "to": self.end,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ScopeEntry:
        target = raw["target"]
        return cls(target["kind"], target["value"], tuple(raw["categories"]), raw.get("from"), raw.get("to"))


def _at(raw: str, end: bool = False) -> Any:
    return instant(moment(raw, "date"), end)


def parse_scope(case: Case, entries: list[ScopeEntry]) -> list[ScopeEntry]:
    """Keep entries with categories; each must be a target of the case and within its requested period."""
    by_target = {(t.kind, t.value): t for t in case.targets}
    kept = []
    for entry in entries:
        if not entry.categories:
            continue
        target = by_target.get((entry.kind, entry.value))
        if target is None:
            raise ScopeError(f"{entry.value} is not a target of this case")
        start = entry.start or target.date_from
        end = entry.end or target.date_to
        for value, field in ((start, "from"), (end, "to")):
            if value:
                moment(value, field)
        if target.date_from and start and _at(start) < _at(target.date_from):
            raise ScopeError(f"the period for {entry.value} starts before the requested period ({target.date_from})")
        if target.date_to and end and _at(end, True) > _at(target.date_to, True):
            raise ScopeError(f"the period for {entry.value} ends after the requested period ({target.date_to})")
        if start and end and _at(start) > _at(end, True):
            raise ScopeError(f"the period for {entry.value} ends before it starts")
        kept.append(ScopeEntry(entry.kind, entry.value, tuple(sorted(set(entry.categories))), start, end))
    return kept
