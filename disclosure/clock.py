"""The one clock: timezone-aware UTC now, so tests can move time (freezegun) in one place."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)
