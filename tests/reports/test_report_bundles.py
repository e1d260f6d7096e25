"""The transparency report exported as a signed, encrypted bundle (PDF and CSV) for an auditor: in the browser
and with `flask report bundle`; it verifies and opens with our standalone command and holds what the app computes.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from disclosure.audit.models import AuditEvent
from disclosure.extensions import db
from disclosure.production.models import Bundle
from disclosure.reports import render, service
from disclosure.reports.queries import resolve_checkpoint
from tests.audit.test_auditor_bundles import build_now, build_through_the_form, open_with_passphrase
from tests.conftest import csrf_from
from tests.reports.test_reports import END, START, built  # noqa: F401 - the fixture

STEM = f"transparency-{START}-{END}"


def test_auditor_exports_the_report_as_a_bundle_holding_the_apps_pdf_and_csv(app, client, login_as, built, tmp_path):  # noqa: F811
    login_as("auditor")
    query = f"from={START}&to={END}&checkpoint={built['checkpoint']}"
    page = client.get(f"/reports/transparency?{query}").get_data(as_text=True)
    assert "Export as signed bundle" in page
    data = {"csrf_token": csrf_from(page), "start": str(START), "end": str(END), "checkpoint": str(built["checkpoint"])}
    body, passphrase = build_through_the_form(app, client, "/reports/transparency/bundle", data)
    with app.app_context():
        bundle = db.session.execute(select(Bundle).where(Bundle.kind == "report")).scalar_one()
        assert (bundle.kind, bundle.case_id, bundle.file_count) == ("report", None, 2)
        public_id = bundle.public_id
        report = service.transparency_report(START, END, resolve_checkpoint(built["checkpoint"]))
        expected_csv = render.transparency_csv(report)
        size = resolve_checkpoint(built["checkpoint"]).size
    assert f"/reports/bundles/{public_id}" in body and "Back to the transparency report" in body
    download = client.get(f"/reports/bundles/{public_id}")
    assert download.status_code == 200
    path = tmp_path / "report.zip"
    path.write_bytes(download.get_data())
    out = tmp_path / "opened"
    assert open_with_passphrase(app, tmp_path, path, passphrase, out) == 1
    assert (out / "payload" / f"{STEM}.csv").read_bytes() == expected_csv
    rows = list(csv.reader(io.StringIO(expected_csv.decode("utf-8-sig"))))
    assert rows
    pdf = (out / "payload" / f"{STEM}.pdf").read_bytes()
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert "Transparency report" in text and f"Rejected {len(built['outcomes']['rejected'])}" in text
    assert str(size) in text
    inner = json.loads((out / "inner-manifest.json").read_text())
    metadata = inner["metadata"]
    assert metadata["kind"] == "report"
    assert metadata["description"]["report_checkpoint"]["id"] == built["checkpoint"]
    # The envelope carries the bundle's own build event, with its proof to the bundle's checkpoint.
    assert [json.loads(e["body"])["action"] for e in metadata["audit_events"]] == ["bundle.build_started"]
    with app.app_context():
        actions = list(
            db.session.execute(select(AuditEvent.action).where(AuditEvent.subject == f"bundle:{public_id}")).scalars()
        )
    assert actions == ["bundle.build_started", "bundle.built", "bundle.downloaded"]


@pytest.mark.parametrize("role", ["intake", "reviewer", "producer", "admin"])
def test_only_auditors_build_and_download_report_bundles(app, client, login_as, role):
    from disclosure.reports.bundle import plan_report_bundle
    from disclosure.services import SystemActor

    with app.app_context():
        bundle, _ = build_now(plan_report_bundle, SystemActor("tests"), START, END, [], True, None)
        public_id = bundle.public_id
    login_as(role)
    page = client.get("/").get_data(as_text=True)
    token = csrf_from(page) if 'name="csrf_token"' in page else ""
    assert (
        client.post(
            "/reports/transparency/bundle", data={"csrf_token": token, "start": str(START), "end": str(END)}
        ).status_code
        == 403
    )
    assert client.get(f"/reports/bundles/{public_id}").status_code == 403


def test_a_report_bundle_is_not_served_by_the_extract_route_nor_the_reverse(app, client, login_as):
    from disclosure.audit.extract_bundle import plan_audit_extract_bundle
    from disclosure.services import SystemActor

    with app.app_context():
        bundle, _ = build_now(plan_audit_extract_bundle, SystemActor("tests"), START, END, [], True, None)
        public_id = bundle.public_id
    login_as("auditor")
    assert client.get(f"/reports/bundles/{public_id}").status_code == 404
    assert client.get(f"/audit/bundles/{public_id}").status_code == 200


def test_cli_report_bundle_builds_and_refuses_bad_arguments(app, built, tmp_path):  # noqa: F811
    runner = app.test_cli_runner()
    out = tmp_path / "report.zip"
    result = runner.invoke(
        args=[
            "report",
            "bundle",
            "--from",
            str(START),
            "--to",
            str(END),
            "--out",
            str(out),
            "--checkpoint",
            str(built["checkpoint"]),
            "--passphrase-only",
        ]
    )
    assert result.exit_code == 0, result.output
    passphrase = re.search(r"passphrase \(shown once[^)]*\): (\S+)", result.output).group(1)
    opened = tmp_path / "o"
    open_with_passphrase(app, tmp_path, out, passphrase, opened)
    with app.app_context():
        expected = render.transparency_csv(
            service.transparency_report(START, END, resolve_checkpoint(built["checkpoint"]))
        )
    assert (opened / "payload" / f"{STEM}.csv").read_bytes() == expected

    bad = str(tmp_path / "bad.zip")
    neither = runner.invoke(args=["report", "bundle", "--from", str(START), "--to", str(END), "--out", bad])
    assert neither.exit_code == 2 and "--recipient-cert" in neither.output
    backwards = runner.invoke(
        args=["report", "bundle", "--from", str(END), "--to", str(START), "--out", bad, "--passphrase-only"]
    )
    assert backwards.exit_code == 2 and "before it starts" in backwards.output
    no_date = runner.invoke(
        args=["report", "bundle", "--from", "soon", "--to", str(END), "--out", bad, "--passphrase-only"]
    )
    assert no_date.exit_code == 2 and "YYYY-MM-DD" in no_date.output
    missing = runner.invoke(
        args=[
            "report",
            "bundle",
            "--from",
            str(START),
            "--to",
            str(END),
            "--out",
            bad,
            "--passphrase-only",
            "--checkpoint",
            "99999",
        ]
    )
    assert missing.exit_code == 1 and "no audit checkpoint 99999" in missing.output
    with app.app_context():
        assert len(db.session.execute(select(Bundle).where(Bundle.kind == "report")).scalars().all()) == 1
