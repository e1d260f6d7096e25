"""What was decided on a case, in words, for its page: the latest decision, the approved scope as rows, what was
refused and why, the letter, and production's progress against the scope.

Read-only: it reads the stored decision (its frozen engine snapshot, never today's engine) and the records added
since, so the page shows what the reviewer decided then.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select

from disclosure.cases.models import Case, CaseTarget, Document
from disclosure.extensions import db
from disclosure.policy.vocabulary import Category, TargetKind, Verdict
from disclosure.production.models import ProductionRecord
from disclosure.review.models import Decision, Outcome
from disclosure.review.service import REJECTION_REASONS, decisions_of

#: Month names for letters, fixed here rather than taken from the server's locale.
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True)
class ScopeRow:
    """One approved target: its categories, its period, and how many records production has added for each."""

    target_kind: str
    value: str
    categories: list[str]
    period: str
    #: Records added per approved category, in the same order as `categories`.
    records: list[int]


@dataclass(frozen=True)
class Refusal:
    """A requested category that was not approved, and why in plain words."""

    category: str
    reason: str


@dataclass(frozen=True)
class DecisionSummary:
    decision: Decision
    outcome: str
    scope: list[ScopeRow]
    refused: list[Refusal]
    #: Rejection reasons in words (rejections only).
    reasons: list[str]
    letter: Document | None
    #: Decisions before this one, newest first (a correction or a reopening leaves them on record).
    earlier: list[Decision]


def _label(enum: Any, value: str) -> str:
    try:
        return str(enum(value).label)
    except ValueError:
        return value


def day_in_words(day: date | str) -> str:
    """A date as a letter says it: "1 January 2026" (English month names, whatever the server's locale); text that
    is not an ISO date is returned as it is."""
    if isinstance(day, str):
        try:
            parsed = date.fromisoformat(day)
        except ValueError:
            return day
    else:
        parsed = day
    return f"{parsed.day} {MONTHS[parsed.month - 1]} {parsed.year}"


def period_in_words(start: date | str | None, end: date | str | None) -> str:
    """A period as a letter or a page says it: "1 January 2026 to 30 June 2026", "from 1 March 2026", "up to …",
    or, with neither end, "the whole period the process covers"."""
    if start and end:
        return f"{day_in_words(start)} to {day_in_words(end)}"
    if start:
        return f"from {day_in_words(start)}"
    if end:
        return f"up to {day_in_words(end)}"
    return "the whole period the process covers"


def decision_summary(case: Case) -> DecisionSummary | None:
    """The latest decision on the case, for its page; None before the first decision."""
    decisions = decisions_of(case)
    if not decisions:
        return None
    decision = decisions[-1]
    findings = {f["category"]: f for f in decision.engine.get("categories", [])}
    scope: list[ScopeRow] = []
    approved: set[str] = set()
    if decision.outcome is Outcome.APPROVED and decision.scope:
        counts = _record_counts(case)
        for entry in decision.scope:
            approved.update(entry.categories)
            scope.append(
                ScopeRow(
                    target_kind=_label(TargetKind, entry.kind),
                    value=entry.value,
                    categories=[_label(Category, c) for c in entry.categories],
                    period=period_in_words(entry.start, entry.end),
                    records=[counts[(entry.kind, entry.value, c)] for c in entry.categories],
                )
            )
    refused: list[Refusal] = []
    if decision.outcome is Outcome.APPROVED:
        for category in case.categories:
            if category.value in approved:
                continue
            finding = findings.get(category.value, {})
            if finding.get("verdict", Verdict.PERMITTED.value) == Verdict.PERMITTED.value:
                reason = "Not approved by the reviewer."
            else:
                reason = str(finding.get("reason") or _label(Verdict, str(finding.get("verdict"))))
            refused.append(Refusal(category.label, reason))
    return DecisionSummary(
        decision=decision,
        outcome=decision.outcome.label,
        scope=scope,
        refused=refused,
        reasons=[REJECTION_REASONS.get(code, code) for code in decision.reason_codes],
        letter=_letter(case, decision),
        earlier=list(reversed(decisions[:-1])),
    )


def _record_counts(case: Case) -> Counter[tuple[str, str, str]]:
    rows = db.session.execute(
        select(CaseTarget.kind, CaseTarget.value, ProductionRecord.category, func.count())
        .join(CaseTarget, ProductionRecord.target_id == CaseTarget.id)
        .where(ProductionRecord.case_id == case.id)
        .group_by(CaseTarget.kind, CaseTarget.value, ProductionRecord.category)
    ).all()
    return Counter({(kind, value, category): count for kind, value, category, count in rows})


def _letter(case: Case, decision: Decision) -> Document | None:
    """The letter stored for this decision: the newest response letter uploaded at or after it."""
    return db.session.execute(
        select(Document)
        .where(
            Document.case_id == case.id,
            Document.kind == "response_letter",
            Document.uploaded_at >= decision.decided_at,
        )
        .order_by(Document.id.desc())
        .limit(1)
    ).scalar_one_or_none()
