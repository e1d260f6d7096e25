"""The bundle-signing PKI: creation, never overwriting, imports, validation, recipient certificates."""

from __future__ import annotations

import datetime as dt
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from disclosure.exports import pki
from disclosure.exports.pki import (
    CertificateError,
    PKIError,
    ca_pem,
    certificate_info,
    check_recipient_certificate,
    init_pki,
    load_signer,
)
from tests.exports.conftest import NOW, make_rsa_cert


def test_init_creates_ca_and_signer_with_private_keys_0600(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    lines = init_pki(folder, "Example Hosting Ltd")
    assert len(lines) == 4 and all("created" in line for line in lines)
    for name in (pki.CA_KEY_FILE, pki.SIGNER_KEY_FILE):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    signer = load_signer(folder)
    ca, cert = signer.ca_cert, signer.cert
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey) and ca.public_key().curve.name == "secp256r1"
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
    assert 3640 <= (ca.not_valid_after_utc - ca.not_valid_before_utc).days <= 3651
    assert cert.issuer == ca.subject
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert 725 <= (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 731
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example Hosting Ltd"


def test_init_never_overwrites(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    init_pki(folder, "Example")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert init_pki(folder, "Someone Else") == []
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_init_reissues_a_missing_signer_from_the_existing_ca(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    init_pki(folder, "Example")
    ca_before = (folder / pki.CA_CERT_FILE).read_bytes()
    (folder / pki.SIGNER_CERT_FILE).unlink()
    (folder / pki.SIGNER_KEY_FILE).unlink()
    lines = init_pki(folder, "Example")
    assert len(lines) == 2 and (folder / pki.CA_CERT_FILE).read_bytes() == ca_before
    assert load_signer(folder).ca_cert.public_bytes(serialization.Encoding.PEM) == ca_before


def test_half_a_pair_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "keys"
    init_pki(folder, "Example")
    (folder / pki.SIGNER_KEY_FILE).unlink()
    with pytest.raises(PKIError, match="without its partner"):
        init_pki(folder, "Example")
    with pytest.raises(PKIError, match="does not exist"):
        load_signer(folder)


def test_import_validates_then_writes(tmp_path: Path) -> None:
    source = tmp_path / "theirs"
    init_pki(source, "Their Org")
    target = tmp_path / "keys"
    lines = init_pki(
        target,
        "ignored",
        import_ca_cert=source / pki.CA_CERT_FILE,
        import_signer_cert=source / pki.SIGNER_CERT_FILE,
        import_signer_key=source / pki.SIGNER_KEY_FILE,
    )
    assert len(lines) == 3 and not (target / pki.CA_KEY_FILE).exists()
    assert stat.S_IMODE((target / pki.SIGNER_KEY_FILE).stat().st_mode) == 0o600
    assert load_signer(target).cert == load_signer(source).cert
    with pytest.raises(PKIError, match="refusing to overwrite"):
        init_pki(
            target,
            "x",
            import_ca_cert=source / pki.CA_CERT_FILE,
            import_signer_cert=source / pki.SIGNER_CERT_FILE,
            import_signer_key=source / pki.SIGNER_KEY_FILE,
        )


def test_import_refuses_mismatches(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    init_pki(one, "One")
    init_pki(two, "Two")
    with pytest.raises(PKIError, match="does not match its private key"):
        init_pki(
            tmp_path / "a",
            "x",
            import_ca_cert=one / pki.CA_CERT_FILE,
            import_signer_cert=one / pki.SIGNER_CERT_FILE,
            import_signer_key=two / pki.SIGNER_KEY_FILE,
        )
    with pytest.raises(PKIError, match="not issued by the CA"):
        init_pki(
            tmp_path / "b",
            "x",
            import_ca_cert=two / pki.CA_CERT_FILE,
            import_signer_cert=one / pki.SIGNER_CERT_FILE,
            import_signer_key=one / pki.SIGNER_KEY_FILE,
        )
    with pytest.raises(PKIError, match="needs the signing key"):
        init_pki(
            tmp_path / "c",
            "x",
            import_ca_cert=one / pki.CA_CERT_FILE,
            import_signer_cert=one / pki.SIGNER_CERT_FILE,
        )
    assert not (tmp_path / "a" / pki.CA_CERT_FILE).exists()


def _signing_cert(ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate, eku: list[x509.ObjectIdentifier] | None):
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "signer")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
    )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return key, builder.sign(ca_key, hashes.SHA256())


@pytest.mark.parametrize(
    ("eku", "message"),
    [(None, "has no extended key usage"), ([ExtendedKeyUsageOID.SERVER_AUTH], "lacks the emailProtection")],
)
def test_import_requires_the_email_protection_eku(tmp_path: Path, eku, message) -> None:
    init_pki(tmp_path / "org", "Org")
    ca_key = serialization.load_pem_private_key((tmp_path / "org" / pki.CA_KEY_FILE).read_bytes(), None)
    ca = x509.load_pem_x509_certificate((tmp_path / "org" / pki.CA_CERT_FILE).read_bytes())
    key, cert = _signing_cert(ca_key, ca, eku)
    (tmp_path / "s.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "s.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    with pytest.raises(PKIError, match=message):
        init_pki(
            tmp_path / "keys",
            "x",
            import_ca_cert=tmp_path / "org" / pki.CA_CERT_FILE,
            import_signer_cert=tmp_path / "s.pem",
            import_signer_key=tmp_path / "s.key",
        )


def test_load_signer_refuses_an_expired_signer(tmp_path: Path) -> None:
    init_pki(tmp_path / "keys", "Org", now=NOW - dt.timedelta(days=3 * 365))
    with pytest.raises(PKIError, match="expired on"):
        load_signer(tmp_path / "keys")


def test_ca_pem_and_fingerprint_match_openssl(keys_dir: Path, tmp_path: Path) -> None:
    pem = ca_pem(keys_dir)
    info = certificate_info(pem)
    (tmp_path / "ca.pem").write_bytes(pem)
    shown = subprocess.run(
        ["openssl", "x509", "-in", str(tmp_path / "ca.pem"), "-noout", "-fingerprint", "-sha256"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert shown.endswith("=" + info.fingerprint_sha256)
    assert not info.is_rsa and info.key_size == 256 and "Disclosure Bundle CA" in info.subject


def test_recipient_certificate_accepted(recipient) -> None:
    info = check_recipient_certificate(recipient.cert.public_bytes(serialization.Encoding.PEM), NOW)
    assert info.is_rsa and info.key_size == 2048 and info.subject == "CN=Officer One"
    assert len(info.fingerprint_hex) == 64 and info.not_after > NOW


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: _pem(make_rsa_cert("small", bits=1024)[1]), "1024 bits; at least 2048"),
        (lambda: _pem(make_rsa_cert("old", not_after=NOW - dt.timedelta(days=1))[1]), "expired on"),
        (lambda: _pem(make_rsa_cert("future", not_before=NOW + dt.timedelta(days=2))[1]), "not valid before"),
        (lambda: _pem(make_rsa_cert("ca", ca=True)[1]), "CA certificate"),
        (
            lambda: _pem(
                make_rsa_cert(
                    "signing only",
                    key_usage=x509.KeyUsage(
                        digital_signature=True,
                        content_commitment=False,
                        key_encipherment=False,
                        data_encipherment=False,
                        key_agreement=False,
                        key_cert_sign=False,
                        crl_sign=False,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                )[1]
            ),
            "keyEncipherment",
        ),
        (lambda: b"hello", "not a PEM certificate"),
        (lambda: b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "cannot be parsed"),
        (lambda: _pem(make_rsa_cert("a")[1]) + _pem(make_rsa_cert("b")[1]), "holds 2 certificates"),
    ],
)
def test_recipient_certificate_refused(make, message) -> None:
    with pytest.raises(CertificateError, match=message):
        check_recipient_certificate(make(), NOW)


def test_recipient_certificate_must_be_rsa(keys_dir: Path) -> None:
    with pytest.raises(CertificateError, match="RSA key"):
        check_recipient_certificate(ca_pem(keys_dir), NOW)
