"""Records go in only inside the approved scope; certificates are checked; expired bundles are purged."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from disclosure.audit.models import AuditEvent
from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.production.models import ProductionRecord, RecipientCertificate
from tests.conftest import csrf_from
from tests.production.helpers import approved_case, rsa_certificate


def add(client, reference, target, category, content=b"From: a@example.net\nSubject: hi\n\nbody\n", name="mail.mbox"):
    page = client.get(f"/cases/{reference}/production").get_data(as_text=True)
    return client.post(
        f"/cases/{reference}/production/records",
        content_type="multipart/form-data",
        data={
            "csrf_token": csrf_from(page),
            "target": target,
            "category": category,
            "file": (io.BytesIO(content), name),
        },
    )


def test_a_record_inside_the_scope_is_stored_and_starts_production(app, client, login_as):
    with app.app_context():
        reference = approved_case(("stored_content",))
    login_as("producer")
    response = add(client, reference, "User@example.net", "stored_content")
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    with app.app_context():
        assert db.session.execute(select(Case.state).where(Case.reference == reference)).scalar_one() == "producing"
        record = db.session.execute(select(ProductionRecord)).scalar_one()
        assert record.category == "stored_content" and record.filename == "mail.mbox"


def test_records_outside_the_scope_are_refused_and_nothing_is_stored(app, client, login_as):
    with app.app_context():
        reference = approved_case(("subscriber_basic",))
    login_as("producer")
    wrong_category = add(client, reference, "User@example.net", "stored_content")
    assert wrong_category.status_code == 400 and "outside the approved scope" in wrong_category.get_data(as_text=True)
    wrong_target = add(client, reference, "someone-else@example.net", "subscriber_basic")
    assert wrong_target.status_code == 400 and "not a target" in wrong_target.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(ProductionRecord)).scalar_one() == 0
        assert db.session.execute(select(Case.state).where(Case.reference == reference)).scalar_one() == "approved"


def test_records_cannot_be_added_to_a_case_that_is_not_approved(app, client, login_as):
    from tests.review.helpers import case_in_review

    with app.app_context():
        reference = case_in_review()
    login_as("producer")
    response = add(client, reference, "User@example.net", "stored_content")
    assert response.status_code == 400 and "approved" in response.get_data(as_text=True)


def test_cli_adds_large_files_and_refuses_out_of_scope(app, tmp_path):
    from tests.factories import make_user

    with app.app_context():
        reference = approved_case(("stored_content",))
        make_user("producer", email="prod@example.org")
    big = tmp_path / "export.mbox"
    big.write_bytes(b"x" * (3 * 1024 * 1024))
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "production",
            "add",
            reference,
            str(big),
            "--target",
            "user@example.net",
            "--category",
            "stored_content",
            "--as",
            "prod@example.org",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "3145728 bytes" in result.output
    refused = runner.invoke(
        args=[
            "production",
            "add",
            reference,
            str(big),
            "--target",
            "user@example.net",
            "--category",
            "subscriber_basic",
            "--as",
            "prod@example.org",
        ]
    )
    assert refused.exit_code != 0 and "outside the approved scope" in refused.output
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(ProductionRecord)).scalar_one() == 1


def test_admin_adds_and_revokes_a_recipient_certificate(app, client, login_as):
    with app.app_context():
        from tests.factories import make_case

        make_case()
        from disclosure.cases.models import Agency

        agency_id = db.session.execute(select(Agency.id)).scalar_one()
    login_as("admin")
    page = client.get(f"/agencies/{agency_id}/certificates").get_data(as_text=True)
    token = csrf_from(page)
    bad = client.post(
        f"/agencies/{agency_id}/certificates",
        content_type="multipart/form-data",
        data={"csrf_token": token, "label": "junk", "file": (io.BytesIO(b"not a certificate"), "x.pem")},
    )
    assert bad.status_code == 400
    pem, _key = rsa_certificate()
    good = client.post(
        f"/agencies/{agency_id}/certificates",
        content_type="multipart/form-data",
        data={"csrf_token": token, "label": "Evidence unit", "file": (io.BytesIO(pem), "unit.pem")},
    )
    assert good.status_code == 302
    page = client.get(f"/agencies/{agency_id}/certificates").get_data(as_text=True)
    assert "Evidence unit" in page and "active" in page
    with app.app_context():
        certificate_id = db.session.execute(select(RecipientCertificate.id)).scalar_one()
    client.post(f"/certificates/{certificate_id}/revoke", data={"csrf_token": token})
    assert "revoked" in client.get(f"/agencies/{agency_id}/certificates").get_data(as_text=True)
    with app.app_context():
        actions = list(
            db.session.execute(select(AuditEvent.action).where(AuditEvent.action.like("recipient.%"))).scalars()
        )
    assert actions == ["recipient.certificate_added", "recipient.certificate_revoked"]
