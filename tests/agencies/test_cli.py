"""`flask agencies import|export|add-cert`: an import is all or nothing and names the bad line and column (exit 2);
a row named by another agency's alias attaches to it; an export imports back unchanged; a certificate put on file
from the command line is the one `flask bundle build --recipient-cert` then encrypts to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import delete, func, select, update

from disclosure.audit.models import AuditEvent
from disclosure.cases import agencies
from disclosure.cases.models import Agency, Case
from disclosure.extensions import db
from disclosure.production.models import RecipientCertificate
from tests.agencies.helpers import actor, events, make_agency
from tests.factories import make_user
from tests.production.helpers import approved_case, rsa_certificate
from tests.production.test_records import add

HEADER = "name,country,regime,parent,aliases,domains,phone,email,portal,postal\n"


def invoke(app, *args: str):
    return app.test_cli_runner().invoke(args=["agencies", *args])


def counts() -> tuple[int, int]:
    agencies_count = db.session.execute(select(func.count(Agency.id))).scalar_one()
    return agencies_count, db.session.execute(select(func.count(AuditEvent.seq))).scalar_one()


def test_importing_fbi_attaches_to_the_agency_that_has_that_alias(app, tmp_path):
    with app.app_context():
        fbi_id = make_agency("Federal Bureau of Investigation", aliases=("FBI",)).id
        make_user("intake", email="clerk@example.org")
    path = tmp_path / "agencies.csv"
    path.write_text(
        HEADER
        + "FBI,US,,,F.B.I.,fbi.gov,+1 202 324 3000,,,\n"
        + "FBI Boston Field Office,US,us_federal,FBI,,,,boston@fbi.gov,,\n",
        encoding="utf-8",
    )
    result = invoke(app, "import", str(path), "--as", "clerk@example.org")
    assert result.exit_code == 0, result.output
    assert "attached   Federal Bureau of Investigation" in result.output
    assert "added      FBI Boston Field Office (unverified)" in result.output
    with app.app_context():
        assert db.session.execute(select(func.count(Agency.id))).scalar_one() == 2
        fbi = db.session.get(Agency, fbi_id)
        assert sorted(a.name for a in fbi.aliases) == ["F.B.I.", "FBI"]
        assert [d.domain for d in fbi.domains] == ["fbi.gov"]
        assert [(c.kind, c.value, c.verified_at) for c in fbi.contacts] == [("phone", "+1 202 324 3000", None)]
        (boston,) = fbi.field_offices
        assert boston.name == "FBI Boston Field Office" and not boston.is_verified
        (imported,) = events("agencies.imported")
        assert imported["data"]["attached"] == ["Federal Bureau of Investigation"]
        assert imported["data"]["created"] == ["FBI Boston Field Office"]
    again = invoke(app, "import", str(path), "--as", "clerk@example.org")
    assert again.exit_code == 0 and "0 added, 2 attached" in again.output, again.output


def test_a_bad_row_names_its_line_and_column_exits_2_and_nothing_is_written(app, tmp_path):
    with app.app_context():
        make_agency("Bundeskriminalamt", "DE", aliases=("BKA",), regime="eu")
        make_user("intake", email="clerk@example.org")
        before = counts()
    path = tmp_path / "bad.csv"
    path.write_text(
        HEADER
        + "Europol,NL,eu,,,europol.europa.eu,,,,\n"
        + "Police Scotland,GBR,uk,,,,,,,\n"
        + "National Crime Agency,GB,uk,,,gmail.com,,,,\n"
        + '"Metropolitan Police\nService",GB,wrong,,,,+44 20,,,\n',
        encoding="utf-8",
    )
    result = invoke(app, "import", str(path), "--as", "clerk@example.org")
    assert result.exit_code == 2, result.output
    output = result.output
    assert "error: line 3, country: Give the country as two letters (ISO 3166), e.g. US or DE." in output
    assert "error: line 4, domains: gmail.com is a free mail service" in output
    assert "error: line 5, regime: Choose a legal regime" in output
    assert "error: line 5, phone: not a phone number in international form" in output
    assert "nothing was imported" in output
    # Rows that read well but that the directory refuses: the second names BKA, already the Bundeskriminalamt's.
    path.write_text(HEADER + "Europol,NL,eu,,,,,,,\nLandeskriminalamt,DE,eu,,BKA,,,,,\n", encoding="utf-8")
    refused = invoke(app, "import", str(path), "--as", "clerk@example.org")
    assert refused.exit_code == 2
    assert "error: line 3, aliases: “BKA” already leads to Bundeskriminalamt (DE)" in refused.output
    path.write_text("name,country,agency_type\nEuropol,NL,police\n", encoding="utf-8")
    header = invoke(app, "import", str(path), "--as", "clerk@example.org")
    assert header.exit_code == 2 and "error: line 1, header: unknown column 'agency_type'" in header.output
    with app.app_context():
        assert counts() == before, "nothing was written, not even Europol's row"
    auditor = invoke(app, "import", str(path), "--as", "nobody@example.org")
    assert auditor.exit_code == 2 and "no active user" in auditor.output


def test_an_export_imports_back_unchanged(app, tmp_path):
    with app.app_context():
        fbi = make_agency("Federal Bureau of Investigation", aliases=("FBI", "F.B.I."), domains=("fbi.gov",))
        make_agency("FBI New York Field Office", parent=fbi, regime=None)
        bka = make_agency("Bundeskriminalamt", "DE", aliases=("BKA",), domains=("bka.bund.de",), regime="eu")
        admin = actor(make_user("admin"))
        phone = agencies.add_contact(admin, fbi, "phone", "+1 202 324 3000", None)
        agencies.verify_contact(admin, phone, None, "called the published number", "official_website")
        agencies.add_contact(admin, fbi, "portal", "https://leo.example.gov/requests", None)
        agencies.add_contact(admin, bka, "postal", "Thaerstraße 11, 65193 Wiesbaden", None)
        make_user("intake", email="clerk@example.org")
        db.session.commit()
    first = tmp_path / "first.csv"
    exported = invoke(app, "export", "--out", str(first))
    assert exported.exit_code == 0 and "wrote 3 agencies" in exported.output, exported.output
    text = first.read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == HEADER.strip()
    assert "Federal Bureau of Investigation,US,us_federal,,F.B.I.; FBI,fbi.gov,'+1 202 324 3000" in text
    assert "FBI New York Field Office,US,,Federal Bureau of Investigation," in text
    stdout = invoke(app, "export")
    assert stdout.stdout_bytes == first.read_bytes()
    with app.app_context():
        db.session.execute(update(Agency).values(parent_id=None))
        db.session.execute(delete(Agency))
        db.session.commit()
    imported = invoke(app, "import", str(first), "--as", "clerk@example.org")
    assert imported.exit_code == 0 and "3 added, 0 attached" in imported.output, imported.output
    second = tmp_path / "second.csv"
    assert invoke(app, "export", "--out", str(second)).exit_code == 0
    assert second.read_bytes() == first.read_bytes()
    with app.app_context():
        fbi = db.session.execute(
            select(Agency).where(Agency.name_key == "federal bureau of investigation")
        ).scalar_one()
        assert not fbi.is_verified and all(c.verified_at is None for c in fbi.contacts), "verifications never import"


def test_add_cert_puts_a_certificate_on_file_and_bundle_build_then_uses_it(app, client, login_as, tmp_path):
    with app.app_context():
        reference = approved_case(("stored_content",))
        agency = db.session.execute(select(Case)).scalar_one().agency
        admin = actor(make_user("admin", email="admin@example.org"))
        agencies.add_alias(admin, agency, "FBI", None)
        make_user("producer", email="producer@example.org")
        db.session.commit()
        agency_id, admin_id = agency.id, admin.id
    pem, key = rsa_certificate("FBI Evidence Unit")
    (tmp_path / "fbi.pem").write_bytes(pem)
    (tmp_path / "fbi.key").write_bytes(key)
    refused = invoke(app, "add-cert", "FBI", str(tmp_path / "fbi.pem"), "--as", "producer@example.org")
    assert refused.exit_code == 2 and "needs the admin role" in refused.output
    unknown = invoke(app, "add-cert", "Interpol", str(tmp_path / "fbi.pem"), "--as", "admin@example.org")
    assert unknown.exit_code == 2 and "no agency named 'Interpol'" in unknown.output
    added = invoke(app, "add-cert", "FBI", str(tmp_path / "fbi.pem"), "--as", "admin@example.org")
    assert added.exit_code == 0, added.output
    assert "on file for Federal Bureau of Investigation (US): CN=FBI Evidence Unit" in added.output
    with app.app_context():
        certificate = db.session.execute(select(RecipientCertificate)).scalar_one()
        assert certificate.agency_id == agency_id and certificate.added_by_id == admin_id
        assert events("recipient.certificate_added")[-1]["subject"] == f"agency:{agency_id}"
    twice = invoke(app, "add-cert", str(agency_id), str(tmp_path / "fbi.pem"), "--as", "admin@example.org")
    assert twice.exit_code == 1 and "already on file" in twice.output

    login_as("producer")
    mail = b"From: a@example.net\nSubject: the evidence\n\nMeet at noon.\n"
    assert add(client, reference, "user@example.net", "stored_content", mail, "mailbox.mbox").status_code == 302
    bundle = tmp_path / "bundle.zip"
    built = app.test_cli_runner().invoke(
        args=[
            "bundle",
            "build",
            reference,
            "--recipient-cert",
            str(tmp_path / "fbi.pem"),
            "--out",
            str(bundle),
            "--as",
            "producer@example.org",
        ]
    )
    assert built.exit_code == 0, built.output
    assert "passphrase" not in built.output, "encrypted to the certificate: no passphrase"
    opened = subprocess.run(
        [
            sys.executable,
            "-m",
            "disclosure.exports.bundle_cli",
            "decrypt",
            str(bundle),
            "--ca",
            str(_ca(app, tmp_path)),
            "--key",
            str(tmp_path / "fbi.key"),
            "--cert",
            str(tmp_path / "fbi.pem"),
            "--out",
            str(tmp_path / "opened"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert opened.returncode == 0, opened.stderr + opened.stdout
    assert (tmp_path / "opened" / "payload" / "mailbox.mbox").read_bytes() == mail


def _ca(app, tmp_path: Path) -> Path:
    from disclosure.exports.pki import ca_pem
    from disclosure.production.bundles import pki_dir

    path = tmp_path / "ca.pem"
    path.write_bytes(ca_pem(pki_dir(app.config)))
    return path
