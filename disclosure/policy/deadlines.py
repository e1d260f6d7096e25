"""Deadlines from a process's clock: when a response is due and when a preservation ends, with how each
was computed.

A due date stated on the document always wins. Otherwise the policy's clock for the process applies, in the
case's time zone: elapsed hours (emergencies), calendar days, or business days that skip weekends and the
public holidays of the jurisdiction's calendar (the `holidays` library). A day-based deadline falls at the end
of its day. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from disclosure.policy.model import Policy, ProcessRule
from disclosure.policy.vocabulary import ProcessType, Regime

__all__ = [
    "DeadlineError",
    "DueDate",
    "add_business_days",
    "calendar_for",
    "compute_due",
    "preservation_ends",
]

_END_OF_DAY = time(23, 59, 59)


class DeadlineError(ValueError):
    """A deadline cannot be computed from what was given (unknown zone or calendar, naive time, no renewal
    left)."""


@dataclass(frozen=True)
class DueDate:
    at: datetime  #: aware, in the case's time zone
    explanation: str  #: how it was computed, for the case page


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise DeadlineError(f"unknown time zone {tz!r}; use an IANA name such as America/New_York") from None


def _calendar(code: str) -> holidays.HolidayBase:
    country, _, subdivision = code.partition("-")
    try:
        return holidays.country_holidays(country, subdiv=subdivision or None)
    except NotImplementedError:
        raise DeadlineError(
            f"no holiday calendar for {code!r}; use a country code (US) or "
            "country-subdivision (US-CA) the holidays library knows"
        ) from None


def _calendar_name(code: str) -> str:
    return "US federal holidays" if code == "US" else f"{code} public holidays"


def add_business_days(start: date, days: int, calendar_country: str | None) -> tuple[date, list[tuple[date, str]]]:
    """The date `days` business days after `start` (which does not count), and weekday holidays skipped."""
    calendar = _calendar(calendar_country) if calendar_country else None
    skipped: list[tuple[date, str]] = []
    current, counted = start, 0
    while counted < days:
        current += timedelta(days=1)
        if current.weekday() >= 5:
            continue
        name = calendar.get(current) if calendar is not None else None
        if name is not None:
            skipped.append((current, str(name)))
            continue
        counted += 1
    return current, skipped


def _end_of(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, _END_OF_DAY, tzinfo=zone)


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    if moment.tzinfo is None:
        raise DeadlineError("received_at must be timezone-aware")
    return moment.astimezone(zone)


def _after_hours(hours: int, received_at: datetime, zone: ZoneInfo, tz: str, why: str) -> DueDate:
    # Elapsed hours, counted in UTC: wall-clock arithmetic would be an hour off across a DST change.
    at = (received_at.astimezone(UTC) + timedelta(hours=hours)).astimezone(zone)
    local = _local(received_at, zone)
    return DueDate(at, f"{hours} hours after receipt at {local:%Y-%m-%d %H:%M} {tz}{why}")


def compute_due(
    process: ProcessType,
    policy: Policy,
    received_at: datetime,
    emergency: bool,
    due_on_document: date | None,
    tz: str,
    calendar_country: str | None,
) -> DueDate:
    """When the response to a request of `process` received at `received_at` is due, and why."""
    zone = _zone(tz)
    local = _local(received_at, zone)
    if due_on_document is not None:
        return DueDate(
            _end_of(due_on_document, zone), f"due date stated on the document: {due_on_document.isoformat()}"
        )
    rule: ProcessRule = policy.process_types[process]
    if (emergency or rule.voluntary) and rule.emergency_response_hours is not None:
        return _after_hours(rule.emergency_response_hours, received_at, zone, tz, " (emergency)")
    note = ""
    if emergency and not rule.voluntary:
        note = " (flagged as an emergency, but this process has no emergency clock)"
    if rule.response_hours is not None:
        why = " (emergency)" if rule.voluntary else note
        return _after_hours(rule.response_hours, received_at, zone, tz, why)
    days = rule.response_days
    assert days is not None  # the loader guarantees exactly one of response_days and response_hours
    received_on = local.date()
    if not rule.business_days:
        return DueDate(
            _end_of(received_on + timedelta(days=days), zone),
            f"{days} days after receipt on {received_on.isoformat()}{note}",
        )
    due, skipped = add_business_days(received_on, days, calendar_country)
    if calendar_country is None:
        how = "weekends skipped; no holiday calendar for this jurisdiction"
    elif skipped:
        days_off = ", ".join(f"{d.isoformat()} {n}" for d, n in skipped)
        how = f"{_calendar_name(calendar_country)} skipped: {days_off}"
    else:
        how = f"weekends skipped; no {_calendar_name(calendar_country)} in the period"
    return DueDate(_end_of(due, zone), f"{days} business days after receipt on {received_on.isoformat()} ({how}){note}")


def preservation_ends(
    process: ProcessType, policy: Policy, preserved_on: date, tz: str, renewals_used: int = 0
) -> DueDate:
    """When a preservation ends: its period from `preserved_on`, plus each renewal used (no more than the
    rule allows)."""
    rule = policy.process_types[process]
    if rule.preserve_days is None:
        raise DeadlineError(f"{rule.label} is not a preservation process")
    if not 0 <= renewals_used <= rule.renewals:
        raise DeadlineError(f"{rule.label} allows {rule.renewals} renewal(s), not {renewals_used}")
    renewal_days = (rule.renewal_days or 0) * renewals_used
    end = preserved_on + timedelta(days=rule.preserve_days + renewal_days)
    extra = f" + {renewals_used} renewal(s) of {rule.renewal_days} days" if renewals_used else ""
    return DueDate(
        _end_of(end, _zone(tz)), f"{rule.preserve_days} days{extra} from preservation on {preserved_on.isoformat()}"
    )


def calendar_for(policy: Policy, regime: Regime, country: str) -> str | None:
    """The holiday calendar a case under `regime` from `country` counts business days on (None: weekends
    only)."""
    rule = policy.jurisdictions[regime]
    if rule.calendar_country is not None:
        return rule.calendar_country
    if rule.calendar_from_country:
        try:
            holidays.country_holidays(country)
        except NotImplementedError:
            return None
        return country
    return None
