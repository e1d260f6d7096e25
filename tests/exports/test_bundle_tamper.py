"""Tampering: every change fails verification, with a message naming the file and what is wrong."""

from __future__ import annotations

import datetime as dt
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from disclosure.exports.pki import init_pki, load_signer
from disclosure_proofs import bundle_cli
from disclosure_proofs.bundle_cli import BundleInvalid, Credentials, SignatureProblem, verify_bundle
from tests.exports.conftest import NOW, read_zip, run_cli, write_zip

Entries = dict[str, bytes]


def _name(entries: Entries, suffix: str) -> str:
    return next(n for n in entries if n.endswith("/" + suffix))


def _flip(entries: Entries, suffix: str, offset: int = 40) -> None:
    name = _name(entries, suffix)
    data = bytearray(entries[name])
    data[offset % len(data)] ^= 0x01
    entries[name] = bytes(data)


def _remove(entries: Entries, suffix: str) -> None:
    del entries[_name(entries, suffix)]


def _add(entries: Entries, rel: str, data: bytes = b"extra") -> None:
    root = next(iter(entries)).split("/")[0]
    entries[f"{root}/{rel}"] = data


TAMPERS: list[tuple[str, Callable[[Entries], None], str]] = [
    (
        "payload byte",
        lambda e: _flip(e, "data/payload/mail.mbox.enc", 100),
        "data/payload/mail.mbox.enc: SHA-256 does not match manifest-sha256.txt",
    ),
    (
        "payload salt",
        lambda e: _flip(e, "data/payload/account.json.enc", 9),
        "data/payload/account.json.enc: SHA-256 does not match manifest-sha256.txt",
    ),
    (
        "manifest byte",
        lambda e: _flip(e, "manifest-sha256.txt", 3),
        "manifest-sha256.txt: SHA-256 does not match tagmanifest-sha256.txt",
    ),
    (
        "tag manifest byte",
        lambda e: _flip(e, "tagmanifest-sha256.txt", 3),
        "tagmanifest-sha256.txt.p7s: the signed message digest does not match tagmanifest-sha256.txt",
    ),
    (
        "signature value byte",
        lambda e: _flip(e, "tagmanifest-sha256.txt.p7s", -5),
        "tagmanifest-sha256.txt.p7s: the ECDSA signature does not verify",
    ),
    (
        "signed attribute byte",
        lambda e: _flip(e, "tagmanifest-sha256.txt.p7s", -90),
        "tagmanifest-sha256.txt.p7s: ",
    ),
    (
        "bag-info byte",
        lambda e: _flip(e, "bag-info.txt", 5),
        "bag-info.txt: SHA-256 does not match tagmanifest-sha256.txt",
    ),
    (
        "README byte",
        lambda e: _flip(e, "README.txt", 500),
        "README.txt: SHA-256 does not match tagmanifest-sha256.txt",
    ),
    (
        "bagit.txt byte",
        lambda e: _flip(e, "bagit.txt", 0),
        "bagit.txt: SHA-256 does not match tagmanifest-sha256.txt",
    ),
    (
        "key.p7m byte",
        lambda e: _flip(e, "data/key.p7m", 200),
        "data/key.p7m: SHA-256 does not match manifest-sha256.txt",
    ),
    (
        "inner manifest byte",
        lambda e: _flip(e, "data/inner-manifest.json.p7m", 300),
        "data/inner-manifest.json.p7m: SHA-256 does not match manifest-sha256.txt",
    ),
    (
        "checkpoint byte",
        lambda e: _flip(e, "data/audit-checkpoint.txt", 30),
        "data/audit-checkpoint.txt: SHA-256 does not match manifest-sha256.txt",
    ),
    (
        "removed payload file",
        lambda e: _remove(e, "data/payload/mail.mbox.enc"),
        "data/payload/mail.mbox.enc: listed in manifest-sha256.txt but missing from the bundle",
    ),
    (
        "removed README",
        lambda e: _remove(e, "README.txt"),
        "README.txt: listed in tagmanifest-sha256.txt but missing from the bundle",
    ),
    (
        "removed signature",
        lambda e: _remove(e, "tagmanifest-sha256.txt.p7s"),
        "tagmanifest-sha256.txt.p7s: missing from the bundle",
    ),
    (
        "removed key.p7m",
        lambda e: _remove(e, "data/key.p7m"),
        "data/key.p7m: missing from the bundle (required next to inner-manifest.json.p7m)",
    ),
    (
        "removed checkpoint",
        lambda e: _remove(e, "data/audit-checkpoint.txt"),
        "data/audit-checkpoint.txt: missing from the bundle",
    ),
    (
        "added payload file",
        lambda e: _add(e, "data/payload/extra.pdf.enc"),
        "data/payload/extra.pdf.enc: unexpected file: not listed in manifest-sha256.txt",
    ),
    (
        "added data file",
        lambda e: _add(e, "data/notes.txt"),
        "data/notes.txt: unexpected file in the payload (not part of the format)",
    ),
    (
        "added tag file",
        lambda e: _add(e, "fetch.txt"),
        "fetch.txt: unexpected file: not listed in the signed tagmanifest-sha256.txt",
    ),
    (
        "added plaintext beside the bag",
        lambda e: e.__setitem__("other-bag/x.txt", b"x"),
        "expected exactly one bag folder, found 2",
    ),
    ("file outside the bag", lambda e: e.__setitem__("x.txt", b"x"), "x.txt: file outside the bag folder"),
]


@pytest.mark.parametrize(("change", "message"), [(t[1], t[2]) for t in TAMPERS], ids=[t[0] for t in TAMPERS])
def test_tampering_fails_naming_what_changed(make_bundle, recipient, signer, change, message) -> None:
    bundle, _ = make_bundle([recipient.cert])
    entries = read_zip(bundle)
    change(entries)
    write_zip(bundle, entries)  # the attacker rebuilds a well-formed ZIP
    with pytest.raises(BundleInvalid) as caught:
        verify_bundle(bundle, [signer.ca_cert], Credentials(key=recipient.key, cert=recipient.cert))
    assert message in str(caught.value)


def test_the_command_exits_1_naming_the_file(make_bundle, recipient, ca_file) -> None:
    bundle, _ = make_bundle([recipient.cert])
    entries = read_zip(bundle)
    _flip(entries, "data/payload/mail.mbox.enc", 100)
    write_zip(bundle, entries)
    for extra in ([], ["--key", recipient.key_path, "--cert", recipient.cert_path]):
        done = run_cli("verify", bundle, "--ca", ca_file, *extra)
        assert done.returncode == 1
        assert done.stderr.strip() == (
            "NOT VERIFIED: data/payload/mail.mbox.enc: SHA-256 does not match manifest-sha256.txt"
        )
        assert done.stdout == ""


def test_a_raw_byte_flip_in_the_zip_is_caught(make_bundle, recipient, signer) -> None:
    bundle, _ = make_bundle([recipient.cert])
    raw = bytearray(bundle.read_bytes())
    raw[200] ^= 0x01  # inside the first payload file's ciphertext
    bundle.write_bytes(bytes(raw))
    with pytest.raises(BundleInvalid, match=r"data/payload/mail.mbox.enc: damaged inside the ZIP \(Bad CRC-32"):
        verify_bundle(bundle, [signer.ca_cert])


def test_every_byte_of_the_signature_matters(make_bundle, recipient, signer) -> None:
    bundle, _ = make_bundle([recipient.cert])
    entries = read_zip(bundle)
    content = entries[_name(entries, "tagmanifest-sha256.txt")]
    signature = entries[_name(entries, "tagmanifest-sha256.txt.p7s")]
    bundle_cli.verify_detached_signature(content, signature, [signer.ca_cert], NOW)
    accepted = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography warns about some of the mangled certificates
        for offset in range(len(signature)):
            for bit in (0x01, 0x80):
                mangled = bytearray(signature)
                mangled[offset] ^= bit
                try:
                    bundle_cli.verify_detached_signature(content, bytes(mangled), [signer.ca_cert], NOW)
                except SignatureProblem:
                    continue
                accepted.append((offset, bit))
    assert accepted == []
    for cut in (0, 1, 10, len(signature) // 2, len(signature) - 1):
        with pytest.raises(SignatureProblem):
            bundle_cli.verify_detached_signature(content, signature[:cut], [signer.ca_cert], NOW)
    with pytest.raises(SignatureProblem, match="trailing bytes"):
        bundle_cli.verify_detached_signature(content, signature + b"\x00", [signer.ca_cert], NOW)


def test_untrusted_signer(make_bundle, recipient, ca_file, tmp_path) -> None:
    init_pki(tmp_path / "impostor", "Example Hosting Ltd")  # same name, different CA
    bundle, _ = make_bundle([recipient.cert], use_signer=load_signer(tmp_path / "impostor"))
    done = run_cli("verify", bundle, "--ca", ca_file)
    assert done.returncode == 1
    assert "tagmanifest-sha256.txt.p7s: untrusted signer: the signer certificate" in done.stderr
    assert "is not issued by the given CA" in done.stderr


def test_re_signed_by_an_impostor_after_changing_a_file(make_bundle, recipient, signer, tmp_path) -> None:
    """An attacker who changes a file and re-signs the manifests with their own key is still caught."""
    import hashlib

    from disclosure.exports.bundle import _sign

    init_pki(tmp_path / "impostor", "Example Hosting Ltd")
    impostor = load_signer(tmp_path / "impostor")
    bundle, _ = make_bundle([recipient.cert])
    entries = read_zip(bundle)
    info_name = _name(entries, "bag-info.txt")
    entries[info_name] = entries[info_name].replace(b"legal@example.org", b"legal@attacker.example")
    tag_name = _name(entries, "tagmanifest-sha256.txt")
    lines = []
    for line in entries[tag_name].decode().splitlines():
        digest, rel = line.split("  ")
        lines.append(f"{hashlib.sha256(entries[info_name]).hexdigest() if rel == 'bag-info.txt' else digest}  {rel}\n")
    entries[tag_name] = "".join(lines).encode()
    entries[_name(entries, "tagmanifest-sha256.txt.p7s")] = _sign(entries[tag_name], impostor)
    write_zip(bundle, entries)
    with pytest.raises(BundleInvalid, match=r"tagmanifest-sha256\.txt\.p7s: untrusted signer"):
        verify_bundle(bundle, [signer.ca_cert])


def test_expired_signer(make_bundle, recipient, tmp_path) -> None:
    then = NOW - dt.timedelta(days=3 * 365)
    init_pki(tmp_path / "old", "Example Hosting Ltd", now=then)  # signer valid for 2 years from then
    old = load_signer(tmp_path / "old", now=then)
    bundle, _ = make_bundle([recipient.cert], use_signer=old, now=then)
    ca = tmp_path / "old-ca.pem"
    ca.write_bytes((tmp_path / "old" / "bundle-ca.pem").read_bytes())
    done = run_cli("verify", bundle, "--ca", ca)
    assert done.returncode == 1
    assert "tagmanifest-sha256.txt.p7s: the signer certificate" in done.stderr and "expired on" in done.stderr
    # the same bundle verified as of its signing day passes: the failure is the expiry alone
    assert verify_bundle(bundle, [old.ca_cert], now=then + dt.timedelta(days=1)).bag == "LR-2026-0001-b1"


def _rewrite(bundle: Path, write: Callable[[zipfile.ZipFile, Entries], None]) -> None:
    entries = read_zip(bundle)
    with zipfile.ZipFile(bundle, "w") as zf:
        write(zf, entries)


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (
            lambda zf, e: [zf.writestr(n, d, compress_type=zipfile.ZIP_DEFLATED) for n, d in e.items()],
            "compressed ZIP entry",
        ),
        (
            lambda zf, e: [
                zf.writestr(n, d) for n, d in [*e.items(), (next(iter(e)).split("/")[0] + "/../evil", b"x")]
            ],
            "unsafe entry name",
        ),
        (
            lambda zf, e: [zf.writestr(n, d) for n, d in [*e.items(), ("/etc/evil", b"x")]],
            "unsafe entry name",
        ),
        (
            lambda zf, e: [zf.writestr(n, d) for n, d in [*e.items(), (next(iter(e)), b"second copy")]],
            "duplicate entry in the ZIP",
        ),
        (
            lambda zf, e: [zf.writestr(n, d) for n, d in [*e.items(), (next(iter(e)).upper(), b"case clash")]],
            "duplicate entry in the ZIP",
        ),
        (
            lambda zf, e: [zf.writestr(n, d) for n, d in e.items()] + [setattr(zf, "comment", b"hi")],
            "archive comment",
        ),
    ],
    ids=["deflated", "dot-dot", "absolute", "duplicate", "case-duplicate", "comment"],
)
def test_unsafe_zips_are_refused(make_bundle, recipient, signer, write, message) -> None:
    bundle, _ = make_bundle([recipient.cert])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name
        _rewrite(bundle, write)
    with pytest.raises(BundleInvalid, match=message):
        verify_bundle(bundle, [signer.ca_cert])


def test_links_are_refused(make_bundle, recipient, signer) -> None:
    bundle, _ = make_bundle([recipient.cert])

    def write(zf: zipfile.ZipFile, entries: Entries) -> None:
        for name, data in entries.items():
            zf.writestr(name, data)
        link = zipfile.ZipInfo(next(iter(entries)).split("/")[0] + "/data/payload/link.enc")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/passwd")

    _rewrite(bundle, write)
    with pytest.raises(BundleInvalid, match=r"link\.enc: ZIP entry is a link or special file"):
        verify_bundle(bundle, [signer.ca_cert])


def test_prepended_data_is_refused(make_bundle, recipient, signer) -> None:
    bundle, _ = make_bundle([recipient.cert])
    bundle.write_bytes(b"#!/bin/sh\n" + bundle.read_bytes())
    with pytest.raises(BundleInvalid, match="data precedes the first ZIP entry"):
        verify_bundle(bundle, [signer.ca_cert])


def test_decrypt_of_a_tampered_bundle_writes_nothing(make_bundle, recipient, ca_file, tmp_path) -> None:
    bundle, _ = make_bundle([recipient.cert])
    entries = read_zip(bundle)
    _flip(entries, "data/payload/mail.mbox.enc", 100)
    write_zip(bundle, entries)
    out = tmp_path / "out"
    done = run_cli(
        "decrypt",
        bundle,
        "--ca",
        ca_file,
        "--key",
        recipient.key_path,
        "--cert",
        recipient.cert_path,
        "--out",
        out,
    )
    assert done.returncode == 1 and "mail.mbox.enc" in done.stderr
    assert not (out / "payload").exists() and not (out / "inner-manifest.json").exists()


def test_revoked_signer(make_bundle, recipient, keys_dir, signer, ca_file, tmp_path) -> None:
    from disclosure.exports.pki_revocation import issue_crl

    bundle, _ = make_bundle([recipient.cert])
    revoked = tmp_path / "revoked.pem"
    revoked.write_bytes(issue_crl(keys_dir, [(signer.cert.serial_number, NOW)]))
    done = run_cli("verify", bundle, "--ca", ca_file, "--crl", revoked)
    assert done.returncode == 1
    assert "tagmanifest-sha256.txt.p7s: the signer certificate" in done.stderr and "was revoked on" in done.stderr
    clean = tmp_path / "clean.pem"
    clean.write_bytes(issue_crl(keys_dir, [(signer.cert.serial_number + 1, NOW)]))
    assert run_cli("verify", bundle, "--ca", ca_file, "--crl", clean).returncode == 0


def test_revocation_lists_must_be_the_cas_and_current(make_bundle, recipient, keys_dir, signer, tmp_path) -> None:
    from disclosure.exports.pki_revocation import issue_crl
    from disclosure_proofs.bundle_cli import load_crls

    bundle, _ = make_bundle([recipient.cert])
    init_pki(tmp_path / "other", "Other")
    foreign = load_crls(issue_crl(tmp_path / "other", []))
    with pytest.raises(BundleInvalid, match="none of the given revocation lists is issued by the CA"):
        verify_bundle(bundle, [signer.ca_cert], crls=foreign)
    stale = load_crls(issue_crl(keys_dir, [], now=NOW - dt.timedelta(days=60)))
    with pytest.raises(BundleInvalid, match=r"revocation list .* is out of date"):
        verify_bundle(bundle, [signer.ca_cert], crls=stale)


def test_a_forged_revocation_list_is_refused(make_bundle, recipient, signer, tmp_path) -> None:
    """A CRL that names our CA but is signed by another key (e.g. to hide a revocation) fails."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    bundle, _ = make_bundle([recipient.cert])
    forged = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(signer.ca_cert.subject)
        .last_update(NOW - dt.timedelta(minutes=1))
        .next_update(NOW + dt.timedelta(days=1))
        .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    )
    with pytest.raises(BundleInvalid, match=r"revocation list of .* is not signed by that CA"):
        verify_bundle(bundle, [signer.ca_cert], crls=[forged])
