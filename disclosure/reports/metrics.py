"""Operational metrics (pure): time to decision and to disclosure by process type, and overdue counts.

Definitions are stated in DEFINITIONS and shown with the figures, so nobody reads more into them than they say.
Percentiles use the nearest-rank method on seconds; a case without the event is left out of that figure.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

DEFINITIONS = {
    "time_to_decision": "From the moment the process was received (as logged at intake) to the first "
    "recorded approval, rejection or finding that no records are held. Requests for more information do not count as "
    "a decision. Cases not decided at the checkpoint are left out.",
    "time_to_disclosure": "From receipt to the moment a production bundle was marked delivered (the case became "
    "disclosed). Cases without a delivered bundle at the checkpoint are left out.",
    "percentiles": "Median and 90th percentile by the nearest-rank method over the cases that have the event.",
    "overdue_open": "Cases still open at the checkpoint whose due date had passed at the checkpoint's time.",
    "decided_late": "Cases whose first decision (approval, rejection, or no records held) came after their due date.",
}


class CaseDurations(NamedTuple):
    """One case's times as the metrics use them; the database computes them (see queries.durations_statement),
    and its rows, labelled alike, are used as they come."""

    reference: str
    process_type: str
    #: Seconds from received_at to the first approval or rejection, or None if not decided at the checkpoint.
    to_decision: float | None = None
    #: Seconds from received_at to the case becoming disclosed, or None.
    to_disclosure: float | None = None
    #: Still open at the checkpoint and past its due date at the checkpoint's time.
    overdue_open: bool = False
    #: First approved or rejected after its due date.
    decided_late: bool = False


@dataclass(frozen=True)
class Durations:
    process_type: str
    count: int
    median: timedelta | None
    p90: timedelta | None


@dataclass(frozen=True)
class OperationalMetrics:
    time_to_decision: tuple[Durations, ...]
    time_to_disclosure: tuple[Durations, ...]
    overdue_open: tuple[str, ...]
    decided_late: tuple[str, ...]


def nearest_rank(values: Sequence[float], percentile: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least `percentile`% of values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(percentile / 100 * len(ordered)))
    return ordered[rank - 1]


def _durations(pairs: Iterable[tuple[str, float]]) -> tuple[Durations, ...]:
    groups: dict[str, list[float]] = defaultdict(list)
    for process, seconds in pairs:
        groups[process].append(seconds)
    result = []
    for process in sorted(groups):
        values = groups[process]
        median, p90 = nearest_rank(values, 50), nearest_rank(values, 90)
        result.append(
            Durations(
                process,
                len(values),
                timedelta(seconds=median) if median is not None else None,
                timedelta(seconds=p90) if p90 is not None else None,
            )
        )
    return tuple(result)


def compute_metrics(cases: Iterable[CaseDurations]) -> OperationalMetrics:
    cases = list(cases)
    decision = ((c.process_type, c.to_decision) for c in cases if c.to_decision is not None)
    disclosure = ((c.process_type, c.to_disclosure) for c in cases if c.to_disclosure is not None)
    overdue = tuple(sorted(c.reference for c in cases if c.overdue_open))
    late = tuple(sorted(c.reference for c in cases if c.decided_late))
    return OperationalMetrics(_durations(decision), _durations(disclosure), overdue, late)


def humanize(duration: timedelta | None) -> str:
    if duration is None:
        return "–"
    hours = duration.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} d"
