"""What the engine says about a request: a finding per category, the checklist, and warnings with stable ids.

Immutable values with `as_json()` in DESIGN's output shape, which is what a review stores at decision time.
Pure: no Flask, no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from disclosure.policy.model import ChecklistItem
from disclosure.policy.vocabulary import Category, Ground, ProcessType, Verdict

__all__ = ["COUNSEL_ESCALATION", "CategoryFinding", "Evaluation", "PolicyWarning"]

#: Added to the checklist when a requested category has no policy ground: counsel must decide it.
COUNSEL_ESCALATION = ChecklistItem(
    id="counsel_escalation",
    label="Escalated to counsel, and counsel's decision recorded, for the categories no policy ground covers",
)


@dataclass(frozen=True)
class CategoryFinding:
    category: Category
    verdict: Verdict
    grounds: tuple[Ground, ...]
    reason: str
    clause: str  #: the policy text the verdict rests on
    #: For a category that exceeds the process only by its period: the period (first day, or None for any earlier
    #: day; last day) an approval may be narrowed to.
    narrow_to: tuple[date | None, date] | None = None

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "category": self.category.value,
            "verdict": self.verdict.value,
            "grounds": [g.value for g in self.grounds],
            "reason": self.reason,
            "clause": self.clause,
        }
        if self.narrow_to is not None:
            start, end = self.narrow_to
            out["narrow_to"] = {"from": start.isoformat() if start else None, "to": end.isoformat()}
        return out


@dataclass(frozen=True)
class PolicyWarning:
    id: str  #: stable, for machines (e.g. "emergency_content_no_ground")
    message: str  #: for people

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "message": self.message}


@dataclass(frozen=True)
class Evaluation:
    policy_version: str  #: SHA-256 of the policy file
    process_type: ProcessType
    approvals_required: int
    categories: tuple[CategoryFinding, ...]
    checklist: tuple[ChecklistItem, ...]
    warnings: tuple[PolicyWarning, ...]
    #: The process always needs counsel's escalation recorded (a disclosure we start ourselves).
    counsel_required: bool = False

    def finding(self, category: Category) -> CategoryFinding | None:
        return next((f for f in self.categories if f.category is category), None)

    def warning_ids(self) -> list[str]:
        return [w.id for w in self.warnings]

    def as_json(self) -> dict[str, object]:
        """DESIGN's output shape."""
        return {
            "policy_version": self.policy_version,
            "approvals_required": self.approvals_required,
            "categories": [f.as_json() for f in self.categories],
            "checklist": [{"id": i.id, "label": i.label} for i in self.checklist],
            "warnings": [w.as_json() for w in self.warnings],
            **({"counsel_required": True} if self.counsel_required else {}),
        }
