"""disclosure-bundle: verify and decrypt export bundles (format disclosure-bundle/1).

    disclosure-bundle verify  BUNDLE.zip --ca ca.pem [--key me.key --cert me.pem | --passphrase-file F]
    disclosure-bundle decrypt BUNDLE.zip --ca ca.pem (--key me.key --cert me.pem | --passphrase-file F)
                              --out DIR
    (both also take --crl crl.pem, --log-vkey VKEY and --key-password-file F)

This file is the command line and the verifier's public Python API; the checks live in the modules beside it
(bundle_verify, bag_reader, cms_verify, der, audit_proofs, openssl_enc, bundle_format). Together they stand
alone: they import only the Python standard library and `cryptography`, so a recipient can run the verifier
without the server (`python bundle_cli.py verify …` works too, from this folder). Exit status: 0 verified, 1 the
bundle failed (the message names the file and what is wrong), 2 a usage problem (bad options, unreadable key
or CA).

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

Invariant: importing this module (or running this file) never imports the disclosure package's server side:
run as a plain script or loaded from its path, this file loads the verifier modules without the disclosure
package at all (see _standalone).
"""

from __future__ import annotations

import argparse
import getpass
import importlib
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "FORMAT",
    "BundleInvalid",
    "Credentials",
    "UsageProblem",
    "VerifyReport",
    "decrypt_bundle",
    "derive_key_iv",
    "load_crls",
    "load_trust_anchors",
    "main",
    "openssl_decrypt_bytes",
    "parse_checkpoint_note",
    "verify_bundle",
    "verify_inclusion",
]

#: The package the verifier modules form when this file runs without its own (see _standalone). Its name lies
#: under "bundle_cli", this file's own module name when it is loaded from its path.
_STANDALONE_PACKAGE = "bundle_cli.verifier"


def _standalone(*names: str) -> tuple[types.ModuleType, ...]:
    """Load the verifier modules beside this file without importing the disclosure package.

    Run as a plain script (`python bundle_cli.py …`) or loaded from its path, this file has no package, and
    importing disclosure.exports would run disclosure/__init__.py. Instead this folder is loaded as a package
    of its own; the verifier modules import one another relatively, so they load the same either way."""
    if _STANDALONE_PACKAGE not in sys.modules:
        spec = importlib.machinery.ModuleSpec(_STANDALONE_PACKAGE, None, is_package=True)
        spec.submodule_search_locations = [str(Path(__file__).resolve().parent)]
        sys.modules[_STANDALONE_PACKAGE] = importlib.util.module_from_spec(spec)
    return tuple(importlib.import_module(f"{_STANDALONE_PACKAGE}.{name}") for name in names)


if __package__:  # disclosure.exports.bundle_cli: the console script, or imported
    from . import audit_proofs, bundle_format, bundle_verify, cms_verify, openssl_enc
else:  # a plain script, or loaded from its path
    audit_proofs, bundle_format, bundle_verify, cms_verify, openssl_enc = _standalone(
        "audit_proofs", "bundle_format", "bundle_verify", "cms_verify", "openssl_enc"
    )

# -- the public Python API, defined in the modules beside this file ------------------------------------------

FORMAT = bundle_format.FORMAT
BundleInvalid = bundle_format.BundleInvalid
UsageProblem = bundle_format.UsageProblem
derive_key_iv = openssl_enc.derive_key_iv
openssl_decrypt_bytes = openssl_enc.openssl_decrypt_bytes
read_passphrase_line = openssl_enc.read_passphrase_line
SignatureInfo = cms_verify.SignatureInfo
SignatureProblem = cms_verify.SignatureProblem
verify_detached_signature = cms_verify.verify_detached_signature
CheckpointInfo = audit_proofs.CheckpointInfo
parse_checkpoint_note = audit_proofs.parse_checkpoint_note
verify_checkpoint_signature = audit_proofs.verify_checkpoint_signature
verify_inclusion = audit_proofs.verify_inclusion
Credentials = bundle_verify.Credentials
VerifyReport = bundle_verify.VerifyReport
decrypt_bundle = bundle_verify.decrypt_bundle
load_crls = bundle_verify.load_crls
load_trust_anchors = bundle_verify.load_trust_anchors
verify_bundle = bundle_verify.verify_bundle

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
