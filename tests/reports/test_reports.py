"""The transparency report end to end: cases driven through the real services, the report computed from the
audit log at a checkpoint, and its outputs (page, CSV, PDF, CLI) checked against counts made here by hand.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date

import pytest

from disclosure.audit.service import checkpoint_now
from disclosure.extensions import db
from disclosure.reports import service
from disclosure.reports.queries import resolve_checkpoint
from disclosure.services import SystemActor
from tests.reports.helpers import Staff, build

START, END = date(2026, 7, 1), date(2026, 12, 31)
BEFORE = "2026-05-04T09:00:00Z"

#: (scenario, overrides, expected outcome); the expected outcome is written here by hand, not computed by the app.
SCENARIOS = [
    ("received", {}, "still_in_process"),
    ("in_review", {}, "still_in_process"),
    ("approved", {}, "still_in_process"),
    ("producing", {}, "still_in_process"),
    ("rejected", {}, "rejected"),
    ("rejected_closed", {}, "rejected"),
    ("rejected", {"jurisdiction": {"regime": "eu", "country": "DE", "region": None}}, "rejected"),
    ("no_data", {}, "no_data_found"),
    ("no_records", {}, "no_data_found"),  # the reviewer found no records held: closed from review
    ("noncontent", {}, "non_content_produced"),
    ("noncontent_closed", {"categories": ["subscriber_basic"], "process_type": "subpoena"}, "non_content_produced"),
    ("content", {}, "content_produced"),
    ("content_closed", {"non_disclosure_order": {"basis": "18 USC 2705(b)", "until": None}}, "content_produced"),
    ("withdrawn", {}, "withdrawn"),
]


def _build_fixture(staff: Staff) -> dict[str, object]:
    references: dict[str, list[str]] = {}
    for index, (scenario, overrides, outcome) in enumerate(SCENARIOS):
        overrides = dict(overrides)
        # Two cases share one account, so "accounts specified" is less than the number of targets.
        value = "shared@example.net" if index in (0, 1) else f"user{index}@example.net"
        overrides.setdefault("targets", [{"kind": "email", "value": value, "from": "2026-01-01", "to": "2026-06-30"}])
        case = build(staff, scenario, **overrides)
        references.setdefault(outcome, []).append(case.reference)
    preservation = [
        build(staff, "received", process_type="preservation_request", categories=["account_records"]).reference
        for _ in range(2)
    ]
    nsl = [build(staff, "received", process_type="national_security_letter", categories=["subscriber_basic"]).reference]
    before = build(staff, "rejected", received_at=BEFORE).reference
    return {"outcomes": references, "preservation": preservation, "nsl": nsl, "before": before}


@pytest.fixture
def built(app):
    with app.app_context():
        app.config["REPORT_SUPPRESS_BELOW"] = 3
        staff = Staff()
        fixture = _build_fixture(staff)
        checkpoint = checkpoint_now(SystemActor("tests"), "report")
        db.session.commit()
        fixture["checkpoint"] = checkpoint.id
        fixture["staff"] = staff
        return fixture


def test_numbers_match_the_hand_built_fixture(app, built):
    with app.app_context():
        report = service.transparency_report(START, END, resolve_checkpoint(built["checkpoint"]))
        expected = {outcome: sorted(refs) for outcome, refs in built["outcomes"].items()}
        checkpoint = resolve_checkpoint(built["checkpoint"])
        for outcome, refs in expected.items():
            assert report.cell(f"outcome.{outcome}").count == len(refs), outcome
            assert service.cell_cases(START, END, checkpoint, f"outcome.{outcome}") == refs, outcome
        assert report.total.count == len(SCENARIOS)
        processes = Counter(o.get("process_type", "search_warrant") for _, o, _ in SCENARIOS)
        for process, count in processes.items():
            assert report.cell(f"process.{process}").count == count
        assert report.cell("country.DE").count == 1 and report.cell("regime.eu").count == 1
        assert report.cell("country.US").count == len(SCENARIOS) - 1
        assert report.accounts_count == len(SCENARIOS) - 1
        produced = len(expected["content_produced"]) + len(expected["non_content_produced"])
        assert report.produced_share.part.count == produced
        assert report.produced_share.value == pytest.approx(produced / len(SCENARIOS))
        assert report.ndo_share.part.count == 1
        assert service.cell_cases(START, END, checkpoint, "preservation") == sorted(built["preservation"])
        assert service.cell_cases(START, END, checkpoint, "nsl") == built["nsl"]
        # Both preservation requests and the NSL name the factory's one default account: counted once per kind.
        assert report.preservation_accounts == 1 and report.nsl_accounts == 1
        every = {r for key in report.cells for r in service.cell_cases(START, END, checkpoint, key)}
        assert built["before"] not in every  # received before the period
        for key, cell in report.cells.items():
            assert len(service.cell_cases(START, END, checkpoint, key)) == cell.count, key


def test_a_report_pinned_to_a_checkpoint_does_not_change(app, built):
    with app.app_context():
        pinned = resolve_checkpoint(built["checkpoint"])
        first = service.transparency_report(START, END, pinned)
        staff = built["staff"]
        build(staff, "content")
        build(staff, "rejected")
        # A case counted as in process at the checkpoint moves on afterwards.
        from sqlalchemy import select

        from disclosure.cases.models import Case

        reference = built["outcomes"]["still_in_process"][0]
        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        staff.act(case, __import__("disclosure.workflow", fromlist=["Action"]).Action.WITHDRAW, staff.intake)
        again = service.transparency_report(START, END, resolve_checkpoint(built["checkpoint"]))
        assert again.cells == first.cells and again.accounts_count == first.accounts_count
        assert reference in service.cell_cases(START, END, pinned, "outcome.still_in_process")
        assert reference not in service.cell_cases(START, END, pinned, "outcome.withdrawn")

        later = checkpoint_now(SystemActor("tests"), "report")
        db.session.commit()
        moved = service.transparency_report(START, END, later)
        assert moved.total.count == first.total.count + 2
        assert reference in service.cell_cases(START, END, later, "outcome.withdrawn")


def _auditor_get(client, login_as, path):
    login_as("auditor")
    return client.get(path)


def test_auditor_page_links_cells_and_draws_svg(app, client, login_as, built):
    login_as("auditor")
    query = f"from={START}&to={END}&checkpoint={built['checkpoint']}"
    page = client.get(f"/reports/transparency?{query}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<svg" in html and "<script" not in html and " style=" not in html
    assert "cell=outcome.rejected" in html
    cell = client.get(f"/reports/transparency/cases?cell=outcome.rejected&{query}")
    listed = cell.get_data(as_text=True)
    for reference in built["outcomes"]["rejected"]:
        assert reference in listed
    assert built["outcomes"]["withdrawn"][0] not in listed
    assert client.get(f"/reports/transparency/cases?cell=nope&{query}").status_code == 404
    assert client.get("/reports/transparency?from=2026-13-01&to=2026-01-01").status_code == 400


def test_csv_download_parses_with_the_expected_figures(app, client, login_as, built):
    login_as("auditor")
    response = client.get(f"/reports/transparency.csv?from={START}&to={END}&checkpoint={built['checkpoint']}")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["section", "figure", "value"]
    values = {(s, f): v for s, f, v in rows[1:]}
    rejected = len(built["outcomes"]["rejected"])
    assert values[("Outcomes", "Rejected")] == str(rejected)
    assert values[("Outcomes", "No data found")] == "< 3"  # two cases, suppressed
    assert values[("National security", "National-security letters received")] == "0\u2013249"
    assert values[("Preservation", "Preservation requests (counted apart)")] == "< 3"
    assert values[("Totals", "Requests received (excluding preservation and national-security process)")] == str(
        len(SCENARIOS)
    )


@pytest.mark.parametrize("role", ["intake", "reviewer", "producer", "admin"])
def test_only_auditors_see_reports(app, client, login_as, built, role):
    login_as(role)
    with app.app_context():
        from disclosure.cases.models import Case

        reference = db.session.get(Case, 1).reference
    for path in (
        "/reports/transparency",
        "/reports/transparency.csv",
        "/reports/transparency.pdf",
        "/reports/transparency/cases?cell=total",
        f"/cases/{reference}/dossier.pdf",
    ):
        assert client.get(path).status_code == 403, path
    assert client.post("/reports/checkpoint").status_code in (400, 403)


def test_anonymous_is_sent_to_sign_in(client):
    response = client.get("/reports/transparency")
    assert response.status_code == 302 and "/sign-in" in response.location


def test_auditor_can_sign_a_checkpoint_and_compute_at_it(app, client, login_as):
    login_as("auditor")
    page = client.get("/reports/transparency").get_data(as_text=True)
    from tests.conftest import csrf_from

    with app.app_context():
        before = resolve_checkpoint().size

    response = client.post(
        "/reports/checkpoint", data={"csrf_token": csrf_from(page), "from": str(START), "to": str(END)}
    )
    assert response.status_code == 302 and "checkpoint=" in response.location
    assert client.get(response.location).status_code == 200
    with app.app_context():
        assert resolve_checkpoint().size > before


def test_operational_metrics_match_times_worked_out_by_hand(app):
    """Received 1 Aug 09:00, due 15 Aug: decided after 2 d, 4 d and 61 d; one left open; one disclosed at 10 d."""
    from freezegun import freeze_time

    received = {"received_at": "2026-08-01T09:00:00Z", "due_at": "2026-08-15"}
    with app.app_context():
        app.config["REPORT_SUPPRESS_BELOW"] = 1
        staff = Staff()
        with freeze_time("2026-08-03T09:00:00Z"):
            fast = build(staff, "rejected", **received).reference
        with freeze_time("2026-08-05T09:00:00Z"):
            build(staff, "rejected", **received)
        with freeze_time("2026-10-01T09:00:00Z"):
            late = build(staff, "rejected", **received).reference
        with freeze_time("2026-08-11T09:00:00Z"):
            build(staff, "noncontent", process_type="subpoena", categories=["subscriber_basic"], **received)
            left_open = build(staff, "in_review", **received).reference
        with freeze_time("2026-12-31T12:00:00Z"):
            checkpoint = checkpoint_now(SystemActor("tests"), "report")
            db.session.commit()
        report, metrics = service.report_with_metrics(START, END, checkpoint)
        assert report.total.count == 5
    day = 86_400
    decision = {row.process_type: row for row in metrics.time_to_decision}
    warrants = decision["search_warrant"]
    assert warrants.count == 3  # the open case has no decision yet
    assert warrants.median.total_seconds() == pytest.approx(4 * day, abs=1)
    assert warrants.p90.total_seconds() == pytest.approx(61 * day, abs=1)
    assert decision["subpoena"].median.total_seconds() == pytest.approx(10 * day, abs=1)
    (subpoena_disclosure,) = metrics.time_to_disclosure
    assert subpoena_disclosure.process_type == "subpoena" and subpoena_disclosure.count == 1
    assert subpoena_disclosure.median.total_seconds() == pytest.approx(10 * day, abs=1)
    assert metrics.overdue_open == (left_open,)
    assert metrics.decided_late == (late,) and fast not in metrics.decided_late
