"""The request document: one JSON shape for an incoming legal request (DESIGN "The request document (JSON)").

Parsing is strict: an unknown key or a bad value raises `RequestError` whose `field` is the dotted, indexed
path of the first bad field (`targets[1].kind`, or `[2].targets[0].value` in a list) and whose message says
what to fix. Facts that cannot be true (request_facts.py, shared with the intake form) are refused the same way;
dates are read in the offset `received_at` is written in. Country codes are read as ISO 3166 (EL as GR, UK as
GB). `parse_request(to_json(doc)) == doc` for every document. Pure: no Flask, no database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Final

from disclosure.clock import utcnow
from disclosure.policy.identifiers import canonical_identifier, check_email, check_phone
from disclosure.policy.request_facts import future_receipt, impossible_facts
from disclosure.policy.request_fields import (
    ROOT,
    JsonObject,
    RequestError,
    at,
    bool_value,
    country,
    date_value,
    datetime_value,
    list_value,
    member,
    moment,
    ordered,
    text,
    validated,
)
from disclosure.policy.vocabulary import (
    Agreement,
    AuthorityKind,
    Category,
    ListedOffence,
    OfficialLevel,
    ProcessType,
    ReceivedVia,
    Regime,
    TargetKind,
    VoluntaryBasis,
)

__all__ = [
    "AGREEMENT_PROCESSES",
    "MAX_PENALTY_YEARS",
    "Agency",
    "IssuingAuthority",
    "Jurisdiction",
    "NonDisclosureOrder",
    "Offence",
    "Officer",
    "Particulars",
    "RequestDocument",
    "RequestError",
    "Target",
    "Validation",
    "parse_particulars",
    "parse_request",
    "parse_requests",
    "particulars_json",
    "to_json",
]

_REFERENCE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # safe as a file-name component
_KEYS: Final = (
    "process_type",
    "jurisdiction",
    "issuing_authority",
    "agency",
    "received_at",
    "received_via",
    "targets",
    "categories",
)
_OPTIONAL: Final = (
    "reference",
    "officer",
    "due_at",
    "emergency",
    "issued_on",
    "valid_until",
    "non_disclosure_order",
    "offence",
    "voluntary_basis",
    "agreement",
)
#: Process types that may say they invoke an executive agreement.
AGREEMENT_PROCESSES: Final = frozenset(
    {
        ProcessType.AGREEMENT_ORDER,
        ProcessType.FOREIGN_ORDER,
        ProcessType.UK_IPA_COMMUNICATIONS_DATA,
        ProcessType.UK_IPA_INTERCEPTION_WARRANT,
    }
)
#: The longest penalty a request document can state, in years; it also stands for life imprisonment.
MAX_PENALTY_YEARS: Final = 100


@dataclass(frozen=True)
class Jurisdiction:
    regime: Regime
    country: str  #: ISO 3166 alpha-2
    region: str | None


@dataclass(frozen=True)
class Validation:
    """The authority that validated an order issued by another (Reg. 2023/1543 Art. 4; a UK Judicial
    Commissioner's approval of a warrant)."""

    kind: AuthorityKind
    name: str


@dataclass(frozen=True)
class IssuingAuthority:
    kind: AuthorityKind
    name: str
    docket: str | None
    validated_by: Validation | None = None
    official_level: OfficialLevel | None = None  #: who signed a national security letter


@dataclass(frozen=True)
class Offence:
    """The offence an order is about, as the order states it (EU orders must: Reg. 2023/1543 Art. 5(4))."""

    description: str
    max_penalty_years: int | None  #: the maximum custodial sentence, in years
    listed: ListedOffence | None  #: one of the offences Art. 5(4)(b)-(c) lists whatever the penalty


@dataclass(frozen=True)
class Agency:
    name: str
    country: str


@dataclass(frozen=True)
class Officer:
    name: str
    email: str | None
    phone: str | None
    badge: str | None


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    value: str  #: canonical form (see identifiers.py)
    from_: date | None  #: a date, or an aware datetime for a moment (an IP address's time of use)
    to: date | None

    @property
    def is_specific(self) -> bool:
        """False for an identifier that names no one on its own: an IP address without a time or range."""
        return self.kind is not TargetKind.IP or self.from_ is not None or self.to is not None


@dataclass(frozen=True)
class NonDisclosureOrder:
    basis: str  #: e.g. "18 USC 2705(b)"
    from_: date | None
    until: date | None  #: None: indefinite

    @property
    def indefinite(self) -> bool:
        return self.until is None


@dataclass(frozen=True)
class RequestDocument:
    reference: str | None  #: None: assigned when the case is logged
    process_type: ProcessType
    jurisdiction: Jurisdiction
    issuing_authority: IssuingAuthority
    agency: Agency
    officer: Officer | None
    received_at: datetime  #: aware; never in the future
    received_via: ReceivedVia
    due_at: date | None  #: the due date stated on the document
    emergency: bool
    issued_on: date | None
    valid_until: date | None
    targets: tuple[Target, ...]
    categories: tuple[Category, ...]  #: non-empty, unique, in the order requested
    non_disclosure_order: NonDisclosureOrder | None
    offence: Offence | None = None
    voluntary_basis: VoluntaryBasis | None = None  #: why we disclose; only for a voluntary disclosure
    agreement: Agreement | None = None  #: the executive agreement a foreign order invokes


def _reference(value: object, field: str) -> str:
    if not isinstance(value, str) or not _REFERENCE.match(value):
        raise RequestError(
            field,
            "must be 1 to 64 letters, digits, '.', '_' or '-', e.g. DR-2026-00042; leave it out to have one assigned",
        )
    return value


def _jurisdiction(raw: object, path: str) -> Jurisdiction:
    obj = JsonObject(raw, path, ("regime", "country"), ("region",))
    return Jurisdiction(
        regime=obj.get("regime", member(Regime, "regime")),
        country=obj.get("country", country),
        region=obj.optional("region", text),
    )


def _validation(raw: object, path: str) -> Validation:
    obj = JsonObject(raw, path, ("kind", "name"))
    return Validation(
        kind=obj.get("kind", member(AuthorityKind, "validating authority kind")), name=obj.get("name", text)
    )


def _authority(raw: object, path: str) -> IssuingAuthority:
    obj = JsonObject(raw, path, ("kind", "name"), ("docket", "validated_by", "official_level"))
    return IssuingAuthority(
        kind=obj.get("kind", member(AuthorityKind, "issuing authority kind")),
        name=obj.get("name", text),
        docket=obj.optional("docket", text),
        validated_by=obj.optional("validated_by", _validation),
        official_level=obj.optional("official_level", member(OfficialLevel, "official level")),
    )


def _years(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PENALTY_YEARS:
        raise RequestError(
            field, f"must be a whole number of years from 0 to {MAX_PENALTY_YEARS} (life: {MAX_PENALTY_YEARS})"
        )
    return value


def _offence(raw: object, path: str) -> Offence:
    obj = JsonObject(raw, path, ("description",), ("max_penalty_years", "listed"))
    return Offence(
        description=obj.get("description", text),
        max_penalty_years=obj.optional("max_penalty_years", _years),
        listed=obj.optional("listed", member(ListedOffence, "listed offence")),
    )


def _agency(raw: object, path: str) -> Agency:
    obj = JsonObject(raw, path, ("name", "country"))
    return Agency(name=obj.get("name", text), country=obj.get("country", country))


def _officer(raw: object, path: str) -> Officer:
    obj = JsonObject(raw, path, ("name",), ("email", "phone", "badge"))
    return Officer(
        name=obj.get("name", text),
        email=obj.optional("email", validated(check_email)),
        phone=obj.optional("phone", validated(check_phone)),
        badge=obj.optional("badge", text),
    )


def _target(raw: object, path: str) -> Target:
    obj = JsonObject(raw, path, ("kind", "value"), ("from", "to"))
    kind = obj.get("kind", member(TargetKind, "target kind"))
    target = Target(
        kind=kind,
        value=obj.get("value", validated(lambda v: canonical_identifier(kind, v))),
        from_=obj.optional("from", moment),
        to=obj.optional("to", moment),
    )
    ordered(target.from_, target.to, obj.field("to"), "the end of the range")
    return target


def _non_disclosure(raw: object, path: str) -> NonDisclosureOrder:
    # `until` must be written out, null for an indefinite order, so that "indefinite" is never an omission.
    obj = JsonObject(raw, path, ("basis", "until"), ("from",))
    # Whether it ends before it starts (or, with no start, before the request arrived) is a fact of the request.
    return NonDisclosureOrder(
        basis=obj.get("basis", text), from_=obj.optional("from", date_value), until=obj.optional("until", date_value)
    )


def _categories(raw: object, path: str) -> tuple[Category, ...]:
    out: list[Category] = []
    for index, value in enumerate(list_value(raw, path)):
        category = member(Category, "category")(value, at(path, index))
        if category in out:
            raise RequestError(at(path, index), f"{category.value!r} is listed twice")
        out.append(category)
    if not out:
        raise RequestError(path, "must name at least one data category")
    return tuple(out)


def _targets(raw: object, path: str) -> tuple[Target, ...]:
    out: list[Target] = []
    for index, value in enumerate(list_value(raw, path)):
        target = _target(value, at(path, index))
        if any((t.kind, t.value) == (target.kind, target.value) for t in out):
            raise RequestError(
                at(path, index),
                f"the {target.kind.value} {target.value!r} is listed twice; give one target per identifier",
            )
        out.append(target)
    return tuple(out)


def parse_request(obj: object, *, now: datetime | None = None, path: str = ROOT) -> RequestDocument:
    """Parse one request document; raise RequestError naming the first bad field. `now` (aware, default: the
    clock) is the latest a request can have been received."""
    current = now if now is not None else utcnow()
    if current.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    doc = JsonObject(obj, path, _KEYS, _OPTIONAL)
    received_at = doc.get("received_at", datetime_value)
    if (future := future_receipt(received_at, current.astimezone(UTC), "UTC")) is not None:
        raise RequestError(doc.field(future.field), future.message)
    issued_on, valid_until = doc.optional("issued_on", date_value), doc.optional("valid_until", date_value)
    process_type = doc.get("process_type", member(ProcessType, "process type"))
    basis = doc.optional("voluntary_basis", member(VoluntaryBasis, "voluntary basis"))
    if (process_type is ProcessType.VOLUNTARY_DISCLOSURE) != (basis is not None):
        raise RequestError(
            doc.field("voluntary_basis"),
            "is required for a voluntary disclosure: say why we disclose ("
            + "; ".join(f"{b.value}: {b.label}" for b in VoluntaryBasis)
            + ")"
            if basis is None
            else "belongs only to a voluntary disclosure; leave it out for legal process",
        )
    agreement = doc.optional("agreement", member(Agreement, "agreement"))
    if agreement is not None and process_type not in AGREEMENT_PROCESSES:
        raise RequestError(
            doc.field("agreement"),
            "only a foreign order, an order under an agreement or UK IPA process can invoke an executive "
            f"agreement; leave it out for a {process_type.label}",
        )
    request = RequestDocument(
        reference=doc.optional("reference", _reference),
        process_type=process_type,
        jurisdiction=doc.get("jurisdiction", _jurisdiction),
        issuing_authority=doc.get("issuing_authority", _authority),
        agency=doc.get("agency", _agency),
        officer=doc.optional("officer", _officer),
        received_at=received_at,
        received_via=doc.get("received_via", member(ReceivedVia, "channel")),
        due_at=doc.optional("due_at", date_value),
        emergency=doc.optional("emergency", bool_value) or False,
        issued_on=issued_on,
        valid_until=valid_until,
        targets=doc.get("targets", _targets),
        categories=doc.get("categories", _categories),
        non_disclosure_order=doc.optional("non_disclosure_order", _non_disclosure),
        offence=doc.optional("offence", _offence),
        voluntary_basis=basis,
        agreement=agreement,
    )
    _check_facts(request, doc)
    return request


def _check_facts(request: RequestDocument, doc: JsonObject) -> None:
    """Refuse the first fact that cannot be true, at its field; the day of receipt is the date in the offset
    `received_at` is written in, as its author reads it."""
    order = request.non_disclosure_order
    found = impossible_facts(
        received_on=request.received_at.date(),
        due_on=request.due_at,
        issued_on=request.issued_on,
        valid_until=request.valid_until,
        order_starts_on=order.from_ if order else None,
        order_until=order.until if order else None,
    )
    if found:
        raise RequestError(doc.field(found[0].field), found[0].message)


def parse_requests(obj: object, *, now: datetime | None = None) -> list[RequestDocument]:
    """Parse one request document or a list of them; an error names the record's index, as in
    `[2].targets[0].value`."""
    if isinstance(obj, list):
        if not obj:
            raise RequestError(ROOT, "the list is empty; give at least one request")
        return [parse_request(item, now=now, path=at(ROOT, index)) for index, item in enumerate(obj)]
    return [parse_request(obj, now=now)]


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _authority_json(authority: IssuingAuthority) -> dict[str, object]:
    out: dict[str, object] = {"kind": authority.kind.value, "name": authority.name, "docket": authority.docket}
    if authority.validated_by is not None:
        out["validated_by"] = {"kind": authority.validated_by.kind.value, "name": authority.validated_by.name}
    if authority.official_level is not None:
        out["official_level"] = authority.official_level.value
    return out


def _extensions(doc: RequestDocument) -> dict[str, object]:
    """The keys added after DESIGN's first shape, written only when present so old readers see old documents."""
    out: dict[str, object] = {}
    if (offence := doc.offence) is not None:
        out["offence"] = {
            "description": offence.description,
            "max_penalty_years": offence.max_penalty_years,
            "listed": offence.listed.value if offence.listed else None,
        }
    if doc.voluntary_basis is not None:
        out["voluntary_basis"] = doc.voluntary_basis.value
    if doc.agreement is not None:
        out["agreement"] = doc.agreement.value
    return out


@dataclass(frozen=True)
class Particulars:
    """The facts a request document gained after DESIGN's first shape, as a case stores them beside its columns:
    who validated the order, who signed it, the offence, why we disclose, and the agreement it invokes."""

    validated_by: Validation | None = None
    official_level: OfficialLevel | None = None
    offence: Offence | None = None
    voluntary_basis: VoluntaryBasis | None = None
    agreement: Agreement | None = None


def particulars_json(doc: RequestDocument) -> dict[str, object]:
    """The document's particulars as stored (only the keys present; `{}` for a document of the first shape)."""
    out = _extensions(doc)
    authority = _authority_json(doc.issuing_authority)
    for key in ("validated_by", "official_level"):
        if key in authority:
            out[key] = authority[key]
    return out


def parse_particulars(raw: object, path: str = "particulars") -> Particulars:
    """Stored particulars back as values, checked like a request document's keys."""
    obj = JsonObject(raw or {}, path, (), ("validated_by", "official_level", "offence", "voluntary_basis", "agreement"))
    return Particulars(
        validated_by=obj.optional("validated_by", _validation),
        official_level=obj.optional("official_level", member(OfficialLevel, "official level")),
        offence=obj.optional("offence", _offence),
        voluntary_basis=obj.optional("voluntary_basis", member(VoluntaryBasis, "voluntary basis")),
        agreement=obj.optional("agreement", member(Agreement, "agreement")),
    )


def to_json(doc: RequestDocument) -> dict[str, object]:
    """The document in its JSON shape, every key of DESIGN's first shape written out (later keys when present);
    `parse_request(to_json(doc)) == doc`."""
    officer, order = doc.officer, doc.non_disclosure_order
    return {
        "reference": doc.reference,
        "process_type": doc.process_type.value,
        "jurisdiction": {
            "regime": doc.jurisdiction.regime.value,
            "country": doc.jurisdiction.country,
            "region": doc.jurisdiction.region,
        },
        "issuing_authority": _authority_json(doc.issuing_authority),
        "agency": {"name": doc.agency.name, "country": doc.agency.country},
        "officer": None
        if officer is None
        else {"name": officer.name, "email": officer.email, "phone": officer.phone, "badge": officer.badge},
        "received_at": doc.received_at.isoformat(),
        "received_via": doc.received_via.value,
        "due_at": _iso(doc.due_at),
        "emergency": doc.emergency,
        "issued_on": _iso(doc.issued_on),
        "valid_until": _iso(doc.valid_until),
        "targets": [
            {"kind": t.kind.value, "value": t.value, "from": _iso(t.from_), "to": _iso(t.to)} for t in doc.targets
        ],
        "categories": [c.value for c in doc.categories],
        "non_disclosure_order": None
        if order is None
        else {"basis": order.basis, "from": _iso(order.from_), "until": _iso(order.until)},
        **_extensions(doc),
    }
