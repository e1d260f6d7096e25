"""Auditors export a period of the audit log as a signed, encrypted bundle (disclosure-bundle/1), in the browser
and with `flask audit export --bundle`; the recipient verifies and opens it with our standalone command.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from disclosure.audit.export import write_extract
from disclosure.audit.models import AuditCheckpoint, AuditEvent
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.production.models import Bundle
from tests.conftest import csrf_from
from tests.production.helpers import rsa_certificate

PASSPHRASE = re.compile(r'<p class="mono passphrase">([A-Za-z0-9_\-]{32,})</p>')


def build_now(plan: Any, actor: Any, *args: Any) -> tuple[Bundle, str | None]:
    """An auditor's bundle built the way its job builds it: the first step committed, then the second."""
    from disclosure.production.auditor_bundles import finish_auditor_bundle

    planned = plan(actor, *args)
    db.session.commit()
    bundle, passphrase = finish_auditor_bundle(actor, planned, None)
    db.session.commit()
    return bundle, passphrase


def build_through_the_form(app, client, url: str, data: dict[str, str]) -> tuple[str, str]:
    """Post an auditor's bundle form, run its job the way the worker does, and reveal the passphrase on the job's
    page: (the job's page, the passphrase)."""
    from disclosure.jobs import worker
    from tests.factories import PASSWORD

    response = client.post(url, data={"password": PASSWORD, **data})  # the auditor's password again (step-up)
    assert response.status_code == 302 and "/jobs/" in response.location, response.get_data(as_text=True)[-2000:]
    with app.app_context():
        worker.work("test-worker", once=True, periodic=False, heartbeat_every=0.05)
    job_page = client.get(response.location).get_data(as_text=True)
    assert "Finished" in job_page and "Show the passphrase once" in job_page, job_page[-3000:]
    secret = client.post(f"{response.location}/secret", data={"csrf_token": csrf_from(job_page)})
    body = secret.get_data(as_text=True)
    assert secret.status_code == 200 and "Shown once" in body
    return job_page, PASSPHRASE.search(body).group(1)


def bundle_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "disclosure.exports.bundle_cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def ca_file(app, tmp_path: Path) -> Path:
    from disclosure.exports.pki import ca_pem
    from disclosure.production.bundles import pki_dir

    path = tmp_path / "ca.pem"
    path.write_bytes(ca_pem(pki_dir(app.config)))
    return path


def open_with_passphrase(app, tmp_path: Path, bundle: Path, passphrase: str, out: Path) -> int:
    """Verify (signature, manifests, plaintext hashes, inclusion proofs) and decrypt; the events proven."""
    secret = tmp_path / f"{bundle.stem}.pass"
    secret.write_text(passphrase)
    ca = ca_file(app, tmp_path)
    verified = bundle_cli("verify", str(bundle), "--ca", str(ca), "--passphrase-file", str(secret))
    assert verified.returncode == 0, verified.stderr + verified.stdout
    opened = bundle_cli("decrypt", str(bundle), "--ca", str(ca), "--passphrase-file", str(secret), "--out", str(out))
    assert opened.returncode == 0, opened.stderr + opened.stdout
    proven = re.search(r"audit: (\d+) events included in checkpoint", verified.stdout)
    assert proven, verified.stdout
    return int(proven.group(1))


def expected_extract(app, bundle_public_id: str, start, end, tmp_path: Path) -> bytes:
    """The extract the app writes for the period at the bundle's checkpoint, computed again here."""
    with app.app_context():
        bundle = db.session.execute(select(Bundle).where(Bundle.public_id == bundle_public_id)).scalar_one()
        checkpoint = db.session.execute(
            select(AuditCheckpoint).where(AuditCheckpoint.size == bundle.checkpoint_size)
        ).scalar_one()
        path = tmp_path / "expected.jsonl"
        write_extract(start, end, path, str(app.config["AUDIT_ORIGIN"]), checkpoint)
        return path.read_bytes()


def test_auditor_exports_the_log_as_a_bundle_that_verifies_and_holds_the_extract(app, client, login_as, tmp_path):
    login_as("auditor")
    today = utcnow().date()
    page = client.get("/audit/").get_data(as_text=True)
    assert "Export as signed bundle" in page
    nonce = re.search(r'name="nonce" type="hidden" value="([0-9a-f]+)"', page).group(1)
    data = {"csrf_token": csrf_from(page), "nonce": nonce, "start": str(today), "end": str(today)}
    body, passphrase = build_through_the_form(app, client, "/audit/bundles", data)
    with app.app_context():
        bundle = db.session.execute(select(Bundle)).scalar_one()
        assert (bundle.kind, bundle.case_id, bundle.passphrase_only) == ("audit_extract", None, True)
        public_id, digest = bundle.public_id, bundle.sha256
        everything = " ".join(e.body.decode() for e in db.session.execute(select(AuditEvent)).scalars())
        assert passphrase not in everything
    assert f"/audit/bundles/{public_id}" in body and passphrase not in body
    assert passphrase not in client.get("/audit/").get_data(as_text=True)
    download = client.get(f"/audit/bundles/{public_id}")
    assert download.status_code == 200 and download.headers["Content-Disposition"].startswith("attachment")
    path = tmp_path / "extract.zip"
    path.write_bytes(download.get_data())
    import hashlib

    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    out = tmp_path / "opened"
    proven = open_with_passphrase(app, tmp_path, path, passphrase, out)
    name = f"audit-extract-{today}-{today}.jsonl"
    extract = (out / "payload" / name).read_bytes()
    assert extract == expected_extract(app, public_id, today, today, tmp_path)
    lines = [json.loads(line) for line in extract.decode().splitlines()]
    header, events = lines[0], lines[1:]
    assert header["format"] == "disclosure-audit-extract/1" and events
    inner = json.loads((out / "inner-manifest.json").read_text())
    metadata = inner["metadata"]
    assert metadata["kind"] == "audit_extract" and metadata["description"]["from"] == str(today)
    # The envelope carries the period's events, with the proofs the extract has, to the same checkpoint.
    assert [e["seq"] for e in metadata["audit_events"]] == [e["seq"] for e in events]
    assert [e["inclusion_proof"] for e in metadata["audit_events"]] == [e["inclusion_proof"] for e in events]
    assert metadata["checkpoint_size"] == header["tree_size"]
    assert proven == len(events)
    assert (path.read_bytes().count(b"audit-checkpoint.txt")) >= 1
    assert events[0]["body"].encode() not in path.read_bytes()  # encrypted inside the ZIP
    with app.app_context():
        actions = list(
            db.session.execute(
                select(AuditEvent.action).where(
                    AuditEvent.action.in_(
                        ["bundle.build_started", "bundle.built", "bundle.downloaded", "audit.exported"]
                    )
                )
            ).scalars()
        )
    assert actions == ["audit.exported", "bundle.build_started", "bundle.built", "bundle.downloaded"]


def test_a_tampered_extract_bundle_fails_verification(app, client, login_as, tmp_path):
    login_as("auditor")
    today = utcnow().date()
    page = client.get("/audit/").get_data(as_text=True)
    build_through_the_form(
        app, client, "/audit/bundles", {"csrf_token": csrf_from(page), "start": str(today), "end": str(today)}
    )
    with app.app_context():
        public_id = db.session.execute(select(Bundle.public_id)).scalar_one()
    data = bytearray(client.get(f"/audit/bundles/{public_id}").get_data())
    data[data.find(b"Salted__") + 40] ^= 0x01
    tampered = tmp_path / "tampered.zip"
    tampered.write_bytes(bytes(data))
    result = bundle_cli("verify", str(tampered), "--ca", str(ca_file(app, tmp_path)))
    assert result.returncode == 1 and "data/payload/" in (result.stderr + result.stdout)


@pytest.mark.parametrize("role", ["intake", "reviewer", "producer", "admin"])
def test_only_auditors_build_and_download_extract_bundles(app, client, login_as, tmp_path, role):
    from disclosure.audit.extract_bundle import plan_audit_extract_bundle
    from disclosure.services import SystemActor

    today = utcnow().date()
    with app.app_context():
        bundle, _ = build_now(plan_audit_extract_bundle, SystemActor("tests"), today, today, [], True, None)
        public_id = bundle.public_id
    login_as(role)
    page = client.get("/").get_data(as_text=True)
    token = csrf_from(page) if 'name="csrf_token"' in page else ""
    assert (
        client.post("/audit/bundles", data={"csrf_token": token, "start": str(today), "end": str(today)}).status_code
        == 403
    )
    assert client.get(f"/audit/bundles/{public_id}").status_code == 403
    with app.app_context():
        assert db.session.execute(select(Bundle)).scalars().all().__len__() == 1


def test_an_auditor_cannot_fetch_another_kind_through_the_extract_route(app, client, login_as):
    from disclosure.reports.bundle import plan_report_bundle
    from disclosure.services import SystemActor

    today = utcnow().date()
    with app.app_context():
        bundle, _ = build_now(plan_report_bundle, SystemActor("tests"), today, today, [], True, None)
        public_id = bundle.public_id
    login_as("auditor")
    assert client.get(f"/audit/bundles/{public_id}").status_code == 404
    assert client.get("/audit/bundles/0123456789abcdef").status_code == 404


def test_a_bad_period_in_the_form_is_a_400_with_the_reason(app, client, login_as):
    login_as("auditor")
    page = client.get("/audit/").get_data(as_text=True)
    response = client.post(
        "/audit/bundles", data={"csrf_token": csrf_from(page), "start": "2026-02-01", "end": "2026-01-01"}
    )
    assert response.status_code == 400 and "before the start" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(Bundle)).first() is None


def test_cli_export_bundle_passphrase_only_and_for_the_auditors_own_certificate(app, tmp_path):
    runner = app.test_cli_runner()
    today = str(utcnow().date())
    out = tmp_path / "extract.zip"
    result = runner.invoke(
        args=["audit", "export", "--from", today, "--to", today, "--out", str(out), "--bundle", "--passphrase-only"]
    )
    assert result.exit_code == 0, result.output
    passphrase = re.search(r"passphrase \(shown once[^)]*\): (\S+)", result.output).group(1)
    opened = tmp_path / "o1"
    open_with_passphrase(app, tmp_path, out, passphrase, opened)
    with app.app_context():
        public_id = db.session.execute(select(Bundle.public_id)).scalar_one()
    assert (opened / "payload" / f"audit-extract-{today}-{today}.jsonl").read_bytes() == expected_extract(
        app, public_id, utcnow().date(), utcnow().date(), tmp_path
    )

    # The auditor's own certificate, not on file with any agency: checked, then used directly.
    pem, key = rsa_certificate("Auditor")
    (tmp_path / "me.pem").write_bytes(pem)
    (tmp_path / "me.key").write_bytes(key)
    out2 = tmp_path / "extract2.zip"
    result = runner.invoke(
        args=[
            "audit",
            "export",
            "--from",
            today,
            "--to",
            today,
            "--out",
            str(out2),
            "--bundle",
            "--recipient-cert",
            str(tmp_path / "me.pem"),
        ]
    )
    assert result.exit_code == 0, result.output
    assert "passphrase" not in result.output
    ca = ca_file(app, tmp_path)
    decrypted = bundle_cli(
        "decrypt",
        str(out2),
        "--ca",
        str(ca),
        "--key",
        str(tmp_path / "me.key"),
        "--cert",
        str(tmp_path / "me.pem"),
        "--out",
        str(tmp_path / "o2"),
    )
    assert decrypted.returncode == 0, decrypted.stderr + decrypted.stdout
    inner = json.loads((tmp_path / "o2" / "inner-manifest.json").read_text())
    assert inner["metadata"]["audit_events"]
    # Without --bundle the command writes the plain JSONL, as before.
    plain = tmp_path / "plain.jsonl"
    result = runner.invoke(args=["audit", "export", "--from", today, "--to", today, "--out", str(plain)])
    assert result.exit_code == 0 and plain.read_text().startswith("{")


def test_cli_export_bundle_refuses_bad_arguments(app, tmp_path):
    runner = app.test_cli_runner()
    today = str(utcnow().date())
    out = str(tmp_path / "b.zip")
    neither = runner.invoke(args=["audit", "export", "--from", today, "--to", today, "--out", out, "--bundle"])
    assert neither.exit_code == 2 and "--recipient-cert" in neither.output and "--passphrase-only" in neither.output
    stray = runner.invoke(args=["audit", "export", "--from", today, "--to", today, "--out", out, "--passphrase-only"])
    assert stray.exit_code == 2 and "only with --bundle" in stray.output
    backwards = runner.invoke(
        args=["audit", "export", "--from", today, "--to", "2000-01-01", "--out", out, "--bundle", "--passphrase-only"]
    )
    assert backwards.exit_code == 2 and "before --from" in backwards.output
    bad_date = runner.invoke(
        args=["audit", "export", "--from", "yesterday", "--to", today, "--out", out, "--bundle", "--passphrase-only"]
    )
    assert bad_date.exit_code == 2 and "YYYY-MM-DD" in bad_date.output
    expired, _ = rsa_certificate("Expired", days=-1)
    (tmp_path / "expired.pem").write_bytes(expired)
    refused = runner.invoke(
        args=[
            "audit",
            "export",
            "--from",
            today,
            "--to",
            today,
            "--out",
            out,
            "--bundle",
            "--recipient-cert",
            str(tmp_path / "expired.pem"),
        ]
    )
    assert refused.exit_code == 1 and "cannot receive bundles" in refused.output
    (tmp_path / "junk.pem").write_text("not a certificate")
    junk = runner.invoke(
        args=[
            "audit",
            "export",
            "--from",
            today,
            "--to",
            today,
            "--out",
            out,
            "--bundle",
            "--recipient-cert",
            str(tmp_path / "junk.pem"),
        ]
    )
    assert junk.exit_code == 1 and "not a PEM certificate" in junk.output
    nowhere = runner.invoke(
        args=[
            "audit",
            "export",
            "--from",
            today,
            "--to",
            today,
            "--out",
            str(tmp_path / "missing" / "b.zip"),
            "--bundle",
            "--passphrase-only",
        ]
    )
    assert nowhere.exit_code == 2 and "does not exist" in nowhere.output
    with app.app_context():
        assert db.session.execute(select(Bundle)).first() is None
    assert not Path(out).exists()


def test_a_revoked_certificate_on_file_is_refused(app, tmp_path):
    from disclosure.auth.models import User
    from disclosure.cases.models import Agency
    from disclosure.production import service
    from tests.factories import make_user

    pem, _ = rsa_certificate("Revoked unit")
    with app.app_context():
        admin = db.session.get(User, make_user("admin").id)
        agency = Agency(name="Some Agency", country="US")
        db.session.add(agency)
        db.session.flush()
        certificate = service.add_recipient_certificate(admin, agency, "Revoked unit", pem, None)
        service.revoke_recipient_certificate(admin, certificate, None)
        db.session.commit()
    (tmp_path / "revoked.pem").write_bytes(pem)
    today = str(utcnow().date())
    result = app.test_cli_runner().invoke(
        args=[
            "audit",
            "export",
            "--from",
            today,
            "--to",
            today,
            "--out",
            str(tmp_path / "b.zip"),
            "--bundle",
            "--recipient-cert",
            str(tmp_path / "revoked.pem"),
        ]
    )
    assert result.exit_code == 1 and "revoked or expired" in result.output
