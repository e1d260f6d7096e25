"""The recipient's path with stock tools only: the commands in README.txt, run literally with bash, openssl,
unzip and sha256sum."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from tests.exports.conftest import DEFAULT_FILES, make_rsa_cert, read_zip, write_zip

TOOLS = ("openssl", "unzip", "sha256sum", "bash")
pytestmark = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in TOOLS) and os.environ.get("CI", "").lower() not in {"1", "true", "yes"},
    reason="openssl, unzip, sha256sum and bash are needed (mandatory under CI=true)",
)


def readme_commands(bundle: Path, marker: str = "  $ ") -> list[str]:
    """The commands README.txt gives, in order: lines that start with marker ("  $ "; "      $ " for the
    optional revocation check)."""
    with zipfile.ZipFile(bundle) as zf:
        readme = next(n for n in zf.namelist() if n.endswith("/README.txt"))
        text = zf.read(readme).decode("utf-8")
    return [line[len(marker) :] for line in text.splitlines() if line.startswith(marker)]


def run_stock(folder: Path, commands: list[str]) -> subprocess.CompletedProcess[str]:
    script = "set -e\n" + "\n".join(commands) + "\n"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
    return subprocess.run(["bash", "-c", script], cwd=folder, capture_output=True, text=True, timeout=120, env=env)


def _folder(tmp_path: Path, bundle: Path, ca_file: Path, extra: dict[str, bytes]) -> Path:
    folder = tmp_path / "recipient"
    folder.mkdir()
    shutil.copy(bundle, folder / "BUNDLE.zip")
    shutil.copy(ca_file, folder / "ca.pem")
    for name, data in extra.items():
        (folder / name).write_bytes(data)
    return folder


def _check_plaintext(folder: Path, stdout: str) -> None:
    inner = json.loads((folder / "inner-manifest.json").read_text())
    assert len(inner["files"]) == len(DEFAULT_FILES)
    for entry in inner["files"]:
        data = (folder / "plaintext" / entry["file"]).read_bytes()
        assert data == DEFAULT_FILES[entry["name"]]
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        # step 6 prints the hashes to compare with the inner manifest
        assert f"{entry['sha256']}  ../plaintext/{entry['file']}" in stdout


def test_readme_commands_open_a_recipient_bundle(make_bundle, recipient, ca_file, tmp_path) -> None:
    bundle, result = make_bundle([recipient.cert])
    commands = readme_commands(bundle)
    assert commands[:3] == ["umask 077", "unzip -q BUNDLE.zip", f"cd {result.bag_name}"]
    assert any(c.startswith("openssl cms -verify -binary -inform DER -in tagmanifest-sha256.txt.p7s") for c in commands)
    assert "sha256sum -c tagmanifest-sha256.txt && sha256sum -c manifest-sha256.txt" in commands
    folder = _folder(
        tmp_path,
        bundle,
        ca_file,
        {"me.pem": recipient.cert_path.read_bytes(), "me.key": recipient.key_path.read_bytes()},
    )
    done = run_stock(folder, commands)
    assert done.returncode == 0, done.stderr
    assert "Verification successful" in done.stderr
    assert "manifest-sha256.txt: OK" in done.stdout and "FAILED" not in done.stdout
    # key.p7m holds the passphrase and a newline; `-pass file:` takes the first line
    passphrase = (folder / "passphrase.txt").read_bytes()
    assert passphrase.endswith(b"\n") and passphrase.count(b"\n") == 1 and len(passphrase.strip()) == 32
    _check_plaintext(folder, done.stdout)


def test_readme_commands_open_a_passphrase_only_bundle(make_bundle, ca_file, tmp_path) -> None:
    bundle, result = make_bundle(None)
    commands = readme_commands(bundle)
    assert not any("openssl cms -decrypt" in c for c in commands)
    assert any("-in data/inner-manifest.json.enc" in c for c in commands)
    for line_ending in ("\n", ""):  # -pass file: reads the first line, with or without its newline
        base = tmp_path / ("nl" if line_ending else "no-nl")
        base.mkdir()
        folder = _folder(base, bundle, ca_file, {"passphrase.txt": (result.passphrase + line_ending).encode()})
        done = run_stock(folder, commands)
        assert done.returncode == 0, done.stderr
        _check_plaintext(folder, done.stdout)


def test_stock_openssl_refuses_another_ca(make_bundle, recipient, ca_file, tmp_path) -> None:
    bundle, _ = make_bundle([recipient.cert])
    _, other_ca = make_rsa_cert("Some Other CA", ca=True)
    folder = _folder(tmp_path, bundle, ca_file, {})
    (folder / "ca.pem").write_bytes(other_ca.public_bytes(serialization.Encoding.PEM))
    done = run_stock(folder, readme_commands(bundle)[:4])
    assert done.returncode != 0
    assert "Verification successful" not in done.stderr


def test_stock_tools_catch_a_changed_payload_byte(make_bundle, recipient, ca_file, tmp_path) -> None:
    bundle, _ = make_bundle([recipient.cert])
    entries = read_zip(bundle)
    name = next(n for n in entries if n.endswith("mail.mbox.enc"))
    data = bytearray(entries[name])
    data[100] ^= 0x01
    entries[name] = bytes(data)
    write_zip(bundle, entries)  # a careful attacker fixes the ZIP's CRC
    folder = _folder(tmp_path, bundle, ca_file, {})
    done = run_stock(folder, readme_commands(bundle)[:5])
    assert done.returncode != 0
    assert "data/payload/mail.mbox.enc: FAILED" in done.stdout


def test_stock_openssl_catches_a_changed_tag_manifest(make_bundle, recipient, ca_file, tmp_path) -> None:
    bundle, _ = make_bundle([recipient.cert])
    entries = read_zip(bundle)
    name = next(n for n in entries if n.endswith("/tagmanifest-sha256.txt"))
    entries[name] = entries[name].replace(b"README.txt", b"README.TXT")
    write_zip(bundle, entries)
    folder = _folder(tmp_path, bundle, ca_file, {})
    done = run_stock(folder, readme_commands(bundle)[:4])
    assert done.returncode != 0 and "Verification successful" not in done.stderr


@pytest.mark.parametrize("revoked", [False, True])
def test_readme_revocation_check_with_stock_openssl(
    make_bundle, recipient, ca_file, keys_dir, signer, tmp_path, revoked
) -> None:
    from disclosure.exports.pki_revocation import issue_crl

    bundle, _ = make_bundle([recipient.cert])
    crl = issue_crl(keys_dir, [(signer.cert.serial_number, dt.datetime.now(dt.UTC))] if revoked else [])
    folder = _folder(tmp_path, bundle, ca_file, {"crl.pem": crl})
    optional = readme_commands(bundle, "      $ ")
    assert len(optional) == 2 and optional[1].endswith("-CAfile ../ca-crl.pem -crl_check -out /dev/null")
    done = run_stock(folder, readme_commands(bundle)[:3] + optional)
    if revoked:
        assert done.returncode != 0 and "certificate revoked" in done.stderr
    else:
        assert done.returncode == 0 and "Verification successful" in done.stderr
