"""The disclosure-bundle/1 format as builder and verifier both see it: file names, size limits, the name rule,
and the two ways a verification fails.

Invariants: the builder (disclosure.exports.bundle) and the verifier (bundle_verify and the modules it uses)
take every name and limit from here, so they cannot drift apart. Standard library only.
"""

from __future__ import annotations

import re
from typing import Final

FORMAT: Final = "disclosure-bundle/1"
CHUNK: Final = 1 << 20

BAGIT_TXT: Final = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
BAGIT: Final = "bagit.txt"
BAG_INFO: Final = "bag-info.txt"
README: Final = "README.txt"
MANIFEST: Final = "manifest-sha256.txt"
TAGMANIFEST: Final = "tagmanifest-sha256.txt"
SIGNATURE: Final = "tagmanifest-sha256.txt.p7s"
KEY_P7M: Final = "data/key.p7m"
INNER_P7M: Final = "data/inner-manifest.json.p7m"
INNER_ENC: Final = "data/inner-manifest.json.enc"
CHECKPOINT: Final = "data/audit-checkpoint.txt"
PAYLOAD_PREFIX: Final = "data/payload/"
#: The tag files the signed tag manifest must cover.
REQUIRED_TAG_FILES: Final = (BAGIT, BAG_INFO, MANIFEST, README)

#: Bag folder and payload file names: safe in every shell and file system, never an option or a dot file.
SAFE_NAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")

MAX_TAG_FILE: Final = 64 << 20
MAX_SIGNATURE: Final = 1 << 20
MAX_SMALL: Final = 1 << 20  # key.p7m, audit-checkpoint.txt
MAX_INNER: Final = 256 << 20
MAX_CERTS_IN_SIGNATURE: Final = 16


class BundleInvalid(Exception):
    """The bundle failed verification. str() is "<file in the bag>: <what is wrong>"."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where}: {what}")
        self.where = where
        self.what = what


class UsageProblem(Exception):
    """Bad options or unreadable key, certificate or CA files (exit status 2)."""
