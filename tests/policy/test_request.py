"""The request document: DESIGN's example parses, and every kind of bad field is named by its path."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from disclosure.policy.request import (
    Jurisdiction,
    NonDisclosureOrder,
    Officer,
    RequestError,
    Target,
    parse_request,
    parse_requests,
    to_json,
)
from disclosure.policy.vocabulary import AuthorityKind, Category, ProcessType, ReceivedVia, Regime, TargetKind
from tests.policy.factories import DESIGN_EXAMPLE, NOW, request_json


def error_of(obj: object, **kwargs: Any) -> RequestError:
    with pytest.raises(RequestError) as caught:
        parse_requests(obj, now=NOW, **kwargs)
    return caught.value


def test_designs_example_parses() -> None:
    doc = parse_request(DESIGN_EXAMPLE, now=NOW)
    assert doc.reference == "DR-2026-00042"
    assert doc.process_type is ProcessType.SEARCH_WARRANT
    assert doc.jurisdiction == Jurisdiction(Regime.US_FEDERAL, "US", None)
    assert doc.issuing_authority.kind is AuthorityKind.JUDGE
    assert doc.issuing_authority.docket == "5:26-mj-01234"
    assert doc.agency.name == "Federal Bureau of Investigation"
    assert doc.officer == Officer("SA J. Doe", "jdoe@example.gov", "+1 415 555 0100", "1234")
    assert doc.received_at == datetime(2026, 11, 2, 14, 5, tzinfo=UTC)
    assert doc.received_via is ReceivedVia.EMAIL
    assert (doc.due_at, doc.emergency, doc.valid_until) == (None, False, date(2026, 11, 16))
    assert doc.targets == (Target(TargetKind.EMAIL, "user@example.net", date(2026, 1, 1), date(2026, 6, 30)),)
    assert doc.categories == (Category.SUBSCRIBER_BASIC, Category.STORED_CONTENT)
    assert doc.non_disclosure_order == NonDisclosureOrder("18 USC 2705(b)", None, date(2027, 5, 1))


def test_designs_example_without_a_reference_gets_none() -> None:
    doc = {k: v for k, v in DESIGN_EXAMPLE.items() if k != "reference"}
    assert parse_request(doc, now=NOW).reference is None


def test_round_trip_through_to_json() -> None:
    doc = parse_request(DESIGN_EXAMPLE, now=NOW)
    out = to_json(doc)
    assert out["targets"] == [{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}]
    assert out["received_at"] == "2026-11-02T14:05:00+00:00"
    assert parse_request(out, now=NOW) == doc


def test_optional_fields_default() -> None:
    doc = parse_request(request_json(), now=NOW)
    assert (
        doc.reference,
        doc.officer,
        doc.due_at,
        doc.emergency,
        doc.issued_on,
        doc.valid_until,
        doc.non_disclosure_order,
    ) == (None, None, None, False, None, None, None)


def test_indefinite_non_disclosure_order() -> None:
    order = {"basis": "18 USC 2705(b)", "until": None}
    doc = parse_request(request_json(non_disclosure_order=order), now=NOW)
    assert doc.non_disclosure_order is not None and doc.non_disclosure_order.indefinite


def test_identifiers_are_canonical() -> None:
    doc = parse_request(
        request_json(
            targets=[
                {"kind": "email", "value": " User@EXAMPLE.net "},
                {"kind": "ip", "value": "2001:0db8:0000:0000:0000:0000:0000:0007", "from": "2026-03-01T10:15:00+01:00"},
                {"kind": "domain", "value": "Bücher.Example."},
                {"kind": "phone", "value": "+49 30 1234567"},
            ]
        ),
        now=NOW,
    )
    assert [t.value for t in doc.targets] == ["User@example.net", "2001:db8::7", "bücher.example", "+49 30 1234567"]
    assert doc.targets[1].from_ == datetime(2026, 3, 1, 10, 15, tzinfo=timezone(timedelta(hours=1)))
    assert doc.targets[1].is_specific and not Target(TargetKind.IP, "192.0.2.1", None, None).is_specific


def with_(path: str, value: Any) -> dict[str, Any]:
    """request_json() with the value at a dotted/indexed path replaced (or deleted when value is DELETE)."""
    doc = request_json(
        targets=[{"kind": "email", "value": "a@example.net"}, {"kind": "username", "value": "alice"}],
        officer={"name": "SA J. Doe"},
        non_disclosure_order={"basis": "18 USC 2705(b)", "until": None},
    )
    parts = path.replace("[", ".").replace("]", "").split(".")
    node: Any = doc
    for part in parts[:-1]:
        node = node[int(part)] if part.isdigit() else node[part]
    last: Any = int(parts[-1]) if parts[-1].isdigit() else parts[-1]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return doc


DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "field", "fragment"),
    [
        ("colour", "red", "colour", "unknown key; expected one of: process_type"),
        ("jurisdiction.state", "CA", "jurisdiction.state", "unknown key"),
        ("targets.1.note", "x", "targets[1].note", "unknown key; expected one of: kind, value, from, to"),
        ("process_type", "warrant", "process_type", "unknown process type 'warrant'; use one of: subpoena"),
        ("process_type", DELETE, "process_type", "is required"),
        ("categories.0", "emails", "categories[0]", "unknown category 'emails'"),
        ("categories", [], "categories", "at least one data category"),
        ("categories", ["stored_content", "stored_content"], "categories[1]", "listed twice"),
        ("categories", "stored_content", "categories", "must be a list, not a string"),
        ("targets.1.kind", "handle", "targets[1].kind", "unknown target kind 'handle'"),
        ("targets.1.kind", 3, "targets[1].kind", "unknown target kind: expected text, got a number"),
        ("targets.0.value", "not-an-email", "targets[0].value", "not a valid email address"),
        ("targets.0.value", "", "targets[0].value", "must not be empty"),
        ("targets.1", {"kind": "ip", "value": "300.1.2.3"}, "targets[1].value", "not an IPv4 or IPv6 address"),
        ("targets.1", {"kind": "ip", "value": "192.0.2.0/24"}, "targets[1].value", "not a network"),
        ("targets.1", {"kind": "domain", "value": "-bad-.example"}, "targets[1].value", "not a valid domain name"),
        ("targets.1", {"kind": "domain", "value": "localhost"}, "targets[1].value", "top-level domain"),
        ("targets.1", {"kind": "username", "value": "al ice"}, "targets[1].value", "not a username"),
        ("targets.1", {"kind": "customer_id", "value": "#42"}, "targets[1].value", "not a customer id"),
        ("targets.1", {"kind": "phone", "value": "415-555-0100"}, "targets[1].value", "international form"),
        ("targets.1", {"kind": "phone", "value": "+1 2"}, "targets[1].value", "7 to 15 digits"),
        ("targets.1", {"kind": "email", "value": "a@example.net"}, "targets[1]", "listed twice"),
        (
            "targets.1",
            {"kind": "username", "value": "u", "from": "2026-02-30"},
            "targets[1].from",
            "not a calendar date",
        ),
        ("targets.1", {"kind": "username", "value": "u", "from": "01/02/2026"}, "targets[1].from", "YYYY-MM-DD"),
        (
            "targets.1",
            {"kind": "ip", "value": "192.0.2.1", "from": "2026-03-01T10:15:00"},
            "targets[1].from",
            "with its time zone",
        ),
        (
            "targets.1",
            {"kind": "username", "value": "u", "from": "2026-03-02", "to": "2026-03-01"},
            "targets[1].to",
            "before its start",
        ),
        ("received_at", "2026-11-02", "received_at", "date and time with its time zone"),
        ("received_at", "2026-11-02T14:05:00", "received_at", "with its time zone"),
        ("received_at", "2026-11-27T12:00:01Z", "received_at", "is in the future"),
        ("received_via", "carrier pigeon", "received_via", "unknown channel"),
        ("jurisdiction.regime", "mars", "jurisdiction.regime", "unknown regime 'mars'"),
        ("jurisdiction.country", "us", "jurisdiction.country", "two-letter ISO 3166"),
        ("jurisdiction", "US", "jurisdiction", "must be an object"),
        ("issuing_authority.kind", "sheriff", "issuing_authority.kind", "unknown issuing authority kind 'sheriff'"),
        ("issuing_authority.name", "  ", "issuing_authority.name", "must not be empty"),
        ("issuing_authority.name", "a\nb", "issuing_authority.name", "without control characters"),
        ("agency.country", None, "agency.country", "two-letter ISO 3166"),
        ("officer.email", "jdoe@", "officer.email", "not a valid email address"),
        ("officer.phone", "555 0100", "officer.phone", "international form"),
        ("officer.rank", "SA", "officer.rank", "unknown key"),
        ("emergency", "yes", "emergency", "must be true or false, not a string"),
        ("due_at", "2026-11-31", "due_at", "not a calendar date"),
        ("reference", "../../etc/passwd", "reference", "leave it out to have one assigned"),
        ("non_disclosure_order.until", DELETE, "non_disclosure_order.until", "is required"),
        ("non_disclosure_order.until", "forever", "non_disclosure_order.until", "YYYY-MM-DD"),
    ],
)
def test_each_bad_field_is_named_by_its_path(path: str, value: Any, field: str, fragment: str) -> None:
    error = error_of(with_(path, value))
    assert error.field == field
    assert fragment in error.message
    assert str(error) == f"{field}: {error.message}"


def test_valid_until_before_issue_date() -> None:
    error = error_of(request_json(issued_on="2026-11-10", valid_until="2026-11-09"))
    assert error.field == "valid_until"


def test_received_now_is_not_the_future() -> None:
    parse_request(request_json(received_at="2026-11-27T13:00:00+01:00"), now=NOW)  # 12:00 UTC: exactly now
    error = error_of(request_json(received_at="2026-11-27T13:00:01+01:00"))
    assert error.field == "received_at" and "future" in error.message


def test_a_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse_request(request_json(), now=datetime(2026, 11, 27))


def test_the_document_must_be_an_object() -> None:
    error = error_of("search_warrant")
    assert error.field == "(document)" and "must be an object" in error.message


def test_parse_requests_accepts_one_or_a_list() -> None:
    assert len(parse_requests(request_json(), now=NOW)) == 1
    assert len(parse_requests([request_json(), request_json(process_type="subpoena")], now=NOW)) == 2


def test_parse_requests_names_the_index_of_the_bad_record() -> None:
    good = request_json()
    bad = request_json(targets=[{"kind": "email", "value": "nobody"}])
    error = error_of([good, copy.deepcopy(good), bad])
    assert error.field == "[2].targets[0].value"
    assert str(error).startswith("[2].targets[0].value: not a valid email address")
    assert error_of([good, "x"]).field == "[1]"
    assert error_of([]).field == "(document)"


@pytest.mark.parametrize(("written", "read"), [("EL", "GR"), ("UK", "GB"), ("GR", "GR"), ("GB", "GB"), ("DE", "DE")])
def test_country_codes_are_normalised_once_when_parsed(written: str, read: str) -> None:
    """EL is the EU's own code for Greece, UK the reserved code for the United Kingdom: both are read as the ISO
    3166 code, for the jurisdiction and the agency alike, so every rule compares one spelling."""
    doc = parse_request(
        request_json(
            jurisdiction={"regime": "eu", "country": written, "region": None},
            agency={"name": "Police", "country": written},
        ),
        now=NOW,
    )
    assert (doc.jurisdiction.country, doc.agency.country) == (read, read)
    assert to_json(doc)["jurisdiction"]["country"] == read  # type: ignore[index]
    assert parse_request(to_json(doc), now=NOW) == doc
