"""The case dossier, the `flask report` command, and SECURITY item 16: hostile text renders inert in pages and
PDFs, and the PDF fetcher is never asked for file: or http: (only our static files and data:)."""

from __future__ import annotations

import csv
import io

import pytest
from pypdf import PdfReader

from disclosure.extensions import db
from disclosure.pdf import StaticOnlyFetcher
from disclosure.reports import render
from tests.reports.helpers import Staff, build
from tests.reports.test_pdf_jobs import download, prepare_dossier, run_jobs

HOSTILE = '<script>alert(1)</script></style><img src="file:///etc/passwd">'


def _hostile_case(staff: Staff):
    return build(
        staff,
        "content_closed",
        officer={"name": HOSTILE, "email": "x@example.gov", "phone": None, "badge": "</style>"},
        issuing_authority={"kind": "judge", "name": HOSTILE, "docket": "<b>1</b>"},
    )


def test_dossier_holds_facts_review_production_and_timeline(app, client, login_as):
    with app.app_context():
        staff = Staff()
        case = _hostile_case(staff)
        reference = case.reference
        from sqlalchemy import select

        from disclosure.production.models import ProductionRecord

        record_hash = db.session.execute(select(ProductionRecord.sha256)).scalar_one()
    login_as("auditor")
    public_id = prepare_dossier(client, reference)
    with app.app_context():
        assert run_jobs() == 1
    response = download(client, public_id)
    assert response.status_code == 200 and response.headers["Content-Disposition"].startswith("attachment;")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages).replace("\n", "")
    assert f"Case dossier {reference}" in text
    assert "user@example.net" in text  # the target
    # The decision and its grounds in words, never their ids.
    assert "Decision: Approve" in text and "Required to cooperate with valid and enforceable legal process" in text
    assert record_hash in text  # production record with its hash
    # The timeline as sentences (who did what), then the raw events in the appendix.
    what_happened = text.split("What happened", 1)[1].split("Appendix: the audit events as recorded", 1)
    assert "Logged the request" in what_happened[0] and "Added a responsive record" in what_happened[0]
    assert "case.create" not in what_happened[0] and "case.transition" not in what_happened[0]
    for action in ("case.create", "case.transition", "production.record_added"):
        assert action in what_happened[1]
    assert "<script>alert(1)</script>" in text  # hostile text shows as text


def test_hostile_text_is_escaped_in_the_dossier_html_and_nothing_is_fetched(app):
    with app.app_context():
        case = _hostile_case(Staff())
        html = render.dossier_html(case)
        assert HOSTILE not in html and "&lt;script&gt;" in html and "&lt;/style&gt;" in html
        fetcher = StaticOnlyFetcher()
        pdf = render.dossier_pdf(case, fetcher)
        assert pdf.startswith(b"%PDF-") and fetcher.refused == []
        assert b"/JavaScript" not in pdf and b"/JS " not in pdf


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://example.org/a.png",
        "https://example.org/x.css",
        "disclosure-static:/../../../etc/passwd",
    ],
)
def test_the_pdf_fetcher_refuses_file_and_http(app, url):
    """A document asking for anything outside fails closed: the render stops and the URL is on the refused list."""
    from disclosure.pdf import RefusedURL

    with app.app_context():
        fetcher = StaticOnlyFetcher()
        with pytest.raises(RefusedURL):
            render.pdf_from_html(f'<html><body><p>x</p><img src="{url}"></body></html>', fetcher)
        assert fetcher.refused == [url]


def test_the_pdf_fetcher_allows_our_static_files_and_data(app):
    with app.app_context():
        fetcher = StaticOnlyFetcher()
        html = (
            '<html><head><link rel="stylesheet" href="disclosure-static:/css/disclosure.css"></head><body>'
            '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">ok</body></html>'
        )
        assert render.pdf_from_html(html, fetcher).startswith(b"%PDF-") and fetcher.refused == []


def test_the_transparency_pdf_asks_for_nothing_outside(app):
    with app.app_context():
        from datetime import date

        from disclosure.audit.service import checkpoint_now
        from disclosure.reports import service
        from disclosure.services import SystemActor

        build(Staff(), "rejected")
        checkpoint = checkpoint_now(SystemActor("tests"), "report")
        db.session.commit()
        fetcher = StaticOnlyFetcher()
        report = service.transparency_report(date(2026, 7, 1), date(2026, 12, 31), checkpoint)
        assert render.transparency_pdf(report, HOSTILE, fetcher).startswith(b"%PDF-")
        assert fetcher.refused == []
        assert "&lt;script&gt;" in render.transparency_html(report, HOSTILE)


def test_cli_writes_csv_and_pdf(app, tmp_path):
    with app.app_context():
        build(Staff(), "rejected")
        build(Staff(), "no_data")
    runner = app.test_cli_runner()
    out = tmp_path / "report.csv"
    result = runner.invoke(
        args=[
            "report",
            "transparency",
            "--from",
            "2026-07-01",
            "--to",
            "2026-12-31",
            "--format",
            "csv",
            "--out",
            str(out),
        ]
    )
    assert result.exit_code == 0, result.output
    rows = {(s, f): v for s, f, v in list(csv.reader(io.StringIO(out.read_text())))[1:]}
    assert rows[("Outcomes", "Rejected")] == "< 5"  # the default threshold
    assert rows[("Totals", "Requests received (excluding preservation and national-security process)")] == "< 5"
    assert "audit checkpoint" in result.output
    pdf = tmp_path / "report.pdf"
    result = runner.invoke(
        args=[
            "report",
            "transparency",
            "--from",
            "2026-07-01",
            "--to",
            "2026-12-31",
            "--format",
            "pdf",
            "--out",
            str(pdf),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "Transparency report" in PdfReader(str(pdf)).pages[0].extract_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-02-30", "--to", "2026-06-30", "--format", "csv"], "YYYY-MM-DD"),
        (["--from", "2026-06-30", "--to", "2026-01-01", "--format", "csv"], "before it starts"),
        (["--from", "2026-01-01", "--to", "2026-06-30", "--format", "docx"], "docx"),
    ],
)
def test_cli_refuses_bad_input(app, tmp_path, args, message):
    out = tmp_path / "r.out"
    result = app.test_cli_runner().invoke(args=["report", "transparency", *args, "--out", str(out)])
    assert result.exit_code != 0 and message in result.output
    assert not out.exists()


def test_cli_refuses_a_missing_folder(app, tmp_path):
    result = app.test_cli_runner().invoke(
        args=[
            "report",
            "transparency",
            "--from",
            "2026-01-01",
            "--to",
            "2026-06-30",
            "--format",
            "csv",
            "--out",
            str(tmp_path / "nope" / "r.csv"),
        ]
    )
    assert result.exit_code != 0 and "does not exist" in result.output
