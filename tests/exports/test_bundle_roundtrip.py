"""Build a bundle, then verify and decrypt it with our stand-alone `disclosure-bundle` command."""

from __future__ import annotations

import hashlib
import io
import json
import re
import stat
import zipfile
from pathlib import Path

import pytest

from disclosure.exports.bundle import BundleError, PayloadFile, build_bundle, safe_file_name
from disclosure_proofs import bundle_cli
from disclosure_proofs.bundle_cli import BundleInvalid, Credentials, UsageProblem, verify_bundle
from tests.exports.conftest import DEFAULT_FILES, memory_file, read_zip, run_cli


def _assert_decrypted(out: Path, files: dict[str, bytes]) -> None:
    inner = json.loads((out / "inner-manifest.json").read_text())
    for entry in inner["files"]:
        assert (out / "payload" / entry["file"]).read_bytes() == files[entry["name"]]
    assert sorted(p.name for p in (out / "payload").iterdir()) == sorted(safe_file_name(n) for n in files)


def test_round_trip_to_a_recipient_certificate(make_bundle, recipient, ca_file, tmp_path) -> None:
    bundle, result = make_bundle([recipient.cert])
    assert result.mode == "recipients" and result.passphrase is None
    assert result.file_count == 3 and result.payload_bytes == sum(map(len, DEFAULT_FILES.values()))
    assert result.size == bundle.stat().st_size
    assert result.sha256 == hashlib.sha256(bundle.read_bytes()).hexdigest()  # hashed while written
    verified = run_cli("verify", bundle, "--ca", ca_file, "--key", recipient.key_path, "--cert", recipient.cert_path)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("verified: bag LR-2026-0001-b1")
    assert "3 payload files decrypted" in verified.stdout
    assert "3 events included in checkpoint disclosure.example/audit size 13 (signature verified)" in verified.stdout

    out = tmp_path / "out"
    decrypted = run_cli(
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
    assert decrypted.returncode == 0, decrypted.stderr
    _assert_decrypted(out, DEFAULT_FILES)
    inner = json.loads((out / "inner-manifest.json").read_text())
    assert inner["metadata"]["case"] == {"reference": "LR-2026-0001"}
    assert stat.S_IMODE((out / "payload" / "mail.mbox").stat().st_mode) == 0o600


def test_verify_without_a_key_checks_signature_and_manifests_only(make_bundle, recipient, ca_file) -> None:
    bundle, _ = make_bundle([recipient.cert])
    verified = run_cli("verify", bundle, "--ca", ca_file)
    assert verified.returncode == 0, verified.stderr
    assert "contents: not decrypted" in verified.stdout


def test_every_recipient_can_open_it_and_nobody_else(
    make_bundle, recipient, second_recipient, outsider, ca_file, tmp_path
) -> None:
    bundle, result = make_bundle([recipient.cert, second_recipient.cert])
    assert len(result.recipient_fingerprints) == 2
    out = tmp_path / "second"
    ok = run_cli(
        "decrypt",
        bundle,
        "--ca",
        ca_file,
        "--key",
        second_recipient.key_path,
        "--cert",
        second_recipient.cert_path,
        "--out",
        out,
    )
    assert ok.returncode == 0, ok.stderr
    _assert_decrypted(out, DEFAULT_FILES)
    refused = run_cli(
        "decrypt",
        bundle,
        "--ca",
        ca_file,
        "--key",
        outsider.key_path,
        "--cert",
        outsider.cert_path,
        "--out",
        tmp_path / "outsider",
    )
    assert refused.returncode == 1
    assert "data/key.p7m: cannot be decrypted with this key and certificate" in refused.stderr
    assert not (tmp_path / "outsider" / "payload").exists()


def test_passphrase_only_round_trip(make_bundle, ca_file, tmp_path) -> None:
    bundle, result = make_bundle(None)
    assert result.mode == "passphrase-only"
    assert result.passphrase and len(result.passphrase) >= 32  # token_urlsafe(24): 192 bits
    names = read_zip(bundle)
    assert not any(n.endswith("key.p7m") or n.endswith(".p7m") for n in names)
    assert any(n.endswith("data/inner-manifest.json.enc") for n in names)
    secret = tmp_path / "passphrase.txt"
    secret.write_text(result.passphrase + "\n")
    out = tmp_path / "out"
    decrypted = run_cli("decrypt", bundle, "--ca", ca_file, "--passphrase-file", secret, "--out", out)
    assert decrypted.returncode == 0, decrypted.stderr
    assert "passphrase-only" in decrypted.stdout
    _assert_decrypted(out, DEFAULT_FILES)


def test_passphrase_only_needs_the_passphrase(make_bundle, ca_file, recipient, tmp_path) -> None:
    bundle, result = make_bundle(None)
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("x" * len(result.passphrase))
    refused = run_cli("verify", bundle, "--ca", ca_file, "--passphrase-file", wrong)
    assert refused.returncode == 1
    assert "data/inner-manifest.json.enc: cannot be decrypted with this passphrase" in refused.stderr
    no_secret = run_cli("decrypt", bundle, "--ca", ca_file, "--out", tmp_path / "o")
    assert no_secret.returncode == 2
    with_key = run_cli("verify", bundle, "--ca", ca_file, "--key", recipient.key_path, "--cert", recipient.cert_path)
    assert with_key.returncode == 2 and "passphrase-only" in with_key.stderr
    assert result.passphrase.encode() not in bundle.read_bytes()


def test_plaintext_never_appears_in_the_zip(make_bundle, recipient) -> None:
    for recipients in ([recipient.cert], None):
        bundle, result = make_bundle(recipients, name=f"b-{bool(recipients)}.zip")
        raw = bundle.read_bytes()
        assert b"PLAINTEXT-MARKER-7f3a" not in raw
        assert b'LR-2026-0001"' not in raw  # the case metadata travels inside the envelope only
        for entry in result.files:
            assert entry.sha256 not in raw.decode("latin-1")  # plaintext hashes too
        with zipfile.ZipFile(bundle) as zf:
            assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
            salts = {zf.read(n)[8:16] for n in zf.namelist() if n.endswith(".enc")}
            assert len(salts) == sum(1 for n in zf.namelist() if n.endswith(".enc"))  # a fresh salt per file


def test_unsafe_and_clashing_names_are_made_safe(make_bundle, recipient, ca_file, tmp_path) -> None:
    files = {
        "../../etc/passwd": b"one",
        "C:\\Users\\x\\Report Q1.PDF": b"two",
        "report q1.pdf": b"three",
        "-rf": b"four",
        ".bashrc": b"five",
        "\u00fcn\u00efc\u00f8de \u202e.txt": b"six",
        "": b"seven",
    }
    bundle, result = make_bundle([recipient.cert], files=files)
    safe = [entry.file for entry in result.files]
    assert safe == ["passwd", "Report_Q1.PDF", "report_q1-2.pdf", "rf", "bashrc", "unicde_.txt", "file"]
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) for name in safe)
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
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == sorted([*safe, "inner-manifest.json"])
    inner = json.loads((out / "inner-manifest.json").read_text())
    assert [e["name"] for e in inner["files"]] == list(files)  # the original names are kept, as data


def test_decrypt_never_overwrites(make_bundle, recipient, ca_file, tmp_path) -> None:
    bundle, _ = make_bundle([recipient.cert])
    out = tmp_path / "out"
    (out / "payload").mkdir(parents=True)
    (out / "payload" / "mail.mbox").write_bytes(b"mine")
    refused = run_cli(
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
    assert refused.returncode == 2 and "already exists" in refused.stderr
    assert (out / "payload" / "mail.mbox").read_bytes() == b"mine"
    assert sorted(p.name for p in (out / "payload").iterdir()) == ["mail.mbox"]


def test_audit_proofs_are_checked(make_bundle, recipient, audit, signer) -> None:
    creds = Credentials(key=recipient.key, cert=recipient.cert)
    anchors = [signer.ca_cert]
    bad_proof = [dict(e) for e in audit.events]
    bad_proof[1]["inclusion_proof"] = list(reversed(bad_proof[1]["inclusion_proof"]))
    bundle, _ = make_bundle(
        [recipient.cert], metadata={"audit_events": bad_proof, "log_vkey": audit.vkey}, name="bad-proof.zip"
    )
    with pytest.raises(BundleInvalid, match=r"audit event 6: inclusion proof does not lead to the checkpoint root"):
        verify_bundle(bundle, anchors, creds)

    bad_body = [dict(e) for e in audit.events]
    bad_body[0]["body"] = bad_body[0]["body"].replace("case.updated", "case.deleted")
    bundle, _ = make_bundle([recipient.cert], metadata={"audit_events": bad_body}, name="bad-body.zip")
    with pytest.raises(BundleInvalid, match=r"audit event 1: body does not match its leaf hash"):
        verify_bundle(bundle, anchors, creds)

    beyond = [dict(audit.events[0], seq=14)]
    bundle, _ = make_bundle([recipient.cert], metadata={"audit_events": beyond}, name="beyond.zip")
    with pytest.raises(BundleInvalid, match=r"data/audit-checkpoint.txt: audit event 14 is beyond"):
        verify_bundle(bundle, anchors, creds)


def test_checkpoint_signature_checked_with_the_log_key(make_bundle, recipient, audit, signer) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from disclosure_proofs import note

    creds = Credentials(key=recipient.key, cert=recipient.cert)
    other = note.vkey_string("disclosure.example/audit", ed25519.Ed25519PrivateKey.generate().public_key())
    bundle, _ = make_bundle([recipient.cert], metadata={"audit_events": audit.events, "log_vkey": other})
    with pytest.raises(
        BundleInvalid, match=r"data/audit-checkpoint.txt: the checkpoint carries no signature by the log key"
    ):
        verify_bundle(bundle, [signer.ca_cert], creds)
    report = verify_bundle(bundle, [signer.ca_cert], creds, log_vkey=audit.vkey)
    assert report.checkpoint_signature_checked and report.events_checked == 3


def test_without_a_log_key_the_proofs_still_lead_to_the_signed_bundles_checkpoint(
    make_bundle, recipient, audit, signer
):
    bundle, _ = make_bundle([recipient.cert], metadata={"audit_events": audit.events})
    report = verify_bundle(bundle, [signer.ca_cert], Credentials(key=recipient.key, cert=recipient.cert))
    assert report.events_checked == 3 and not report.checkpoint_signature_checked
    assert "signature not checked: no log key" in "\n".join(report.lines())


def test_build_is_atomic_and_cleans_up(tmp_path, signer, audit, recipient) -> None:
    class Boom(Exception):
        pass

    def failing():
        yield b"x" * 100_000
        raise Boom("disk on fire")

    out = tmp_path / "bundle.zip"
    out.write_bytes(b"previous bundle")
    with pytest.raises(Boom):
        build_bundle(
            out,
            bag_name="b",
            files=[memory_file("a", b"a"), PayloadFile("b", failing)],
            recipients=[recipient.cert],
            signer=signer,
            checkpoint_note=audit.note,
            inner_metadata={},
        )
    assert out.read_bytes() == b"previous bundle"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle.zip"]

    with pytest.raises(BundleError, match="read 3 bytes, expected 4"):
        build_bundle(
            tmp_path / "x.zip",
            bag_name="b",
            files=[PayloadFile("a", lambda: io.BytesIO(b"abc"), 4)],
            recipients=None,
            signer=signer,
            checkpoint_note=audit.note,
            inner_metadata={},
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle.zip"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bag_name": "../x"}, "bag name"),
        ({"checkpoint_note": "not a note"}, "not a signed checkpoint"),
        ({"inner_metadata": {"x": object()}}, "not JSON-serialisable"),
        ({"bag_info": {"Payload-Oxum": "1.1"}}, "set by the builder"),
        ({"bag_info": {"Note": "two\nlines"}}, "line breaks"),
        ({"passphrase": "short"}, "22 to 256"),
        ({"passphrase": "a" * 30 + "\n"}, "22 to 256"),
    ],
)
def test_build_refuses_bad_input(tmp_path, signer, audit, kwargs, message) -> None:
    arguments = {
        "bag_name": "b",
        "files": [],
        "recipients": None,
        "signer": signer,
        "checkpoint_note": audit.note,
        "inner_metadata": {},
    } | kwargs
    with pytest.raises(BundleError, match=message):
        build_bundle(tmp_path / "x.zip", **arguments)
    assert list(tmp_path.iterdir()) == []


def test_files_may_be_chunk_iterators(signer, audit, tmp_path, ca_file) -> None:
    chunks = [b"a" * 1000, bytearray(b"b" * (3 << 20)), memoryview(b"c" * 10)]
    result = build_bundle(
        tmp_path / "it.zip",
        bag_name="it",
        files=[PayloadFile("it.bin", lambda: iter(chunks))],
        recipients=None,
        signer=signer,
        checkpoint_note=audit.note,
        inner_metadata={},
    )
    secret = tmp_path / "p.txt"
    secret.write_text(result.passphrase)  # no newline: accepted too
    done = run_cli(
        "decrypt", tmp_path / "it.zip", "--ca", ca_file, "--passphrase-file", secret, "--out", tmp_path / "o"
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o" / "payload" / "it.bin").read_bytes() == b"".join(bytes(c) for c in chunks)


def test_usage_errors_exit_2(make_bundle, recipient, ca_file, tmp_path) -> None:
    bundle, _ = make_bundle([recipient.cert])
    assert run_cli("verify", bundle).returncode == 2  # --ca is required
    assert run_cli("verify", bundle, "--ca", ca_file, "--key", recipient.key_path).returncode == 2
    missing = run_cli("verify", bundle, "--ca", tmp_path / "nope.pem")
    assert missing.returncode == 2 and "cannot read --ca" in missing.stderr
    mismatch = run_cli("verify", bundle, "--ca", ca_file, "--key", recipient.key_path, "--cert", ca_file)
    assert mismatch.returncode == 2
    assert (
        run_cli(
            "decrypt", bundle, "--ca", ca_file, "--key", recipient.key_path, "--cert", recipient.cert_path
        ).returncode
        == 2
    )  # --out is required
    not_zip = tmp_path / "not.zip"
    not_zip.write_bytes(b"hello")
    refused = run_cli("verify", not_zip, "--ca", ca_file)
    assert refused.returncode == 1 and "not.zip: not a readable ZIP file" in refused.stderr


def test_python_api_usage_problem_for_wrong_credentials(make_bundle, recipient, signer) -> None:
    bundle, _ = make_bundle([recipient.cert])
    with pytest.raises(UsageProblem, match="recipient certificates"):
        verify_bundle(bundle, [signer.ca_cert], Credentials(passphrase=b"x" * 32))


def test_main_in_process(make_bundle, recipient, ca_file, capsys) -> None:
    bundle, _ = make_bundle([recipient.cert])
    assert bundle_cli.main(["verify", str(bundle), "--ca", str(ca_file)]) == 0
    assert capsys.readouterr().out.startswith("verified: ")
