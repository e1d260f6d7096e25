"""Logging a request through the intake form and `flask cases import`, as the legal team does it."""

from __future__ import annotations

import io
import json

from sqlalchemy import func, select

from disclosure.audit.models import AuditEvent
from disclosure.cases.models import Case, Document
from disclosure.extensions import db
from tests.conftest import csrf_from
from tests.documents import pdf
from tests.factories import make_user, request_document

WARRANT_PDF = pdf(pages=2)


def intake_form(token: str, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "csrf_token": token,
        "process_type": "search_warrant",
        "regime": "us_federal",
        "country": "US",
        "authority_kind": "judge",
        "authority_name": "Hon. A. Example, N.D. Cal.",
        "docket": "5:26-mj-01234",
        "agency_name": "Federal Bureau of Investigation",
        "agency_country": "US",
        "officer_name": "SA J. Doe",
        "officer_email": "jdoe@example.gov",
        "received_at": "2026-11-02T09:05",
        "timezone": "America/New_York",
        "received_via": "email",
        "valid_until": "2026-11-16",
        "targets-0-kind": "email",
        "targets-0-value": "User@Example.net",
        "targets-0-date_from": "2026-01-01",
        "targets-0-date_to": "2026-06-30",
        "targets-1-kind": "ip",
        "targets-1-value": "203.0.113.7",
        "targets-1-date_from": "2026-03-01T10:15:00Z",
        "categories": ["subscriber_basic", "account_records", "stored_content"],
        "ndo_basis": "18 USC 2705(b)",
        "ndo_starts_on": "2026-11-02",
        "ndo_until": "2027-05-01",
    }
    data.update(overrides)
    return data


def test_intake_logs_a_warrant_with_targets_categories_pdf_and_gag_order(app, client, login_as):
    login_as("intake")
    token = csrf_from(client.get("/cases/new").get_data(as_text=True))
    data = intake_form(token)
    data["legal_process"] = (io.BytesIO(WARRANT_PDF), "warrant.pdf")
    response = client.post("/cases/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.get(response.location).get_data(as_text=True)
    assert "DR-2026-00001" in page
    assert "User@example.net" in page and "203.0.113.7" in page
    assert "Stored content" in page and "Account records (non-content)" in page
    assert "How it was computed:" in page
    assert "18 USC 2705(b)" in page and "2027-05-01" in page
    with app.app_context():
        case = db.session.execute(select(Case)).scalar_one()
        document = db.session.execute(select(Document)).scalar_one()
        import hashlib

        assert document.sha256 == hashlib.sha256(WARRANT_PDF).hexdigest()
        assert document.sha256 in page
        assert case.timezone == "America/New_York"
        assert case.received_at.isoformat() == "2026-11-02T14:05:00+00:00"  # 09:05 in New York
        actions = [
            a for a in db.session.execute(select(AuditEvent.action).where(AuditEvent.subject == case.subject)).scalars()
        ]
        assert actions[:1] == ["case.create"] and "document.upload" in actions


def test_a_bad_field_is_named_and_the_input_is_kept(app, client, login_as):
    login_as("intake")
    token = csrf_from(client.get("/cases/new").get_data(as_text=True))
    response = client.post("/cases/new", data=intake_form(token, **{"targets-1-value": "not-an-ip"}))
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "not-an-ip" in body and "Hon. A. Example" in body  # nothing typed is lost
    assert 'aria-invalid="true"' in body
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Case)).scalar_one() == 0


def test_received_time_in_the_future_is_refused(app, client, login_as):
    login_as("intake")
    token = csrf_from(client.get("/cases/new").get_data(as_text=True))
    response = client.post("/cases/new", data=intake_form(token, received_at="2099-01-01T10:00"))
    assert response.status_code == 400 and "future" in response.get_data(as_text=True)


def test_import_logs_a_request_and_a_bad_record_imports_nothing(app, tmp_path):
    with app.app_context():
        make_user("intake", email="clerk@example.org")
    good = tmp_path / "good.json"
    good.write_text(json.dumps(request_document()))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["cases", "import", str(good), "--as", "clerk@example.org"])
    assert result.exit_code == 0, result.output
    assert "DR-2026-00001" in result.output and "imported 1 case" in result.output
    bad = tmp_path / "bad.json"
    records = [request_document(), request_document(categories=["stored_content", "everything"])]
    bad.write_text(json.dumps(records))
    result = runner.invoke(args=["cases", "import", str(bad), "--as", "clerk@example.org"])
    assert result.exit_code != 0
    assert "[1].categories[1]" in result.output and "nothing imported" in result.output
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Case)).scalar_one() == 1


def test_import_refuses_bad_files_and_users_clearly(app, tmp_path):
    with app.app_context():
        make_user("auditor", email="reader@example.org")
        make_user("intake", email="clerk@example.org")
    runner = app.test_cli_runner()
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = runner.invoke(args=["cases", "import", str(broken), "--as", "clerk@example.org"])
    assert result.exit_code != 0 and "is not valid JSON" in result.output
    result = runner.invoke(args=["cases", "import", str(broken), "--as", "reader@example.org"])
    assert result.exit_code != 0 and "may not log cases" in result.output
    result = runner.invoke(args=["cases", "import", str(tmp_path / "missing.json"), "--as", "clerk@example.org"])
    assert result.exit_code != 0 and "cannot read" in result.output


def test_import_has_the_input_limits_of_policy_check(app, tmp_path):
    # Deep nesting was a RecursionError traceback; now it, like UTF-16, is refused saying what to fix.
    with app.app_context():
        make_user("intake", email="clerk@example.org")
    runner = app.test_cli_runner()
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 100_000 + b"]" * 100_000)
    result = runner.invoke(args=["cases", "import", str(deep), "--as", "clerk@example.org"])
    assert result.exit_code == 1 and "nested too deeply" in result.output, result.output
    utf16 = tmp_path / "utf16.json"
    utf16.write_bytes(json.dumps(request_document()).encode("utf-16"))
    result = runner.invoke(args=["cases", "import", str(utf16), "--as", "clerk@example.org"])
    assert result.exit_code == 1 and "save it as UTF-8" in result.output, result.output
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Case)).scalar_one() == 0
