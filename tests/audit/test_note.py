"""C2SP signed notes and checkpoints: published known answers, tampering and strict parsing.

Known answers: golang/mod sumdb/note/note_test.go (TestNewVerifier, TestNewSigner, TestSign,
TestOpen: the PeterNeumann and EnochRoot keys, note and signatures); the example of
C2SP/C2SP signed-note.md at revision d4c16da5 (example.com/foo); the example checkpoint text of
C2SP/C2SP tlog-checkpoint.md; and Go's built-in sum.golang.org verifier key.
"""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from disclosure_proofs.note import (
    MAX_SIGNATURES,
    Checkpoint,
    CheckpointOriginError,
    CheckpointSignatureError,
    MalformedKey,
    MalformedNote,
    checkpoint_body,
    key_id,
    parse_checkpoint,
    parse_signer_key,
    parse_vkey,
    sign_checkpoint,
    sign_note,
    signer_key_string,
    verify_checkpoint,
    verify_note,
    vkey_string,
)

EM = "\u2014"

# golang/mod sumdb/note/note_test.go
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = (
    f"{EM} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    f"{EM} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
)

# C2SP signed-note.md example (revision d4c16da5).
SPEC_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
SPEC_NOTE = (
    "This is an example message.\n\n"
    f"{EM} example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

# The verifier key compiled into the go command for GOSUMDB=sum.golang.org.
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"

ROOT = bytes(range(32))


@pytest.fixture(scope="module")
def log_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


# -- published known answers ------------------------------------------------------------


def test_go_signer_key_reproduces_key_id_vkey_and_signature_exactly() -> None:
    name, private_key = parse_signer_key(PETER_SKEY)
    assert name == "PeterNeumann"
    assert key_id(name, private_key.public_key()).hex() == "c74f20a3"
    assert vkey_string(name, private_key.public_key()) == PETER_VKEY
    assert signer_key_string(name, private_key) == PETER_SKEY
    # Ed25519 is deterministic, so the published note must be reproduced byte for byte.
    assert sign_note(GO_TEXT, private_key, name) == GO_TEXT + "\n" + PETER_SIG


def test_go_notes_verify_and_unknown_signatures_are_ignored() -> None:
    _, peter = parse_vkey(PETER_VKEY)
    name, enoch = parse_vkey(ENOCH_VKEY)
    assert name == "EnochRoot"
    both = GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert verify_note(both, peter, "PeterNeumann") == GO_TEXT
    assert verify_note(both, enoch, "EnochRoot") == GO_TEXT
    with pytest.raises(CheckpointSignatureError, match="no signature by key EnochRoot"):
        verify_note(GO_TEXT + "\n" + PETER_SIG, enoch, "EnochRoot")


def test_c2sp_spec_example_verifies() -> None:
    name, public_key = parse_vkey(SPEC_VKEY)
    assert name == "example.com/foo"
    assert verify_note(SPEC_NOTE, public_key, name) == "This is an example message.\n"
    assert verify_note(SPEC_NOTE.encode("utf-8"), public_key, name) == "This is an example message.\n"


def test_sum_golang_org_key_parses_despite_plus_in_base64() -> None:
    name, public_key = parse_vkey(SUMDB_VKEY)
    assert name == "sum.golang.org"
    assert vkey_string(name, public_key) == SUMDB_VKEY


def test_c2sp_checkpoint_example_parses() -> None:
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    cp = parse_checkpoint(text)
    assert cp == Checkpoint(
        "example.com/behind-the-sofa",
        20852163,
        base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="),
    )
    assert checkpoint_body(cp.origin, cp.size, cp.root) == text


def manglings(key: str) -> list[str]:
    """Every proper substring and every single-byte increment (Go's TestNewVerifier)."""
    out = [key[i:j] for i in range(len(key) + 1) for j in range(i + 1, len(key) + 1)]
    out.remove(key)
    out += [key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :] for i in range(len(key))]
    return out


def test_mangled_verifier_keys_are_rejected() -> None:
    bad = [
        *manglings(PETER_VKEY),
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ]
    for key in bad:
        with pytest.raises(MalformedKey):
            parse_vkey(key)


def test_mangled_signer_keys_are_rejected() -> None:
    for key in manglings(PETER_SKEY):
        with pytest.raises(MalformedKey):
            parse_signer_key(key)


def test_go_malformed_notes_are_rejected() -> None:
    _, peter = parse_vkey(PETER_VKEY)
    bad: list[str | bytes] = [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + PETER_SIG,
        b"\xff" + (GO_TEXT + "\n" + PETER_SIG).encode(),
        GO_TEXT + "\n" + f"{EM} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXg"
        "KvqfqdngotpRZb6KE6RyyBwJnAM=",
        GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        GO_TEXT + "\n" + PETER_SIG.replace(EM, "-"),
        GO_TEXT + "\n" + PETER_SIG.replace("\n", "\r\n"),
        GO_TEXT + "\n" + PETER_SIG.replace("M=\n", "N=\n"),  # non-canonical base64
        GO_TEXT + "\n" + f"{EM} PeterNeumann AAAA\n",  # too short to hold a key ID and signature
        GO_TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1),
        "\ud800" + GO_TEXT + "\n" + PETER_SIG,
    ]
    for msg in bad:
        with pytest.raises(MalformedNote):
            verify_note(msg, peter, "PeterNeumann")


def test_corrupted_known_signature_rejects_the_note() -> None:
    _, peter = parse_vkey(PETER_VKEY)
    note = GO_TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(CheckpointSignatureError, match="does not verify"):
        verify_note(note, peter, "PeterNeumann")
    # A bad signature by the expected key is fatal even when a good one is also present.
    with pytest.raises(CheckpointSignatureError):
        verify_note(GO_TEXT + "\n" + PETER_SIG + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:], peter, "PeterNeumann")


def test_sixteen_signatures_are_accepted() -> None:
    _, peter = parse_vkey(PETER_VKEY)
    assert verify_note(GO_TEXT + "\n" + ENOCH_SIG * 15 + PETER_SIG, peter, "PeterNeumann") == GO_TEXT


def test_text_with_blank_lines_splits_at_the_last_one(log_key: Ed25519PrivateKey) -> None:
    text = "first\n\nsecond\n"
    note = sign_note(text, log_key, "k")
    assert verify_note(note, log_key.public_key(), "k") == text


# -- checkpoints ----------------------------------------------------------------------------


def test_checkpoint_round_trip_and_exact_format(log_key: Ed25519PrivateKey) -> None:
    note = sign_checkpoint("disclosure.example/audit", 5, ROOT, log_key, "disclosure.example/audit")
    b64_root = base64.b64encode(ROOT).decode()
    body = f"disclosure.example/audit\n5\n{b64_root}\n"
    assert note.startswith(body + "\n" + EM + " disclosure.example/audit ")
    assert note.endswith("\n") and note.count("\n") == 5
    sig = base64.b64decode(note.splitlines()[-1].split(" ")[-1])
    assert sig[:4] == key_id("disclosure.example/audit", log_key.public_key())
    assert len(sig) == 4 + 64
    cp = verify_checkpoint(note, log_key.public_key(), "disclosure.example/audit")
    assert cp == Checkpoint("disclosure.example/audit", 5, ROOT)
    assert verify_checkpoint(note, log_key.public_key(), "disclosure.example/audit", expected_origin=cp.origin)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("\n5\n", "\n6\n"),
        ("\n5\n", "\n4\n"),
        ("log.example/a\n", "log.example/b\n"),
        (base64.b64encode(ROOT).decode(), base64.b64encode(bytes(32)).decode()),
    ],
)
def test_tampered_checkpoint_fails(log_key: Ed25519PrivateKey, old: str, new: str) -> None:
    note = sign_checkpoint("log.example/a", 5, ROOT, log_key, "key")
    tampered = note.replace(old, new, 1)
    assert tampered != note
    with pytest.raises(CheckpointSignatureError):
        verify_checkpoint(tampered, log_key.public_key(), "key")


def test_signature_by_another_key_or_name_fails(log_key: Ed25519PrivateKey) -> None:
    note = sign_checkpoint("log.example/a", 5, ROOT, log_key, "key")
    impostor = Ed25519PrivateKey.generate()
    with pytest.raises(CheckpointSignatureError):
        verify_checkpoint(note, impostor.public_key(), "key")
    with pytest.raises(CheckpointSignatureError):
        verify_checkpoint(note, log_key.public_key(), "other-key")
    forged = sign_checkpoint("log.example/a", 6, ROOT, impostor, "key")
    with pytest.raises(CheckpointSignatureError):
        verify_checkpoint(forged, log_key.public_key(), "key")
    # Splicing the genuine signature line onto different text must not help.
    spliced = forged.split("\n\n")[0] + "\n\n" + note.split("\n\n")[1]
    with pytest.raises(CheckpointSignatureError):
        verify_checkpoint(spliced, log_key.public_key(), "key")


def test_signatures_sharing_only_name_or_only_key_id_are_ignored(log_key: Ed25519PrivateKey) -> None:
    # Spec: unknown keys are ignored "even if they share a name or ID (but not both)".
    genuine = sign_checkpoint("log.example/a", 5, ROOT, log_key, "key")
    text = checkpoint_body("log.example/a", 5, ROOT)
    sig_line = genuine.removeprefix(text + "\n")
    same_name = sign_note(text, Ed25519PrivateKey.generate(), "key").removeprefix(text + "\n")
    assert same_name.startswith(f"{EM} key ") and same_name != sig_line
    assert verify_checkpoint(f"{text}\n{same_name}{sig_line}", log_key.public_key(), "key")
    renamed = sig_line.replace(f"{EM} key ", f"{EM} other ")
    assert verify_checkpoint(f"{text}\n{renamed}{sig_line}", log_key.public_key(), "key")
    # The genuine signature under another name does not count as the key's signature.
    with pytest.raises(CheckpointSignatureError, match="no signature"):
        verify_checkpoint(f"{text}\n{renamed}", log_key.public_key(), "key")


def test_expected_origin_is_enforced(log_key: Ed25519PrivateKey) -> None:
    note = sign_checkpoint("log.example/a", 5, ROOT, log_key, "key")
    with pytest.raises(CheckpointOriginError):
        verify_checkpoint(note, log_key.public_key(), "key", expected_origin="log.example/b")


def test_validly_signed_but_malformed_checkpoint_is_rejected(log_key: Ed25519PrivateKey) -> None:
    b64_root = base64.b64encode(ROOT).decode()
    note = sign_note(f"log.example/a\n05\n{b64_root}\n", log_key, "key")
    assert verify_note(note, log_key.public_key(), "key")
    with pytest.raises(MalformedNote):
        verify_checkpoint(note, log_key.public_key(), "key")


B64_ROOT = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    "text",
    [
        f"o\n5\n{B64_ROOT}",  # no final newline
        f"o\n5\n{B64_ROOT}\nextension\n",
        f"o\n5\n{B64_ROOT}\n\n",
        f"\n5\n{B64_ROOT}\n",
        f"o \n5\n{B64_ROOT}\n",
        f" o\n5\n{B64_ROOT}\n",
        f"o+x\n5\n{B64_ROOT}\n",
        f"o\n 5\n{B64_ROOT}\n",
        f"o\n5 \n{B64_ROOT}\n",
        f"o\n+5\n{B64_ROOT}\n",
        f"o\n-1\n{B64_ROOT}\n",
        f"o\n05\n{B64_ROOT}\n",
        f"o\n1e3\n{B64_ROOT}\n",
        f"o\n\u0665\n{B64_ROOT}\n",  # ARABIC-INDIC DIGIT FIVE
        f"o\n{2**64}\n{B64_ROOT}\n",
        f"o\n\n{B64_ROOT}\n",
        f"o\r\n5\r\n{B64_ROOT}\r\n",
        f"o\n5\n{B64_ROOT} \n",
        f"o\n5\n{B64_ROOT.rstrip('=')}\n",
        f"o\n5\n{B64_ROOT[:-2]}9=\n",  # same bytes as "8=", but non-zero padding bits
        f"o\n5\n{base64.b64encode(ROOT[:31]).decode()}\n",
        f"o\n5\n{base64.urlsafe_b64encode(bytes([0xFB]) * 32).decode()}\n",
        "o\n5\n\n",
    ],
)
def test_malformed_checkpoint_text_is_rejected(text: str) -> None:
    with pytest.raises(MalformedNote):
        parse_checkpoint(text)


def test_largest_size_is_accepted() -> None:
    assert parse_checkpoint(f"o\n{2**64 - 1}\n{B64_ROOT}\n").size == 2**64 - 1
    assert parse_checkpoint(f"o\n0\n{B64_ROOT}\n").size == 0


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\tb", "a\u00a0b", "a\u2003b", "a\nb"])
def test_invalid_key_names_are_refused(log_key: Ed25519PrivateKey, name: str) -> None:
    with pytest.raises(MalformedKey):
        sign_note("text\n", log_key, name)
    with pytest.raises(MalformedKey):
        vkey_string(name, log_key.public_key())


def test_checkpoint_body_refuses_bad_inputs() -> None:
    for origin, size, root in [("a b", 1, ROOT), ("o", -1, ROOT), ("o", 2**64, ROOT), ("o", 1, ROOT[:31])]:
        with pytest.raises(MalformedNote):
            checkpoint_body(origin, size, root)
    with pytest.raises(MalformedNote):
        checkpoint_body("o", True, ROOT)


def test_sign_note_refuses_bad_text(log_key: Ed25519PrivateKey) -> None:
    for text in ["no newline", "tab\there\n", "cr\r\n"]:
        with pytest.raises(MalformedNote):
            sign_note(text, log_key, "k")


def test_generated_key_strings_round_trip(log_key: Ed25519PrivateKey) -> None:
    vkey = vkey_string("disclosure.example/audit", log_key.public_key())
    name, public_key = parse_vkey(vkey)
    assert name == "disclosure.example/audit"
    assert vkey_string(name, public_key) == vkey
    name2, private_key = parse_signer_key(signer_key_string(name, log_key))
    assert name2 == name
    assert vkey_string(name2, private_key.public_key()) == vkey


@given(
    origin=st.text(
        alphabet=st.characters(blacklist_categories=("Zs", "Zl", "Zp", "Cc", "Cs"), blacklist_characters="+"),
        min_size=1,
        max_size=40,
    ).filter(lambda s: not any(c.isspace() for c in s)),
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
)
def test_checkpoint_property_round_trip(origin: str, size: int, root: bytes) -> None:
    key = Ed25519PrivateKey.from_private_bytes(bytes(32))
    note = sign_checkpoint(origin, size, root, key, "k")
    assert verify_checkpoint(note, key.public_key(), "k", expected_origin=origin) == Checkpoint(origin, size, root)
