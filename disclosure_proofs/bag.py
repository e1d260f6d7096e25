"""Read the bundle's ZIP and check its BagIt shape: the entries, the file layout under data/, the tag manifest,
the payload manifest, bagit.txt and bag-info.txt's Payload-Oxum.

Invariants: a Bag holds only a ZIP that passed the shape checks (stored entries, safe unique names, no links,
no comment or prefix, exactly one safely named bag folder); reads are bounded by a size limit; every failure
is BundleInvalid naming the file in the bag (UsageProblem when the ZIP itself is missing). Standard library
only.
"""

from __future__ import annotations

import hashlib
import re
import stat
import zipfile
from collections.abc import Iterator
from pathlib import Path

from .bundle_format import (
    BAG_INFO,
    BAGIT,
    BAGIT_TXT,
    CHECKPOINT,
    CHUNK,
    FORMAT,
    INNER_ENC,
    INNER_P7M,
    KEY_P7M,
    MANIFEST,
    MAX_TAG_FILE,
    PAYLOAD_PREFIX,
    REQUIRED_TAG_FILES,
    SAFE_NAME_RE,
    SIGNATURE,
    TAGMANIFEST,
    BundleInvalid,
    UsageProblem,
)


class Bag:
    """The ZIP, checked for shape: one bag folder, stored entries, safe unique names."""

    def __init__(self, path: Path) -> None:
        self.label = path.name
        try:
            self.zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise UsageProblem(f"{path}: no such file") from None
        except (zipfile.BadZipFile, OSError) as error:
            raise BundleInvalid(path.name, f"not a readable ZIP file ({error})") from None
        try:
            self._check()
        except BaseException:
            self.zip.close()
            raise

    def _check(self) -> None:
        self.files: dict[str, zipfile.ZipInfo] = {}
        roots: set[str] = set()
        seen: set[str] = set()
        for info in self.zip.infolist():
            name = info.filename
            where = name or "(empty name)"
            if not name or "\\" in name or "\x00" in name or name.startswith("/") or ":" in name:
                raise BundleInvalid(where, "unsafe entry name in the ZIP")
            if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
                raise BundleInvalid(where, "entry name contains control characters")
            parts = name.split("/")
            is_dir = name.endswith("/")
            if is_dir:
                parts = parts[:-1]
            if any(part in ("", ".", "..") for part in parts):
                raise BundleInvalid(where, "unsafe entry name in the ZIP (empty, '.' or '..' path component)")
            if name.lower() in seen:
                raise BundleInvalid(where, "duplicate entry in the ZIP")
            seen.add(name.lower())
            if info.flag_bits & 0x1:
                raise BundleInvalid(where, "encrypted ZIP entry (not part of the format)")
            if info.compress_type != zipfile.ZIP_STORED:
                raise BundleInvalid(where, "compressed ZIP entry (the format stores every file uncompressed)")
            kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the tool that wrote the entry records no type
            if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
                raise BundleInvalid(where, "ZIP entry is a link or special file")
            if len(parts) == 1 and not is_dir:
                raise BundleInvalid(where, "file outside the bag folder")
            roots.add(parts[0])
            if not is_dir:
                self.files["/".join(parts[1:])] = info
        if self.zip.comment:
            raise BundleInvalid(self.label, "the ZIP has an archive comment, which this format never writes")
        if self.zip.infolist() and min(i.header_offset for i in self.zip.infolist()) != 0:
            raise BundleInvalid(self.label, "data precedes the first ZIP entry")
        if len(roots) != 1:
            raise BundleInvalid(self.label, f"expected exactly one bag folder, found {len(roots)}")
        self.root = roots.pop()
        if not SAFE_NAME_RE.fullmatch(self.root):
            raise BundleInvalid(self.root, "unsafe bag folder name")

    def close(self) -> None:
        """Close the ZIP file."""
        self.zip.close()

    def has(self, rel: str) -> bool:
        """Whether the bag holds the file rel (a path inside the bag folder)."""
        return rel in self.files

    def read(self, rel: str, limit: int) -> bytes:
        """The whole file rel, refused when larger than limit."""
        info = self.files.get(rel)
        if info is None:
            raise BundleInvalid(rel, "missing from the bundle")
        if info.file_size > limit:
            raise BundleInvalid(rel, f"too large ({info.file_size} bytes)")
        try:
            return self.zip.read(info)
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise BundleInvalid(rel, f"damaged inside the ZIP ({error})") from None

    def chunks(self, rel: str) -> Iterator[bytes]:
        """The file rel in bounded chunks."""
        info = self.files[rel]
        try:
            with self.zip.open(info) as handle:
                while chunk := handle.read(CHUNK):
                    yield chunk
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise BundleInvalid(rel, f"damaged inside the ZIP ({error})") from None

    def sha256(self, rel: str) -> str:
        """The hex SHA-256 of the file rel, read in chunks."""
        digest = hashlib.sha256()
        for chunk in self.chunks(rel):
            digest.update(chunk)
        return digest.hexdigest()


_MANIFEST_LINE = re.compile(r"([0-9a-f]{64})  ([A-Za-z0-9._/-]+)")


def parse_manifest(data: bytes, which: str) -> dict[str, str]:
    """path -> hex SHA-256 from a BagIt manifest, strictly ("<sha256>  <path>" lines, no repeats)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BundleInvalid(which, "not UTF-8") from None
    if text and not text.endswith("\n"):
        raise BundleInvalid(which, "does not end with a newline")
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = _MANIFEST_LINE.fullmatch(line)
        if not match:
            raise BundleInvalid(which, f"line {number} is not '<sha256>  <path>'")
        digest, path = match.groups()
        if any(part in ("", ".", "..") for part in path.split("/")):
            raise BundleInvalid(which, f"line {number}: unsafe path {path!r}")
        if path in entries:
            raise BundleInvalid(which, f"line {number}: {path} is listed twice")
        entries[path] = digest
    return entries


def parse_bag_info(data: bytes) -> dict[str, str]:
    """Label -> value from bag-info.txt (continuation lines joined; the first of a repeated label kept)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BundleInvalid(BAG_INFO, "not UTF-8") from None
    fields: dict[str, str] = {}
    label: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if line[:1] in (" ", "\t") and label is not None:
            fields[label] += " " + line.strip()
            continue
        label, sep, value = line.partition(":")
        if not sep or not label or label != label.strip():
            raise BundleInvalid(BAG_INFO, f"line {number} is not 'Label: value'")
        fields.setdefault(label, value.strip())
    return fields


def check_structure(bag: Bag) -> tuple[str, list[str]]:
    """Check which files exist under data/; return the mode and the payload paths."""
    payload: list[str] = []
    for rel in bag.files:
        if not rel.startswith("data/"):
            continue
        if rel in (KEY_P7M, INNER_P7M, INNER_ENC, CHECKPOINT):
            continue
        name = rel[len(PAYLOAD_PREFIX) :]
        if rel.startswith(PAYLOAD_PREFIX) and name.endswith(".enc") and SAFE_NAME_RE.fullmatch(name[:-4]):
            payload.append(rel)
            continue
        raise BundleInvalid(rel, "unexpected file in the payload (not part of the format)")
    if bag.has(INNER_P7M) and bag.has(INNER_ENC):
        raise BundleInvalid(INNER_ENC, "both an enveloped and a passphrase-encrypted inner manifest are present")
    if bag.has(INNER_P7M):
        if not bag.has(KEY_P7M):
            raise BundleInvalid(KEY_P7M, "missing from the bundle (required next to inner-manifest.json.p7m)")
        mode = "recipients"
    elif bag.has(INNER_ENC):
        if bag.has(KEY_P7M):
            raise BundleInvalid(KEY_P7M, "unexpected in a passphrase-only bundle")
        mode = "passphrase-only"
    else:
        raise BundleInvalid(INNER_P7M, "missing from the bundle (no inner manifest)")
    if not bag.has(CHECKPOINT):
        raise BundleInvalid(CHECKPOINT, "missing from the bundle")
    return mode, sorted(payload)


def check_manifests(bag: Bag, tagmanifest: bytes) -> tuple[int, int]:
    """Check every file against the tag manifest and the payload manifest, bagit.txt and the Payload-Oxum;
    return (files checked, payload bytes)."""
    tags = parse_manifest(tagmanifest, TAGMANIFEST)
    for rel in tags:
        if "/" in rel or rel in (TAGMANIFEST, SIGNATURE):
            raise BundleInvalid(TAGMANIFEST, f"lists {rel}, which is not a tag file it may cover")
    for rel in REQUIRED_TAG_FILES:
        if rel not in tags:
            raise BundleInvalid(rel, f"not covered by {TAGMANIFEST}")
    for rel in bag.files:
        if "/" not in rel and rel not in tags and rel not in (TAGMANIFEST, SIGNATURE):
            raise BundleInvalid(rel, f"unexpected file: not listed in the signed {TAGMANIFEST}")
    for rel, digest in tags.items():
        if not bag.has(rel):
            raise BundleInvalid(rel, f"listed in {TAGMANIFEST} but missing from the bundle")
        if bag.sha256(rel) != digest:
            raise BundleInvalid(rel, f"SHA-256 does not match {TAGMANIFEST}")
    if bag.read(BAGIT, MAX_TAG_FILE) != BAGIT_TXT:
        raise BundleInvalid(BAGIT, "not the BagIt 1.0 declaration this format uses")

    manifest = parse_manifest(bag.read(MANIFEST, MAX_TAG_FILE), MANIFEST)
    for rel in manifest:
        if not rel.startswith("data/"):
            raise BundleInvalid(MANIFEST, f"lists {rel}, which is outside data/")
    for rel in bag.files:
        if rel.startswith("data/") and rel not in manifest:
            raise BundleInvalid(rel, f"unexpected file: not listed in {MANIFEST}")
    total = 0
    for rel, digest in manifest.items():
        if not bag.has(rel):
            raise BundleInvalid(rel, f"listed in {MANIFEST} but missing from the bundle")
        if bag.sha256(rel) != digest:
            raise BundleInvalid(rel, f"SHA-256 does not match {MANIFEST}")
        total += bag.files[rel].file_size

    info = parse_bag_info(bag.read(BAG_INFO, MAX_TAG_FILE))
    if info.get("Bundle-Format") != FORMAT:
        raise BundleInvalid(BAG_INFO, f"Bundle-Format is {info.get('Bundle-Format')!r}; this tool reads {FORMAT}")
    oxum = f"{total}.{len(manifest)}"
    if info.get("Payload-Oxum") != oxum:
        raise BundleInvalid(BAG_INFO, f"Payload-Oxum is {info.get('Payload-Oxum')!r}, the payload is {oxum}")
    return len(tags) + len(manifest), total
