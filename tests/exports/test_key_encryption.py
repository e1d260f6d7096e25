"""The bundle CA's and signer's private keys encrypted at rest (issue 17, smaller points).

Observed on main: `flask keys init` wrote bundle-ca-key.pem and bundle-signer-key.pem as plain PEM beside the
database, whatever was configured, so a copy of the instance folder could issue signing certificates and sign
bundles. With DISCLOSURE_CA_KEY_PASSPHRASE set they are written encrypted (the same helper as the audit-log key,
disclosure.key_files), mode 0600; every command that needs them reads them with it; a missing or wrong passphrase
is a message naming the setting, never a traceback; a passphrase too short to protect anything is refused at start.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from disclosure import create_app
from disclosure.config import ConfigError
from disclosure.exports import pki_revocation
from disclosure.exports.pki import CA_KEY_FILE, SIGNER_KEY_FILE, PKIError, load_signer
from disclosure.production.bundles import load_bundle_signer, pki_dir
from disclosure.services import ServiceError
from tests.conftest import base_settings

PASSPHRASE = "a long passphrase for the bundle CA"
ENCRYPTED = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"


def flask(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


@pytest.fixture
def encrypted_pki(app: Flask) -> Path:
    """The fixture's plain PKI replaced by one `flask keys init` writes with the passphrase set (no bundle was
    built, so nothing depends on the old CA)."""
    folder = pki_dir(app.config)
    shutil.rmtree(folder)
    app.config["CA_KEY_PASSPHRASE"] = PASSPHRASE
    done = flask(app, "keys", "init")
    assert done.exit_code == 0, done.output
    assert f"created the bundle CA key {folder / CA_KEY_FILE} (mode 0600, encrypted with " in done.output
    return folder


def test_keys_init_writes_the_ca_and_signer_keys_encrypted_and_private(app: Flask, encrypted_pki: Path) -> None:
    for name in (CA_KEY_FILE, SIGNER_KEY_FILE):
        path = encrypted_pki / name
        assert path.read_bytes().startswith(ENCRYPTED), name
        assert b"-----BEGIN PRIVATE KEY-----" not in path.read_bytes()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with app.app_context():
        signer = load_bundle_signer()  # what every bundle build reads, with the configured passphrase
    assert signer.cert.issuer == signer.ca_cert.subject
    with pytest.raises(PKIError, match="it is encrypted: set DISCLOSURE_CA_KEY_PASSPHRASE"):
        load_signer(encrypted_pki)


def test_revoking_keeps_the_new_signing_key_encrypted_and_reissuing_reads_the_ca_key(
    app: Flask, encrypted_pki: Path
) -> None:
    passphrase = PASSPHRASE.encode()
    plan = pki_revocation.prepare_signer_revocation(encrypted_pki, "Org", "superseded", passphrase=passphrase)
    pki_revocation.apply_signer_revocation(plan)
    key = encrypted_pki / SIGNER_KEY_FILE
    assert key.read_bytes().startswith(ENCRYPTED) and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert load_signer(encrypted_pki, passphrase=passphrase).cert == plan.cert
    done = flask(app, "keys", "reissue-crl")
    assert done.exit_code == 0, done.output


@pytest.mark.parametrize(
    ("passphrase", "message"),
    [
        (None, "it is encrypted: set DISCLOSURE_CA_KEY_PASSPHRASE"),
        ("the wrong passphrase, but long", "wrong passphrase (DISCLOSURE_CA_KEY_PASSPHRASE)"),
    ],
)
def test_a_missing_or_wrong_passphrase_is_a_clear_message_at_every_command(
    app: Flask, encrypted_pki: Path, passphrase: str | None, message: str
) -> None:
    plan = pki_revocation.prepare_signer_revocation(encrypted_pki, "Org", "superseded", passphrase=PASSPHRASE.encode())
    pki_revocation.apply_signer_revocation(plan)  # a list to reissue
    app.config["CA_KEY_PASSPHRASE"] = passphrase
    before = {path.name: path.read_bytes() for path in encrypted_pki.iterdir()}
    for args in (["keys", "init"], ["keys", "reissue-crl"]):
        done = flask(app, *args)
        assert done.exit_code == 1, done.output
        assert message in done.output and f"the CA private key {encrypted_pki / CA_KEY_FILE}" in done.output
        assert "Traceback" not in done.output and isinstance(done.exception, SystemExit)  # a message, exit 1
    with app.app_context(), pytest.raises(ServiceError, match=re.escape(message)):
        load_bundle_signer()
    assert {path.name: path.read_bytes() for path in encrypted_pki.iterdir()} == before


@pytest.mark.parametrize("setting", ["CA_KEY_PASSPHRASE", "LOG_KEY_PASSPHRASE"])
def test_a_passphrase_too_short_to_protect_a_key_is_refused_at_start(
    instance: Path, database_url: str, setting: str
) -> None:
    with pytest.raises(ConfigError, match=f"DISCLOSURE_{setting} is 6 characters long; .* at least 16"):
        create_app({**base_settings(instance, database_url), setting: "secret"})
