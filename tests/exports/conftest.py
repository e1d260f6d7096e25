"""Keys, certificates, an audit checkpoint and a bundle factory for the export-bundle tests (no Flask app)."""

from __future__ import annotations

import datetime as dt
import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.x509.oid import NameOID

from disclosure.audit import canonical
from disclosure.exports.bundle import BuildResult, PayloadFile, build_bundle
from disclosure.exports.pki import Signer, ca_pem, init_pki, load_signer
from disclosure_proofs import merkle, note

LOG_ORIGIN = "disclosure.example/audit"
NOW = dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Recipient:
    key: rsa.RSAPrivateKey
    cert: x509.Certificate
    key_path: Path
    cert_path: Path


@dataclass(frozen=True)
class Audit:
    note: str
    vkey: str
    events: list[dict[str, Any]]
    leaves: list[bytes]


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: Any) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_rsa_cert(
    common_name: str,
    *,
    issuer: tuple[rsa.RSAPrivateKey, x509.Certificate] | None = None,
    bits: int = 2048,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    ca: bool = False,
    key_usage: x509.KeyUsage | None = None,
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer_key, issuer_cert = issuer if issuer else (key, None)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_cert.subject if issuer_cert else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - dt.timedelta(days=1))
        .not_valid_after(not_after or NOW + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    return key, builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pki") / "keys"
    init_pki(folder, "Example Hosting Ltd", now=NOW)  # the tests verify "at NOW", however long the suite has run
    return folder


@pytest.fixture(scope="session")
def signer(keys_dir: Path) -> Signer:
    return load_signer(keys_dir)


@pytest.fixture(scope="session")
def ca_file(keys_dir: Path) -> Path:
    path = keys_dir.parent / "ca.pem"
    path.write_bytes(ca_pem(keys_dir))
    return path


@pytest.fixture(scope="session")
def agency_ca() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A tiny test CA of the requesting agency, which issues the recipient certificates."""
    return make_rsa_cert("Agency Test CA", ca=True)


def _recipient(folder: Path, name: str, agency_ca: tuple[rsa.RSAPrivateKey, x509.Certificate]) -> Recipient:
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=True,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    key, cert = make_rsa_cert(name, issuer=agency_ca, key_usage=usage)
    folder.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = folder / "me.key", folder / "me.pem"
    key_path.write_bytes(_key_pem(key))
    cert_path.write_bytes(_pem(cert))
    return Recipient(key, cert, key_path, cert_path)


@pytest.fixture(scope="session")
def recipient(tmp_path_factory: pytest.TempPathFactory, agency_ca: Any) -> Recipient:
    return _recipient(tmp_path_factory.mktemp("officer"), "Officer One", agency_ca)


@pytest.fixture(scope="session")
def second_recipient(tmp_path_factory: pytest.TempPathFactory, agency_ca: Any) -> Recipient:
    return _recipient(tmp_path_factory.mktemp("officer2"), "Officer Two", agency_ca)


@pytest.fixture(scope="session")
def outsider(tmp_path_factory: pytest.TempPathFactory, agency_ca: Any) -> Recipient:
    return _recipient(tmp_path_factory.mktemp("outsider"), "Not A Recipient", agency_ca)


@pytest.fixture(scope="session")
def audit() -> Audit:
    """A 13-event log, its signed checkpoint, and three of its events with inclusion proofs."""
    log_key = ed25519.Ed25519PrivateKey.generate()
    bodies = [canonical.canonical_json({"seq": i, "action": "case.updated", "case": "LR-1"}) for i in range(1, 14)]
    leaves = [canonical.leaf_hash(body) for body in bodies]
    signed = note.sign_checkpoint(LOG_ORIGIN, len(leaves), merkle.root_from_leaves(leaves), log_key, LOG_ORIGIN)
    events = [
        {
            "seq": index + 1,
            "body": bodies[index].decode("utf-8"),
            "leaf_hash": leaves[index].hex(),
            "inclusion_proof": [h.hex() for h in merkle.inclusion_proof(leaves, index)],
        }
        for index in (0, 5, 12)
    ]
    return Audit(signed, note.vkey_string(LOG_ORIGIN, log_key.public_key()), events, leaves)


def memory_file(name: str, data: bytes) -> PayloadFile:
    return PayloadFile(name, lambda: io.BytesIO(data), len(data))


DEFAULT_FILES = {
    "mail.mbox": b"From: someone@example.org\nSubject: PLAINTEXT-MARKER-7f3a\n\n" + os.urandom(3000) * 3,
    "account.json": b'{"account": "PLAINTEXT-MARKER-7f3a", "created": "2020-01-01"}\n',
    "empty.txt": b"",
}


@pytest.fixture
def make_bundle(tmp_path: Path, signer: Signer, audit: Audit) -> Callable[..., tuple[Path, BuildResult]]:
    def make(
        recipients: list[x509.Certificate] | None,
        *,
        files: Mapping[str, bytes] | None = None,
        name: str = "bundle.zip",
        bag_name: str = "LR-2026-0001-b1",
        use_signer: Signer | None = None,
        metadata: dict[str, Any] | None = None,
        now: dt.datetime | None = None,
    ) -> tuple[Path, BuildResult]:
        contents = DEFAULT_FILES if files is None else files
        meta = {"case": {"reference": "LR-2026-0001"}, "audit_events": audit.events, "log_vkey": audit.vkey}
        if metadata is not None:
            meta = metadata
        out = tmp_path / name
        result = build_bundle(
            out,
            bag_name=bag_name,
            files=[memory_file(n, d) for n, d in contents.items()],
            recipients=recipients,
            signer=use_signer or signer,
            checkpoint_note=audit.note,
            inner_metadata=meta,
            bag_info={"Contact-Email": "legal@example.org"},
            now=now,
        )
        return out, result

    return make


def run_cli(*args: str | os.PathLike[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the stand-alone verifier (the `disclosure-bundle` console script's module), as a recipient would."""
    return subprocess.run(
        [sys.executable, "-m", "disclosure_proofs.bundle_cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def read_zip(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def write_zip(path: Path, entries: Mapping[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
