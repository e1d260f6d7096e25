"""disclosure-bundle: verify and decrypt export bundles (format disclosure-bundle/1).

    disclosure-bundle verify  BUNDLE.zip --ca ca.pem [--key me.key --cert me.pem | --passphrase-file F]
    disclosure-bundle decrypt BUNDLE.zip --ca ca.pem (--key me.key --cert me.pem | --passphrase-file F)
                              --out DIR
    (both also take --crl crl.pem, --log-vkey VKEY and --key-password-file F)

This module is the command line and the verifier's public Python API; the checks live in the modules beside
it (bundle_verify, bag, cms, der, note, merkle, openssl_enc, bundle_format). The package imports only the
Python standard library and `cryptography`, so a recipient runs the verifier without the server's
dependencies (`python -m disclosure_proofs.bundle_cli …` works too). Exit status: 0 verified, 1 the bundle
failed (the message names the file and what is wrong), 2 a usage problem (bad options, unreadable key or CA).

What `verify` checks, in order:
  1. the ZIP: stored (not deflated) entries only, no unsafe or duplicate names, no links, one bag folder;
  2. the detached CMS signature tagmanifest-sha256.txt.p7s over tagmanifest-sha256.txt: the ECDSA
     P-256/SHA-256 signature over the signed attributes, their message digest against the tag manifest, and
     the signer certificate: issued directly by the given CA, valid now, extended key usage emailProtection
     (or none), and not revoked when the CA's revocation list is given (--crl);
  3. every file against tagmanifest-sha256.txt and manifest-sha256.txt, nothing missing and nothing extra,
     bagit.txt and bag-info.txt's Payload-Oxum;
  4. given a key or passphrase: the inner manifest, each payload file's plaintext SHA-256 and size, and each
     audit event's RFC 9162 inclusion proof against the checkpoint in data/audit-checkpoint.txt, whose
     Ed25519 signed-note signature is checked too when the log's verifier key is known (inner manifest
     "log_vkey", or --log-vkey).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .bundle_format import FORMAT, BundleInvalid, UsageProblem
from .bundle_verify import (
    Credentials,
    VerifyReport,
    decrypt_bundle,
    load_crls,
    load_trust_anchors,
    verify_bundle,
)
from .cms import SignatureInfo, SignatureProblem, verify_detached_signature
from .merkle import verify_inclusion
from .note import Checkpoint, read_unverified_checkpoint, verify_checkpoint_with_vkey
from .openssl_enc import derive_key_iv, openssl_decrypt_bytes, read_passphrase_line

__all__ = [
    "FORMAT",
    "BundleInvalid",
    "Checkpoint",
    "Credentials",
    "SignatureInfo",
    "SignatureProblem",
    "UsageProblem",
    "VerifyReport",
    "decrypt_bundle",
    "derive_key_iv",
    "load_crls",
    "load_trust_anchors",
    "main",
    "openssl_decrypt_bytes",
    "read_unverified_checkpoint",
    "verify_bundle",
    "verify_checkpoint_with_vkey",
    "verify_detached_signature",
    "verify_inclusion",
]

# -- command line --------------------------------------------------------------------------------------------


def _read_option_file(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise UsageProblem(f"cannot read {what} {path}: {error.strerror}") from None


def _load_credentials(args: argparse.Namespace) -> Credentials | None:
    if args.passphrase_file:
        passphrase = read_passphrase_line(_read_option_file(args.passphrase_file, "--passphrase-file"))
        if not passphrase:
            raise UsageProblem(f"{args.passphrase_file}: the first line is empty")
        return Credentials(passphrase=passphrase)
    if not args.key:
        return None
    try:
        cert = x509.load_pem_x509_certificate(_read_option_file(args.cert, "--cert"))
    except ValueError as error:
        raise UsageProblem(f"{args.cert}: not a PEM certificate ({error})") from None
    key_data = _read_option_file(args.key, "--key")
    password = None
    if args.key_password_file:
        password = read_passphrase_line(_read_option_file(args.key_password_file, "--key-password-file"))
    try:
        try:
            key = serialization.load_pem_private_key(key_data, password=password)
        except TypeError:
            if password is not None or not sys.stdin.isatty():
                raise
            key = serialization.load_pem_private_key(
                key_data, password=getpass.getpass(f"Password for {args.key}: ").encode("utf-8")
            )
    except TypeError:
        raise UsageProblem(f"{args.key} is encrypted: give --key-password-file (or run in a terminal)") from None
    except (ValueError, UnsupportedAlgorithm) as error:
        raise UsageProblem(f"{args.key}: not a usable PEM private key ({error})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise UsageProblem(f"{args.key}: recipient keys are RSA")
    der = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*der) != cert.public_key().public_bytes(*der):
        raise UsageProblem(f"{args.key} does not match the certificate {args.cert}")
    return Credentials(key=key, cert=cert)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="disclosure-bundle",
        description=f"Verify and decrypt {FORMAT} export bundles. Needs only Python and `cryptography`.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{verify,decrypt}")

    def common(sub: argparse.ArgumentParser, need_secret: bool) -> None:
        sub.add_argument("bundle", metavar="BUNDLE.zip")
        sub.add_argument("--ca", required=True, metavar="ca.pem", help="the issuing organisation's CA certificate")
        secret = sub.add_mutually_exclusive_group(required=need_secret)
        secret.add_argument("--key", metavar="me.key", help="your RSA private key (PEM), with --cert")
        secret.add_argument("--passphrase-file", metavar="F", help="the passphrase of a passphrase-only bundle")
        sub.add_argument("--cert", metavar="me.pem", help="your certificate (PEM), with --key")
        sub.add_argument("--key-password-file", metavar="F", help="password of an encrypted --key")
        sub.add_argument("--log-vkey", metavar="VKEY", help="the audit log's verifier key (name+id+base64)")
        sub.add_argument(
            "--crl",
            metavar="crl.pem",
            action="append",
            default=[],
            help="the CA's certificate revocation list: a revoked signer then fails",
        )

    common(
        commands.add_parser("verify", help="check the signature, the manifests and (with a key) the contents"),
        False,
    )
    decrypt = commands.add_parser("decrypt", help="verify, then write the decrypted files into --out")
    common(decrypt, True)
    decrypt.add_argument("--out", required=True, metavar="DIR", help="folder for payload/ and inner-manifest.json")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """The `disclosure-bundle` command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if bool(args.key) != bool(args.cert):
        parser.error("--key and --cert go together")
    try:
        anchors = load_trust_anchors(_read_option_file(args.ca, "--ca"))
        crls = [crl for name in args.crl for crl in load_crls(_read_option_file(name, "--crl"))]
        creds = _load_credentials(args)
        path = Path(args.bundle)
        if args.command == "verify":
            report = verify_bundle(path, anchors, creds, log_vkey=args.log_vkey, crls=crls)
        else:
            assert creds is not None
            report = decrypt_bundle(path, anchors, creds, Path(args.out), log_vkey=args.log_vkey, crls=crls)
    except UsageProblem as problem:
        print(f"disclosure-bundle: error: {problem}", file=sys.stderr)
        return 2
    except BundleInvalid as problem:
        print(f"NOT VERIFIED: {problem}", file=sys.stderr)
        return 1
    for line in report.lines():
        print(line)
    if args.command == "decrypt":
        print(
            f"decrypted: {report.payload_files} files into {Path(args.out) / 'payload'}; inner manifest in "
            f"{Path(args.out) / 'inner-manifest.json'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
