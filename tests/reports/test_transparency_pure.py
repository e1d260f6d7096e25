"""The pure counting: outcomes, bands, suppression and shares, on hand-built facts (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from disclosure.reports.metrics import CaseTimes, compute_metrics, nearest_rank
from disclosure.reports.render import bar_chart
from disclosure.reports.transparency import (
    CaseFacts,
    Cell,
    CheckpointRef,
    Outcome,
    ReportError,
    band,
    compute_transparency,
    outcome_of,
    public_rows,
    shown,
)
from disclosure.workflow import State

CHECKPOINT = CheckpointRef(1, 10, "ab" * 32, datetime(2026, 7, 1, tzinfo=UTC))


def facts(
    reference: str,
    state: str,
    *,
    process: str = "search_warrant",
    previous: str | None = None,
    produced: tuple[str, ...] = (),
    country: str = "US",
    targets: tuple[str, ...] = ("a",),
    ndo: bool = False,
    day: date = date(2026, 3, 1),
) -> CaseFacts:
    return CaseFacts(
        id=hash(reference) % 10_000,
        reference=reference,
        process_type=process,
        regime="us_federal",
        country=country,
        received_at=datetime.combine(day, datetime.min.time(), UTC),
        state=state,
        previous_state=previous,
        targets=frozenset(("email", t) for t in targets),
        produced=frozenset(produced),
        indefinite_ndo=ndo,
    )


@pytest.mark.parametrize(
    ("state", "previous", "produced", "expected"),
    [
        ("received", None, (), Outcome.IN_PROCESS),
        ("in_review", "received", (), Outcome.IN_PROCESS),
        ("needs_info", "in_review", (), Outcome.IN_PROCESS),
        ("approved", "in_review", (), Outcome.IN_PROCESS),
        ("producing", "approved", ("stored_content",), Outcome.IN_PROCESS),
        ("rejected", "in_review", (), Outcome.REJECTED),
        ("closed", "rejected", (), Outcome.REJECTED),
        ("closed", "approved", (), Outcome.NO_DATA),
        ("disclosed", "producing", ("subscriber_basic",), Outcome.NON_CONTENT),
        ("disclosed", "producing", ("subscriber_basic", "realtime_content"), Outcome.CONTENT),
        ("closed", "disclosed", ("stored_content",), Outcome.CONTENT),
        ("closed", "disclosed", ("account_records", "realtime_noncontent"), Outcome.NON_CONTENT),
        ("withdrawn", "in_review", (), Outcome.WITHDRAWN),
    ],
)
def test_outcome_of_each_end_state(state, previous, produced, expected):
    assert outcome_of(facts("X", state, previous=previous, produced=produced)) is expected


def test_every_state_has_an_outcome():
    for state in State:
        outcome_of(facts("X", state.value, previous="approved"))


@pytest.mark.parametrize(
    ("count", "width", "expected"),
    [
        (0, 250, "0\u2013249"),
        (249, 250, "0\u2013249"),
        (250, 250, "250\u2013499"),
        (17, 500, "0\u2013499"),
        (999, 1000, "0\u2013999"),
        (1000, 1000, "1000\u20131999"),
    ],
)
def test_bands(count, width, expected):
    assert band(count, width) == expected


def test_an_unknown_band_width_is_refused():
    with pytest.raises(ReportError, match="REPORT_NSL_BAND"):
        band(3, 100)


def test_small_counts_are_suppressed():
    assert shown(0, 5) == "< 5" and shown(4, 5) == "< 5" and shown(5, 5) == "5" and shown(2, 1) == "2"


def test_counts_shares_and_publication():
    built = [facts(f"R{i}", "closed", previous="rejected") for i in range(6)]
    built += [
        facts(f"C{i}", "disclosed", produced=("stored_content",), targets=("shared",), ndo=True) for i in range(2)
    ]
    built += [facts("N1", "closed", previous="disclosed", produced=("subscriber_basic",), country="DE")]
    built += [facts(f"P{i}", "preserved", process="preservation_request") for i in range(3)]
    built += [facts(f"S{i}", "received", process="national_security_letter") for i in range(7)]
    built += [facts("OUT", "received", day=date(2026, 7, 1))]
    report = compute_transparency(built, date(2026, 1, 1), date(2026, 6, 30), CHECKPOINT, 250, 5)

    assert report.total.count == 9  # not preservation, not NSL, not out of the period
    assert report.cell("outcome.rejected").references == tuple(f"R{i}" for i in range(6))
    assert report.cell("outcome.content_produced").count == 2
    assert report.cell("outcome.non_content_produced").references == ("N1",)
    assert report.cell("country.DE").references == ("N1",) and report.cell("country.US").count == 8
    assert report.accounts_count == 2  # "a" and the one shared target
    assert report.produced_share.value == pytest.approx(3 / 9)
    assert report.ndo_share.part.references == ("C0", "C1")
    assert report.preservation.count == 3 and report.nsl.count == 7

    published = {(section, label): value for section, label, value in public_rows(report)}
    assert published[("Outcomes", "Rejected")] == "6"
    assert published[("Outcomes", "Content produced")] == "< 5"
    assert published[("Preservation", "Preservation requests (counted apart)")] == "< 5"
    assert published[("National security", "National-security letters received")] == "0\u2013249"
    assert published[("Shares", "Share of requests where some data was produced")] == "suppressed"
    assert "7" not in [v for (s, _), v in published.items() if s == "National security"]


def test_a_period_that_ends_before_it_starts_is_refused():
    with pytest.raises(ReportError, match="before it starts"):
        compute_transparency([], date(2026, 6, 30), date(2026, 1, 1), CHECKPOINT)


def test_chart_escapes_labels_and_uses_no_style_or_script():
    svg = bar_chart([Cell("x", "<script>alert(1)</script></style>", ("A", "B")), Cell("y", "ok", ())])
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "style=" not in svg and "</style>" not in svg
    assert 'width="0"' in svg  # the empty cell draws no bar


def test_nearest_rank_percentiles_and_overdue():
    assert nearest_rank([5, 1, 3, 2, 4], 50) == 3 and nearest_rank(list(range(1, 11)), 90) == 9
    assert nearest_rank([], 50) is None
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    hour = 3600
    from datetime import timedelta

    times = [
        CaseTimes(f"D{i}", "subpoena", t0, t0 + timedelta(hours=10), "closed", decided_at=t0 + timedelta(hours=i))
        for i in (2, 4, 12)
    ]
    times.append(CaseTimes("O", "subpoena", t0, t0 + timedelta(hours=1), "in_review"))
    metrics = compute_metrics(times, t0 + timedelta(days=1))
    row = metrics.time_to_decision[0]
    assert (row.count, row.median.total_seconds(), row.p90.total_seconds()) == (3, 4 * hour, 12 * hour)
    assert metrics.overdue_open == ("O",) and metrics.decided_late == ("D12",)
