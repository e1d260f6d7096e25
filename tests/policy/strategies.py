"""Hypothesis strategies for valid request documents (as JSON objects, so the parser is exercised too)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st

from disclosure.policy.vocabulary import (
    Agreement,
    AuthorityKind,
    Category,
    ListedOffence,
    OfficialLevel,
    ProcessType,
    ReceivedVia,
    Regime,
    VoluntaryBasis,
)

#: The process types that may invoke an executive agreement.
AGREEMENT_PROCESSES = ("agreement_order", "foreign_order", "uk_ipa_communications_data", "uk_ipa_interception_warrant")

_DAY0 = date(2025, 1, 1)

dates = st.integers(min_value=0, max_value=800).map(lambda n: _DAY0 + timedelta(days=n))


def _iso(d: date) -> str:
    return d.isoformat()


def _range() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.just({}),
        st.tuples(dates, st.integers(0, 120)).map(
            lambda t: {"from": _iso(t[0]), "to": _iso(t[0] + timedelta(days=t[1]))}
        ),
        dates.map(lambda d: {"from": _iso(d)}),
        st.tuples(dates, st.integers(0, 23)).map(
            lambda t: {"from": f"{_iso(t[0])}T{t[1]:02d}:00:00Z", "to": f"{_iso(t[0])}T{t[1]:02d}:30:00Z"}
        ),
    )


_values = {
    "email": st.sampled_from(["user@example.net", "a.b+tag@example.org", "ünï@exämple.de"]),
    "username": st.from_regex(r"\A[a-z][a-z0-9_.-]{0,10}[a-z0-9]\Z"),
    "domain": st.sampled_from(["example.net", "bücher.example", "sub.example.co.uk"]),
    "ip": st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str)),
    "customer_id": st.from_regex(r"\A[A-Z0-9][A-Z0-9-]{0,12}\Z"),
    "phone": st.sampled_from(["+1 415 555 0100", "+4930123456", "+44 20 7946 0958"]),
}


@st.composite
def targets(draw: st.DrawFn) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(sorted(_values)))
        value = draw(_values[kind])
        if (kind, value) in seen or (kind, value.lower()) in seen:
            continue
        seen.add((kind, value))
        seen.add((kind, value.lower()))
        out.append({"kind": kind, "value": value, **draw(_range())})
    return out


@st.composite
def request_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid request document, received no later than 2027-03-11 (parse with now after that). Its facts are
    possible (request_facts.py): issued no later than received, due and gagged no earlier."""
    received = draw(dates)
    later = st.integers(0, 400).map(lambda n: received + timedelta(days=n))
    issued = draw(st.none() | st.integers(0, 200).map(lambda n: received - timedelta(days=n)))
    valid_until = None if issued is None else issued + timedelta(days=draw(st.integers(0, 120)))
    process = draw(st.sampled_from([p.value for p in ProcessType]))
    doc: dict[str, Any] = {
        "process_type": process,
        "jurisdiction": {
            "regime": draw(st.sampled_from([r.value for r in Regime])),
            "country": draw(st.sampled_from(["US", "DE", "FR", "DK", "GB", "AU", "BR"])),
            "region": draw(st.none() | st.just("CA")),
        },
        "issuing_authority": {
            "kind": draw(st.sampled_from([a.value for a in AuthorityKind])),
            "name": "Authority",
            "docket": draw(st.none() | st.just("D-1")),
        },
        "agency": {"name": draw(st.sampled_from(["Agency", "FBI"])), "country": "US"},
        "received_at": f"{_iso(received)}T{draw(st.integers(0, 23)):02d}:00:00+00:00",
        "received_via": draw(st.sampled_from([v.value for v in ReceivedVia])),
        "emergency": draw(st.booleans()),
        "targets": draw(targets()),
        "categories": draw(st.lists(st.sampled_from([c.value for c in Category]), min_size=1, unique=True)),
    }
    authority = doc["issuing_authority"]
    if draw(st.booleans()):
        authority["validated_by"] = {"kind": draw(st.sampled_from([a.value for a in AuthorityKind])), "name": "V"}
    if draw(st.booleans()):
        authority["official_level"] = draw(st.sampled_from([lv.value for lv in OfficialLevel]))
    if draw(st.booleans()):
        doc["offence"] = {
            "description": "Fraud",
            "max_penalty_years": draw(st.none() | st.integers(0, 100)),
            "listed": draw(st.none() | st.sampled_from([o.value for o in ListedOffence])),
        }
    if process == "voluntary_disclosure":
        doc["voluntary_basis"] = draw(st.sampled_from([b.value for b in VoluntaryBasis]))
    if process in AGREEMENT_PROCESSES and draw(st.booleans()):
        doc["agreement"] = draw(st.sampled_from([a.value for a in Agreement]))
    if issued is not None:
        doc["issued_on"], doc["valid_until"] = _iso(issued), _iso(valid_until) if valid_until else None
    if draw(st.booleans()):
        doc["non_disclosure_order"] = {"basis": "18 USC 2705(b)", "until": draw(st.none() | later.map(_iso))}
    if draw(st.booleans()):
        doc["due_at"] = _iso(draw(later))
    return doc
