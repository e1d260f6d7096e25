"""The transparency report: pure counting over per-case facts, kept apart from the queries that gather them.

Cases are counted by profile (process, jurisdiction, state at the checkpoint, what was produced, ...): cell_keys()
says which cells a profile falls in, and is the one definition used both to count and to list the cases behind a
cell, so an auditor can trace any number. The profiles are taken as of one audit checkpoint (see
disclosure.reports.queries), which makes a report reproducible: computed again at the same checkpoint, it gives the
same cells. Preservation requests are counted apart; national-security
letters appear only as a band; public outputs show counts under the threshold as "< N".
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

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
    Outcome.NO_DATA: "the reviewer found no records held for the identifiers (closed from review), or the request "
    "was approved and then closed without any production record",
    Outcome.NON_CONTENT: "records were produced (bundle delivered, or closed with records), none of them content",
    Outcome.CONTENT: "records were produced and at least one is stored or real-time content",
    Outcome.IN_PROCESS: "the case is still open (received, in review, needs information, approved, producing)",
    Outcome.WITHDRAWN: "the requester withdrew the request before anything was produced",
}


@dataclass(frozen=True)
class Profile:
    """What the counting depends on: cases with equal profiles fall into the same cells."""

    process_type: str
    regime: str
    country: str
    #: The state at the checkpoint (the "to" of the case's last transition in the log, or received).
    state: str
    #: The state that last transition left ("from"); tells a closed rejection from a closed approval.
    previous_state: str | None = None
    has_targets: bool = True
    #: Production records were added at or before the checkpoint, and whether any was content.
    produced: bool = False
    content: bool = False
    #: A non-disclosure order without an end date was in force at the checkpoint.
    indefinite_ndo: bool = False


@dataclass(frozen=True)
class CaseFacts:
    """One case as the report sees it: its profile, and the accounts it names as (kind, normalized value)."""

    reference: str
    profile: Profile
    targets: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Tally:
    """The period's cases at the checkpoint, as counts per profile, and the distinct accounts by kind of process."""

    profiles: tuple[tuple[Profile, int], ...]
    accounts: int = 0
    preservation_accounts: int = 0
    nsl_accounts: int = 0


@dataclass(frozen=True)
class Cell:
    """A figure; the cases behind it are listed by `members` (or, from the database, per cell on request)."""

    key: str
    label: str
    count: int = 0


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


def outcome_of(profile: Profile) -> Outcome:
    """The published outcome of one case, from its state at the checkpoint and what it produced."""
    return _outcome(profile.state, profile.previous_state, profile.produced, profile.content)


def _outcome(state_id: str, previous: str | None, produced: bool, content: bool) -> Outcome:
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
        # Closed from review (a "no records held" finding), or closed after an approval without production.
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


def process_class(process_type: str) -> str:
    """Where a request is counted: preservation and national-security process apart from the main figures."""
    if process_type in PRESERVATION:
        return "preservation"
    if process_type in NATIONAL_SECURITY:
        return "nsl"
    return "main"


def cell_keys(profile: Profile) -> tuple[str, ...]:
    """Every cell a case with this profile is counted in: the one definition of a cell's cases."""
    kind = process_class(profile.process_type)
    if kind != "main":
        return (kind,)
    outcome = outcome_of(profile)
    keys = [
        "total",
        f"process.{profile.process_type}",
        f"regime.{profile.regime}",
        f"country.{profile.country}",
        f"outcome.{outcome.value}",
    ]
    if profile.has_targets:
        keys.append("accounts")
    if outcome in (Outcome.CONTENT, Outcome.NON_CONTENT):
        keys.append("produced")
    if profile.indefinite_ndo:
        keys.append("ndo_indefinite")
    return tuple(keys)


def tally(facts: Iterable[CaseFacts]) -> Tally:
    """Count per-case facts the way the database query does (used where the cases are at hand, e.g. tests)."""
    profiles: Counter[Profile] = Counter()
    accounts: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for fact in facts:
        profiles[fact.profile] += 1
        accounts[process_class(fact.profile.process_type)].update(fact.targets)
    return Tally(
        tuple(profiles.items()), len(accounts["main"]), len(accounts["preservation"]), len(accounts["nsl"])
    )


def members(facts: Iterable[CaseFacts], key: str) -> tuple[str, ...]:
    """The references of the cases behind one cell, sorted."""
    return tuple(sorted(f.reference for f in facts if key in cell_keys(f.profile)))


def _label(enum: type, value: str) -> str:
    try:
        return str(enum(value).label)
    except ValueError:
        return value


def _section_cells(prefix: str, counts: Counter[str], order: Sequence[str], label_of: Any) -> tuple[Cell, ...]:
    present = {key.split(".", 1)[1] for key in counts if key.startswith(prefix + ".")}
    keys = [k for k in order if k in present] + sorted(k for k in present if k not in order)
    return tuple(Cell(f"{prefix}.{k}", label_of(k), counts[f"{prefix}.{k}"]) for k in keys)


def compute_transparency(
    counted: Tally,
    start: date,
    end: date,
    checkpoint: CheckpointRef,
    nsl_band_width: int = 250,
    suppress_below: int = 5,
) -> TransparencyReport:
    """The report for the cases received within [start, end] (inclusive days, UTC), from their tally."""
    if end < start:
        raise ReportError(f"the period ends ({end}) before it starts ({start})")
    band(0, nsl_band_width)  # validates the width
    counts: Counter[str] = Counter()
    for profile, number in counted.profiles:
        for key in cell_keys(profile):
            counts[key] += number

    by_process = _section_cells("process", counts, [p.value for p in ProcessType], lambda k: _label(ProcessType, k))
    by_regime = _section_cells("regime", counts, [r.value for r in Regime], lambda k: _label(Regime, k))
    by_country = _section_cells("country", counts, [], lambda k: k)
    by_outcome = tuple(Cell(f"outcome.{o.value}", o.label, counts[f"outcome.{o.value}"]) for o in Outcome)

    total = Cell("total", "Requests received (excluding preservation and national-security process)", counts["total"])
    account_cases = Cell("accounts", "Requests naming at least one account", counts["accounts"])
    produced = Cell("produced", "Requests where some data was produced", counts["produced"])
    ndo = Cell("ndo_indefinite", "Requests under an indefinite non-disclosure order", counts["ndo_indefinite"])
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
        accounts_count=counted.accounts,
        produced_share=Share("produced_share", "Share of requests where some data was produced", produced, total),
        ndo_share=Share("ndo_share", "Share of requests under an indefinite non-disclosure order", ndo, total),
        preservation=Cell("preservation", "Preservation requests (counted apart)", counts["preservation"]),
        preservation_accounts=counted.preservation_accounts,
        nsl=Cell("nsl", "National-security letters", counts["nsl"]),
        nsl_accounts=counted.nsl_accounts,
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
