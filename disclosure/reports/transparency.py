"""The transparency report: pure counting over per-case facts, kept apart from the queries that gather them.

Every figure is a Cell holding the case references behind it, so an auditor can trace any number. The facts are
taken as of one audit checkpoint (see disclosure.reports.queries), which makes a report reproducible: computed
again at the same checkpoint, it gives the same cells. Preservation requests are counted apart; national-security
letters appear only as a band; public outputs show counts under the threshold as "< N".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache

from disclosure.policy.vocabulary import Category, ProcessType, Regime
from disclosure.workflow import OPEN_STATES, State

PRESERVATION = frozenset({ProcessType.PRESERVATION_REQUEST.value, ProcessType.EU_PRESERVATION_ORDER.value})
NATIONAL_SECURITY = frozenset({ProcessType.NATIONAL_SECURITY_LETTER.value})
CONTENT = frozenset({Category.STORED_CONTENT.value, Category.REALTIME_CONTENT.value})
#: The band widths a company may publish national-security process in (0–249, 0–499, 0–999).
NSL_BAND_WIDTHS = (250, 500, 1000)


class Outcome(StrEnum):
    REJECTED = "rejected"
    NO_DATA = "no_data_found"
    NON_CONTENT = "non_content_produced"
    CONTENT = "content_produced"
    IN_PROCESS = "still_in_process"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return OUTCOME_LABELS[self]


OUTCOME_LABELS = {
    Outcome.REJECTED: "Rejected",
    Outcome.NO_DATA: "No data found",
    Outcome.NON_CONTENT: "Non-content produced",
    Outcome.CONTENT: "Content produced",
    Outcome.IN_PROCESS: "Still in process",
    Outcome.WITHDRAWN: "Withdrawn by the requester",
}

OUTCOME_DEFINITIONS = {
    Outcome.REJECTED: "the latest decision rejected the request (the case is rejected, or was closed from rejected)",
    Outcome.NO_DATA: "approved, then closed without any production record",
    Outcome.NON_CONTENT: "records were produced (bundle delivered, or closed with records), none of them content",
    Outcome.CONTENT: "records were produced and at least one is stored or real-time content",
    Outcome.IN_PROCESS: "the case is still open (received, in review, needs information, approved, producing)",
    Outcome.WITHDRAWN: "the requester withdrew the request before anything was produced",
}


@dataclass(frozen=True)
class CaseFacts:
    """One case as the report sees it at the checkpoint."""

    id: int
    reference: str
    process_type: str
    regime: str
    country: str
    received_at: datetime
    #: The state derived from the last case.transition event at or before the checkpoint.
    state: str
    #: The state that last transition left ("from"); tells a closed rejection from a closed approval.
    previous_state: str | None = None
    #: The accounts named, as (kind, normalized value).
    targets: frozenset[tuple[str, str]] = frozenset()
    #: Categories of production records added at or before the checkpoint.
    produced: frozenset[str] = frozenset()
    #: A non-disclosure order without an end date was in force at the checkpoint.
    indefinite_ndo: bool = False


@dataclass(frozen=True)
class Cell:
    """A figure and the cases behind it."""

    key: str
    label: str
    references: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        return len(self.references)


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Share:
    """A share: numerator and denominator cells, so both can be traced and suppressed."""

    key: str
    label: str
    part: Cell
    whole: Cell

    @property
    def value(self) -> float | None:
        return self.part.count / self.whole.count if self.whole.count else None


@dataclass(frozen=True)
class CheckpointRef:
    """The audit checkpoint a report was computed at."""

    id: int
    size: int
    root_hex: str
    created_at: datetime


@dataclass(frozen=True)
class TransparencyReport:
    start: date
    end: date
    checkpoint: CheckpointRef
    total: Cell
    sections: tuple[Section, ...]
    accounts: Cell
    accounts_count: int
    produced_share: Share
    ndo_share: Share
    preservation: Cell
    preservation_accounts: int
    nsl: Cell
    nsl_accounts: int
    nsl_band_width: int
    suppress_below: int
    cells: dict[str, Cell] = field(default_factory=dict)

    def cell(self, key: str) -> Cell:
        return self.cells[key]


class ReportError(ValueError):
    """A report cannot be computed with the given period or settings."""


def outcome_of(facts: CaseFacts) -> Outcome:
    """The published outcome of one case, from its state at the checkpoint and what it produced."""
    return _outcome(facts.state, facts.previous_state, bool(facts.produced), bool(facts.produced & CONTENT))


@lru_cache(maxsize=1024)
def _outcome(state_id: str, previous: str | None, produced: bool, content: bool) -> Outcome:
    # Cached: a million cases share a few dozen combinations, and enum lookups are not free.
    state = State(state_id)
    if state in OPEN_STATES:
        return Outcome.IN_PROCESS
    if state is State.WITHDRAWN:
        return Outcome.WITHDRAWN
    if produced and state in (State.DISCLOSED, State.CLOSED):
        return Outcome.CONTENT if content else Outcome.NON_CONTENT
    if state is State.REJECTED or (state is State.CLOSED and previous == State.REJECTED.value):
        return Outcome.REJECTED
    if state is State.CLOSED:
        return Outcome.NO_DATA
    # Disclosed without any record cannot happen through the services; it is not counted as produced
    # (that would overstate) but with the cases still being worked on.
    return Outcome.IN_PROCESS


def band(count: int, width: int) -> str:
    """The band a count falls in, e.g. 0–249 for 17 with width 250."""
    if width not in NSL_BAND_WIDTHS:
        raise ReportError(f"REPORT_NSL_BAND must be one of {', '.join(map(str, NSL_BAND_WIDTHS))}, not {width}")
    low = (count // width) * width
    return f"{low}\u2013{low + width - 1}"


def shown(count: int, suppress_below: int) -> str:
    """A count as published: small counts are suppressed so that no one case can be singled out."""
    return f"< {suppress_below}" if count < suppress_below else str(count)


def shown_share(share: Share, suppress_below: int) -> str:
    """A share is suppressed when either of its counts is, since it would reveal them."""
    if share.value is None:
        return "n/a"
    if share.part.count < suppress_below or share.whole.count < suppress_below:
        return "suppressed"
    return f"{share.value * 100:.1f}%"


def _refs(facts: Iterable[CaseFacts]) -> tuple[str, ...]:
    return tuple(sorted(f.reference for f in facts))


def _grouped(
    prefix: str, facts: Sequence[CaseFacts], key_of: object, order: Sequence[str], label_of: object
) -> tuple[Cell, ...]:
    groups: dict[str, list[CaseFacts]] = defaultdict(list)
    for fact in facts:
        groups[key_of(fact)].append(fact)  # type: ignore[operator]
    keys = [k for k in order if k in groups] + sorted(k for k in groups if k not in order)
    return tuple(Cell(f"{prefix}.{k}", label_of(k), _refs(groups[k])) for k in keys)  # type: ignore[operator]


def _label(enum: type, value: str) -> str:
    try:
        return enum(value).label  # type: ignore[no-any-return]
    except ValueError:
        return value


def compute_transparency(
    facts: Iterable[CaseFacts],
    start: date,
    end: date,
    checkpoint: CheckpointRef,
    nsl_band_width: int = 250,
    suppress_below: int = 5,
) -> TransparencyReport:
    """Count the cases received within [start, end] (inclusive days, UTC)."""
    if end < start:
        raise ReportError(f"the period ends ({end}) before it starts ({start})")
    band(0, nsl_band_width)  # validates the width
    in_period = [f for f in facts if start <= f.received_at.date() <= end]
    preservation = [f for f in in_period if f.process_type in PRESERVATION]
    nsl = [f for f in in_period if f.process_type in NATIONAL_SECURITY]
    main = [f for f in in_period if f.process_type not in PRESERVATION | NATIONAL_SECURITY]

    by_process = _grouped(
        "process", main, lambda f: f.process_type, [p.value for p in ProcessType], lambda k: _label(ProcessType, k)
    )
    by_regime = _grouped("regime", main, lambda f: f.regime, [r.value for r in Regime], lambda k: _label(Regime, k))
    by_country = _grouped("country", main, lambda f: f.country, [], lambda k: k)
    outcomes: dict[Outcome, list[CaseFacts]] = {o: [] for o in Outcome}
    for fact in main:
        outcomes[outcome_of(fact)].append(fact)
    by_outcome = tuple(Cell(f"outcome.{o.value}", o.label, _refs(outcomes[o])) for o in Outcome)

    total = Cell("total", "Requests received (excluding preservation and national-security process)", _refs(main))
    accounts = {t for f in main for t in f.targets}
    account_cases = Cell("accounts", "Accounts specified", _refs(f for f in main if f.targets))
    produced = Cell(
        "produced",
        "Requests where some data was produced",
        _refs(outcomes[Outcome.CONTENT] + outcomes[Outcome.NON_CONTENT]),
    )
    ndo = Cell(
        "ndo_indefinite",
        "Requests under an indefinite non-disclosure order",
        _refs(f for f in main if f.indefinite_ndo),
    )
    sections = (
        Section("process", "Requests by process type", by_process),
        Section("regime", "Requests by jurisdiction", by_regime),
        Section("country", "Requests by country", by_country),
        Section("outcome", "Outcomes", by_outcome),
    )
    report = TransparencyReport(
        start=start,
        end=end,
        checkpoint=checkpoint,
        total=total,
        sections=sections,
        accounts=account_cases,
        accounts_count=len(accounts),
        produced_share=Share("produced_share", "Share of requests where some data was produced", produced, total),
        ndo_share=Share("ndo_share", "Share of requests under an indefinite non-disclosure order", ndo, total),
        preservation=Cell("preservation", "Preservation requests (counted apart)", _refs(preservation)),
        preservation_accounts=len({t for f in preservation for t in f.targets}),
        nsl=Cell("nsl", "National-security letters", _refs(nsl)),
        nsl_accounts=len({t for f in nsl for t in f.targets}),
        nsl_band_width=nsl_band_width,
        suppress_below=suppress_below,
    )
    for cell in (
        total,
        account_cases,
        produced,
        ndo,
        report.preservation,
        report.nsl,
        *(c for s in sections for c in s.cells),
    ):
        report.cells[cell.key] = cell
    return report


def public_rows(report: TransparencyReport) -> list[tuple[str, str, str]]:
    """The report as published (CSV, PDF): (section, label, value) with suppression and bands applied."""
    below = report.suppress_below
    rows: list[tuple[str, str, str]] = [
        ("Period", "From", report.start.isoformat()),
        ("Period", "To", report.end.isoformat()),
        ("Reproducibility", "Audit checkpoint size", str(report.checkpoint.size)),
        ("Reproducibility", "Audit checkpoint root (SHA-256)", report.checkpoint.root_hex),
        ("Totals", report.total.label, shown(report.total.count, below)),
        ("Totals", "Accounts specified", shown(report.accounts_count, below)),
    ]
    for section in report.sections:
        for cell in section.cells:
            rows.append((section.title, cell.label, shown(cell.count, below)))
    rows += [
        ("Shares", report.produced_share.label, shown_share(report.produced_share, below)),
        ("Shares", report.ndo_share.label, shown_share(report.ndo_share, below)),
        ("Preservation", report.preservation.label, shown(report.preservation.count, below)),
        ("Preservation", "Accounts specified in preservation requests", shown(report.preservation_accounts, below)),
        ("National security", "National-security letters received", band(report.nsl.count, report.nsl_band_width)),
        (
            "National security",
            "Accounts specified in national-security letters",
            band(report.nsl_accounts, report.nsl_band_width),
        ),
    ]
    return rows
