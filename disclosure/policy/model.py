"""The policy as immutable values: grounds, categories, process types and jurisdictions from a policy file.

Pure: no Flask, no database. Every mapping is keyed by the vocabulary's enums and is read-only;
`Policy.sha256` is the SHA-256 of the exact file bytes, which every review records as the policy version it
was made under.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from types import MappingProxyType

from disclosure.policy.vocabulary import (
    Agreement,
    AuthorityKind,
    Category,
    Ground,
    OfficialLevel,
    ProcessType,
    Regime,
    VoluntaryBasis,
)

__all__ = [
    "AgreementRule",
    "BasisRule",
    "CategoryKind",
    "CategoryRule",
    "ChecklistItem",
    "DataKind",
    "DataKindRule",
    "GroundRule",
    "GroundUse",
    "JurisdictionRule",
    "NonDisclosureRule",
    "Policy",
    "PolicyInfo",
    "ProcessRule",
    "Window",
]


class DataKind(StrEnum):
    """What a ground applies to: the two kinds of data the policy restricts, and public data."""

    PERSONAL_ACCOUNT_INFORMATION = "personal_account_information"
    COMMUNICATIONS_CONTENT = "communications_content"
    PUBLIC = "public"


class CategoryKind(StrEnum):
    """How a data category is classed; it decides which of the policy's data kinds restricts it."""

    CONTENT = "content"
    NON_CONTENT = "non_content"
    PUBLIC = "public"

    @property
    def data_kind(self) -> DataKind:
        return _DATA_KIND_OF[self]


_DATA_KIND_OF: Mapping[CategoryKind, DataKind] = {
    CategoryKind.CONTENT: DataKind.COMMUNICATIONS_CONTENT,
    CategoryKind.NON_CONTENT: DataKind.PERSONAL_ACCOUNT_INFORMATION,
    CategoryKind.PUBLIC: DataKind.PUBLIC,
}


class GroundUse(StrEnum):
    """Situations in which the engine cites a ground by itself (others are only ever cited by a reviewer)."""

    COMPELLED_PROCESS = "compelled_process"
    EMERGENCY = "emergency"
    PUBLIC_DATA = "public_data"


class Window(StrEnum):
    """How a process's validity window is measured.

    Every process must have been valid when it was served (received). Stored-data process reaches records up to
    the end of its window; prospective process (interception, pen/trap) collects only inside its window, so it
    is also measured against today, and one order may authorise at most `max_days`.
    """

    STORED = "stored"
    PROSPECTIVE = "prospective"


@dataclass(frozen=True)
class PolicyInfo:
    name: str
    version: str  #: a label for people; the SHA-256 is the identity
    effective: date
    section: str  #: the privacy policy's section the clauses are quoted from
    source: str


@dataclass(frozen=True)
class DataKindRule:
    id: DataKind
    label: str
    clause: str  #: the policy's sentence restricting this kind of data, verbatim


@dataclass(frozen=True)
class GroundRule:
    id: Ground
    label: str
    applies_to: DataKind
    clause: str
    verbatim: bool  #: True when `clause` quotes the policy word for word
    cited_for: frozenset[GroundUse]
    requires_written_reason: bool
    reason: str | None
    note: str | None
    support: str | None  #: a verbatim sentence from elsewhere in the policy backing a non-verbatim clause
    support_section: str | None


@dataclass(frozen=True)
class CategoryRule:
    id: Category
    label: str
    kind: CategoryKind
    description: str | None

    @property
    def data_kind(self) -> DataKind:
        return self.kind.data_kind


@dataclass(frozen=True)
class ChecklistItem:
    """An element of a process the reviewer must confirm before approving."""

    id: str
    label: str


@dataclass(frozen=True)
class ProcessRule:
    id: ProcessType
    label: str
    statute: str | None
    can_compel: tuple[Category, ...]
    preserve_only: bool
    voluntary: bool  #: nothing is compelled; we may disclose `voluntary_disclosure` on our own judgement
    voluntary_disclosure: tuple[Category, ...]
    authorities: tuple[AuthorityKind, ...] | None  #: who may issue it; None: anyone
    allowed_authorities: Mapping[Category, tuple[AuthorityKind, ...]]  #: narrower, per category
    limits: Mapping[Category, str]  #: what part of a category the process reaches, when not all of it
    regimes: tuple[Regime, ...] | None  #: the legal systems it belongs to; None: any
    checklist: tuple[ChecklistItem, ...]
    approvals_required: int
    response_days: int | None
    response_hours: int | None
    business_days: bool
    emergency_response_hours: int | None
    max_days: int | None  #: the longest period one order may authorise
    preserve_days: int | None
    renewal_days: int | None
    renewals: int
    reported_in_bands: bool
    #: Fields added by policy 2026-2; their defaults keep a 2026-1 file's meaning.
    window: Window = Window.STORED
    countries: tuple[str, ...] | None = None  #: the countries whose orders it may be; None: any
    applies_from: date | None = None  #: received before this day, it is no process at all
    foreign: bool = False  #: foreign process: compels nothing by itself (unless it invokes an agreement)
    agreement: bool = False  #: an order under an executive agreement (the policy's [agreements])
    route: str | None = None  #: for foreign process: the lawful route instead
    validation: bool = False  #: an order of another authority counts once validated by an allowed one
    emergency_without_validation: bool = False  #: in an emergency, validation may follow (Reg. 2023/1543 Art. 4(5))
    offence_threshold_years: int | None = None  #: `offence_categories` need an offence punishable this long
    offence_categories: tuple[Category, ...] = ()
    issuer_agencies: tuple[str, ...] | None = None  #: the only agencies that may issue it (names, any case)
    official_levels: tuple[OfficialLevel, ...] | None = None  #: who within that agency may sign it
    preserves: tuple[Category, ...] | None = None  #: preserve-only: what it can preserve; None: every category
    exceeds_note: str | None = None  #: said when a category exceeds it (e.g. why civil process never reaches content)
    by_basis: bool = False  #: a voluntary disclosure judged by the basis the request names
    counsel_required: bool = False  #: counsel's escalation is always on its checklist

    def authorities_for(self, category: Category) -> tuple[AuthorityKind, ...] | None:
        """The issuing authorities that may compel `category` under this process; None when any may."""
        return self.allowed_authorities.get(category, self.authorities)


@dataclass(frozen=True)
class AgreementRule:
    """A CLOUD Act executive agreement: orders of `countries`' `authorities` may reach `categories` from the day it
    entered into force (18 USC 2523; the bar of 2702(a) lifts under 2702(b)(9) and (c)(7), interception under
    2511(2)(j))."""

    id: Agreement
    label: str
    statute: str
    countries: tuple[str, ...]
    in_force: date
    authorities: tuple[AuthorityKind, ...]
    categories: tuple[Category, ...]


@dataclass(frozen=True)
class BasisRule:
    """A reason we disclose on our own initiative: the law lets it reach `categories`; the policy grounds it may
    rest on are `grounds` (those that fit each category's kind of data)."""

    id: VoluntaryBasis
    label: str
    statute: str
    categories: tuple[Category, ...]
    grounds: tuple[Ground, ...]
    note: str | None


@dataclass(frozen=True)
class NonDisclosureRule:
    label: str
    statute: str
    step_days: int


@dataclass(frozen=True)
class JurisdictionRule:
    id: Regime
    label: str
    calendar_country: str | None
    calendar_from_country: bool  #: business days follow the request's own country
    countries: tuple[str, ...] | None  #: None: a request may come from any country
    note: str | None


@dataclass(frozen=True)
class Policy:
    info: PolicyInfo
    data_kinds: Mapping[DataKind, DataKindRule]
    grounds: Mapping[Ground, GroundRule]
    categories: Mapping[Category, CategoryRule]
    process_types: Mapping[ProcessType, ProcessRule]
    non_disclosure_order: NonDisclosureRule
    jurisdictions: Mapping[Regime, JurisdictionRule]
    sha256: str  #: SHA-256 hex of the exact file bytes: the policy version a review records
    agreements: Mapping[Agreement, AgreementRule] = field(default_factory=lambda: MappingProxyType({}))
    voluntary_bases: Mapping[VoluntaryBasis, BasisRule] = field(default_factory=lambda: MappingProxyType({}))

    def grounds_for(self, kind: DataKind, use: GroundUse) -> tuple[GroundRule, ...]:
        """The grounds the engine cites for data of `kind` in situation `use`, in the file's order."""
        return tuple(g for g in self.grounds.values() if g.applies_to is kind and use in g.cited_for)

    def citable_grounds(self, category: Category) -> tuple[Ground, ...]:
        """The grounds a reviewer may cite for `category`: those that apply to its kind of data."""
        kind = self.categories[category].data_kind
        return tuple(g.id for g in self.grounds.values() if g.applies_to is kind)
