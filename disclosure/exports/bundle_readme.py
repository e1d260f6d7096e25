"""README.txt of an export bundle: what the bundle is, and the stock commands (unzip, sha256sum, openssl) and
the disclosure-bundle command that check and open it.

Invariant: the commands are literal and complete; the stock-tools tests run them as written, so a change here
must keep them runnable against a bundle that bundle.py builds.
"""

from __future__ import annotations

from disclosure_proofs.bundle_format import FORMAT


def readme_text(bag_name: str, mode: str, example_file: str | None) -> str:
    """README.txt: what the bundle is and the stock commands that open it, literally (tests run them)."""
    example = example_file or "FILE"
    passphrase_only = mode == "passphrase-only"
    lines = [
        f"Disclosure export bundle, format {FORMAT}",
        "",
        f"This ZIP holds one BagIt bag (RFC 8493), {bag_name}/, signed by the organisation that produced it.",
        "Every file under data/payload/ is encrypted. The SHA-256 of each encrypted file is in manifest-sha256.txt;",
        "tagmanifest-sha256.txt covers that manifest and the other tag files; tagmanifest-sha256.txt.p7s is a detached",
        "CMS signature (ECDSA P-256, SHA-256) over the tag manifest. Check the signature and the manifests before you",
        "decrypt anything: a changed byte anywhere fails them.",
        "",
    ]
    if passphrase_only:
        lines += [
            "This bundle is passphrase-only: you received its passphrase separately, by another channel.",
            "The inner manifest (data/inner-manifest.json.enc) is encrypted with that passphrase, like the files.",
        ]
    else:
        lines += [
            "data/key.p7m holds the bundle passphrase, encrypted (CMS EnvelopedData) to each recipient's certificate.",
            "The inner manifest (data/inner-manifest.json.p7m) is encrypted to the same certificates.",
        ]
    lines += [
        "The inner manifest holds the plaintext SHA-256 and size of each file, the case metadata, and the audit-log",
        "events of the case with their inclusion proofs, which lead to the signed checkpoint in",
        "data/audit-checkpoint.txt.",
        "",
        "You need: OpenSSL 1.1.1 or 3.x (not LibreSSL), unzip and sha256sum (on macOS: `shasum -a 256`).",
        "Put these files in one folder and run the commands below in it, one after the other:",
        "  BUNDLE.zip   this bundle (rename it, or change the name in the first command)",
        "  ca.pem       the organisation's CA certificate, obtained from it directly (not from this bundle)",
    ]
    if passphrase_only:
        lines.append("  passphrase.txt  the passphrase you were given, on one line")
    else:
        lines += [
            "  me.pem       your certificate (the one the bundle was encrypted to)",
            "  me.key       your private key (openssl asks for its password if it has one)",
        ]
    lines += [
        "",
        "1. Unpack, and go into the bag (umask 077 keeps what you decrypt readable by you alone):",
        "",
        "  $ umask 077",
        "  $ unzip -q BUNDLE.zip",
        f"  $ cd {bag_name}",
        "",
        "2. Check the signature against the organisation's CA (prints 'Verification successful'):",
        "",
        "  $ openssl cms -verify -binary -inform DER -in tagmanifest-sha256.txt.p7s -content "
        "tagmanifest-sha256.txt"
        " -CAfile ../ca.pem -out /dev/null",
        "",
        "   If the organisation publishes a certificate revocation list (crl.pem, next to ca.pem), check the",
        "   signer against it too (this fails with 'certificate revoked' for a revoked signing certificate):",
        "",
        "      $ cat ../ca.pem ../crl.pem > ../ca-crl.pem",
        "      $ openssl cms -verify -binary -inform DER -in tagmanifest-sha256.txt.p7s -content "
        "tagmanifest-sha256.txt"
        " -CAfile ../ca-crl.pem -crl_check -out /dev/null",
        "",
        "3. Check every file against the signed manifests (each line must say OK):",
        "",
        "  $ sha256sum -c tagmanifest-sha256.txt && sha256sum -c manifest-sha256.txt",
        "",
    ]
    if passphrase_only:
        lines += [
            "4. Decrypt the inner manifest with the passphrase:",
            "",
            "  $ openssl enc -d -aes-256-ctr -pbkdf2 -iter 10000 -md sha256 -in data/inner-manifest.json.enc"
            " -out ../inner-manifest.json -pass file:../passphrase.txt",
            "",
        ]
    else:
        lines += [
            "4. Recover the bundle passphrase and the inner manifest with your key:",
            "",
            "  $ openssl cms -decrypt -binary -inform DER -in data/key.p7m -recip ../me.pem -inkey ../me.key"
            " -out ../passphrase.txt",
            "  $ openssl cms -decrypt -binary -inform DER -in data/inner-manifest.json.p7m -recip ../me.pem"
            " -inkey ../me.key -out ../inner-manifest.json",
            "",
        ]
    lines += [
        "5. Decrypt the files into ../plaintext/ (one command per file, or the loop that does them all):",
        "",
        "  $ mkdir ../plaintext",
        f"  $ openssl enc -d -aes-256-ctr -pbkdf2 -iter 10000 -md sha256 -in data/payload/{example}.enc"
        f" -out ../plaintext/{example} -pass file:../passphrase.txt",
        '  $ for f in data/payload/*.enc; do n="${f##*/}"; openssl enc -d -aes-256-ctr -pbkdf2 -iter 10000'
        ' -md sha256 -in "$f" -out "../plaintext/${n%.enc}" -pass file:../passphrase.txt || break; done',
        "",
        '6. Compare the plaintext hashes with the "sha256" of each file in ../inner-manifest.json:',
        "",
        "  $ sha256sum ../plaintext/*",
        "",
        "The passphrase file holds one line; `-pass file:` reads the first line without its line ending.",
        "Delete ../passphrase.txt when you are done, and keep the plaintext as safely as the law requires.",
        "",
        "The same checks and more (the plaintext hashes and the audit inclusion proofs) in one command, with the",
        "organisation's `disclosure-bundle` tool (Python 3.11+ and the `cryptography` package):",
        "",
    ]
    if passphrase_only:
        lines.append("  disclosure-bundle decrypt BUNDLE.zip --ca ca.pem --passphrase-file passphrase.txt --out DIR")
    else:
        lines.append("  disclosure-bundle decrypt BUNDLE.zip --ca ca.pem --key me.key --cert me.pem --out DIR")
    lines += ["", "(add --crl crl.pem to check the signer against the revocation list)", ""]
    return "\n".join(lines)
