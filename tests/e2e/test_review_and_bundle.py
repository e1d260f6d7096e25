"""The rest of the journey in the browser: a reviewer approves a narrowed scope, a producer builds the bundle,
and the downloaded bundle verifies with `disclosure-bundle` and opens with stock openssl, unzip and sha256sum."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import expect
from pypdf import PdfReader
from sqlalchemy import select

from disclosure.cases.models import Case
from disclosure.extensions import db
from tests.e2e.pages import await_job_outcome, enter_code, sign_in, sign_out
from tests.factories import make_case, make_user

pytestmark = pytest.mark.e2e
MAIL = b"From: suspect@example.net\nSubject: plans\n\nThe shipment leaves on Friday.\n"


def sign_in_with_code(page: Any, user: Any) -> None:
    sign_in(page, user.email, user.password)
    enter_code(page, pyotp.TOTP(user.totp_secret).now())
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")


def test_review_approval_then_bundle_for_a_recipient_that_opens_with_stock_tools(
    page: Any, live_app: Flask, tmp_path: Path, screenshots: Path
) -> None:
    from tests.production.helpers import rsa_certificate

    with live_app.app_context():
        reference = make_case().reference  # a warrant for subscriber data and stored content, logged by intake
        reviewer, producer, admin = make_user("reviewer"), make_user("producer"), make_user("admin")
        from disclosure.auth.models import User
        from disclosure.production import service

        case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one()
        pem, key = rsa_certificate("FBI Evidence Response Team")
        service.add_recipient_certificate(db.session.get(User, admin.id), case.agency, "FBI ERT", pem, None)
        db.session.commit()
    (tmp_path / "me.pem").write_bytes(pem)
    (tmp_path / "me.key").write_bytes(key)

    # The reviewer, who did not log the case, starts the review and approves stored content only.
    sign_in_with_code(page, reviewer)
    page.goto(f"/cases/{reference}")
    page.get_by_role("button", name="Start review").click()
    page.get_by_role("link", name="Open the review").click()
    expect(page.get_by_role("heading", name="What the policy engine finds")).to_be_visible()
    page.screenshot(path=str(screenshots / "review.png"), full_page=True)
    for radio in page.locator("input[type=radio][value=yes]").all():
        radio.check()
    page.get_by_role("group", name="Stored content", exact=True).locator("input[value=legal_process]").check()
    page.locator("input[name=outcome][value=approved]").check()
    page.get_by_label("Stored content for user@example.net").check()
    page.get_by_label("Your password, to confirm the decision").fill(reviewer.password)
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Approved")
    # The case page now says what was decided, with the letter beside the decision.
    decision = page.locator("section.card").filter(has=page.get_by_role("heading", name=re.compile("^Decision: ")))
    expect(decision).to_contain_text("Approved scope")
    with page.expect_download() as letter_download:
        decision.get_by_role("link", name=re.compile(r"approved-letter\.pdf")).click()
    letter = Path(letter_download.value.path()).read_bytes()
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(letter)).pages)
    assert reference in text and "Stored content" in text and "Basic subscriber information" not in text
    sign_out(page)

    # The producer adds the record and builds the bundle for the agency's certificate.
    sign_in_with_code(page, producer)
    page.goto(f"/cases/{reference}")
    page.get_by_role("link", name="Production and bundles").click()
    mailbox = tmp_path / "mailbox.mbox"
    mailbox.write_bytes(MAIL)
    page.get_by_label("Data category").select_option("stored_content")
    page.get_by_label("Responsive record").set_input_files(str(mailbox))
    page.get_by_role("button", name="Add record").click()
    expect(page.get_by_role("status")).to_contain_text("Added mailbox.mbox")
    page.get_by_label("Your password, to confirm", exact=True).fill(producer.password)  # step-up
    page.get_by_role("button", name="Build bundle").click()
    expect(page.get_by_role("status")).to_contain_text("being built")
    # The job page follows the build through its script, then offers the outcome.
    await_job_outcome(page)
    expect(page.get_by_text("Finished")).to_be_visible()
    with page.expect_download() as bundle_download:
        page.get_by_role("link", name=re.compile(r"\.zip$")).click()
    bundle = tmp_path / "bundle.zip"
    bundle_download.value.save_as(bundle)
    page.get_by_role("link", name="Back to the case's production").click()
    page.get_by_text("Mark delivered…").click()
    page.get_by_label("Delivered by").select_option("portal")
    page.get_by_label("Received by").fill("SA J. Doe, FBI Cyber Division")
    page.get_by_label("I confirm the bundle reached this recipient", exact=False).check()
    page.get_by_role("button", name="Record the delivery").click()
    expect(page.get_by_role("status")).to_contain_text("is now disclosed")

    from disclosure.exports.pki import ca_pem
    from disclosure.production.bundles import pki_dir

    (tmp_path / "ca.pem").write_bytes(ca_pem(pki_dir(live_app.config)))
    verified = subprocess.run(
        [
            sys.executable,
            "-m",
            "disclosure.exports.bundle_cli",
            "verify",
            str(bundle),
            "--ca",
            str(tmp_path / "ca.pem"),
            "--key",
            str(tmp_path / "me.key"),
            "--cert",
            str(tmp_path / "me.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    opened = subprocess.run(
        [
            sys.executable,
            "-m",
            "disclosure.exports.bundle_cli",
            "decrypt",
            str(bundle),
            "--ca",
            str(tmp_path / "ca.pem"),
            "--key",
            str(tmp_path / "me.key"),
            "--cert",
            str(tmp_path / "me.pem"),
            "--out",
            str(tmp_path / "decrypted"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert opened.returncode == 0, opened.stdout + opened.stderr
    assert (tmp_path / "decrypted" / "payload" / "mailbox.mbox").read_bytes() == MAIL

    # The recipient follows README.txt with stock tools only.
    bag = zipfile.ZipFile(bundle).namelist()[0].split("/")[0]
    shell = f"""set -euo pipefail
cd {tmp_path}
unzip -q bundle.zip
cd {bag}
openssl cms -verify -binary -inform DER -in tagmanifest-sha256.txt.p7s -content tagmanifest-sha256.txt -CAfile ../ca.pem -out /dev/null
sha256sum -c --quiet tagmanifest-sha256.txt
sha256sum -c --quiet manifest-sha256.txt
openssl cms -decrypt -binary -inform DER -in data/key.p7m -recip ../me.pem -inkey ../me.key -out ../passphrase.txt
openssl enc -d -aes-256-ctr -pbkdf2 -iter 10000 -md sha256 -in data/payload/mailbox.mbox.enc -out ../opened.mbox -pass file:../passphrase.txt
"""
    readme = zipfile.ZipFile(bundle).read(f"{bag}/README.txt").decode()
    assert "openssl cms -verify" in readme and "sha256sum -c" in readme and "openssl enc -d -aes-256-ctr" in readme
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "opened.mbox").read_bytes() == MAIL


def test_auditor_downloads_the_transparency_report_and_the_audit_log_verifies(
    page: Any, live_app: Flask, tmp_path: Path, screenshots: Path
) -> None:
    with live_app.app_context():
        reference = make_case().reference
        auditor = make_user("auditor")
    sign_in(page, auditor.email, auditor.password)
    page.get_by_role("link", name="Reports").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("ransparency")
    page.screenshot(path=str(screenshots / "report.png"), full_page=True)
    # The PDF is prepared by a job: its page offers the download once it is ready.
    page.get_by_role("button", name="Prepare PDF").click()
    expect(page.get_by_role("status").first).to_contain_text("being prepared")
    await_job_outcome(page)
    page.screenshot(path=str(screenshots / "report-pdf-job.png"), full_page=True)
    with page.expect_download() as report_download:
        page.get_by_role("link", name=re.compile(r"^Download transparency-.*\.pdf$")).click()
    assert report_download.value.suggested_filename.startswith("transparency-")
    report = Path(report_download.value.path()).read_bytes()
    assert report.startswith(b"%PDF-")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(report)).pages)
    assert "Transparency" in text or "transparency" in text

    # A case's dossier, prepared the same way from the case's page.
    page.goto(f"/cases/{reference}")
    page.get_by_role("button", name="Prepare the dossier (PDF)").click()
    await_job_outcome(page)
    with page.expect_download() as dossier_download:
        page.get_by_role("link", name=f"Download {reference}-dossier.pdf").click()
    dossier = Path(dossier_download.value.path()).read_bytes()
    assert f"Case dossier {reference}" in "".join(p.extract_text() for p in PdfReader(io.BytesIO(dossier)).pages)

    page.get_by_role("link", name="Audit log").click()
    log = page.locator("table.data")
    expect(log).to_contain_text("case.create")
    expect(log).to_contain_text(f"case:{reference}")
    expect(log).to_contain_text("user.sign_in")
    page.get_by_role("link", name="Log integrity").click()
    page.get_by_role("button", name="Verify now").click()
    # Verifying runs as a job too: its page offers the outcome when it ends.
    await_job_outcome(page)
    expect(page.get_by_text("intact:")).to_be_visible()

    # The audit log of today as a signed bundle: built by a job, its passphrase shown once on the job's page.
    from disclosure.clock import utcnow

    today = utcnow().date().isoformat()
    page.goto("/audit/")
    page.locator("#bundle-start").fill(today)
    page.locator("#bundle-end").fill(today)
    page.get_by_label("Your password, to confirm", exact=True).fill(auditor.password)  # step-up
    page.get_by_role("button", name="Export as signed bundle").click()
    expect(page.get_by_role("status").first).to_contain_text("being built")
    await_job_outcome(page)
    expect(page.get_by_text("Finished")).to_be_visible()
    with page.expect_download() as extract_download:
        page.get_by_role("link", name=re.compile(r"\.zip$")).click()
    extract = tmp_path / "extract.zip"
    extract_download.value.save_as(extract)
    page.get_by_role("button", name="Show the passphrase once").click()
    passphrase = page.locator("p.passphrase").inner_text().strip()
    (tmp_path / "extract.pass").write_text(passphrase)
    # Shown once, so shown large, with a warning and a copy button (it was small plain text).
    assert float(page.locator("p.passphrase").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")) >= 20
    expect(page.get_by_role("alert").filter(has_text="Shown once, now.")).to_be_visible()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("#copy-status")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == passphrase
    from disclosure.exports.pki import ca_pem
    from disclosure.production.bundles import pki_dir

    (tmp_path / "ca.pem").write_bytes(ca_pem(pki_dir(live_app.config)))
    verified = subprocess.run(
        [
            sys.executable,
            "-m",
            "disclosure.exports.bundle_cli",
            "verify",
            str(extract),
            "--ca",
            str(tmp_path / "ca.pem"),
            "--passphrase-file",
            str(tmp_path / "extract.pass"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert verified.returncode == 0, verified.stderr + verified.stdout


def test_the_review_page_fits_a_phone_and_uses_a_wide_screen(page: Any, live_app: Flask) -> None:
    """At 390 px the review page scrolled sideways (its screen-reader-only labels escaped the scope table's
    scroll box); at 1366 px the decision was squeezed into the left half, and a long address wrapped a few
    characters per line in the scope table."""
    from tests.review.helpers import case_in_review

    address = "a.very.long.customer.address.for.testing@example-hosting-customer.net"
    with live_app.app_context():
        reviewer = make_user("reviewer")
        reference = case_in_review(
            reviewer, targets=[{"kind": "email", "value": address, "from": "2026-01-01", "to": "2026-06-30"}]
        )
    sign_in_with_code(page, reviewer)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"/cases/{reference}/review")
    decision = page.locator("section.card").filter(has=page.get_by_role("heading", name="Decision"))
    assert decision.bounding_box()["width"] > 1000
    target = page.locator("table.scope-table .truncate")
    expect(target).to_have_attribute("title", address)
    box = target.bounding_box()
    assert box["height"] < 30, "the address stays on one line, cut short"
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto(f"/cases/{reference}/review")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
