"""Report operations: parse a period, pick the checkpoint, gather the facts and compute. Nothing here commits."""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask import current_app

from disclosure.audit.models import AuditCheckpoint
from disclosure.clock import utcnow
from disclosure.reports.metrics import OperationalMetrics, compute_metrics
from disclosure.reports.queries import cell_references, checkpoint_ref, load_case_durations, load_tally
from disclosure.reports.transparency import ReportError, TransparencyReport, compute_transparency


def half_year_of(day: date) -> tuple[date, date]:
    """The half-year (1 Jan–30 Jun or 1 Jul–31 Dec) holding `day`."""
    if day.month <= 6:
        return date(day.year, 1, 1), date(day.year, 6, 30)
    return date(day.year, 7, 1), date(day.year, 12, 31)


def parse_period(raw_from: str | None, raw_to: str | None) -> tuple[date, date]:
    """A period from YYYY-MM-DD strings; both missing means the current half-year."""
    if not raw_from and not raw_to:
        return half_year_of(utcnow().date())
    try:
        start = date.fromisoformat((raw_from or "").strip())
        end = date.fromisoformat((raw_to or "").strip())
    except ValueError as error:
        raise ReportError("give both dates as YYYY-MM-DD, e.g. --from 2026-01-01 --to 2026-06-30") from error
    if end < start:
        raise ReportError(f"the period ends ({end}) before it starts ({start})")
    return start, end


def report_settings() -> dict[str, int]:
    config = current_app.config
    return {
        "nsl_band_width": int(config.get("REPORT_NSL_BAND", 250)),
        "suppress_below": int(config.get("REPORT_SUPPRESS_BELOW", 5)),
    }


def transparency_report(start: date, end: date, checkpoint: AuditCheckpoint) -> TransparencyReport:
    counted = load_tally(start, end, checkpoint.size)
    return compute_transparency(counted, start, end, checkpoint_ref(checkpoint), **report_settings())


def cell_cases(start: date, end: date, checkpoint: AuditCheckpoint, key: str) -> list[str]:
    """The references of the cases behind one cell of the report at the checkpoint."""
    return cell_references(start, end, checkpoint.size, key)


def operational_metrics(start: date, end: date, checkpoint: AuditCheckpoint) -> OperationalMetrics:
    as_of = _aware(checkpoint.created_at)
    return compute_metrics(load_case_durations(start, end, checkpoint.size, as_of))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def organisation() -> str:
    return str(current_app.config.get("ORGANISATION_NAME", "The Provider's Legal Department"))
