"""Backups: made from the running instance, restored into an empty one, and checked both ways.

A backup is a folder (format `disclosure-backup/1`):
    manifest.json                 written last: every part's path, kind, size and SHA-256; the app version, the
                                  database's dialect and migration revision; the audit log's size and root at the
                                  snapshot; the time; and any problem found while it was made
    database.sqlite3 | database.pgdump
    checkpoints/checkpoint-*.txt  the signed checkpoint files
    blobs/<xx>/<name>             the blob store's files, still encrypted (the file backend only: with
                                  BLOB_BACKEND "database" the blobs, and the bundles kept among them, are rows of
                                  the database and travel inside its dump; the manifest says which, as "blobs")
    bundles/<id>.zip              built bundles not yet purged, those in the bundles folder
    keys.enc                      the keys folder and the instance's secret_key, encrypted to a passphrase
                                  (disclosure.backup.keyfile), unless made --without-keys; it also vouches for
                                  the manifest's account of every other part and of the log, so a part altered
                                  together with the manifest is caught by whoever holds the passphrase

The order makes it consistent while the app runs: checkpoint files first (one is written only after its events
commit, so every file copied is covered by the snapshot that follows), then the database snapshot, which also
yields the log's size and root and the blob names its rows point at; then blobs and bundles (a file is in place
before the row naming it commits, and removed only after that row is); then the keys (a rotation creates its key
before any blob uses it). Whatever the snapshot points at that the copy lacks is reported, not hidden.

A restore checks every part against the manifest before it touches anything, refuses a target that holds data
unless forced, and even forced never deletes a key or a checkpoint file (a differing one is kept beside). It then
checks what it restored: the log against every checkpoint file present (a log shorter than one was rolled back),
the log's size and root against the manifest's, every blob against the SHA-256 its row records, every bundle
file, and the second-factor secrets against the secret key in effect.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import DBAPIError

from disclosure.audit.actions import AuditAction
from disclosure.audit.cli import folder_checkpoints
from disclosure.audit.service import record
from disclosure.audit.verify import GivenCheckpoint, VerifyResult, verify_log
from disclosure.backup import database
from disclosure.backup.inventory import (
    blob_root,
    blobs_in_database,
    bundle_dir,
    checkpoint_dir,
    checkpoint_files,
    files_under,
    keys_dir,
    missing_keys,
    referenced_blobs,
    stored_blobs,
)
from disclosure.backup.keyfile import ArchivedFile, KeyFileError, check_passphrase, open_sealed, permission_bits, seal
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.keyring import KeyMissing, log_key_name, log_public_key
from disclosure.permissions import Permission
from disclosure.services import Actor, require
from disclosure.storage.keys import KEY_SUFFIX, StorageKeyError, fsync_directory, keyring_for_config
from disclosure.storage.store import HEADER_SIZE, MAGIC, BlobCorrupted, BlobMissing, BlobStore, store_for_app

FORMAT = "disclosure-backup/1"
MANIFEST = "manifest.json"
KEYS_PART = "keys.enc"
SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name (disclosure.config.SECRET_KEY_FILE)
#: The paths each kind of part may have: nothing in a manifest can name a file outside the backup.
PART_PATHS = {
    "database": re.compile(r"database\.(sqlite3|pgdump)"),
    "checkpoint": re.compile(r"checkpoints/checkpoint-[A-Za-z0-9_-]{1,100}\.txt"),
    "blob": re.compile(r"blobs/([0-9a-f]{2})/\1[0-9a-f]{30}"),
    "bundle": re.compile(r"bundles/[A-Za-z0-9_-]{1,100}\.zip"),
    "keys": re.compile(r"keys\.enc"),
}
_CHUNK = 1 << 20
#: Problems listed one by one before the rest are counted.
MAX_LISTED = 20


class BackupError(Exception):
    """A backup could not be made or restored; the message says why."""


class BackupUsageError(BackupError):
    """The command was given something it cannot work with: a non-empty --out, a folder that is not a backup."""


class BackupRefused(BackupError):
    """A restore was refused before anything was changed; `reasons` says why."""

    def __init__(self, summary: str, reasons: list[str]) -> None:
        self.summary = summary
        self.reasons = reasons
        super().__init__("\n".join([summary, *(f"  - {reason}" for reason in reasons)]))


@dataclass(frozen=True)
class Part:
    #: Relative to the backup folder, with "/" between names.
    path: str
    kind: str
    size: int
    #: Hex SHA-256 of the file as stored in the backup.
    sha256: str


@dataclass
class Manifest:
    created_at: str
    app_version: str
    dialect: str
    migration_revision: str | None
    #: The audit log at the snapshot, as `flask audit verify` computes it.
    audit_size: int
    audit_root: str
    audit_intact: bool
    keys_included: bool
    parts: list[Part] = field(default_factory=list)
    #: Where the blobs are: "files" (blobs/ parts) or "database" (inside the database part).
    blobs: str = "files"
    #: What was wrong while the backup was made (e.g. a blob a row names was not in the store).
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        document = {
            "format": FORMAT,
            "created_at": self.created_at,
            "app_version": self.app_version,
            "database": {"dialect": self.dialect, "migration_revision": self.migration_revision},
            "audit": {"size": self.audit_size, "root": self.audit_root, "intact": self.audit_intact},
            "keys": "encrypted" if self.keys_included else "left out",
            "blobs": self.blobs,
            "parts": [{"path": p.path, "kind": p.kind, "size": p.size, "sha256": p.sha256} for p in self.parts],
            "problems": self.problems,
        }
        return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        try:
            document = json.loads(data)
            if not isinstance(document, dict) or document.get("format") != FORMAT:
                raise BackupUsageError(f"{MANIFEST} is not a {FORMAT} manifest")
            parts = [
                Part(str(item["path"]), str(item["kind"]), int(item["size"]), str(item["sha256"]))
                for item in document["parts"]
            ]
            return cls(
                created_at=str(document["created_at"]),
                app_version=str(document["app_version"]),
                dialect=str(document["database"]["dialect"]),
                migration_revision=document["database"]["migration_revision"],
                audit_size=int(document["audit"]["size"]),
                audit_root=str(document["audit"]["root"]),
                audit_intact=bool(document["audit"]["intact"]),
                keys_included=document["keys"] == "encrypted",
                parts=parts,
                problems=[str(problem) for problem in document.get("problems", [])],
                blobs=str(document.get("blobs", "files")),
            )
        except (ValueError, KeyError, TypeError) as error:
            if isinstance(error, BackupUsageError):
                raise
            raise BackupUsageError(f"{MANIFEST} is malformed ({error.__class__.__name__}: {error})") from error

    def of_kind(self, kind: str) -> list[Part]:
        return [part for part in self.parts if part.kind == kind]

    @property
    def total_bytes(self) -> int:
        return sum(part.size for part in self.parts)


# -- files ---------------------------------------------------------------------------------------------------------


def _sha256_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _copy(source: Path, destination: Path, mode: int = 0o600) -> tuple[int, str]:
    """Copy source to a new file at destination through a temporary file beside it (fsynced, then renamed), and
    return the size and SHA-256 of what was copied. The caller decides whether destination may be replaced."""
    destination.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.{secrets.token_hex(6)}.tmp")
    digest = hashlib.sha256()
    size = 0
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        with os.fdopen(descriptor, "wb") as out, source.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, destination)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create path (refusing to replace anything) with mode from the first byte on, and make it durable."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    fsync_directory(path.parent)


def _listed(lines: list[str]) -> list[str]:
    if len(lines) <= MAX_LISTED:
        return lines
    return [*lines[:MAX_LISTED], f"... and {len(lines) - MAX_LISTED} more"]


def _app_version() -> str:
    try:
        return metadata.version("disclosure")
    except metadata.PackageNotFoundError:
        return "unknown"


def _log_key() -> Any:
    try:
        return log_public_key()
    except KeyMissing:
        return None


def _verify(connection: Connection, given: list[GivenCheckpoint]) -> VerifyResult:
    origin = str(current_app.config["AUDIT_ORIGIN"])
    return verify_log(connection, _log_key(), log_key_name(), origin, given)


# -- create --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Snapshot:
    """What the database snapshot says, read in the snapshot itself."""

    audit: VerifyResult
    blobs: set[str]
    #: Bundles kept as files in the bundles folder, not purged.
    bundles: set[str]
    revision: str | None
    #: The database backend's blobs in the snapshot (name -> key id); empty with the file backend.
    stored: dict[str, str] = field(default_factory=dict)


@dataclass
class Created:
    out: Path
    manifest: Manifest

    @property
    def ok(self) -> bool:
        return not self.manifest.problems

    def report(self) -> list[str]:
        m = self.manifest
        counts = {kind: len(m.of_kind(kind)) for kind in PART_PATHS}
        lines = [
            f"backup written to {self.out} ({m.total_bytes} bytes in {len(m.parts)} parts)",
            f"database: {m.dialect}, migration {m.migration_revision or 'none recorded'}",
            f"audit log: {m.audit_size} events, root {m.audit_root}" + ("" if m.audit_intact else " (NOT intact)"),
            (
                f"blobs: {counts['blob']}"
                if m.blobs == "files"
                else "blobs: inside the database part (the database blob backend)"
            )
            + f"; bundles: {counts['bundle']}; checkpoint files: {counts['checkpoint']}",
            "keys: encrypted to the passphrase in keys.enc"
            if m.keys_included
            else "keys: left out (--without-keys): keep the keys folder backed up separately",
        ]
        return lines + [f"PROBLEM: {problem}" for problem in _listed(m.problems)]


def _prepare_out(out: Path) -> None:
    if out.exists() or out.is_symlink():
        if not out.is_dir() or out.is_symlink():
            raise BackupUsageError(f"--out {out} exists and is not a folder; give a new or empty folder")
        if any(out.iterdir()):
            raise BackupUsageError(f"--out {out} is not empty; give a new or empty folder (a backup never overwrites)")
        return
    if not out.parent.is_dir():
        raise BackupUsageError(f"--out: the folder {out.parent} does not exist")
    out.mkdir(mode=0o700)


def _read_snapshot(given: list[GivenCheckpoint], in_database: bool) -> Callable[[Connection], _Snapshot]:
    from disclosure.production.models import Bundle

    def read(connection: Connection) -> _Snapshot:
        audit = _verify(connection, given)
        columns = Bundle.__table__.c
        live = select(columns.public_id).where(columns.purged_at.is_(None), columns.blob_name.is_(None))
        return _Snapshot(
            audit=audit,
            blobs=referenced_blobs(connection),
            bundles={str(public_id) for public_id in connection.execute(live).scalars()},
            revision=database.migration_revision(connection),
            stored=stored_blobs(connection) if in_database else {},
        )

    return read


def _collect_keys() -> list[ArchivedFile]:
    folder = keys_dir(current_app.config)
    files = []
    for path in files_under(folder):
        relative = path.relative_to(folder).as_posix()
        if any(name.startswith(".") for name in relative.split("/")):
            continue  # a temporary file of an atomic write in progress
        files.append(ArchivedFile(f"keys/{relative}", stat.S_IMODE(path.stat().st_mode), path.read_bytes()))
    secret = Path(current_app.instance_path) / SECRET_KEY_FILE
    if secret.is_file():
        files.append(ArchivedFile(SECRET_KEY_FILE, stat.S_IMODE(secret.stat().st_mode), secret.read_bytes()))
    return files


def create_backup(actor: Actor, out: Path, passphrase: str | None) -> Created:
    """Write a backup of this instance to out (new or empty); passphrase None leaves the keys out.

    Reads the database through connections of its own and never through the request's session: the app keeps
    running, and no lock is held while files are copied. Record it with record_backup_created().
    """
    require(actor, Permission.STORAGE_MAINTAIN)
    if passphrase is not None:
        check_passphrase(passphrase)
    _prepare_out(out)
    config = current_app.config
    parts: list[Part] = []
    problems: list[str] = []

    def take(source: Path, relative: str, kind: str) -> Part:
        size, sha256 = _copy(source, out / relative)
        part = Part(relative, kind, size, sha256)
        parts.append(part)
        return part

    for path in checkpoint_files(checkpoint_dir(config)):
        take(path, f"checkpoints/{path.name}", "checkpoint")
    given = [
        GivenCheckpoint(f"checkpoint file {part.path} of the backup", (out / part.path).read_text(encoding="utf-8"))
        for part in parts
    ]

    engine = db.engine
    database_file = out / database.part_name(engine.dialect.name)
    created_at = utcnow().isoformat(timespec="seconds").replace("+00:00", "Z")  # as of the snapshot that follows
    try:
        seen = database.snapshot(engine, database_file, _read_snapshot(given, blobs_in_database(config)))
    except DBAPIError as error:
        raise BackupError(f"cannot read the database ({error.orig}); has `flask db upgrade` been run?") from error
    except database.DatabaseBackupError as error:
        raise BackupError(str(error)) from error
    size, sha256 = _sha256_file(database_file)
    parts.append(Part(database_file.name, "database", size, sha256))
    if not seen.audit.intact:
        problems.append(f"the audit log is not intact: {seen.audit.findings[0]}")

    key_ids_used: set[str] = set()
    root = blob_root(config, current_app.instance_path)
    copied_blobs: set[str] = set()
    if blobs_in_database(config):
        # The blobs are rows of the dump just taken: nothing to copy, and no folder to need.
        copied_blobs = set(seen.stored)
        key_ids_used = set(seen.stored.values())
    elif root.is_dir():
        store = BlobStore(root, keyring_for_config(config))
        for name in store.names():
            part = take(store.path(name), f"blobs/{name[:2]}/{name}", "blob")
            copied_blobs.add(name)
            with (out / part.path).open("rb") as handle:
                header = handle.read(HEADER_SIZE)
            if header.startswith(MAGIC):
                key_ids_used.add(header[len(MAGIC) :].decode("ascii", errors="replace"))
    where = "the database's blob tables" if blobs_in_database(config) else f"the blob store {root}"
    for name in sorted(seen.blobs - copied_blobs):
        problems.append(f"blob {name} is named by a row but is not in {where}")

    copied_bundles: set[str] = set()
    for path in sorted(bundle_dir(current_app.config, current_app.instance_path).glob("*.zip")):
        if path.is_file() and not path.is_symlink() and PART_PATHS["bundle"].fullmatch(f"bundles/{path.name}"):
            take(path, f"bundles/{path.name}", "bundle")
            copied_bundles.add(path.stem)
    bundles = bundle_dir(current_app.config, current_app.instance_path)
    for public_id in sorted(seen.bundles - copied_bundles):
        problems.append(f"bundle {public_id} is on record (not purged) but its file is not in {bundles}")

    if passphrase is not None:
        archived = _collect_keys()
        account = _account(created_at, engine.dialect.name, seen.audit.size, seen.audit.root.hex(), parts)
        _write_new(out / KEYS_PART, seal(archived, passphrase, account), 0o600)
        size, sha256 = _sha256_file(out / KEYS_PART)
        parts.append(Part(KEYS_PART, "keys", size, sha256))
        storage_ids = {
            item.path.rsplit("/", 1)[-1].removesuffix(KEY_SUFFIX)
            for item in archived
            if item.path.startswith("keys/storage/") and item.path.endswith(KEY_SUFFIX)
        }
        for key_id in sorted(key_ids_used - storage_ids):
            problems.append(f"storage key {key_id}, which blobs are encrypted under, is not in the keys folder")
    with database.reading(engine) as connection:
        for missing in missing_keys(connection, config, current_app.instance_path):
            if missing.depends:
                problems.append(f"{missing.key} ({missing.path}) is missing, but {'; '.join(missing.depends)} exist")

    manifest = Manifest(
        created_at=created_at,
        app_version=_app_version(),
        dialect=engine.dialect.name,
        migration_revision=seen.revision,
        audit_size=seen.audit.size,
        audit_root=seen.audit.root.hex(),
        audit_intact=seen.audit.intact,
        keys_included=passphrase is not None,
        parts=parts,
        problems=problems,
        blobs="database" if blobs_in_database(config) else "files",
    )
    _write_manifest(out, manifest)
    return Created(out, manifest)


def _account(created_at: str, dialect: str, audit_size: int, audit_root: str, parts: list[Part]) -> dict[str, Any]:
    """What keys.enc vouches for: the manifest's account of the backup, but for keys.enc itself."""
    return {
        "created_at": created_at,
        "dialect": dialect,
        "audit": {"size": audit_size, "root": audit_root},
        "parts": sorted([part.path, part.kind, part.size, part.sha256] for part in parts if part.kind != "keys"),
    }


def _unvouched(manifest: Manifest, vouches: dict[str, Any]) -> list[str]:
    """Where the manifest departs from what keys.enc vouches for: one line per part or field."""
    expected = _account(manifest.created_at, manifest.dialect, manifest.audit_size, manifest.audit_root, manifest.parts)
    if vouches == expected:
        return []
    lines = [
        f"{name}: the manifest says {expected[name]!r}, keys.enc {vouches.get(name)!r}"
        for name in ("created_at", "dialect", "audit")
        if vouches.get(name) != expected[name]
    ]
    listed = {tuple(item) for item in expected["parts"]}
    vouched = {tuple(item) for item in vouches.get("parts", [])}
    lines += [f"{item[0]}: not the part keys.enc vouches for" for item in sorted(listed - vouched)]
    lines += [f"{item[0]}: vouched for by keys.enc, but not in the manifest" for item in sorted(vouched - listed)]
    return lines or ["the manifest's account differs from what keys.enc vouches for"]


def _write_manifest(out: Path, manifest: Manifest) -> None:
    for folder in sorted({(out / part.path).parent for part in manifest.parts}, key=lambda p: len(p.parts)):
        fsync_directory(folder)
    temporary = out / f".{MANIFEST}.tmp"
    _write_new(temporary, manifest.to_json(), 0o600)
    os.replace(temporary, out / MANIFEST)  # last: a folder without a manifest is no backup
    fsync_directory(out)


def record_backup_created(actor: Actor, created: Created) -> None:
    """Record the backup in the audit log, in the caller's transaction."""
    require(actor, Permission.STORAGE_MAINTAIN)
    m = created.manifest
    record(
        actor,
        AuditAction.BACKUP_CREATED,
        subject="backup",
        data={
            "folder": str(created.out.resolve()),
            "created_at": m.created_at,
            "parts": len(m.parts),
            "bytes": m.total_bytes,
            "database": m.dialect,
            "audit_size": m.audit_size,
            "audit_root": m.audit_root,
            "keys": "encrypted" if m.keys_included else "left out",
            "problems": len(m.problems),
        },
        outcome="success" if created.ok else "failure",
    )


# -- restore -------------------------------------------------------------------------------------------------------


def read_manifest(folder: Path) -> Manifest:
    """The manifest of the backup in folder; BackupUsageError when folder holds no complete backup."""
    if not folder.is_dir():
        raise BackupUsageError(f"{folder} is not a folder")
    path = folder / MANIFEST
    if not path.is_file():
        raise BackupUsageError(f"{folder} holds no {MANIFEST}: not a backup, or one that was never finished")
    return Manifest.from_json(path.read_bytes())


def check_parts(folder: Path, manifest: Manifest) -> list[str]:
    """Every part against the manifest: one line per part that is missing, altered or not allowed."""
    problems = []
    root = folder.resolve()
    for part in manifest.parts:
        pattern = PART_PATHS.get(part.kind)
        if pattern is None or not pattern.fullmatch(part.path):
            problems.append(f"{part.path}: not a path a {part.kind!r} part may have")
            continue
        path = folder / part.path
        if path.is_symlink() or not path.resolve().is_relative_to(root):
            problems.append(f"{part.path}: a symbolic link; refused")
            continue
        if not path.is_file():
            problems.append(f"{part.path}: missing")
            continue
        size, sha256 = _sha256_file(path)
        if size != part.size or sha256 != part.sha256:
            problems.append(f"{part.path}: altered (its SHA-256 or size differs from the manifest's)")
    databases = manifest.of_kind("database")
    if len(databases) != 1 or databases[0].path != database.part_name(manifest.dialect):
        problems.append(f"the manifest lists no {database.part_name(manifest.dialect)} for its {manifest.dialect}")
    if manifest.keys_included and len(manifest.of_kind("keys")) != 1:
        problems.append(f"the manifest says the keys are included but lists no {KEYS_PART}")
    return problems


@dataclass
class Restored:
    found: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    #: The restored log's size and root as verified, before the restore is recorded in it.
    audit_size: int | None = None
    audit_root: str | None = None
    #: The database is in place with its schema, so the restore can be recorded in its log.
    recordable: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures

    def report(self) -> list[str]:
        lines = [f"found: {line}" for line in self.found]
        lines += [f"FAILED: {line}" for line in _listed(self.failures)]
        lines.append("restore: every check passed" if self.ok else f"restore: {len(self.failures)} check(s) failed")
        return lines


def _occupied(manifest: Manifest, keys_only: bool) -> list[str]:
    """What the target already holds that a restore would write over."""
    config = current_app.config
    found = []
    if not keys_only:
        try:
            tables = database.holdings(db.engine)
        except DBAPIError as error:
            raise BackupError(f"cannot read the target database: {error.orig}") from error
        if tables:
            found.append(f"the database holds data: {', '.join(tables[:8])}{' ...' if len(tables) > 8 else ''}")
        folders = [
            ("bundle folder", bundle_dir(current_app.config, current_app.instance_path)),
            ("checkpoint folder", checkpoint_dir(config)),
        ]
        if not blobs_in_database(config):
            folders.insert(0, ("blob folder", blob_root(config, current_app.instance_path)))
        for label, folder in folders:
            count = len(files_under(folder))
            if count:
                found.append(f"the {label} {folder} holds {count} file(s)")
    if manifest.keys_included:
        count = len(files_under(keys_dir(config)))
        if count:
            found.append(f"the keys folder {keys_dir(config)} holds {count} file(s)")
    return found


def restore_backup(
    actor: Actor, folder: Path, passphrase: Callable[[], str] | None, *, force: bool = False, keys_only: bool = False
) -> Restored:
    """Restore the backup in folder into this instance and check the result; see the module docstring.

    Raises BackupUsageError (the folder is no backup, or not one for this database) or BackupRefused (a part does
    not match the manifest, the passphrase does not open the keys, the target holds data) before changing
    anything. passphrase is asked for only when the backup holds keys.
    """
    require(actor, Permission.STORAGE_MAINTAIN)
    manifest = read_manifest(folder)
    problems = check_parts(folder, manifest)
    if problems:
        raise BackupRefused("the backup does not match its manifest; nothing was restored:", _listed(problems))
    dialect = db.engine.dialect.name
    if not keys_only and manifest.dialect != dialect:
        raise BackupUsageError(
            f"this backup holds a {manifest.dialect} database, and this instance is configured for {dialect}"
        )
    if not keys_only and manifest.blobs != ("database" if blobs_in_database(current_app.config) else "files"):
        made, here = (
            ("the database blob backend", "the file backend")
            if manifest.blobs == "database"
            else ("the file backend", "the database blob backend")
        )
        raise BackupUsageError(
            f"this backup was made with {made} and this instance is configured for {here}: set BLOB_BACKEND "
            "(DISCLOSURE_BLOB_BACKEND) as it was when the backup was made, then restore"
        )
    if keys_only and not manifest.keys_included:
        raise BackupRefused("nothing was restored:", ["this backup was made --without-keys: it holds no keys"])
    archived: list[ArchivedFile] | None = None
    if manifest.keys_included:
        if passphrase is None:
            raise BackupUsageError("this backup holds its keys encrypted: give the passphrase")
        try:
            opened = open_sealed((folder / KEYS_PART).read_bytes(), passphrase())
        except KeyFileError as error:
            raise BackupRefused("nothing was restored:", [str(error)]) from error
        departures = _unvouched(manifest, opened.vouches)
        if departures:
            raise BackupRefused(
                "the manifest was altered after the backup was made (keys.enc says otherwise); nothing was restored:",
                _listed(departures),
            )
        archived = opened.files
    occupied = _occupied(manifest, keys_only)
    if occupied and not force:
        raise BackupRefused("the target is not empty; nothing was restored (--force restores over it):", occupied)

    restored = Restored()
    db.session.remove()
    if not keys_only:
        try:
            database.restore(db.engine, folder / database.part_name(manifest.dialect))
        except database.DatabaseBackupError as error:
            restored.failures.append(str(error))
            return restored
        restored.found.append(f"database: restored from {database.part_name(manifest.dialect)} ({manifest.dialect})")
    secret_before = _secret_key_file()
    if archived is not None:
        restored.found += _restore_keys(archived)
    if not keys_only:
        restored.found += _restore_files(folder, manifest)
    _check_restored(manifest, restored, keys_only, secret_before)
    return restored


def _secret_key_file() -> str | None:
    path = Path(current_app.instance_path) / SECRET_KEY_FILE
    return path.read_text(encoding="ascii").strip() if path.is_file() else None


def _stamp() -> str:
    return utcnow().strftime("%Y%m%dT%H%M%SZ")


def _restore_keys(archived: list[ArchivedFile]) -> list[str]:
    """Write the keys; a differing key already in place is renamed aside (`.replaced-<time>`), never deleted."""
    folder = keys_dir(current_app.config)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    instance = Path(current_app.instance_path)
    written, same, aside = 0, 0, []
    for item in archived:
        if item.path == SECRET_KEY_FILE:
            target = instance / SECRET_KEY_FILE
        else:
            target = folder / item.path.removeprefix("keys/")
            if not target.parent.resolve().is_relative_to(folder.resolve()):
                raise BackupError(f"{target} leads outside the keys folder {folder}; nothing more was restored")
        if target.is_file() and not target.is_symlink():
            if target.read_bytes() == item.data:
                same += 1
                continue
            kept = target.with_name(f"{target.name}.replaced-{_stamp()}")
            os.rename(target, kept)
            aside.append(str(kept))
        _write_new(target, item.data, permission_bits(item.mode))
        written += 1
    lines = [f"keys: {written} file(s) restored, {same} already in place"]
    lines += [f"keys: a different file was in place and is kept as {path}" for path in aside]
    return lines


def _restore_files(folder: Path, manifest: Manifest) -> list[str]:
    """Blobs, bundles and checkpoint files, each copied whole (temporary file, fsync, rename) and hashed again."""
    config = current_app.config
    targets = {
        "bundle": bundle_dir(current_app.config, current_app.instance_path),
        "checkpoint": checkpoint_dir(config),
    }
    if manifest.blobs == "files":
        targets = {"blob": blob_root(config, current_app.instance_path), **targets}
    lines = []
    for kind, root in targets.items():
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        written, same, beside = 0, 0, 0
        for part in manifest.of_kind(kind):
            relative = part.path.split("/", 1)[1]
            target = root / relative
            if target.is_file() and _sha256_file(target) == (part.size, part.sha256):
                same += 1
                continue
            if kind == "checkpoint" and target.exists():
                # A checkpoint file is evidence: never replaced. Kept beside, the differing tree is reported.
                target = target.with_name(f"{target.stem}-restored-{secrets.token_hex(4)}.txt")
                beside += 1
            size, sha256 = _copy(folder / part.path, target)
            if (size, sha256) != (part.size, part.sha256):
                raise BackupError(f"{part.path} changed while it was restored; run the restore again")
            written += 1
        fsync_directory(root)
        line = f"{kind} files: {written} restored into {root}, {same} already in place"
        if beside:
            line += f", {beside} differing from a file in place and written beside it"
        lines.append(line)
    return lines


# -- checking what was restored ------------------------------------------------------------------------------------


def _check_restored(manifest: Manifest, restored: Restored, keys_only: bool, secret_before: str | None) -> None:
    try:
        with database.reading(db.engine) as connection:
            _check_log(connection, manifest, restored, keys_only)
            _check_blobs(connection, restored)
            _check_bundles(connection, restored)
            _check_second_factors(connection, restored, secret_before)
            _note_revision(connection, manifest, restored)
    except DBAPIError as error:
        restored.failures.append(f"cannot read the restored database: {error.orig}")
        return
    restored.recordable = True


def _check_log(connection: Connection, manifest: Manifest, restored: Restored, keys_only: bool) -> None:
    given = folder_checkpoints(set())  # those the stored checkpoints do not already say, as `flask audit verify`
    result = _verify(connection, given)  # in a snapshot of its own, ended before it returns
    restored.audit_size, restored.audit_root = result.size, result.root.hex()
    if result.intact:
        restored.found.append(
            f"audit log: intact, {result.size} events, root {result.root.hex()}; at least as long as each of "
            f"{result.checkpoints_checked} checkpoint(s) (stored, and {len(given)} more in the checkpoint folder), "
            "and its root at each one's size is the one signed"
        )
    else:
        finding = result.findings[0]
        if "tail truncated" in finding.problem:
            restored.failures.append(
                f"audit log rolled back: {finding}. The restored log is shorter than a checkpoint that was signed: "
                "events after this backup are missing (a newer backup, or the database itself, holds them)"
            )
        else:
            restored.failures.append(f"audit log NOT intact: {finding}")
    if keys_only:
        return
    if result.size == manifest.audit_size and result.root.hex() == manifest.audit_root:
        restored.found.append(f"audit log: size and root equal the manifest's ({manifest.audit_size} events)")
    else:
        restored.failures.append(
            f"the restored log ({result.size} events, root {result.root.hex()}) is not the one the manifest "
            f"records ({manifest.audit_size} events, root {manifest.audit_root})"
        )


def _blob_rows(connection: Connection) -> list[tuple[str, str, str]]:
    """(what names it, blob name, SHA-256 on record) for every row that names a blob (a bundle's only while it is
    kept in the blob store and not purged)."""
    from disclosure.cases.models import Document
    from disclosure.production.models import Bundle, ProductionRecord

    rows = []
    for model, label in ((Document, "document"), (ProductionRecord, "production record")):
        columns = model.__table__.c
        for row_id, name, sha256 in connection.execute(select(columns.id, columns.blob_name, columns.sha256)):
            rows.append((f"{label} {row_id}", str(name), str(sha256)))
    columns = Bundle.__table__.c
    stored_bundles = select(columns.public_id, columns.blob_name, columns.sha256).where(
        columns.blob_name.is_not(None), columns.purged_at.is_(None)
    )
    for public_id, name, sha256 in connection.execute(stored_bundles):
        rows.append((f"bundle {public_id}", str(name), str(sha256)))
    return rows


def _check_blobs(connection: Connection, restored: Restored) -> None:
    rows = _blob_rows(connection)
    if blobs_in_database(current_app.config):
        store = store_for_app(current_app.config, current_app.instance_path)  # every blob decrypts: from the rows
    else:
        root = blob_root(current_app.config, current_app.instance_path)
        if not root.is_dir():
            if rows:
                restored.failures.append(f"the blob folder {root} does not exist, but {len(rows)} row(s) name a blob")
            return
        store = BlobStore(root, keyring_for_config(current_app.config))
    on_disk = set(store.names())
    failures = []
    for label, name, expected in rows:
        if name not in on_disk:
            failures.append(f"{label}: its blob {name} is missing")
            continue
        try:
            if store.sha256(name) != expected:
                failures.append(f"{label}: blob {name} decrypts, but not to the SHA-256 on record")
        except (BlobCorrupted, BlobMissing, StorageKeyError) as error:
            failures.append(f"{label}: {error}")
    named_failures = len(failures)
    unnamed = sorted(on_disk - {name for _label, name, _sha in rows})
    for name in unnamed:
        try:
            store.sha256(name)
        except (BlobCorrupted, BlobMissing, StorageKeyError) as error:
            failures.append(str(error))
    restored.failures += failures
    line = f"blobs: {len(rows) - named_failures} of the {len(rows)} that rows name decrypt to the SHA-256 on record"
    if unnamed:
        line += f"; {len(unnamed)} no row names (left in place)"
    restored.found.append(line)


def _check_bundles(connection: Connection, restored: Restored) -> None:
    from disclosure.production.models import Bundle

    columns = Bundle.__table__.c
    live = connection.execute(
        select(columns.public_id, columns.sha256).where(columns.purged_at.is_(None), columns.blob_name.is_(None))
    ).all()
    kept = connection.execute(
        select(func.count()).where(columns.purged_at.is_(None), columns.blob_name.is_not(None))
    ).scalar_one()
    if kept:
        restored.found.append(f"bundles: {kept} kept in the blob store, checked with the blobs")
    folder = bundle_dir(current_app.config, current_app.instance_path)
    bad = 0
    for public_id, sha256 in live:
        path = folder / f"{public_id}.zip"
        if not path.is_file():
            restored.failures.append(f"bundle {public_id}: its file {path} is missing")
            bad += 1
        elif _sha256_file(path)[1] != sha256:
            restored.failures.append(f"bundle {public_id}: its file's SHA-256 differs from the record")
            bad += 1
    restored.found.append(f"bundles: {len(live) - bad} of {len(live)} kept (not purged) are in place and intact")


@contextmanager
def _secret_key(value: str) -> Iterator[None]:
    saved = current_app.config["SECRET_KEY"]
    current_app.config["SECRET_KEY"] = value
    try:
        yield
    finally:
        current_app.config["SECRET_KEY"] = saved


def _check_second_factors(connection: Connection, restored: Restored, secret_before: str | None) -> None:
    """Second-factor secrets are encrypted under the instance's secret key: they must open under the one in effect.

    The key in effect at the next start is the secret_key file when the running app read it from there (the file
    held the running key before the restore), otherwise whatever configured the running one.
    """
    from disclosure.auth import totp
    from disclosure.auth.models import User

    configured = str(current_app.config["SECRET_KEY"])
    restored_file = _secret_key_file()
    effective = restored_file if restored_file is not None and secret_before == configured else configured
    columns = User.__table__.c
    enrolled = connection.execute(
        select(columns.id, columns.totp_secret_enc).where(columns.totp_secret_enc.isnot(None))
    )
    failed = []
    total = 0
    with _secret_key(effective):
        for user_id, secret in enrolled:
            total += 1
            try:
                totp.decrypt_secret(int(user_id), bytes(secret))
            except Exception:  # any failure to decrypt (InvalidTag, a malformed value) is the same finding
                failed.append(int(user_id))
    if failed:
        restored.failures.append(
            f"{len(failed)} of {total} second-factor secrets (users {', '.join(map(str, failed[:10]))}) do not open "
            "under the secret key in effect: restore the secret key the backup was made with (DISCLOSURE_SECRET_KEY "
            "or instance/secret_key), or have an administrator reset those second factors"
        )
    elif total:
        restored.found.append(f"second factors: all {total} open under the secret key in effect")


def _note_revision(connection: Connection, manifest: Manifest, restored: Restored) -> None:
    revision = database.migration_revision(connection)
    heads = _code_heads()
    if revision is None:
        restored.found.append("migration: none recorded (a database built from the models, not by migrations)")
    elif heads is not None and set(revision.split(",")) != heads:
        restored.found.append(
            f"migration: the database is at {revision}, this code's head is {', '.join(sorted(heads))}: "
            "run `flask db upgrade`"
        )
    else:
        restored.found.append(f"migration: {revision}, this code's head")
    if manifest.app_version != _app_version():
        restored.found.append(f"app version: the backup was made by {manifest.app_version}, this is {_app_version()}")


def _code_heads() -> set[str] | None:
    from alembic.script import ScriptDirectory

    migrate = current_app.extensions.get("migrate")
    if migrate is None:
        return None
    try:
        return set(ScriptDirectory(str(migrate.directory)).get_heads())
    except Exception:  # a migrations folder that cannot be read only costs this note, never the restore
        return None


def record_backup_restored(actor: Actor, folder: Path, restored: Restored, *, force: bool, keys_only: bool) -> None:
    """Record the restore in the (restored) audit log, in the caller's transaction."""
    require(actor, Permission.STORAGE_MAINTAIN)
    manifest = read_manifest(folder)
    record(
        actor,
        AuditAction.BACKUP_RESTORED,
        subject="backup",
        data={
            "folder": str(folder.resolve()),
            "created_at": manifest.created_at,
            "audit_size": restored.audit_size,
            "audit_root": restored.audit_root,
            "forced": force,
            "keys_only": keys_only,
            "failures": len(restored.failures),
        },
        outcome="success" if restored.ok else "failure",
    )
