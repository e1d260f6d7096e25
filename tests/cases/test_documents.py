"""Uploads are judged by their bytes; downloads are attachments; nothing hostile gets a 500 or renders inline."""

from __future__ import annotations

import io
import os

import pytest
from sqlalchemy import func, select

from disclosure.cases.models import Document
from disclosure.extensions import db
from tests.conftest import csrf_from
from tests.documents import pdf, pixel_bomb, png
from tests.factories import make_case

HTML_PDF_POLYGLOT = b"%PDF-1.4\n<html><script>alert(document.cookie)</script></html>\n" + pdf()[9:]
TRUNCATED = pdf()[:300]


def upload(client, reference, content, filename, kind="legal_process"):
    token = csrf_from(client.get(f"/cases/{reference}").get_data(as_text=True))
    return client.post(
        f"/cases/{reference}/documents",
        content_type="multipart/form-data",
        data={"csrf_token": token, "kind": kind, "file": (io.BytesIO(content), filename)},
    )


@pytest.fixture
def case_ref(app, login_as):
    user = login_as("intake")
    with app.app_context():
        from tests.factories import MadeUser

        return make_case(logged_by=MadeUser(user.id, user.email, user.password, None)).reference


@pytest.mark.parametrize(
    "content, filename, reason",
    [
        (pdf(javascript=True), "warrant.pdf", "active content"),
        (pdf(open_action=True), "warrant.pdf", "active content"),
        (pdf(launch=True), "warrant.pdf", "active content"),
        (pdf(attachment=True), "warrant.pdf", "active content"),
        (pdf(encrypted=True), "warrant.pdf", "encrypted"),
        (TRUNCATED, "warrant.pdf", "damaged"),
        (HTML_PDF_POLYGLOT, "warrant.pdf", "polyglot|damaged"),
        (b"<html><body>hi</body></html>\x00\x01", "warrant.pdf", "Upload a PDF"),
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00", "scan.png", "Upload a PDF"),
        (pixel_bomb(), "scan.png", "pixels"),
        (b"", "empty.pdf", "empty"),
    ],
)
def test_bad_uploads_are_refused_with_a_reason_and_nothing_is_stored(app, client, case_ref, content, filename, reason):
    import re

    response = upload(client, case_ref, content, filename)
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(reason, body), body[:2000]
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Document)).scalar_one() == 0
    blobs = [
        p
        for p in (app.instance_path and __import__("pathlib").Path(app.instance_path, "blobs")).rglob("*")
        if p.is_file() and ".lock" not in p.name
    ]
    assert blobs == []


@pytest.mark.parametrize(
    "filename, expected",
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("war\x00rant.pdf", "warrant.pdf"),
        ("invoice\u202egnp.pdf", "invoicegnp.pdf"),
        ("warrant.exe", "warrant.pdf"),
    ],
)
def test_hostile_filenames_are_neutralised_and_the_type_comes_from_the_bytes(app, client, case_ref, filename, expected):
    response = upload(client, case_ref, pdf(), filename)
    assert response.status_code == 302
    with app.app_context():
        document = db.session.execute(select(Document)).scalar_one()
        assert document.filename == expected and document.content_type == "application/pdf"
        document_id = document.id
    download = client.get(f"/cases/{case_ref}/documents/{document_id}")
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment; filename=")
    assert "\r" not in disposition and "\n" not in disposition and "\u202e" not in disposition
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Security-Policy"].startswith("sandbox")
    assert download.get_data() == pdf() or download.get_data().startswith(b"%PDF-")


def test_images_and_text_are_accepted(app, client, case_ref):
    assert upload(client, case_ref, png(), "scan.png").status_code == 302
    assert (
        upload(
            client, case_ref, "Letter from the agency, ünïcode ok.\n".encode(), "letter.txt", "correspondence"
        ).status_code
        == 302
    )


def test_an_oversize_body_gets_413_and_a_clear_page(app, client, case_ref):
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    response = upload(client, case_ref, b"%PDF-" + os.urandom(100 * 1024), "big.pdf")
    assert response.status_code == 413
    assert "larger than allowed" in response.get_data(as_text=True)


def test_the_document_is_encrypted_at_rest_and_downloads_intact(app, client, case_ref):
    marker = b"UNIQUE-PLAINTEXT-MARKER-8f3a"
    content = b"Correspondence " + marker + b"\n"
    assert upload(client, case_ref, content, "note.txt", "correspondence").status_code == 302
    from pathlib import Path

    for path in Path(app.instance_path).rglob("*"):
        if path.is_file():
            assert marker not in path.read_bytes(), path
    with app.app_context():
        document = db.session.execute(select(Document)).scalar_one()
        document_id = document.id
    assert client.get(f"/cases/{case_ref}/documents/{document_id}").get_data() == content


def test_idor_a_document_of_another_case_or_a_guessed_id_is_not_served(app, client, case_ref):
    assert upload(client, case_ref, pdf(), "mine.pdf").status_code == 302
    with app.app_context():
        other = make_case().reference
        document_id = db.session.execute(select(Document.id)).scalar_one()
    assert client.get(f"/cases/{other}/documents/{document_id}").status_code == 404
    assert client.get(f"/cases/{case_ref}/documents/{document_id + 1}").status_code == 404
    assert client.get("/cases/DR-2026-99999").status_code == 404


def test_downloads_are_audit_logged(app, client, case_ref):
    upload(client, case_ref, pdf(), "w.pdf")
    with app.app_context():
        document_id = db.session.execute(select(Document.id)).scalar_one()
    client.get(f"/cases/{case_ref}/documents/{document_id}")
    from disclosure.audit.models import AuditEvent

    with app.app_context():
        assert (
            db.session.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "document.download")
            ).scalar_one()
            == 1
        )


def test_a_filename_with_crlf_never_reaches_a_header(app, client, case_ref):
    response = upload(client, case_ref, pdf(), "evil\r\nSet-Cookie: x=1.pdf")
    assert response.status_code in {302, 400}
    from disclosure.cases.downloads import content_disposition

    header = content_disposition("evil\r\nSet-Cookie: x=1.pdf")
    assert "\r" not in header and "\n" not in header
    assert header == "attachment; filename=\"evilSet-Cookie_ x_1.pdf\"; filename*=UTF-8''evilSet-Cookie_%20x_1.pdf"


def test_a_rolled_back_upload_leaves_no_orphan_blob(app, client, case_ref):
    from pathlib import Path

    from disclosure.auth.models import User
    from disclosure.cases import service
    from disclosure.cases.models import Case

    with app.app_context():
        case = db.session.execute(select(Case)).scalar_one()
        actor = db.session.execute(select(User)).scalars().first()
        service.add_document(actor, case, "correspondence", b"a letter\n", "letter.txt", None)
        db.session.rollback()
    blobs = [
        p
        for p in Path(app.instance_path, "blobs").rglob("*")
        if p.is_file() and p.parent.name != ".tmp" and not p.name.startswith(".")
    ]
    assert blobs == []


def test_a_tampered_blob_is_refused_not_served(app, client, case_ref):
    from pathlib import Path

    assert upload(client, case_ref, pdf(), "w.pdf").status_code == 302
    with app.app_context():
        document = db.session.execute(select(Document)).scalar_one()
        document_id, name = document.id, document.blob_name
    path = next(p for p in Path(app.instance_path, "blobs").rglob(name))
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01
    path.write_bytes(bytes(data))
    response = client.get(f"/cases/{case_ref}/documents/{document_id}")
    assert response.status_code == 500 and b"%PDF" not in response.get_data()
    assert "Reference:" in response.get_data(as_text=True)
