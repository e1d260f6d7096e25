"""The pure counting: outcomes, bands, suppression and shares, on hand-built facts (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from disclosure.reports.metrics import CaseDurations, compute_metrics, nearest_rank
from disclosure.reports.render import bar_chart
from disclosure.reports.transparency import (
    CaseFacts,
    Cell,
    CheckpointRef,
    Outcome,
    Profile,
    ReportError,
    band,
    compute_transparency,
    members,
    outcome_of,
    public_rows,
    shown,
    tally,
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
) -> CaseFacts:
    profile = Profile(
        process_type=process,
        regime="us_federal",
        country=country,
        state=state,
        previous_state=previous,
        has_targets=bool(targets),
        produced=bool(produced),
        content=bool(set(produced) & {"stored_content", "realtime_content"}),
        indefinite_ndo=ndo,
    )
    return CaseFacts(reference, profile, frozenset(("email", t) for t in targets))


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
        ("closed", "in_review", (), Outcome.NO_DATA),  # the reviewer found no records held
        ("disclosed", "producing", ("subscriber_basic",), Outcome.NON_CONTENT),
        ("disclosed", "producing", ("subscriber_basic", "realtime_content"), Outcome.CONTENT),
        ("closed", "disclosed", ("stored_content",), Outcome.CONTENT),
        ("closed", "disclosed", ("account_records", "realtime_noncontent"), Outcome.NON_CONTENT),
        ("withdrawn", "in_review", (), Outcome.WITHDRAWN),
    ],
)
def test_outcome_of_each_end_state(state, previous, produced, expected):
    assert outcome_of(facts("X", state, previous=previous, produced=produced).profile) is expected


def test_every_state_and_history_has_one_outcome_and_only_records_count_as_produced():
    """Every (state, previous state, what was produced) gets an outcome; none overstates what was disclosed."""
    histories = [None, *(state.value for state in State)]
    productions: list[tuple[str, ...]] = [(), ("subscriber_basic",), ("account_records", "stored_content")]
    reached: set[Outcome] = set()
    for state in State:
        for previous in histories:
            for produced in productions:
                outcome = outcome_of(facts("X", state.value, previous=previous, produced=produced).profile)
                where = (state, previous, produced, outcome)
                reached.add(outcome)
                counted_as_produced = outcome in {Outcome.CONTENT, Outcome.NON_CONTENT}
                assert counted_as_produced == (bool(produced) and state in {State.DISCLOSED, State.CLOSED}), where
                assert (outcome is Outcome.CONTENT) == (counted_as_produced and "stored_content" in produced), where
                assert (outcome is Outcome.WITHDRAWN) == (state is State.WITHDRAWN), where
                if state.is_open:
                    assert outcome is Outcome.IN_PROCESS, where
                if outcome is Outcome.REJECTED:
                    assert state is State.REJECTED or (state is State.CLOSED and previous == "rejected"), where
                if outcome is Outcome.NO_DATA:
                    assert state is State.CLOSED and not produced and previous != "rejected", where
    assert reached == set(Outcome)  # every published row can be reached


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
    built += [facts("NONE", "received", targets=())]
    report = compute_transparency(tally(built), date(2026, 1, 1), date(2026, 6, 30), CHECKPOINT, 250, 5)

    assert report.total.count == 10  # not preservation, not NSL
    assert report.cell("outcome.rejected").count == 6
    assert members(built, "outcome.rejected") == tuple(f"R{i}" for i in range(6))
    assert report.cell("outcome.content_produced").count == 2
    assert members(built, "outcome.non_content_produced") == ("N1",)
    assert members(built, "country.DE") == ("N1",) and report.cell("country.US").count == 9
    assert report.accounts_count == 2  # "a" and the one shared target
    assert report.accounts.count == 9 and "NONE" not in members(built, "accounts")
    assert report.produced_share.value == pytest.approx(3 / 10)
    assert members(built, "ndo_indefinite") == ("C0", "C1") and report.ndo_share.part.count == 2
    assert report.preservation.count == 3 and report.nsl.count == 7
    assert members(built, "preservation") == ("P0", "P1", "P2")
    # Every cell's members are exactly as many as its count: listing and counting agree.
    for key, cell in report.cells.items():
        assert len(members(built, key)) == cell.count, key

    published = {(section, label): value for section, label, value in public_rows(report)}
    assert published[("Outcomes", "Rejected")] == "6"
    assert published[("Outcomes", "Content produced")] == "< 5"
    assert published[("Preservation", "Preservation requests (counted apart)")] == "< 5"
    assert published[("National security", "National-security letters received")] == "0\u2013249"
    assert published[("Shares", "Share of requests where some data was produced")] == "suppressed"
    assert "7" not in [v for (s, _), v in published.items() if s == "National security"]


def test_a_period_that_ends_before_it_starts_is_refused():
    with pytest.raises(ReportError, match="before it starts"):
        compute_transparency(tally([]), date(2026, 6, 30), date(2026, 1, 1), CHECKPOINT)


def test_chart_escapes_labels_and_uses_no_style_or_script():
    svg = bar_chart([Cell("x", "<script>alert(1)</script></style>", 2), Cell("y", "ok", 0)])
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "style=" not in svg and "</style>" not in svg
    assert 'width="0"' in svg  # the empty cell draws no bar


def test_nearest_rank_percentiles_and_overdue():
    assert nearest_rank([5, 1, 3, 2, 4], 50) == 3 and nearest_rank(list(range(1, 11)), 90) == 9
    assert nearest_rank([], 50) is None
    hour = 3600.0
    cases = [CaseDurations(f"D{i}", "subpoena", to_decision=i * hour, decided_late=i > 10) for i in (2, 4, 12)]
    cases.append(CaseDurations("O", "subpoena", overdue_open=True))
    cases.append(CaseDurations("X", "search_warrant", to_decision=hour, to_disclosure=30 * hour))
    metrics = compute_metrics(cases)
    warrant, subpoena = metrics.time_to_decision
    assert (subpoena.count, subpoena.median.total_seconds(), subpoena.p90.total_seconds()) == (3, 4 * hour, 12 * hour)
    assert warrant.process_type == "search_warrant" and warrant.count == 1
    assert [d.count for d in metrics.time_to_disclosure] == [1]  # only the case that was disclosed
    assert metrics.overdue_open == ("O",) and metrics.decided_late == ("D12",)
