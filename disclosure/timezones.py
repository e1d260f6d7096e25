"""Times as each person reads them: in their own time zone, with the UTC instant one hover away.

The database keeps every instant in UTC (SQLite hands them back naive; they are UTC all the same). Pages show them
in the reader's zone, chosen on their account page, through the `when` filter; documents of record (letters,
dossiers, the transparency report) keep UTC, because they leave the building and must read the same to everyone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from markupsafe import Markup, escape

DEFAULT_ZONE = "UTC"

#: The formats a page asks for: to the minute (the usual), to the second (audit and job pages), or the day alone.
FORMATS = {"minute": "%Y-%m-%d %H:%M", "second": "%Y-%m-%d %H:%M:%S", "date": "%Y-%m-%d"}


@cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone name this machine knows, UTC first, then alphabetically (the account page's choices)."""
    names = available_timezones() - {DEFAULT_ZONE}
    return (DEFAULT_ZONE, *sorted(name for name in names if "/" in name and not name.startswith(("Etc/", "SystemV/"))))


def is_zone(name: str) -> bool:
    """True for a zone name a person may choose."""
    return name in zone_names()


def zone(name: str | None) -> ZoneInfo:
    """The named zone, or UTC for a name this machine does not know (a zone removed from the database)."""
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as UTC, which is how the database stores every instant."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def local(moment: datetime, zone_name: str | None) -> datetime:
    """The instant as the clock on the wall of `zone_name` shows it."""
    return as_utc(moment).astimezone(zone(zone_name))


def text(moment: datetime | date, zone_name: str | None, precision: str = "minute") -> str:
    """The instant as plain text in the reader's zone, with the zone's abbreviation unless only the day is asked for.

    A plain date (a due date on a document, an order's end) has no time of day and is shown as it is.
    """
    if not isinstance(moment, datetime):
        return moment.isoformat()
    shown = local(moment, zone_name)
    return f"{shown:{FORMATS[precision]}}" if precision == "date" else f"{shown:{FORMATS[precision]}} {shown.tzname()}"


def render(
    moment: datetime | date | None, zone_name: str | None, precision: str = "minute", bare: bool = False
) -> Markup:
    """`<time>` showing the instant in the reader's zone, with the UTC instant in its title (a tooltip).

    `bare` gives the text alone, for places that take no markup (a select's options).
    """
    if moment is None:
        return Markup("—")
    label = text(moment, zone_name, precision)
    if bare:
        return escape(label)
    if not isinstance(moment, datetime):
        return Markup('<time datetime="{0}">{0}</time>').format(label)
    instant = as_utc(moment)
    utc_text = f"{instant:{FORMATS['second' if precision == 'second' else 'minute']}} UTC"
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        instant.isoformat().replace("+00:00", "Z"), utc_text, label
    )
