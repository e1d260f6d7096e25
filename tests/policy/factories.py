"""Request documents for the policy tests, as plain functions."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

from disclosure.policy.request import RequestDocument, parse_request

#: "Now" for every test that parses a request: after every received_at below.
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
TODAY = date(2026, 11, 27)

#: DESIGN's example request document, word for word except `reference`, whose text there ("optional;
#: assigned when absent") describes the field rather than giving a value.
DESIGN_EXAMPLE: dict[str, Any] = {
    "reference": "DR-2026-00042",
    "process_type": "search_warrant",
    "jurisdiction": {"regime": "us_federal", "country": "US", "region": None},
    "issuing_authority": {"kind": "judge", "name": "Hon. A. Example, N.D. Cal.", "docket": "5:26-mj-01234"},
    "agency": {"name": "Federal Bureau of Investigation", "country": "US"},
    "officer": {"name": "SA J. Doe", "email": "jdoe@example.gov", "phone": "+1 415 555 0100", "badge": "1234"},
    "received_at": "2026-11-02T14:05:00Z",
    "received_via": "email",
    "due_at": None,
    "emergency": False,
    "valid_until": "2026-11-16",
    "targets": [{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
    "categories": ["subscriber_basic", "stored_content"],
    "non_disclosure_order": {"basis": "18 USC 2705(b)", "until": "2027-05-01"},
}


def request_json(**overrides: Any) -> dict[str, Any]:
    """A minimal valid request document (a warrant for one mailbox's subscriber data), with overrides."""
    doc: dict[str, Any] = {
        "process_type": "search_warrant",
        "jurisdiction": {"regime": "us_federal", "country": "US", "region": None},
        "issuing_authority": {"kind": "judge", "name": "Hon. A. Example", "docket": "5:26-mj-01234"},
        "agency": {"name": "Federal Bureau of Investigation", "country": "US"},
        "received_at": "2026-11-20T14:05:00Z",
        "received_via": "email",
        "targets": [{"kind": "email", "value": "user@example.net"}],
        "categories": ["subscriber_basic"],
    }
    doc.update(copy.deepcopy(overrides))
    return doc


def make_request(**overrides: Any) -> RequestDocument:
    return parse_request(request_json(**overrides), now=NOW)
