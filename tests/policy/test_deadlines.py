"""Deadlines on real calendars, each expected date worked out by hand in the comment beside it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from disclosure.policy.deadlines import (
    DeadlineError,
    DueDate,
    add_business_days,
    calendar_for,
    compute_due,
    preservation_ends,
)
from disclosure.policy.loader import default_policy
from disclosure.policy.vocabulary import ProcessType, Regime

NY = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def due(
    process: ProcessType,
    received_at: datetime,
    *,
    emergency: bool = False,
    document: date | None = None,
    tz: str = "America/New_York",
    calendar: str | None = "US",
) -> DueDate:
    return compute_due(process, default_policy(), received_at, emergency, document, tz, calendar)


def test_ten_business_days_skip_veterans_day() -> None:
    # Mon 2026-11-02: 3,4,5,6 (4), 9,10 (6), Wed 11 is Veterans Day, 12,13 (8), 16,17 (10) -> Tue 2026-11-17.
    result = due(ProcessType.SUBPOENA, datetime(2026, 11, 2, 14, 5, tzinfo=UTC))
    assert result.at == datetime(2026, 11, 17, 23, 59, 59, tzinfo=NY)
    assert result.explanation == (
        "10 business days after receipt on 2026-11-02 (US federal holidays skipped: 2026-11-11 Veterans Day)"
    )


def test_receipt_before_thanksgiving() -> None:
    # Fri 2026-11-20: 23,24,25 (3), Thu 26 is Thanksgiving, 27 (4), 30, Dec 1-4 (9), Mon 7 (10): 2026-12-07.
    result = due(ProcessType.COURT_ORDER_2703D, datetime(2026, 11, 20, 16, 0, tzinfo=UTC))
    assert result.at.date() == date(2026, 12, 7)
    assert "skipped: 2026-11-26 Thanksgiving Day" in result.explanation


def test_state_calendar_also_skips_the_day_after_thanksgiving() -> None:
    # As above on California's calendar: Fri 27 is a state holiday too, so the tenth business day is Tue 8.
    result = due(ProcessType.OTHER_COURT_ORDER, datetime(2026, 11, 20, 16, 0, tzinfo=UTC), calendar="US-CA")
    assert result.at.date() == date(2026, 12, 8)
    assert (
        "US-CA public holidays skipped: 2026-11-26 Thanksgiving Day, 2026-11-27 Day After Thanksgiving"
        in result.explanation
    )


def test_receipt_is_dated_in_the_case_time_zone() -> None:
    # 03:00 UTC on Tue 2026-11-03 is still Mon 2026-11-02 in New York, so counting starts from the 2nd.
    result = due(ProcessType.SUBPOENA, datetime(2026, 11, 3, 3, 0, tzinfo=UTC))
    assert result.at.date() == date(2026, 11, 17)
    assert "after receipt on 2026-11-02" in result.explanation


def test_weekend_receipt_counts_from_the_next_business_day() -> None:
    # Sat 2026-06-13: 15..18 (4), Juneteenth (Fri 19) skipped, 22..26 (9), Mon 29 (10): 2026-06-29.
    result = due(ProcessType.SEARCH_WARRANT, datetime(2026, 6, 13, 15, 0, tzinfo=UTC))
    assert result.at.date() == date(2026, 6, 29)
    assert "2026-06-19 Juneteenth National Independence Day" in result.explanation


def test_no_holiday_in_the_period_says_so() -> None:
    # Mon 2026-09-14: 15..18 (4), 21..25 (9), Mon 28 (10); Columbus Day is Oct 12, outside.
    result = due(ProcessType.SUBPOENA, datetime(2026, 9, 14, 15, 0, tzinfo=UTC))
    assert result.at.date() == date(2026, 9, 28)
    assert result.explanation == (
        "10 business days after receipt on 2026-09-14 (weekends skipped; no US federal holidays in the period)"
    )


def test_without_a_calendar_only_weekends_are_skipped() -> None:
    # Mon 2026-11-02 + 10 business days, Veterans Day not skipped -> Mon 2026-11-16.
    result = due(ProcessType.SUBPOENA, datetime(2026, 11, 2, 14, 5, tzinfo=UTC), calendar=None)
    assert result.at.date() == date(2026, 11, 16)
    assert "no holiday calendar" in result.explanation


def test_due_date_on_the_document_wins() -> None:
    result = due(
        ProcessType.SUBPOENA, datetime(2026, 11, 2, 14, 5, tzinfo=UTC), emergency=True, document=date(2026, 11, 5)
    )
    assert result.at == datetime(2026, 11, 5, 23, 59, 59, tzinfo=NY)
    assert result.explanation == "due date stated on the document: 2026-11-05"


def test_eu_production_order_ten_calendar_days() -> None:
    # Calendar days, holidays included: 2026-12-20 + 10 = 2026-12-30 (Christmas is not skipped).
    result = due(
        ProcessType.EU_PRODUCTION_ORDER, datetime(2026, 12, 20, 9, 0, tzinfo=UTC), tz="Europe/Berlin", calendar="DE"
    )
    assert result.at == datetime(2026, 12, 30, 23, 59, 59, tzinfo=BERLIN)
    assert result.explanation == "10 days after receipt on 2026-12-20"


def test_eu_production_order_emergency_eight_elapsed_hours_across_the_dst_change() -> None:
    # 22:00 CEST on 2026-10-24 is 20:00 UTC; + 8 h = 04:00 UTC on the 25th: 05:00 CET (clocks went back).
    result = due(
        ProcessType.EU_PRODUCTION_ORDER,
        datetime(2026, 10, 24, 22, 0, tzinfo=BERLIN),
        emergency=True,
        tz="Europe/Berlin",
        calendar="DE",
    )
    assert result.at == datetime(2026, 10, 25, 4, 0, tzinfo=UTC)
    assert (result.at.hour, result.at.utcoffset()) == (5, timedelta(hours=1))
    assert result.explanation == "8 hours after receipt at 2026-10-24 22:00 Europe/Berlin (emergency)"


def test_emergency_request_is_due_in_hours_even_unflagged() -> None:
    received = datetime(2026, 11, 26, 3, 40, tzinfo=UTC)
    for flag in (True, False):
        result = due(ProcessType.EMERGENCY_REQUEST, received, emergency=flag, tz="UTC")
        assert result.at == received + timedelta(hours=4)
        assert result.explanation.endswith("(emergency)")


def test_wiretap_order_within_a_day() -> None:
    received = datetime(2026, 11, 2, 14, 5, tzinfo=timezone(timedelta(hours=-5)))
    result = due(ProcessType.WIRETAP_ORDER, received)
    assert result.at == received + timedelta(hours=24)
    assert result.explanation == "24 hours after receipt at 2026-11-02 14:05 America/New_York"


def test_emergency_flag_on_a_process_without_an_emergency_clock_is_explained() -> None:
    result = due(ProcessType.SUBPOENA, datetime(2026, 9, 14, 15, 0, tzinfo=UTC), emergency=True)
    assert result.at.date() == date(2026, 9, 28)
    assert result.explanation.endswith("(flagged as an emergency, but this process has no emergency clock)")


def test_preservation_ninety_days_and_one_renewal() -> None:
    policy = default_policy()
    first = preservation_ends(ProcessType.PRESERVATION_REQUEST, policy, date(2026, 11, 2), "UTC")
    assert first.at.date() == date(2027, 1, 31)  # Nov 28 + Dec 31 + Jan 31 = 90
    renewed = preservation_ends(ProcessType.PRESERVATION_REQUEST, policy, date(2026, 11, 2), "UTC", renewals_used=1)
    assert renewed.at.date() == date(2027, 5, 1)  # 180 days: + Feb 28 + Mar 31 + Apr 30 + 1
    assert renewed.explanation == "90 days + 1 renewal(s) of 90 days from preservation on 2026-11-02"
    with pytest.raises(DeadlineError, match="allows 1 renewal"):
        preservation_ends(ProcessType.PRESERVATION_REQUEST, policy, date(2026, 11, 2), "UTC", renewals_used=2)


def test_eu_preservation_sixty_days_plus_thirty() -> None:
    policy = default_policy()
    first = preservation_ends(ProcessType.EU_PRESERVATION_ORDER, policy, date(2026, 3, 1), "UTC")
    assert first.at.date() == date(2026, 4, 30)  # Mar 30 + Apr 30 = 60
    assert preservation_ends(
        ProcessType.EU_PRESERVATION_ORDER, policy, date(2026, 3, 1), "UTC", renewals_used=1
    ).at.date() == date(2026, 5, 30)
    with pytest.raises(DeadlineError, match="not a preservation process"):
        preservation_ends(ProcessType.SUBPOENA, policy, date(2026, 3, 1), "UTC")


def test_bad_inputs_are_refused() -> None:
    received = datetime(2026, 11, 2, 14, 5, tzinfo=UTC)
    with pytest.raises(DeadlineError, match="unknown time zone"):
        due(ProcessType.SUBPOENA, received, tz="Mars/Olympus")
    with pytest.raises(DeadlineError, match="no holiday calendar"):
        due(ProcessType.SUBPOENA, received, calendar="XX")
    with pytest.raises(DeadlineError, match="timezone-aware"):
        due(ProcessType.SUBPOENA, datetime(2026, 11, 2, 14, 5))


def test_add_business_days_reports_only_weekday_holidays() -> None:
    # Independence Day 2026 is a Saturday (observed Fri Jul 3): Thu Jul 2 + 1 business day -> Mon Jul 6.
    observed = (date(2026, 7, 3), "Independence Day (observed)")
    assert add_business_days(date(2026, 7, 2), 1, "US") == (date(2026, 7, 6), [observed])


def test_calendar_for_each_jurisdiction() -> None:
    policy = default_policy()
    assert calendar_for(policy, Regime.US_FEDERAL, "US") == "US"
    assert calendar_for(policy, Regime.UK, "GB") == "GB"
    assert calendar_for(policy, Regime.EU, "DE") == "DE"
    assert calendar_for(policy, Regime.OTHER, "BR") == "BR"
    assert calendar_for(policy, Regime.OTHER, "ZZ") is None
