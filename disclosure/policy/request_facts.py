"""Facts of a request that cannot be true: the one place that says which, for the request parser and the forms.

`impossible_facts` takes a request's dates and returns, in a fixed order, each impossibility as an `ImpossibleFact`
naming the request document's field (`received_at`, `due_at`, `issued_on`, `valid_until`,
`non_disclosure_order.until`) and saying what is wrong in words a person reads, dates written out. The parser
raises the first at its field (so `flask policy check` and `flask cases import` exit 2 naming it); the intake form
and Edit facts show each beside their own field. The day of receipt is the date in the time zone the receipt is
stated in: the form's zone, or a document's own offset. Pure: standard library only, no Flask.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

__all__ = ["EARLIEST_RECEIPT", "ImpossibleFact", "future_receipt", "impossible_facts", "long_date"]

#: No request this system holds arrived before this day; an earlier receipt is a typing mistake.
EARLIEST_RECEIPT: Final = date(2000, 1, 1)


@dataclass(frozen=True)
class ImpossibleFact:
    """A fact that cannot be true: the request document's field it is refused at, and what to do."""

    field: str
    message: str


def long_date(day: date) -> str:
    """A date as people read it in a message: 3 December 2026."""
    return f"{day.day} {day:%B %Y}"


def future_receipt(received: datetime, now: datetime, zone: str) -> ImpossibleFact | None:
    """A receipt after `now` (both aware; `now` in the zone named `zone`, which the message shows)."""
    if received <= now:
        return None
    return ImpossibleFact(
        "received_at",
        f"This is in the future: it is now {long_date(now.date())}, {now:%H:%M} ({zone}). Give the time the "
        "request actually arrived.",
    )


def impossible_facts(
    *,
    received_on: date | None,
    due_on: date | None = None,
    issued_on: date | None = None,
    valid_until: date | None = None,
    order_starts_on: date | None = None,
    order_until: date | None = None,
) -> list[ImpossibleFact]:
    """Every impossibility among the dates given (None: not stated), in the document's order of fields.

    `received_on` is the day of receipt; `order_starts_on` and `order_until` a non-disclosure order's, which
    starts on the day of receipt unless it says otherwise.
    """
    found: list[ImpossibleFact] = []

    def refuse(field: str, message: str) -> None:
        found.append(ImpossibleFact(field, message))

    if received_on is not None and received_on < EARLIEST_RECEIPT:
        refuse(
            "received_at",
            f"Check the year: {long_date(received_on)} is before {long_date(EARLIEST_RECEIPT)}, earlier than any "
            "request this system holds.",
        )
    if due_on is not None and received_on is not None and due_on < received_on:
        refuse(
            "due_at",
            f"The due date ({long_date(due_on)}) is before the request arrived ({long_date(received_on)}). "
            "Correct one of them.",
        )
    if issued_on is not None and received_on is not None and issued_on > received_on:
        refuse(
            "issued_on",
            f"The process cannot have been issued ({long_date(issued_on)}) after it arrived "
            f"({long_date(received_on)}). Correct one of them.",
        )
    if issued_on is not None and valid_until is not None and valid_until < issued_on:
        refuse(
            "valid_until",
            f"The process cannot expire ({long_date(valid_until)}) before it was issued ({long_date(issued_on)}). "
            "Correct one of them.",
        )
    begins = order_starts_on or received_on
    if order_until is not None and begins is not None and order_until < begins:
        refuse(
            "non_disclosure_order.until",
            f"The order cannot end ({long_date(order_until)}) before it starts ({long_date(begins)}). "
            "Correct one of them.",
        )
    return found
