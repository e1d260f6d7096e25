"""Report operations: parse a period, pick the checkpoint, gather the facts and compute. Nothing here commits."""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask import current_app

from disclosure.audit.models import AuditCheckpoint
from disclosure.clock import utcnow
from disclosure.reports import queries
from disclosure.reports.metrics import OperationalMetrics, compute_metrics
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
    counted = queries.load_tally(start, end, checkpoint.size)
    return compute_transparency(counted, start, end, queries.checkpoint_ref(checkpoint), **report_settings())


def cell_cases(start: date, end: date, checkpoint: AuditCheckpoint, key: str) -> list[str]:
    """The references of the cases behind one cell of the report at the checkpoint."""
    return queries.cell_references(start, end, checkpoint.size, key)


def report_with_metrics(
    start: date, end: date, checkpoint: AuditCheckpoint
) -> tuple[TransparencyReport, OperationalMetrics]:
    """The report and the metrics together, as the auditor's page shows them: their queries run side by side."""
    as_of = _aware(checkpoint.created_at)
    *tally_rows, duration_rows = queries.run_side_by_side(
        *queries.tally_statements(start, end, checkpoint.size),
        queries.durations_statement(start, end, checkpoint.size, as_of),
    )
    report = compute_transparency(
        queries.tally_from(*tally_rows), start, end, queries.checkpoint_ref(checkpoint), **report_settings()
    )
    return report, compute_metrics(duration_rows)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def organisation() -> str:
    return str(current_app.config.get("ORGANISATION_NAME", "The Provider's Legal Department"))
