"""Loading and validating a policy file (TOML) into an immutable `Policy`.

Invariant: a `Policy` exists only for a file in which every key is known, every id belongs to the vocabulary,
every ground, category, process type and jurisdiction of the vocabulary is defined, and every value has its
type. Anything else raises `PolicyFileError` listing each problem with its line and dotted field path.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from datetime import date
from enum import StrEnum
from functools import lru_cache
from importlib.resources import files
from types import MappingProxyType
from typing import Final, TypeVar

import holidays

from disclosure.policy.model import (
    AgreementRule,
    BasisRule,
    CategoryKind,
    CategoryRule,
    ChecklistItem,
    DataKind,
    DataKindRule,
    GroundRule,
    GroundUse,
    JurisdictionRule,
    NonDisclosureRule,
    Policy,
    PolicyInfo,
    ProcessRule,
    Window,
)
from disclosure.policy.toml_checks import PolicyProblem, TomlChecker, type_name
from disclosure.policy.toml_lines import TomlLines
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

__all__ = ["PolicyFileError", "PolicyProblem", "default_policy", "default_policy_bytes", "load_policy"]

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")

_CHECKLIST_ID: Final = re.compile(r"^[a-z][a-z0-9_]*$")
_COUNTRY: Final = re.compile(r"^[A-Z]{2}$")
_CALENDAR: Final = re.compile(r"^[A-Z]{2}(?:-[A-Z0-9]{1,3})?$")
_SYNTAX_LINE: Final = re.compile(r"\(at line (\d+), column \d+\)")
_ANY_TEXT: Final = re.compile(r"^\S.*$")

_TOP: Final = frozenset(
    {
        "policy",
        "data_kinds",
        "grounds",
        "categories",
        "process_types",
        "non_disclosure_order",
        "jurisdictions",
    }
)
#: Tables a policy file may leave out (policy 2026-1 predates them).
_OPTIONAL_TOP: Final = frozenset({"agreements", "voluntary_bases"})
#: Process types added by policy 2026-2: an earlier policy file does not define them.
LATER_PROCESS_TYPES: Final = frozenset(
    {
        ProcessType.CIVIL_SUBPOENA,
        ProcessType.FOREIGN_ORDER,
        ProcessType.AGREEMENT_ORDER,
        ProcessType.UK_IPA_COMMUNICATIONS_DATA,
        ProcessType.UK_IPA_INTERCEPTION_WARRANT,
        ProcessType.VOLUNTARY_DISCLOSURE,
    }
)
_GROUND_KEYS: Final = frozenset({"label", "applies_to", "clause", "verbatim"})
_GROUND_OPTIONAL: Final = frozenset(
    {
        "cited_for",
        "requires_written_reason",
        "reason",
        "note",
        "support",
        "support_section",
    }
)
_PROCESS_OPTIONAL: Final = frozenset(
    {
        "statute",
        "can_compel",
        "preserve_only",
        "voluntary",
        "voluntary_disclosure",
        "authorities",
        "allowed_authorities",
        "limits",
        "regimes",
        "approvals_required",
        "response_days",
        "response_hours",
        "business_days",
        "emergency_response_hours",
        "max_days",
        "preserve_days",
        "renewal_days",
        "renewals",
        "reported_in_bands",
        "window",
        "countries",
        "applies_from",
        "foreign",
        "agreement",
        "route",
        "validation",
        "emergency_without_validation",
        "offence_threshold_years",
        "offence_categories",
        "issuer_agencies",
        "official_levels",
        "preserves",
        "exceeds_note",
        "by_basis",
        "counsel_required",
    }
)
_JURISDICTION_OPTIONAL: Final = frozenset({"calendar_country", "calendar_from_country", "countries", "note"})


class PolicyFileError(ValueError):
    """The policy file is malformed; `problems` lists every problem found, by line and field."""

    def __init__(self, source: str, problems: list[PolicyProblem]) -> None:
        self.source, self.problems = source, tuple(problems)
        listing = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{listing}")


def _ground(c: TomlChecker, gid: Ground, raw: dict[str, object]) -> GroundRule:
    f = f"grounds.{gid.value}"
    raw = c.table(raw, f, _GROUND_KEYS, _GROUND_OPTIONAL)
    applies_to = c.member(DataKind, raw.get("applies_to", "public"), f"{f}.applies_to", "data kind")
    return GroundRule(
        id=gid,
        label=c.text(raw, "label", f),
        applies_to=applies_to or DataKind.PUBLIC,
        clause=c.text(raw, "clause", f),
        verbatim=c.typed(raw, "verbatim", f, bool, False),
        cited_for=frozenset(c.members(raw, "cited_for", f, GroundUse, "use")),
        requires_written_reason=c.typed(raw, "requires_written_reason", f, bool, False),
        reason=c.optional_text(raw, "reason", f),
        note=c.optional_text(raw, "note", f),
        support=c.optional_text(raw, "support", f),
        support_section=c.optional_text(raw, "support_section", f),
    )


def _category(c: TomlChecker, cid: Category, raw: dict[str, object]) -> CategoryRule:
    f = f"categories.{cid.value}"
    raw = c.table(raw, f, {"label", "kind"}, {"description"})
    kind = c.member(CategoryKind, raw.get("kind", "public"), f"{f}.kind", "category kind")
    return CategoryRule(
        id=cid,
        label=c.text(raw, "label", f),
        kind=kind or CategoryKind.PUBLIC,
        description=c.optional_text(raw, "description", f),
    )


def _checklist(c: TomlChecker, raw: object, f: str) -> tuple[ChecklistItem, ...]:
    if not isinstance(raw, list) or not raw:
        c.fail(f, "must be a non-empty array of tables ([[...checklist]] with id and label)")
        return ()
    items: list[ChecklistItem] = []
    for index, entry in enumerate(raw):
        at = f"{f}[{index}]"
        entry = c.table(entry, at, {"id", "label"})
        item = ChecklistItem(id=c.text(entry, "id", at), label=c.text(entry, "label", at))
        if "id" in entry and not _CHECKLIST_ID.match(item.id):
            c.fail(f"{at}.id", f"{item.id!r} is not an id (lower-case letters, digits and _)")
        if any(item.id == seen.id for seen in items):
            c.fail(f"{at}.id", f"checklist id {item.id!r} is listed twice")
        items.append(item)
    return tuple(items)


def _per_category(
    c: TomlChecker, raw: object, f: str, allowed: tuple[Category, ...], read: Callable[[Mapping[str, object], str], T]
) -> Mapping[Category, T]:
    """A table keyed by category, each category among `allowed`."""
    if not isinstance(raw, dict):
        c.fail(f, f"must be a table, not {type_name(raw)}")
        return MappingProxyType({})
    out: dict[Category, T] = {}
    for key in raw:
        category = c.member(Category, key, f"{f}.{key}", "category")
        if category is not None and category not in allowed:
            c.fail(f"{f}.{key}", f"{key!r} is not among the categories this process can compel or disclose")
        elif category is not None:
            out[category] = read(raw, key)
    return MappingProxyType(out)


def _check_process_kind(
    c: TomlChecker,
    f: str,
    preserve_only: bool,
    voluntary: bool,
    can_compel: tuple[Category, ...],
    voluntary_disclosure: tuple[Category, ...],
) -> None:
    if preserve_only and voluntary:
        c.fail(f"{f}.voluntary", "a process cannot be both preserve_only and voluntary")
    if (preserve_only or voluntary) and can_compel:
        c.fail(f"{f}.can_compel", "a preservation or voluntary process compels nothing; leave can_compel out")
    if not (preserve_only or voluntary) and not can_compel:
        c.fail(f"{f}.can_compel", "missing: list what this process can compel (or mark it preserve_only or voluntary)")
    if voluntary != bool(voluntary_disclosure):
        c.fail(f"{f}.voluntary_disclosure", "required exactly when voluntary = true")


def _process(c: TomlChecker, pid: ProcessType, raw: dict[str, object]) -> ProcessRule:
    f = f"process_types.{pid.value}"
    raw = c.table(raw, f, {"label", "checklist"}, _PROCESS_OPTIONAL)
    can_compel = c.members(raw, "can_compel", f, Category, "category")
    voluntary_disclosure = c.members(raw, "voluntary_disclosure", f, Category, "category")
    preserve_only = c.typed(raw, "preserve_only", f, bool, False)
    voluntary = c.typed(raw, "voluntary", f, bool, False)
    _check_process_kind(c, f, preserve_only, voluntary, can_compel, voluntary_disclosure)
    authorities = c.members(raw, "authorities", f, AuthorityKind, "authority kind")
    regimes = c.members(raw, "regimes", f, Regime, "regime")
    allowed = _per_category(
        c,
        raw.get("allowed_authorities", {}),
        f"{f}.allowed_authorities",
        can_compel,
        lambda t, k: c.members(t, k, f"{f}.allowed_authorities", AuthorityKind, "authority kind"),
    )
    limits = _per_category(
        c,
        raw.get("limits", {}),
        f"{f}.limits",
        can_compel + voluntary_disclosure,
        lambda t, k: c.text(t, k, f"{f}.limits"),
    )
    response_days, response_hours = c.count(raw, "response_days", f), c.count(raw, "response_hours", f)
    if (response_days is None) == (response_hours is None):
        c.fail(f"{f}.response_days", "give exactly one of response_days and response_hours")
    business_days = c.typed(raw, "business_days", f, bool, False)
    if business_days and response_days is None:
        c.fail(f"{f}.business_days", "business_days needs response_days")
    preserve_days, renewal_days = c.count(raw, "preserve_days", f), c.count(raw, "renewal_days", f)
    if preserve_only != (preserve_days is not None):
        c.fail(f"{f}.preserve_days", "required exactly when preserve_only = true")
    if renewal_days is not None and preserve_days is None:
        c.fail(f"{f}.renewal_days", "renewal_days needs preserve_days")
    renewals = c.count(raw, "renewals", f, minimum=0)
    foreign, agreement = c.typed(raw, "foreign", f, bool, False), c.typed(raw, "agreement", f, bool, False)
    if (foreign or agreement) and (preserve_only or voluntary):
        c.fail(f"{f}.foreign", "foreign or agreement process is neither preserve_only nor voluntary")
    offence_years = c.count(raw, "offence_threshold_years", f)
    offence_categories = c.members(raw, "offence_categories", f, Category, "category")
    if (offence_years is None) != (not offence_categories):
        c.fail(f"{f}.offence_categories", "give offence_threshold_years and offence_categories together")
    window = c.member(Window, raw.get("window", "stored"), f"{f}.window", "window")
    by_basis = c.typed(raw, "by_basis", f, bool, False)
    if by_basis and not voluntary:
        c.fail(f"{f}.by_basis", "only a voluntary process is judged by its basis")
    return ProcessRule(
        id=pid,
        label=c.text(raw, "label", f),
        statute=c.optional_text(raw, "statute", f),
        can_compel=can_compel,
        preserve_only=preserve_only,
        voluntary=voluntary,
        voluntary_disclosure=voluntary_disclosure,
        authorities=authorities if "authorities" in raw else None,
        allowed_authorities=allowed,
        limits=limits,
        regimes=regimes if "regimes" in raw else None,
        checklist=_checklist(c, raw.get("checklist"), f"{f}.checklist"),
        approvals_required=c.count(raw, "approvals_required", f) or 1,
        response_days=response_days,
        response_hours=response_hours,
        business_days=business_days,
        emergency_response_hours=c.count(raw, "emergency_response_hours", f),
        max_days=c.count(raw, "max_days", f),
        preserve_days=preserve_days,
        renewal_days=renewal_days,
        renewals=renewals if renewals is not None else (1 if renewal_days is not None else 0),
        reported_in_bands=c.typed(raw, "reported_in_bands", f, bool, False),
        window=window or Window.STORED,
        countries=c.strings(raw, "countries", f, _COUNTRY, "a two-letter ISO 3166 country code")
        if "countries" in raw
        else None,
        applies_from=c.typed(raw, "applies_from", f, date, date.min) if "applies_from" in raw else None,
        foreign=foreign,
        agreement=agreement,
        route=c.optional_text(raw, "route", f),
        validation=c.typed(raw, "validation", f, bool, False),
        emergency_without_validation=c.typed(raw, "emergency_without_validation", f, bool, False),
        offence_threshold_years=offence_years,
        offence_categories=offence_categories,
        issuer_agencies=c.strings(raw, "issuer_agencies", f, _ANY_TEXT, "a name") if "issuer_agencies" in raw else None,
        official_levels=c.members(raw, "official_levels", f, OfficialLevel, "official level")
        if "official_levels" in raw
        else None,
        preserves=c.members(raw, "preserves", f, Category, "category") if "preserves" in raw else None,
        exceeds_note=c.optional_text(raw, "exceeds_note", f),
        by_basis=by_basis,
        counsel_required=c.typed(raw, "counsel_required", f, bool, False),
    )


def _agreement(c: TomlChecker, aid: Agreement, raw: dict[str, object]) -> AgreementRule:
    f = f"agreements.{aid.value}"
    raw = c.table(raw, f, {"label", "statute", "countries", "in_force", "authorities", "categories"})
    return AgreementRule(
        id=aid,
        label=c.text(raw, "label", f),
        statute=c.text(raw, "statute", f),
        countries=c.strings(raw, "countries", f, _COUNTRY, "a two-letter ISO 3166 country code"),
        in_force=c.typed(raw, "in_force", f, date, date.max),
        authorities=c.members(raw, "authorities", f, AuthorityKind, "authority kind"),
        categories=c.members(raw, "categories", f, Category, "category"),
    )


def _basis(c: TomlChecker, bid: VoluntaryBasis, raw: dict[str, object]) -> BasisRule:
    f = f"voluntary_bases.{bid.value}"
    raw = c.table(raw, f, {"label", "statute", "categories", "grounds"}, {"note"})
    return BasisRule(
        id=bid,
        label=c.text(raw, "label", f),
        statute=c.text(raw, "statute", f),
        categories=c.members(raw, "categories", f, Category, "category"),
        grounds=c.members(raw, "grounds", f, Ground, "ground"),
        note=c.optional_text(raw, "note", f),
    )


def _known_calendar(code: str) -> bool:
    if not _CALENDAR.match(code):
        return False
    country, _, subdivision = code.partition("-")
    try:
        holidays.country_holidays(country, subdiv=subdivision or None)
    except NotImplementedError:
        return False
    return True


def _jurisdiction(c: TomlChecker, rid: Regime, raw: dict[str, object]) -> JurisdictionRule:
    f = f"jurisdictions.{rid.value}"
    raw = c.table(raw, f, {"label"}, _JURISDICTION_OPTIONAL)
    calendar = c.optional_text(raw, "calendar_country", f)
    if calendar is not None and not _known_calendar(calendar):
        c.fail(
            f"{f}.calendar_country",
            f"{calendar!r} is not a country (or country-subdivision) the holidays library knows",
        )
    countries = c.strings(raw, "countries", f, _COUNTRY, "a two-letter ISO 3166 country code")
    return JurisdictionRule(
        id=rid,
        label=c.text(raw, "label", f),
        calendar_country=calendar,
        calendar_from_country=c.typed(raw, "calendar_from_country", f, bool, False),
        countries=countries if "countries" in raw else None,
        note=c.optional_text(raw, "note", f),
    )


def _top(c: TomlChecker, raw: Mapping[str, object], key: str, required: AbstractSet[str]) -> dict[str, object]:
    """A top-level table's keys, checked; a missing table was reported once already, so nothing more."""
    return c.table(raw[key], key, required) if key in raw else {}


def _defined(
    c: TomlChecker,
    raw: Mapping[str, object],
    key: str,
    vocabulary: type[E],
    what: str,
    optional: AbstractSet[E] = frozenset(),
) -> dict[E, dict[str, object]]:
    """The tables under [key] by vocabulary id; a missing [key] was reported once already, so nothing more."""
    if key not in raw:
        return {}
    value = raw[key]
    if not isinstance(value, dict):
        c.fail(key, f"must be a table, not {type_name(value)}")
        return {}
    return c.ids({str(k): v for k, v in value.items()}, key, vocabulary, what, optional=optional)


def _data_kinds(c: TomlChecker, raw: Mapping[str, object]) -> dict[DataKind, DataKindRule]:
    restricted = (DataKind.PERSONAL_ACCOUNT_INFORMATION, DataKind.COMMUNICATIONS_CONTENT)
    out: dict[DataKind, DataKindRule] = {}
    kinds = _top(c, raw, "data_kinds", {k.value for k in restricted})
    for kind in restricted:
        f = f"data_kinds.{kind.value}"
        entry = c.table(kinds[kind.value], f, {"label", "clause"}) if kind.value in kinds else {}
        out[kind] = DataKindRule(id=kind, label=c.text(entry, "label", f), clause=c.text(entry, "clause", f))
    return out


def _parse(data: bytes, source: str) -> tuple[str, dict[str, object]]:
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyFileError(source, [PolicyProblem(None, "(file)", f"not UTF-8: {exc.reason}")]) from None
    try:
        return decoded, tomllib.loads(decoded)
    except tomllib.TOMLDecodeError as exc:
        match = _SYNTAX_LINE.search(str(exc))
        line = int(match.group(1)) if match else None
        raise PolicyFileError(source, [PolicyProblem(line, "(syntax)", f"not valid TOML: {exc}")]) from None


def load_policy(text: str | bytes, *, source: str = "<policy>") -> Policy:
    """Parse and validate a policy file; raise PolicyFileError naming every problem by line and field."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    decoded, raw = _parse(data, source)
    c = TomlChecker(TomlLines(decoded))
    for key in sorted(raw.keys() - _TOP - _OPTIONAL_TOP):
        c.fail(key, f"unknown table; expected one of: {', '.join(sorted(_TOP | _OPTIONAL_TOP))}")
    for key in sorted(_TOP - raw.keys()):
        c.fail(key, f"missing table [{key}]")
    meta = _top(c, raw, "policy", {"name", "version", "effective", "section", "source"})
    info = PolicyInfo(
        name=c.text(meta, "name", "policy"),
        version=c.text(meta, "version", "policy"),
        effective=c.typed(meta, "effective", "policy", date, date.min),
        section=c.text(meta, "section", "policy"),
        source=c.text(meta, "source", "policy"),
    )
    data_kinds = _data_kinds(c, raw)
    grounds = {g: _ground(c, g, t) for g, t in _defined(c, raw, "grounds", Ground, "ground").items()}
    categories = {k: _category(c, k, t) for k, t in _defined(c, raw, "categories", Category, "category").items()}
    processes = {
        p: _process(c, p, t)
        for p, t in _defined(c, raw, "process_types", ProcessType, "process type", LATER_PROCESS_TYPES).items()
    }
    agreements = {
        a: _agreement(c, a, t)
        for a, t in _defined(c, raw, "agreements", Agreement, "agreement", frozenset(Agreement)).items()
    }
    bases = {
        b: _basis(c, b, t)
        for b, t in _defined(
            c, raw, "voluntary_bases", VoluntaryBasis, "voluntary basis", frozenset(VoluntaryBasis)
        ).items()
    }
    for pid, rule in processes.items():
        if rule.agreement and not agreements:
            c.fail(f"process_types.{pid.value}.agreement", "an agreement process needs the [agreements] it may invoke")
        if rule.by_basis and set(bases) != set(VoluntaryBasis):
            c.fail(f"process_types.{pid.value}.by_basis", "define every voluntary basis under [voluntary_bases]")
    nd = _top(c, raw, "non_disclosure_order", {"label", "statute", "step_days"})
    non_disclosure = NonDisclosureRule(
        label=c.text(nd, "label", "non_disclosure_order"),
        statute=c.text(nd, "statute", "non_disclosure_order"),
        step_days=c.count(nd, "step_days", "non_disclosure_order") or 1,
    )
    regimes = {r: _jurisdiction(c, r, t) for r, t in _defined(c, raw, "jurisdictions", Regime, "regime").items()}
    if c.problems:
        raise PolicyFileError(source, c.problems)
    return Policy(
        info=info,
        data_kinds=MappingProxyType(data_kinds),
        grounds=MappingProxyType({g: grounds[g] for g in Ground}),
        categories=MappingProxyType({k: categories[k] for k in Category}),
        process_types=MappingProxyType({p: processes[p] for p in ProcessType if p in processes}),
        non_disclosure_order=non_disclosure,
        jurisdictions=MappingProxyType({r: regimes[r] for r in Regime}),
        sha256=hashlib.sha256(data).hexdigest(),
        agreements=MappingProxyType(agreements),
        voluntary_bases=MappingProxyType({b: bases[b] for b in VoluntaryBasis if b in bases}),
    )


def default_policy_bytes() -> bytes:
    """The exact bytes of the packaged default policy file."""
    return files("disclosure.policy").joinpath("default.toml").read_bytes()


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The packaged default policy (disclosure/policy/default.toml), loaded once."""
    return load_policy(default_policy_bytes(), source="default.toml")
