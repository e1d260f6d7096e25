"""What a reviewer may approve, given the engine's evaluation: the guards the review service calls first.

Invariants: an approved scope is a non-empty subset of the requested one; it never holds a category that
exceeds the process or is only preserved (except one that exceeds it only by its period, once every approved
period lies inside the one the engine offers), nor one no policy ground covers unless counsel's escalation is
recorded; every cited ground fits the category's kind of data, with a written reason where the ground needs
one. Pure.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date

from disclosure.policy.findings import CategoryFinding, Evaluation
from disclosure.policy.loader import default_policy
from disclosure.policy.model import Policy
from disclosure.policy.vocabulary import Category, Ground, Verdict

__all__ = [
    "Periods",
    "ScopeError",
    "approvable_categories",
    "check_grounds",
    "check_scope",
    "ground_requires_reason",
    "narrowable",
]

#: The periods approved for each category: (first day or None for "from the start", last day or None).
Periods = Mapping[Category, Sequence[tuple[date | None, date | None]]]


class ScopeError(ValueError):
    """An approval is wider than the request, or includes what the engine does not let a reviewer approve."""


def approvable_categories(evaluation: Evaluation, *, counsel_escalation: bool = False) -> set[Category]:
    """The categories a reviewer may approve: those permitted and, once counsel's escalation is recorded,
    those no policy ground covers. Never one that exceeds the process, never one that is only preserved."""
    allowed = {Verdict.PERMITTED}
    if counsel_escalation:
        allowed.add(Verdict.NO_POLICY_GROUND)
    return {f.category for f in evaluation.categories if f.verdict in allowed}


def narrowable(finding: CategoryFinding) -> bool:
    """Whether the finding exceeds the process only by its period, so that a narrower approval may pass."""
    return finding.verdict is Verdict.EXCEEDS_PROCESS and finding.narrow_to is not None


def _inside(finding: CategoryFinding, periods: Sequence[tuple[date | None, date | None]]) -> bool:
    assert finding.narrow_to is not None
    first, last = finding.narrow_to
    return bool(periods) and all(
        end is not None and end <= last and (first is None or (start is not None and start >= first))
        for start, end in periods
    )


def check_scope(
    requested: Iterable[Category],
    approved: Iterable[Category],
    evaluation: Evaluation,
    *,
    counsel_escalation: bool = False,
    periods: Periods | None = None,
) -> None:
    """Raise ScopeError unless `approved` is a non-empty subset of `requested` that the evaluation lets a
    reviewer approve. A category that exceeds the process only by its period passes when every period approved
    for it (`periods`) lies inside the one the engine offers."""
    wanted, granted = set(requested), set(approved)
    if not granted:
        raise ScopeError("approve at least one category, or reject the request")
    if wider := granted - wanted:
        raise ScopeError(f"approval is wider than the request: {', '.join(sorted(wider))} was not requested")
    if wanted != {f.category for f in evaluation.categories}:
        raise ScopeError("the evaluation is for a different set of categories; evaluate the request again")
    approvable = approvable_categories(evaluation, counsel_escalation=counsel_escalation)
    for category in sorted(granted - approvable):
        finding = evaluation.finding(category)
        assert finding is not None  # every requested category has a finding (checked just above)
        if narrowable(finding):
            if _inside(finding, (periods or {}).get(category, ())):
                continue
            assert finding.narrow_to is not None
            first, last = finding.narrow_to
            span = f"{first.isoformat()} to {last.isoformat()}" if first else f"up to {last.isoformat()}"
            raise ScopeError(
                f"{category.value} can be approved only for {span}: set the From and To dates of every target "
                f"inside that period. {finding.reason}"
            )
        hint = " (record counsel's escalation first)" if finding.verdict is Verdict.NO_POLICY_GROUND else ""
        raise ScopeError(
            f"{category.value} cannot be approved: the engine found {finding.verdict.value}{hint}. {finding.reason}"
        )


def ground_requires_reason(ground: Ground, policy: Policy | None = None) -> bool:
    """Whether citing `ground` needs a written reason (legitimate interests does: it is broader than the
    law's provider-protection exception)."""
    return (policy or default_policy()).grounds[ground].requires_written_reason


def check_grounds(
    category: Category, grounds: Collection[Ground], policy: Policy, *, written_reason: str | None = None
) -> None:
    """Raise ScopeError unless `grounds` is a non-empty citation that fits `category`'s kind of data, with a
    written reason wherever a cited ground needs one."""
    if not grounds:
        raise ScopeError(f"cite at least one ground for {category.value}")
    citable = policy.citable_grounds(category)
    for ground in grounds:
        if ground not in citable:
            raise ScopeError(
                f"{ground.value} does not apply to {category.value}; it may rest on "
                f"{', '.join(g.value for g in citable)}"
            )
        if policy.grounds[ground].requires_written_reason and not (written_reason or "").strip():
            raise ScopeError(f"citing {ground.value} for {category.value} needs a written reason")
