"""The request document: one JSON shape for an incoming legal request (DESIGN "The request document (JSON)").

Parsing is strict: an unknown key or a bad value raises `RequestError` whose `field` is the dotted, indexed path of the
first bad field (`targets[1].kind`, or `[2].targets[0].value` in a list) and whose message says what to fix.
`parse_request(to_json(doc)) == doc` for every document. Pure: no Flask, no database.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Final, TypeVar

from disclosure.clock import utcnow
from disclosure.policy.identifiers import canonical_identifier, check_email, check_phone
from disclosure.policy.vocabulary import AuthorityKind, Category, ProcessType, ReceivedVia, Regime, TargetKind

__all__ = [
    "Agency", "IssuingAuthority", "Jurisdiction", "NonDisclosureOrder", "Officer", "RequestDocument", "RequestError",
    "Target", "parse_request", "parse_requests", "to_json",
]

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")

ROOT: Final = "(document)"
_DATE: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME: Final = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})$")
_COUNTRY: Final = re.compile(r"^[A-Z]{2}$")
_REFERENCE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # safe as a file-name component
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_MAX_TEXT: Final = 300


class RequestError(ValueError):
    """A request document is malformed; `field` names the first bad field and the message says what to fix."""

    def __init__(self, field: str, message: str) -> None:
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class Jurisdiction:
    regime: Regime
    country: str  #: ISO 3166 alpha-2
    region: str | None


@dataclass(frozen=True)
class IssuingAuthority:
    kind: AuthorityKind
    name: str
    docket: str | None


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
    from_: date | None  #: a date, or an aware datetime for a moment (an IP's time of use)
    to: date | None

    @property
    def is_specific(self) -> bool:
        """False for an identifier that names no one on its own: an IP address without a time or date range."""
        return self.kind is not TargetKind.IP or (self.from_ is not None or self.to is not None)


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


def _at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{'' if path == ROOT else path}[{key}]"
    return key if path in (ROOT, "") else f"{path}.{key}"


class _Object:
    """A JSON object being read: known keys only; each getter raises RequestError naming the field."""

    def __init__(self, raw: object, path: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
        if not isinstance(raw, dict):
            raise RequestError(path, f"must be an object with {', '.join(required)}, not {_json_type(raw)}")
        self.raw: Mapping[str, object] = raw
        self.path = path
        for key in raw:
            if key not in required and key not in optional:
                raise RequestError(_at(path, str(key)), f"unknown key; expected one of: {', '.join(required + optional)}")
        for key in required:
            if key not in raw:
                raise RequestError(_at(path, key), "is required")

    def field(self, key: str) -> str:
        return _at(self.path, key)

    def optional(self, key: str, read: Callable[[object, str], T]) -> T | None:
        value = self.raw.get(key)
        return None if value is None else read(value, self.field(key))

    def text(self, key: str, *, optional: bool = False) -> str | None:
        if optional:
            return self.optional(key, _text)
        return _text(self.raw.get(key), self.field(key))

    def required_text(self, key: str) -> str:
        return _text(self.raw.get(key), self.field(key))


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _text(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise RequestError(field, f"must be a string, not {_json_type(value)}")
    value = value.strip()
    if not value:
        raise RequestError(field, "must not be empty")
    if len(value) > _MAX_TEXT or _CONTROL.search(value):
        raise RequestError(field, f"must be one line of at most {_MAX_TEXT} characters, without control characters")
    return value


def _member(vocabulary: type[E], what: str) -> Callable[[object, str], E]:
    def read(value: object, field: str) -> E:
        if isinstance(value, str):
            try:
                return vocabulary(value)
            except ValueError:
                pass
        shown = repr(value) if isinstance(value, str) else _json_type(value)
        raise RequestError(field, f"unknown {what} {shown}; use one of: {', '.join(m.value for m in vocabulary)}")
    return read


def _country(value: object, field: str) -> str:
    if not isinstance(value, str) or not _COUNTRY.match(value):
        raise RequestError(field, "must be a two-letter ISO 3166 country code in capitals, e.g. US or DE")
    return value


def _date(value: object, field: str) -> date:
    if not isinstance(value, str) or not _DATE.match(value):
        raise RequestError(field, "must be a date written YYYY-MM-DD, e.g. 2026-11-02")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RequestError(field, f"{value!r} is not a calendar date") from None


def _datetime(value: object, field: str) -> datetime:
    if not isinstance(value, str) or not _DATETIME.match(value):
        raise RequestError(field, "must be a date and time with its time zone, e.g. 2026-11-02T14:05:00Z "
                                  "or 2026-11-02T09:05:00-05:00")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise RequestError(field, f"{value!r} is not a real date and time") from None


def _moment(value: object, field: str) -> date:
    """A date, or an aware datetime when a moment is meant (an IP address's time of use)."""
    if isinstance(value, str) and _DATE.match(value):
        return _date(value, field)
    if isinstance(value, str) and _DATETIME.match(value):
        return _datetime(value, field)
    raise RequestError(field, "must be a date (YYYY-MM-DD) or a date and time with its time zone "
                              "(e.g. 2026-03-01T10:15:00Z)")


def _instant(moment: date, end: bool) -> datetime:
    """A comparable instant: a whole date spans its day (UTC), a datetime is itself."""
    if isinstance(moment, datetime):
        return moment
    start = datetime.combine(moment, time.min, tzinfo=UTC)
    return start + timedelta(days=1) - timedelta(microseconds=1) if end else start


def _ordered(first: date | None, last: date | None, field: str, what: str) -> None:
    if first is not None and last is not None and _instant(first, False) > _instant(last, True):
        raise RequestError(field, f"{what} is before its start; swap or correct the dates")


def _target(raw: object, path: str) -> Target:
    obj = _Object(raw, path, ("kind", "value"), ("from", "to"))
    kind = _member(TargetKind, "target kind")(obj.raw["kind"], obj.field("kind"))
    value = obj.required_text("value")
    try:
        value = canonical_identifier(kind, value)
    except ValueError as exc:
        raise RequestError(obj.field("value"), str(exc)) from None
    target = Target(kind=kind, value=value, from_=obj.optional("from", _moment), to=obj.optional("to", _moment))
    _ordered(target.from_, target.to, obj.field("to"), "the end of the range")
    return target


def _list(value: object, field: str) -> list[object]:
    if not isinstance(value, list):
        raise RequestError(field, f"must be a list, not {_json_type(value)}")
    return value


def _checked(read: Callable[[object, str], str]) -> Callable[[object, str], str]:
    def check(value: object, field: str) -> str:
        try:
            return read(value, field)
        except ValueError as exc:
            if isinstance(exc, RequestError):
                raise
            raise RequestError(field, str(exc)) from None
    return check


_email: Final = _checked(lambda v, f: check_email(_text(v, f)))
_phone: Final = _checked(lambda v, f: check_phone(_text(v, f)))


def _reference(value: object, field: str) -> str:
    if not isinstance(value, str) or not _REFERENCE.match(value):
        raise RequestError(field, "must be 1 to 64 letters, digits, '.', '_' or '-', e.g. DR-2026-00042; "
                                  "leave it out to have one assigned")
    return value


def _bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise RequestError(field, f"must be true or false, not {_json_type(value)}")
    return value


_KEYS: Final = ("process_type", "jurisdiction", "issuing_authority", "agency", "received_at", "received_via",
                "targets", "categories")
_OPTIONAL: Final = ("reference", "officer", "due_at", "emergency", "issued_on", "valid_until", "non_disclosure_order")


def parse_request(obj: object, *, now: datetime | None = None, path: str = ROOT) -> RequestDocument:
    """Parse one request document; raise RequestError naming the first bad field."""
    doc = _Object(obj, path, _KEYS, _OPTIONAL)
    juris = _Object(doc.raw["jurisdiction"], doc.field("jurisdiction"), ("regime", "country"), ("region",))
    authority = _Object(doc.raw["issuing_authority"], doc.field("issuing_authority"), ("kind", "name"), ("docket",))
    agency = _Object(doc.raw["agency"], doc.field("agency"), ("name", "country"))
    received_at = _datetime(doc.raw["received_at"], doc.field("received_at"))
    current = now if now is not None else utcnow()
    if current.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if received_at > current:
        raise RequestError(doc.field("received_at"), f"is in the future (now is {current.isoformat()}); "
                                                     "give the time the request actually arrived")
    categories: list[Category] = []
    for index, raw in enumerate(_list(doc.raw["categories"], doc.field("categories"))):
        category = _member(Category, "category")(raw, _at(doc.field("categories"), index))
        if category in categories:
            raise RequestError(_at(doc.field("categories"), index), f"{category.value!r} is listed twice")
        categories.append(category)
    if not categories:
        raise RequestError(doc.field("categories"), "must name at least one data category")
    targets: list[Target] = []
    for index, raw in enumerate(_list(doc.raw["targets"], doc.field("targets"))):
        target = _target(raw, _at(doc.field("targets"), index))
        if any((t.kind, t.value) == (target.kind, target.value) for t in targets):
            raise RequestError(_at(doc.field("targets"), index), f"the {target.kind.value} {target.value!r} is listed "
                                                                 "twice; give one target per identifier")
        targets.append(target)
    issued_on, valid_until = doc.optional("issued_on", _date), doc.optional("valid_until", _date)
    _ordered(issued_on, valid_until, doc.field("valid_until"), "valid_until")
    return RequestDocument(
        reference=doc.optional("reference", _reference),
        process_type=_member(ProcessType, "process type")(doc.raw["process_type"], doc.field("process_type")),
        jurisdiction=Jurisdiction(regime=_member(Regime, "regime")(juris.raw["regime"], juris.field("regime")),
                                  country=_country(juris.raw["country"], juris.field("country")),
                                  region=juris.text("region", optional=True)),
        issuing_authority=IssuingAuthority(
            kind=_member(AuthorityKind, "issuing authority kind")(authority.raw["kind"], authority.field("kind")),
            name=authority.required_text("name"), docket=authority.text("docket", optional=True)),
        agency=Agency(name=agency.required_text("name"), country=_country(agency.raw["country"], agency.field("country"))),
        officer=doc.optional("officer", _officer),
        received_at=received_at,
        received_via=_member(ReceivedVia, "channel")(doc.raw["received_via"], doc.field("received_via")),
        due_at=doc.optional("due_at", _date),
        emergency=doc.optional("emergency", _bool) or False,
        issued_on=issued_on, valid_until=valid_until,
        targets=tuple(targets), categories=tuple(categories),
        non_disclosure_order=doc.optional("non_disclosure_order", _non_disclosure),
    )


def _officer(raw: object, path: str) -> Officer:
    obj = _Object(raw, path, ("name",), ("email", "phone", "badge"))
    return Officer(name=obj.required_text("name"), email=obj.optional("email", _email),
                   phone=obj.optional("phone", _phone), badge=obj.text("badge", optional=True))


def _non_disclosure(raw: object, path: str) -> NonDisclosureOrder:
    obj = _Object(raw, path, ("basis", "until"), ("from",))
    order = NonDisclosureOrder(basis=obj.required_text("basis"), from_=obj.optional("from", _date),
                               until=obj.optional("until", _date))
    _ordered(order.from_, order.until, obj.field("until"), "until")
    return order


def parse_requests(obj: object, *, now: datetime | None = None) -> list[RequestDocument]:
    """Parse a single request document or a list of them; errors name the record's index, e.g. `[2].targets[0].value`."""
    if isinstance(obj, list):
        if not obj:
            raise RequestError(ROOT, "the list is empty; give at least one request")
        return [parse_request(item, now=now, path=f"[{index}]") for index, item in enumerate(obj)]
    return [parse_request(obj, now=now)]


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def to_json(doc: RequestDocument) -> dict[str, object]:
    """The document in its JSON shape, every key written out; `parse_request(to_json(doc)) == doc`."""
    officer = doc.officer
    nd = doc.non_disclosure_order
    return {
        "reference": doc.reference,
        "process_type": doc.process_type.value,
        "jurisdiction": {"regime": doc.jurisdiction.regime.value, "country": doc.jurisdiction.country,
                         "region": doc.jurisdiction.region},
        "issuing_authority": {"kind": doc.issuing_authority.kind.value, "name": doc.issuing_authority.name,
                              "docket": doc.issuing_authority.docket},
        "agency": {"name": doc.agency.name, "country": doc.agency.country},
        "officer": None if officer is None else {"name": officer.name, "email": officer.email, "phone": officer.phone,
                                                 "badge": officer.badge},
        "received_at": doc.received_at.isoformat(),
        "received_via": doc.received_via.value,
        "due_at": _iso(doc.due_at),
        "emergency": doc.emergency,
        "issued_on": _iso(doc.issued_on),
        "valid_until": _iso(doc.valid_until),
        "targets": [{"kind": t.kind.value, "value": t.value, "from": _iso(t.from_), "to": _iso(t.to)}
                    for t in doc.targets],
        "categories": [c.value for c in doc.categories],
        "non_disclosure_order": None if nd is None else {"basis": nd.basis, "from": _iso(nd.from_), "until": _iso(nd.until)},
    }
