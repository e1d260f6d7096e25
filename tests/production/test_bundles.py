"""A producer builds a bundle in the app; the recipient verifies and opens it with our standalone command."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from freezegun import freeze_time
from sqlalchemy import select

from disclosure.audit.models import AuditEvent
from disclosure.cases.models import Agency, Case
from disclosure.extensions import db
from disclosure.production.models import Bundle
from tests.conftest import csrf_from
from tests.production.helpers import approved_case, build_through_the_page, rsa_certificate
from tests.production.test_records import add

MAIL = b"From: a@example.net\nSubject: the evidence\n\nMeet at noon.\n" * 100


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "disclosure.exports.bundle_cli", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def producing_case_with_certificate(app, client, login_as, tmp_path):
    with app.app_context():
        reference = approved_case(("stored_content",))
        agency = db.session.execute(select(Agency)).scalars().first()
        pem, key = rsa_certificate()
        from disclosure.auth.models import User
        from disclosure.production import service
        from tests.factories import make_user

        admin = db.session.get(User, make_user("admin").id)
        certificate = service.add_recipient_certificate(admin, agency, "Evidence unit", pem, None)
        db.session.commit()
        certificate_id = certificate.id
    (tmp_path / "me.pem").write_bytes(pem)
    (tmp_path / "me.key").write_bytes(key)
    login_as("producer")
    assert add(client, reference, "user@example.net", "stored_content", MAIL, "mailbox.mbox").status_code == 302
    return reference, certificate_id


def ca_file(app, tmp_path) -> Path:
    from disclosure.exports.pki import ca_pem
    from disclosure.production.bundles import pki_dir

    path = tmp_path / "ca.pem"
    path.write_bytes(ca_pem(pki_dir(app.config)))
    return path


def test_bundle_for_a_recipient_verifies_and_decrypts_with_the_standalone_command(app, client, login_as, tmp_path):
    reference, certificate_id = producing_case_with_certificate(app, client, login_as, tmp_path)
    job_page = build_through_the_page(app, client, reference, certificate=str(certificate_id))
    text = job_page.get_data(as_text=True)
    assert "Finished" in text and "Show the passphrase" not in text  # encrypted to a certificate: no secret
    with app.app_context():
        bundle = db.session.execute(select(Bundle)).scalar_one()
        public_id, digest = bundle.public_id, bundle.sha256
    download = client.get(f"/bundles/{public_id}")
    assert download.status_code == 200 and download.headers["Content-Disposition"].startswith("attachment")
    path = tmp_path / "bundle.zip"
    path.write_bytes(download.get_data())
    import hashlib

    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    ca = ca_file(app, tmp_path)
    verified = cli(
        "verify", str(path), "--ca", str(ca), "--key", str(tmp_path / "me.key"), "--cert", str(tmp_path / "me.pem")
    )
    assert verified.returncode == 0, verified.stderr + verified.stdout
    out = tmp_path / "opened"
    opened = cli(
        "decrypt",
        str(path),
        "--ca",
        str(ca),
        "--key",
        str(tmp_path / "me.key"),
        "--cert",
        str(tmp_path / "me.pem"),
        "--out",
        str(out),
    )
    assert opened.returncode == 0, opened.stderr + opened.stdout
    assert (out / "payload" / "mailbox.mbox").read_bytes() == MAIL
    assert MAIL[:40] not in path.read_bytes()  # encrypted inside the ZIP
    with app.app_context():
        actions = list(
            db.session.execute(select(AuditEvent.action).where(AuditEvent.action.like("bundle.%"))).scalars()
        )
    assert actions == ["bundle.build_started", "bundle.built", "bundle.downloaded"]


def test_a_changed_byte_fails_verification(app, client, login_as, tmp_path):
    reference, certificate_id = producing_case_with_certificate(app, client, login_as, tmp_path)
    build_through_the_page(app, client, reference, certificate=str(certificate_id))
    with app.app_context():
        public_id = db.session.execute(select(Bundle.public_id)).scalar_one()
    data = bytearray(client.get(f"/bundles/{public_id}").get_data())
    at = data.find(b"Salted__") + 40
    data[at] ^= 0x01
    tampered = tmp_path / "tampered.zip"
    tampered.write_bytes(bytes(data))
    result = cli("verify", str(tampered), "--ca", str(ca_file(app, tmp_path)))
    assert result.returncode == 1 and "data/payload/" in (result.stderr + result.stdout)


def test_passphrase_only_bundle_shows_the_passphrase_once_and_it_opens_the_bundle(app, client, login_as, tmp_path):
    reference, _ = producing_case_with_certificate(app, client, login_as, tmp_path)
    job_page = build_through_the_page(app, client, reference, passphrase_only="y").get_data(as_text=True)
    assert "Show the passphrase once" in job_page
    job_path = re.search(r'action="(/jobs/[0-9a-f]+)/secret"', job_page).group(1)
    response = client.post(f"{job_path}/secret", data={"csrf_token": csrf_from(job_page)})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Shown once" in body
    passphrase = re.search(r'<p class="mono passphrase">([A-Za-z0-9_\-]{32,})</p>', body).group(1)
    assert passphrase not in client.get(f"/cases/{reference}/production").get_data(as_text=True)
    assert passphrase not in client.get(job_path).get_data(as_text=True)
    with app.app_context():
        bundle = db.session.execute(select(Bundle)).scalar_one()
        assert bundle.passphrase_only
        public_id = bundle.public_id
        everything = " ".join(e.body.decode() for e in db.session.execute(select(AuditEvent)).scalars())
        assert passphrase not in everything
    path = tmp_path / "p.zip"
    path.write_bytes(client.get(f"/bundles/{public_id}").get_data())
    (tmp_path / "pass.txt").write_text(passphrase)
    opened = cli(
        "decrypt",
        str(path),
        "--ca",
        str(ca_file(app, tmp_path)),
        "--passphrase-file",
        str(tmp_path / "pass.txt"),
        "--out",
        str(tmp_path / "o"),
    )
    assert opened.returncode == 0, opened.stderr
    assert (tmp_path / "o" / "payload" / "mailbox.mbox").read_bytes() == MAIL


def test_delivery_discloses_the_case_and_expired_bundles_are_purged_but_recorded(app, client, login_as, tmp_path):
    reference, certificate_id = producing_case_with_certificate(app, client, login_as, tmp_path)
    build_through_the_page(app, client, reference, certificate=str(certificate_id))
    page = client.get(f"/cases/{reference}/production").get_data(as_text=True)
    with app.app_context():
        public_id = db.session.execute(select(Bundle.public_id)).scalar_one()
    # Delivery is irreversible: without its facts and the tick nothing changes, and each missing fact is named.
    bare = client.post(f"/bundles/{public_id}/delivered", data={"csrf_token": csrf_from(page)})
    body = bare.get_data(as_text=True)
    assert bare.status_code == 400
    for message in ("Choose how the bundle was delivered.", "Say who received the bundle", "Tick the confirmation"):
        assert message in body
    with app.app_context():
        assert db.session.execute(select(Case.state).where(Case.reference == reference)).scalar_one() == "producing"
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    facts = {"csrf_token": csrf_from(page), "channel": "portal", "recipient": "SA J. Doe, FBI Cyber", "confirm": "y"}
    future = client.post(f"/bundles/{public_id}/delivered", data={**facts, "delivered_on": tomorrow})
    assert "The delivery date is in the future" in future.get_data(as_text=True)
    done = client.post(
        f"/bundles/{public_id}/delivered",
        data={**facts, "delivered_on": date.today().isoformat()},
        follow_redirects=True,
    )
    assert "Delivery recorded:" in done.get_data(as_text=True) and "reached SA J. Doe, FBI Cyber" in done.get_data(
        as_text=True
    )
    with app.app_context():
        assert db.session.execute(select(Case.state).where(Case.reference == reference)).scalar_one() == "disclosed"
        bundle = db.session.execute(select(Bundle)).scalar_one()
        assert (bundle.delivered_channel, bundle.delivered_to) == ("portal", "SA J. Doe, FBI Cyber")
    with freeze_time(timedelta(days=31)):
        result = app.test_cli_runner().invoke(args=["bundle", "purge"])
    assert result.exit_code == 0 and "purged 1" in result.output
    with app.app_context():
        bundle = db.session.execute(select(Bundle)).scalar_one()
        assert bundle.purged_at is not None and bundle.sha256
    assert not any(Path(app.instance_path, "bundles").glob("*.zip"))
    login_as("producer")
    assert client.get(f"/bundles/{public_id}").status_code == 404


def test_cli_build_refuses_bad_arguments_and_builds_for_a_certificate_on_file(app, client, login_as, tmp_path):
    reference, _ = producing_case_with_certificate(app, client, login_as, tmp_path)
    with app.app_context():
        from tests.factories import make_user

        make_user("producer", email="cli-producer@example.org")
    runner = app.test_cli_runner()
    neither = runner.invoke(
        args=["bundle", "build", reference, "--out", str(tmp_path / "b.zip"), "--as", "cli-producer@example.org"]
    )
    assert neither.exit_code == 2 and "--recipient-cert" in neither.output
    stranger, _ = rsa_certificate("Not on file")
    (tmp_path / "stranger.pem").write_bytes(stranger)
    refused = runner.invoke(
        args=[
            "bundle",
            "build",
            reference,
            "--recipient-cert",
            str(tmp_path / "stranger.pem"),
            "--out",
            str(tmp_path / "b.zip"),
            "--as",
            "cli-producer@example.org",
        ]
    )
    assert refused.exit_code != 0 and "not on file" in refused.output
    built = runner.invoke(
        args=[
            "bundle",
            "build",
            reference,
            "--recipient-cert",
            str(tmp_path / "me.pem"),
            "--out",
            str(tmp_path / "b.zip"),
            "--as",
            "cli-producer@example.org",
        ]
    )
    assert built.exit_code == 0, built.output
    verified = cli("verify", str(tmp_path / "b.zip"), "--ca", str(ca_file(app, tmp_path)))
    assert verified.returncode == 0, verified.stderr
