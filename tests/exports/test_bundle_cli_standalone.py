"""disclosure-bundle stands alone: standard library and cryptography only; its audit checks agree with
disclosure.audit.merkle and disclosure.audit.note."""

from __future__ import annotations

import json
import random
import subprocess
import sys

from cryptography.hazmat.primitives.asymmetric import ed25519

from disclosure.audit import merkle, note
from disclosure.exports import bundle_cli
from tests.exports.conftest import CLI

SERVER_PACKAGES = ("flask", "flask_sqlalchemy", "sqlalchemy", "werkzeug", "jinja2", "wtforms", "flask_login")


def _modules_after(code: str) -> set[str]:
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_script_imports_only_the_standard_library_and_cryptography() -> None:
    loaded = _modules_after(
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('bundle_cli', {str(CLI)!r})\n"
        "module = importlib.util.module_from_spec(spec); sys.modules['bundle_cli'] = module\n"
        "spec.loader.exec_module(module)\n"
    )
    added = {name.split(".")[0] for name in loaded - _modules_after("pass")}
    third_party = added - set(sys.stdlib_module_names) - {"bundle_cli"}
    # _openssl and _cffi_backend are cryptography's own compiled bindings
    assert third_party <= {"cryptography", "_openssl", "_cffi_backend"}, third_party


def test_importtime_of_the_script_shows_no_server_package() -> None:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(CLI), "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and "verify" in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert "cryptography" in imported
    assert not imported & {*SERVER_PACKAGES, "disclosure"}, imported & {*SERVER_PACKAGES, "disclosure"}


def test_the_console_script_module_adds_no_server_package() -> None:
    """`disclosure-bundle = disclosure.exports.bundle_cli:main` imports the disclosure package first."""
    baseline = _modules_after("import disclosure")
    loaded = _modules_after("import disclosure.exports.bundle_cli")
    added = {name.split(".")[0] for name in loaded - baseline}
    assert not added & set(SERVER_PACKAGES), added
    assert not {name.split(".")[0] for name in baseline} & set(SERVER_PACKAGES)  # the package file stays light


def test_inclusion_verifier_agrees_with_the_audit_module() -> None:
    rng = random.Random(6)
    for size in [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 31, 33, 100]:
        leaves = [rng.randbytes(32) for _ in range(size)]
        root = merkle.root_from_leaves(leaves)
        for index in range(size):
            proof = merkle.inclusion_proof(leaves, index)
            assert bundle_cli.verify_inclusion(leaves[index], index, size, proof, root)
            variants = [
                (leaves[index], index, size, proof[:-1], root),
                (leaves[index], index, size, [*proof, root], root),
                (leaves[index], (index + 1) % size, size, proof, root),
                (leaves[index], index, size + 1, proof, root),
                (rng.randbytes(32), index, size, proof, root),
            ]
            if proof:
                variants.append((leaves[index], index, size, [proof[0][::-1], *proof[1:]], root))
            for args in variants:
                assert bundle_cli.verify_inclusion(*args) == merkle.verify_inclusion(*args)


def test_checkpoint_verifier_agrees_with_the_audit_module() -> None:
    origin = "example.org/log"
    key = ed25519.Ed25519PrivateKey.generate()
    other = ed25519.Ed25519PrivateKey.generate()
    vkey = note.vkey_string(origin, key.public_key())
    signed = note.sign_checkpoint(origin, 5, bytes(range(32)), key, origin)
    cosigned = signed + note.sign_note("x\n", other, "witness").split("\n\n", 1)[1]
    altered = signed.replace("\n5\n", "\n6\n")
    foreign = note.sign_checkpoint(origin, 5, bytes(range(32)), other, origin)
    for text, good in [(signed, True), (cosigned, True), (altered, False), (foreign, False)]:
        try:
            note.verify_checkpoint(text, key.public_key(), origin)
            theirs = True
        except note.NoteError:
            theirs = False
        try:
            bundle_cli.verify_checkpoint_signature(text, vkey)
            ours = True
        except ValueError:
            ours = False
        assert ours == theirs == good, text
    parsed = bundle_cli.parse_checkpoint_note(signed)
    assert (parsed.origin, parsed.size, parsed.root) == (origin, 5, bytes(range(32)))
