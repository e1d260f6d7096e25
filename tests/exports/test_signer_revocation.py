"""Withdrawing the bundle-signing certificate: `flask keys revoke-signer`, `reissue-crl` and `export-crl`.

A revocation is asked for by one administrator (`revoke-signer --as EMAIL`) and done when a second approves it
(two-person control, tests/auth/test_two_person_control.py); these tests go through both steps. What an operator
and a recipient see: bundles signed before the revocation fail verification against the
published list (with our command and with the bundle README's stock openssl commands), bundles built after it
verify, the list keeps every earlier revocation, a reissued list keeps every entry and is current again, the
audit log records each revocation and reissue once, and bad input changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from sqlalchemy import func, select

from disclosure.audit.models import AuditEvent
from disclosure.exports import pki, pki_revocation
from disclosure.exports.pki import SIGNER_CERT_FILE, SIGNER_KEY_FILE, serial_hex
from disclosure.exports.pki_revocation import CRL_FILE
from disclosure.extensions import db
from disclosure.production.bundles import pki_dir
from disclosure.services import ServiceError
from tests.exports.test_bundle_stock_tools import TOOLS, readme_commands, run_stock
from tests.factories import MadeUser, make_user
from tests.production.helpers import approved_case

PRODUCER = "producer@example.org"
MAIL = b"From: a@example.net\nSubject: the evidence\n\nMeet at noon.\n" * 50
REVOKED = "keys.signer_revoked"
REISSUED = "keys.crl_reissued"


# -- helpers -------------------------------------------------------------------------------------------------


def flask(app: Flask, *args: str, input: str | None = None) -> Result:
    return app.test_cli_runner().invoke(args=list(args), input=input)


@dataclass(frozen=True)
class Admins:
    """The administrator who asks for a revocation and the one who approves it (two-person control)."""

    requester: MadeUser
    approver: MadeUser


@pytest.fixture
def admins(app: Flask) -> Admins:
    with app.app_context():
        return Admins(make_user("admin"), make_user("admin"))


def ask(app: Flask, admins: Admins, reason: str, *, yes: bool = True, input: str | None = None) -> Result:
    """`flask keys revoke-signer`, as the requesting administrator."""
    extra = ["--yes"] if yes else []
    return flask(app, "keys", "revoke-signer", "--reason", reason, "--as", admins.requester.email, *extra, input=input)


def approve(app: Flask, admins: Admins, *, commit: bool = True) -> None:
    """The second administrator approves the waiting revocation, with their password, as the changes page does;
    without `commit` the approval's transaction is lost after the files are written (a failed commit)."""
    from disclosure.auth import pending
    from disclosure.auth.models import User
    from disclosure.unit_of_work import attempt

    with app.app_context():
        [change] = [c for c in pending.pending_changes() if c.kind == "revoke_signer"]
        approver = db.session.get(User, admins.approver.id)
        with attempt():
            pending.approve(approver, change, admins.approver.password, None)
        if commit:
            db.session.commit()
        else:
            db.session.rollback()


def revoke(app: Flask, admins: Admins, reason: str) -> None:
    """Ask and have it approved: the whole revocation, as two administrators do it."""
    asked = ask(app, admins, reason)
    assert asked.exit_code == 0, asked.output
    approve(app, admins)


def recipient_verify(bundle: Path, ca: Path, crl: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`disclosure-bundle verify`, run the way a recipient runs it."""
    extra = ["--crl", str(crl)] if crl is not None else []
    return subprocess.run(
        [sys.executable, "-m", "disclosure.exports.bundle_cli", "verify", str(bundle), "--ca", str(ca), *extra],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def signer_cert(app: Flask) -> x509.Certificate:
    return x509.load_pem_x509_certificate((pki_dir(app.config) / SIGNER_CERT_FILE).read_bytes())


def key_folder(app: Flask) -> dict[str, bytes]:
    """Every file in the key folder, by name: to show that a refused command changed nothing."""
    folder = pki_dir(app.config)
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())} if folder.exists() else {}


def revocation_events(app: Flask, action: str = REVOKED) -> list[dict[str, Any]]:
    with app.app_context():
        bodies = db.session.execute(
            select(AuditEvent.body).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        ).scalars()
        return [json.loads(body) for body in bodies]


def changes_waiting(app: Flask) -> int:
    from disclosure.auth import pending

    with app.app_context():
        return len(pending.pending_changes())


def audit_size(app: Flask) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()


def stored_list(app: Flask) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl((pki_dir(app.config) / CRL_FILE).read_bytes())


def entries(crl: x509.CertificateRevocationList) -> list[tuple[int, dt.datetime, str | None]]:
    """Every entry as (serial, revocation date, reason), in serial order."""
    found = []
    for entry in crl:
        try:
            reason: str | None = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
        except x509.ExtensionNotFound:
            reason = None
        found.append((entry.serial_number, entry.revocation_date_utc, reason))
    return sorted(found)


def crl_number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def age_the_list(app: Flask, days: int) -> x509.CertificateRevocationList:
    """Sign the stored list again as if it had been issued `days` ago (same entries), as time passing would leave
    it: with days > 30 its next update is past and recipients' checks refuse it."""
    folder = pki_dir(app.config)
    now = dt.datetime.now(dt.UTC)
    old = [
        pki_revocation.Revocation(serial, revoked_at, x509.ReasonFlags[reason] if reason else None)
        for serial, revoked_at, reason in entries(stored_list(app))
    ]
    (folder / CRL_FILE).write_bytes(pki_revocation.issue_crl(folder, old, now=now - dt.timedelta(days=days)))
    return stored_list(app)


def listed(crl_pem: bytes) -> dict[str, str | None]:
    """serial (hex) -> CRL reason code name, as `openssl crl -text` would show them."""
    crl = x509.load_pem_x509_crl(crl_pem)
    found: dict[str, str | None] = {}
    for entry in crl:
        try:
            reason: str | None = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.name
        except x509.ExtensionNotFound:
            reason = None
        assert serial_hex(entry.serial_number) not in found, "a certificate listed twice"
        found[serial_hex(entry.serial_number)] = reason
    return found


@pytest.fixture
def reference(app: Flask, tmp_path: Path) -> str:
    """An approved case holding one responsive record, and a producer who may bundle it."""
    with app.app_context():
        case_reference = approved_case(("stored_content",))
        make_user("producer", email=PRODUCER)
    records = tmp_path / "mailbox.mbox"
    records.write_bytes(MAIL)
    added = flask(
        app,
        *("production", "add", case_reference, str(records)),
        *("--target", "user@example.net", "--category", "stored_content", "--as", PRODUCER),
    )
    assert added.exit_code == 0, added.output
    return case_reference


def build(app: Flask, reference: str, out: Path) -> Path:
    built = flask(app, "bundle", "build", reference, "--passphrase-only", "--out", str(out), "--as", PRODUCER)
    assert built.exit_code == 0, built.output
    return out


@pytest.fixture
def ca(app: Flask, tmp_path: Path) -> Path:
    out = tmp_path / "ca.pem"
    assert flask(app, "keys", "export-ca", "--out", str(out)).exit_code == 0
    return out


# -- the operator's path end to end --------------------------------------------------------------------------


def test_after_revocation_old_bundles_fail_against_the_list_and_new_ones_verify(app, reference, ca, tmp_path, admins):
    before = build(app, reference, tmp_path / "before.zip")
    old = signer_cert(app)
    old_key = (pki_dir(app.config) / SIGNER_KEY_FILE).read_bytes()

    done = ask(app, admins, "key_compromise")
    assert done.exit_code == 0, done.output
    assert f"revoke the bundle-signing certificate serial {serial_hex(old.serial_number)}" in done.output
    assert "flask keys export-crl" in done.output
    assert signer_cert(app) == old, "asked for, not done"
    approve(app, admins)
    new = signer_cert(app)
    assert new.serial_number != old.serial_number

    # The revoked key is gone; the new one is private; the revoked certificate is kept for the record.
    key_path = pki_dir(app.config) / SIGNER_KEY_FILE
    assert key_path.read_bytes() != old_key and stat.S_IMODE(key_path.stat().st_mode) == 0o600
    archived = pki_dir(app.config) / f"bundle-signer-revoked-{serial_hex(old.serial_number)}.pem"
    assert x509.load_pem_x509_certificate(archived.read_bytes()) == old

    crl = tmp_path / "crl.pem"
    exported = flask(app, "keys", "export-crl", "--out", str(crl))
    assert exported.exit_code == 0, exported.output
    assert "1 revoked certificate(s)" in exported.output and str(crl) in exported.output
    assert crl.read_bytes() == (pki_dir(app.config) / CRL_FILE).read_bytes()
    assert listed(crl.read_bytes()) == {serial_hex(old.serial_number): "key_compromise"}

    after = build(app, reference, tmp_path / "after.zip")
    refused = recipient_verify(before, ca, crl)
    assert refused.returncode == 1
    assert "the signer certificate" in refused.stderr and "was revoked on" in refused.stderr
    accepted = recipient_verify(after, ca, crl)
    assert accepted.returncode == 0, accepted.stderr
    # Without the list the old signature still checks out: recipients must be given the list.
    assert recipient_verify(before, ca).returncode == 0

    events = revocation_events(app)
    assert len(events) == 1
    assert events[0]["actor"]["id"] == admins.approver.id
    assert events[0]["data"] == {
        "revoked_serial": serial_hex(old.serial_number),
        "reason": "key_compromise",
        "new_serial": serial_hex(new.serial_number),
        "change": events[0]["data"]["change"],
        "requested_by": admins.requester.id,
    }
    assert b"PRIVATE KEY" not in json.dumps(events[0]).encode() and old_key.decode() not in json.dumps(events[0])


@pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in TOOLS) and os.environ.get("CI", "").lower() not in {"1", "true", "yes"},
    reason="openssl, unzip, sha256sum and bash are needed (mandatory under CI=true)",
)
def test_the_readme_stock_openssl_revocation_check_agrees(app, reference, ca, tmp_path, admins):
    before = build(app, reference, tmp_path / "before.zip")
    revoke(app, admins, "superseded")
    after = build(app, reference, tmp_path / "after.zip")
    crl = tmp_path / "crl.pem"
    assert flask(app, "keys", "export-crl", "--out", str(crl)).exit_code == 0

    outcomes = {}
    for bundle in (before, after):
        folder = tmp_path / f"recipient-{bundle.stem}"
        folder.mkdir()
        shutil.copy(bundle, folder / "BUNDLE.zip")
        shutil.copy(ca, folder / "ca.pem")
        shutil.copy(crl, folder / "crl.pem")
        optional = readme_commands(bundle, "      $ ")
        assert any("-crl_check" in command for command in optional)
        outcomes[bundle.stem] = run_stock(folder, readme_commands(bundle)[:3] + optional)
    assert outcomes["before"].returncode != 0 and "certificate revoked" in outcomes["before"].stderr
    assert outcomes["after"].returncode == 0 and "Verification successful" in outcomes["after"].stderr


def test_the_list_is_cumulative(app, tmp_path, admins):
    first = signer_cert(app)
    revoke(app, admins, "superseded")
    one = x509.load_pem_x509_crl((pki_dir(app.config) / CRL_FILE).read_bytes())
    second = signer_cert(app)
    revoke(app, admins, "cessation_of_operation")
    two = x509.load_pem_x509_crl((pki_dir(app.config) / CRL_FILE).read_bytes())
    third = signer_cert(app)

    crl = tmp_path / "crl.pem"
    exported = flask(app, "keys", "export-crl", "--out", str(crl))
    assert exported.exit_code == 0 and "2 revoked certificate(s)" in exported.output
    assert listed(crl.read_bytes()) == {
        serial_hex(first.serial_number): "superseded",
        serial_hex(second.serial_number): "cessation_of_operation",
    }
    assert third.serial_number not in {first.serial_number, second.serial_number}
    number = x509.CRLNumber
    assert (
        two.extensions.get_extension_for_class(number).value.crl_number
        > one.extensions.get_extension_for_class(number).value.crl_number
    )
    assert [event["data"]["revoked_serial"] for event in revocation_events(app)] == [
        serial_hex(first.serial_number),
        serial_hex(second.serial_number),
    ]


def test_the_list_downloads_from_the_browser_beside_the_ca_certificate(app, client, login_as, tmp_path, admins):
    login_as("intake")
    none_yet = client.get("/keys/crl.pem")
    assert none_yet.status_code == 404
    assert "no revocation list yet" in none_yet.get_data(as_text=True)

    revoke(app, admins, "superseded")
    crl = tmp_path / "crl.pem"
    assert flask(app, "keys", "export-crl", "--out", str(crl)).exit_code == 0
    download = client.get("/keys/crl.pem")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == 'attachment; filename="disclosure-crl.pem"'
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.get_data() == crl.read_bytes()

    anonymous = app.test_client().get("/keys/crl.pem")
    assert anonymous.status_code == 302 and "/sign-in" in anonymous.location


# -- bad input changes nothing ---------------------------------------------------------------------------------


def test_an_unknown_reason_is_refused_and_changes_nothing(app, admins):
    before = key_folder(app)
    done = ask(app, admins, "lost_it")
    assert done.exit_code == 2
    assert "'lost_it' is not one of 'key_compromise', 'superseded', 'cessation_of_operation'" in done.output
    assert key_folder(app) == before and revocation_events(app) == []


@pytest.mark.parametrize("answer", ["n\n", "", "maybe\n\n"])
def test_without_confirmation_nothing_is_asked_for(app, answer, admins):
    before, logged = key_folder(app), audit_size(app)
    done = ask(app, admins, "key_compromise", yes=False, input=answer)
    assert done.exit_code == 1
    assert f"serial {serial_hex(signer_cert(app).serial_number)}" in done.output  # the question names it
    assert "nothing requested: not confirmed (answer y, or pass --yes)" in done.output
    assert key_folder(app) == before and audit_size(app) == logged


def test_a_confirmed_prompt_asks_and_the_approval_revokes(app, admins):
    old = signer_cert(app)
    done = ask(app, admins, "key_compromise", yes=False, input="y\n")
    assert done.exit_code == 0, done.output
    approve(app, admins)
    assert listed((pki_dir(app.config) / CRL_FILE).read_bytes()) == {serial_hex(old.serial_number): "key_compromise"}
    assert len(revocation_events(app)) == 1


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("everything", "does not exist; run `flask keys init`"),
        (pki.CA_KEY_FILE, "is absent (e.g. the CA was imported without its key)"),
        (SIGNER_CERT_FILE, "the bundle-signing certificate"),
    ],
)
def test_missing_keys_are_named_and_nothing_is_written(app, tmp_path, missing, message, admins):
    folder = pki_dir(app.config)
    if missing == "everything":
        shutil.rmtree(folder)
    else:
        (folder / missing).unlink()
    before, logged = key_folder(app), audit_size(app)
    done = ask(app, admins, "superseded")
    assert done.exit_code == 1
    assert "nothing requested" in done.output and message in done.output
    assert key_folder(app) == before and audit_size(app) == logged
    if missing == "everything":
        out = tmp_path / "crl.pem"
        exported = flask(app, "keys", "export-crl", "--out", str(out))
        assert exported.exit_code == 1 and "run `flask keys init`" in exported.output
        assert not out.exists()


def test_export_before_any_revocation_says_what_to_do(app, tmp_path):
    out = tmp_path / "crl.pem"
    done = flask(app, "keys", "export-crl", "--out", str(out))
    assert done.exit_code == 1
    assert "no bundle-signing certificate has been revoked" in done.output
    assert "`flask keys revoke-signer`" in done.output
    assert not out.exists()


def _read_only_folder(tmp_path: Path) -> Path:
    if os.geteuid() == 0:  # root writes through file modes; sysfs refuses new files to everyone
        if not Path("/sys").is_dir():
            pytest.skip("needs /sys (Linux) to refuse a write as root")
        return Path("/sys")
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    return folder


@pytest.mark.parametrize("where", ["missing", "read-only"])
def test_an_unwritable_out_folder_is_refused_and_nothing_is_half_written(app, tmp_path, where, admins):
    revoke(app, admins, "superseded")
    folder = tmp_path / "no" / "such" / "folder" if where == "missing" else _read_only_folder(tmp_path)
    listing = sorted(os.listdir(folder)) if folder.exists() else None
    out = folder / "crl.pem"
    done = flask(app, "keys", "export-crl", "--out", str(out))
    assert done.exit_code == 1
    assert f"cannot write the revocation list to {out}" in done.output
    assert "a folder that exists and that you can write to" in done.output
    assert not out.exists()
    assert (sorted(os.listdir(folder)) if folder.exists() else None) == listing


def test_a_damaged_list_is_never_replaced_by_one_that_forgets_earlier_revocations(app, tmp_path, admins):
    revoke(app, admins, "key_compromise")
    crl_path = pki_dir(app.config) / CRL_FILE
    crl_path.write_bytes(crl_path.read_bytes()[:200])
    before = key_folder(app)
    done = ask(app, admins, "superseded")
    assert done.exit_code == 1
    assert "is not a PEM CRL; restore it from a backup" in done.output
    assert key_folder(app) == before and len(revocation_events(app)) == 1
    exported = flask(app, "keys", "export-crl", "--out", str(tmp_path / "crl.pem"))
    assert exported.exit_code == 1 and "restore it from a backup" in exported.output


def test_a_failed_write_records_nothing_and_approving_again_finishes_the_revocation(app, monkeypatch, admins):
    old = signer_cert(app)
    write = pki_revocation.write_file_atomically

    def disk_full_at_the_key(path: Path, content: bytes, mode: int = 0o644) -> None:
        if Path(path).name == SIGNER_KEY_FILE:
            raise OSError(28, "No space left on device")
        write(path, content, mode)

    assert ask(app, admins, "key_compromise").exit_code == 0
    monkeypatch.setattr(pki_revocation, "write_file_atomically", disk_full_at_the_key)
    with pytest.raises(ServiceError, match=r"No space left on device\. Nothing was recorded and the change is still"):
        approve(app, admins)
    assert revocation_events(app) == [] and changes_waiting(app) == 1
    assert signer_cert(app) == old  # the list was written, the signer not yet
    assert serial_hex(old.serial_number) in listed((pki_dir(app.config) / CRL_FILE).read_bytes())

    monkeypatch.setattr(pki_revocation, "write_file_atomically", write)
    approve(app, admins)
    assert changes_waiting(app) == 0
    assert listed((pki_dir(app.config) / CRL_FILE).read_bytes()) == {serial_hex(old.serial_number): "key_compromise"}
    assert signer_cert(app) != old
    events = revocation_events(app)
    assert len(events) == 1 and events[0]["data"]["revoked_serial"] == serial_hex(old.serial_number)


def test_a_commit_lost_after_the_files_are_written_is_recorded_by_approving_again(app, admins):
    old = signer_cert(app)
    assert ask(app, admins, "key_compromise").exit_code == 0
    approve(app, admins, commit=False)  # the files are written, then the approval's transaction is lost
    assert revocation_events(app) == [] and changes_waiting(app) == 1
    assert listed((pki_dir(app.config) / CRL_FILE).read_bytes()) == {serial_hex(old.serial_number): "key_compromise"}
    new = signer_cert(app)
    assert new != old

    approve(app, admins)  # recorded, not done twice: the new certificate is not revoked
    assert signer_cert(app) == new
    assert listed((pki_dir(app.config) / CRL_FILE).read_bytes()) == {serial_hex(old.serial_number): "key_compromise"}
    [event] = revocation_events(app)
    assert event["data"]["revoked_serial"] == serial_hex(old.serial_number)
    assert event["data"]["new_serial"] == serial_hex(new.serial_number) and event["data"]["found_in_place"] is True
    assert changes_waiting(app) == 0


# -- reissuing the list before it expires ----------------------------------------------------------------------


def test_reissue_keeps_every_entry_and_moves_the_next_update_forward(app, admins):
    revoke(app, admins, "superseded")
    revoke(app, admins, "key_compromise")
    expired = age_the_list(app, 40)
    now = dt.datetime.now(dt.UTC)
    assert expired.next_update_utc is not None and expired.next_update_utc < now
    signer = {name: data for name, data in key_folder(app).items() if name != CRL_FILE}

    done = flask(app, "keys", "reissue-crl")
    assert done.exit_code == 0, done.output
    reissued = stored_list(app)
    assert reissued.next_update_utc is not None
    assert f"next update due {reissued.next_update_utc:%Y-%m-%d %H:%M} UTC" in done.output
    assert "2 revoked certificate(s)" in done.output

    # The same serials, revocation dates and reasons; fresh dates; a higher number; signed by the CA.
    assert entries(reissued) == entries(expired) and len(reissued) == 2
    assert {reason for _, _, reason in entries(reissued)} == {"superseded", "key_compromise"}
    assert reissued.next_update_utc > expired.next_update_utc
    assert now + dt.timedelta(days=29) < reissued.next_update_utc <= now + dt.timedelta(days=31)
    assert now - dt.timedelta(minutes=10) < reissued.last_update_utc <= now
    assert crl_number(reissued) > crl_number(expired)
    ca_cert = x509.load_pem_x509_certificate((pki_dir(app.config) / pki.CA_CERT_FILE).read_bytes())
    assert reissued.issuer == ca_cert.subject and reissued.is_signature_valid(ca_cert.public_key())

    # Only the list changed; one audit event says what was reissued.
    assert {name: data for name, data in key_folder(app).items() if name != CRL_FILE} == signer
    events = revocation_events(app, REISSUED)
    assert len(events) == 1
    assert events[0]["actor"] == {"kind": "system", "name": "flask keys reissue-crl"}
    assert events[0]["data"] == {"entries": 2, "next_update": reissued.next_update_utc.isoformat()}
    assert len(revocation_events(app)) == 2

    # Reissuing again (the next cron run) still keeps every entry and numbers the list higher.
    again = flask(app, "keys", "reissue-crl")
    assert again.exit_code == 0, again.output
    assert entries(stored_list(app)) == entries(expired)
    assert crl_number(stored_list(app)) > crl_number(reissued)
    assert len(revocation_events(app, REISSUED)) == 2


def test_a_reissued_list_still_fails_old_bundles_and_passes_new_ones(app, reference, ca, tmp_path, admins):
    before = build(app, reference, tmp_path / "before.zip")
    revoke(app, admins, "key_compromise")
    after = build(app, reference, tmp_path / "after.zip")
    age_the_list(app, 31)

    stale = tmp_path / "stale.pem"
    exported = flask(app, "keys", "export-crl", "--out", str(stale))
    assert exported.exit_code == 0
    assert "checks refuse it as out of date: run `flask keys reissue-crl`" in exported.output
    for bundle in (before, after):  # the problem reissuing solves: an expired list fails every check
        refused = recipient_verify(bundle, ca, stale)
        assert refused.returncode == 1 and "is out of date" in refused.stderr

    assert flask(app, "keys", "reissue-crl").exit_code == 0
    crl = tmp_path / "crl.pem"
    exported = flask(app, "keys", "export-crl", "--out", str(crl))
    assert exported.exit_code == 0 and "warning" not in exported.output
    assert crl.read_bytes() == (pki_dir(app.config) / CRL_FILE).read_bytes()
    refused = recipient_verify(before, ca, crl)
    assert refused.returncode == 1
    assert "the signer certificate" in refused.stderr and "was revoked on" in refused.stderr
    accepted = recipient_verify(after, ca, crl)
    assert accepted.returncode == 0, accepted.stderr


def _forged_list(app: Flask) -> None:
    """A list naming the CA as issuer but signed by another key, listing nothing: it would un-revoke."""
    ca_cert = x509.load_pem_x509_certificate((pki_dir(app.config) / pki.CA_CERT_FILE).read_bytes())
    now = dt.datetime.now(dt.UTC)
    forged = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now)
        .next_update(now + dt.timedelta(days=30))
        .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    )
    (pki_dir(app.config) / CRL_FILE).write_bytes(forged.public_bytes(serialization.Encoding.PEM))


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no list", "no bundle-signing certificate has been revoked"),
        ("forged list", "is not signed by the CA"),
        ("damaged list", "is not a PEM CRL; restore it from a backup"),
        ("no CA key", "is absent (e.g. the CA was imported without its key)"),
    ],
)
def test_a_refused_reissue_says_why_and_changes_nothing(app, case, message, admins):
    folder = pki_dir(app.config)
    if case != "no list":
        revoke(app, admins, "superseded")
    if case == "forged list":
        _forged_list(app)
    elif case == "damaged list":
        (folder / CRL_FILE).write_bytes((folder / CRL_FILE).read_bytes()[:200])
    elif case == "no CA key":
        (folder / pki.CA_KEY_FILE).unlink()
    before, logged = key_folder(app), audit_size(app)

    done = flask(app, "keys", "reissue-crl")
    assert done.exit_code == 1
    assert "nothing reissued" in done.output and message in done.output
    if case == "no list":
        assert "`flask keys revoke-signer`" in done.output
    if case == "no CA key":
        assert "put the key back and run the command again" in done.output
    assert key_folder(app) == before
    assert audit_size(app) == logged and revocation_events(app, REISSUED) == []


def test_a_failed_reissue_write_keeps_the_old_list_and_records_nothing(app, monkeypatch, admins):
    revoke(app, admins, "superseded")
    before, logged = key_folder(app), audit_size(app)
    write = pki_revocation.write_file_atomically

    def disk_full_at_the_list(path: Path, content: bytes, mode: int = 0o644) -> None:
        if Path(path).name == CRL_FILE:
            raise OSError(28, "No space left on device")
        write(path, content, mode)

    monkeypatch.setattr(pki_revocation, "write_file_atomically", disk_full_at_the_list)
    done = flask(app, "keys", "reissue-crl")
    assert done.exit_code == 1
    assert "No space left on device" in done.output and "no audit event was recorded" in done.output
    assert key_folder(app) == before and audit_size(app) == logged


def test_the_production_page_links_the_list_only_once_it_exists(app, client, login_as, reference, admins):
    login_as("producer")
    page = client.get(f"/cases/{reference}/production")
    assert page.status_code == 200
    assert "Download our CA certificate" in page.get_data(as_text=True)
    assert "/keys/crl.pem" not in page.get_data(as_text=True)
    assert "revocation list" not in page.get_data(as_text=True)

    revoke(app, admins, "superseded")
    linked = '<a href="/keys/crl.pem">Download our revocation list</a> — recipients check bundles against it.'
    assert linked in client.get(f"/cases/{reference}/production").get_data(as_text=True)

    assert flask(app, "keys", "reissue-crl").exit_code == 0
    assert linked in client.get(f"/cases/{reference}/production").get_data(as_text=True)
    download = client.get("/keys/crl.pem")
    assert download.status_code == 200
    assert download.get_data() == (pki_dir(app.config) / CRL_FILE).read_bytes()
