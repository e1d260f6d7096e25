"""Facts that cannot be true, refused alike by the request parser (`flask policy check`, `flask cases import`) and
the intake form (issue #13): the rules live once, in disclosure/policy/request_facts.py."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from disclosure.policy.request import RequestError, parse_request, parse_requests
from disclosure.policy.request_facts import EARLIEST_RECEIPT, ImpossibleFact, impossible_facts, long_date
from disclosure.policy_cli import policy_cli
from tests.policy.blind_cases import MALFORMED
from tests.policy.factories import NOW, request_json


def refusal(**overrides: Any) -> RequestError:
    with pytest.raises(RequestError) as caught:
        parse_request(request_json(**overrides), now=NOW)
    return caught.value


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("44-received_at-1999.json", "Check the year: 31 December 1999 is before 1 January 2000"),
        ("48-due_at-before-receipt.json", "The due date (1 November 2026) is before the request arrived (16 November"),
        ("54-issued-after-received.json", "cannot have been issued (30 November 2026) after it arrived (16 November"),
    ],
)
def test_the_lawyers_impossible_facts_exit_2_naming_the_field(tmp_path: Path, name: str, fragment: str) -> None:
    """On main these three exited 0 with an evaluation, although the README's intake rules refuse them."""
    field, text = MALFORMED[name]
    path = tmp_path / name
    path.write_text(text)
    result = CliRunner().invoke(policy_cli, ["check", str(path), "--today", "2026-12-07"])
    assert (result.exit_code, result.stdout) == (2, ""), result.output
    assert result.stderr.startswith(f"error: {field}: ") and fragment in result.stderr, result.stderr


def test_each_rule_names_the_document_field_and_says_what_to_do() -> None:
    received = date(2026, 11, 16)
    assert impossible_facts(received_on=received) == []
    assert impossible_facts(received_on=date(1999, 12, 31)) == [
        ImpossibleFact(
            "received_at",
            "Check the year: 31 December 1999 is before 1 January 2000, earlier than any request this system holds.",
        )
    ]
    found = impossible_facts(
        received_on=received,
        due_on=date(2026, 11, 15),
        issued_on=date(2026, 11, 17),
        valid_until=date(2026, 11, 16),
        order_starts_on=None,
        order_until=date(2026, 11, 10),
    )
    assert [f.field for f in found] == ["due_at", "issued_on", "valid_until", "non_disclosure_order.until"]
    assert found[2].message == (
        "The process cannot expire (16 November 2026) before it was issued (17 November 2026). Correct one of them."
    )
    assert found[3].message == (
        "The order cannot end (10 November 2026) before it starts (16 November 2026). Correct one of them."
    )


def test_the_same_day_is_possible_everywhere() -> None:
    day = date(2026, 11, 16)
    assert (
        impossible_facts(
            received_on=day, due_on=day, issued_on=day, valid_until=day, order_starts_on=day, order_until=day
        )
        == []
    )
    assert impossible_facts(received_on=EARLIEST_RECEIPT) == []


def test_an_orders_own_start_wins_over_the_receipt() -> None:
    found = impossible_facts(
        received_on=date(2026, 11, 16), order_starts_on=date(2026, 11, 1), order_until=date(2026, 11, 10)
    )
    assert found == []
    [late] = impossible_facts(
        received_on=date(2026, 11, 16), order_starts_on=date(2026, 11, 12), order_until=date(2026, 11, 10)
    )
    assert "before it starts (12 November 2026)" in late.message


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"received_at": "1999-12-31T23:59:59Z"}, "received_at"),
        ({"due_at": "2026-11-19"}, "due_at"),
        ({"issued_on": "2026-11-21"}, "issued_on"),
        ({"issued_on": "2026-11-10", "valid_until": "2026-11-09"}, "valid_until"),
        ({"non_disclosure_order": {"basis": "18 USC 2705(b)", "until": "2026-11-19"}}, "non_disclosure_order.until"),
        (
            {"non_disclosure_order": {"basis": "18 USC 2705(b)", "from": "2026-11-10", "until": "2026-11-09"}},
            "non_disclosure_order.until",
        ),
    ],
)
def test_the_parser_refuses_each_at_its_field(overrides: dict[str, Any], field: str) -> None:
    # request_json's request arrived on 2026-11-20.
    error = refusal(**overrides)
    assert error.field == field
    assert "Correct one of them." in error.message or "Check the year" in error.message


def test_a_list_names_the_record() -> None:
    with pytest.raises(RequestError) as caught:
        parse_requests([request_json(), request_json(due_at="2026-01-01")], now=NOW)
    assert caught.value.field == "[1].due_at"


def test_the_day_of_receipt_is_the_date_in_the_offset_it_is_written_in() -> None:
    """A document's dates are read in its received_at's own offset: the evening of 15 November in New York is
    15 November there, though already 16 November in UTC; so a due date of 15 November is possible."""
    doc = parse_request(request_json(received_at="2026-11-15T21:00:00-05:00", due_at="2026-11-15"), now=NOW)
    assert doc.due_at == date(2026, 11, 15)
    error = refusal(received_at="2026-11-16T02:00:00Z", due_at="2026-11-15")
    assert error.field == "due_at"


def test_the_future_is_refused_in_the_same_words() -> None:
    error = refusal(received_at="2026-11-27T12:00:01Z")
    assert error.field == "received_at"
    assert error.message == (
        "This is in the future: it is now 27 November 2026, 12:00 (UTC). Give the time the request actually arrived."
    )


def test_dates_read_as_people_write_them() -> None:
    assert long_date(date(2026, 12, 3)) == "3 December 2026"
    assert long_date(datetime(2026, 1, 1, 23, 0, tzinfo=UTC)) == "1 January 2026"
