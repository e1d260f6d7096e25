"""What exists that the keys protect, counted from the database and the folders: blobs, checkpoints, bundles.

One place answers "is there data a new key could never read or verify?": `flask keys init` asks before it
creates a key, `flask storage verify` asks whether a missing blob folder matters, and backups list what they
carry. Nothing here writes, and no folder is created by looking at it (BlobStore would create its root).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, inspect, select
from sqlalchemy.exc import DBAPIError

from disclosure.audit.models import AuditCheckpoint
from disclosure.cases.models import Document
from disclosure.jobs.models import Job
from disclosure.keyring import LOG_KEY_FILE
from disclosure.production.models import Bundle, ProductionRecord
from disclosure.storage.keys import keyring_for_config
from disclosure.storage.transactional import bundles_folder

#: The checkpoint files the log writes (disclosure.audit.service.checkpoint_file_name), and any written beside one.
CHECKPOINT_GLOB = "checkpoint-*.txt"
#: The tables whose rows name a blob in the blob store (a bundle's only with the database backend).
BLOB_COLUMNS = (
    Document.__table__.c.blob_name,
    ProductionRecord.__table__.c.blob_name,
    Bundle.__table__.c.blob_name,
    Job.__table__.c.output_blob,
)


def blobs_in_database(config: Mapping[str, Any]) -> bool:
    """BLOB_BACKEND is "database": the blobs are rows of the database (and so inside its dump), not files."""
    return config.get("BLOB_BACKEND") == "database"


def blob_root(config: Mapping[str, Any], instance_path: str | os.PathLike[str]) -> Path:
    """The blob store's root as disclosure.storage.store.store_for_app finds it, without creating it."""
    configured = config.get("BLOB_DIR")
    return Path(configured) if configured else Path(instance_path) / "blobs"


#: Where built bundles are kept, without creating the folder.
bundle_dir = bundles_folder


def checkpoint_dir(config: Mapping[str, Any]) -> Path:
    return Path(config["AUDIT_CHECKPOINT_DIR"])


def keys_dir(config: Mapping[str, Any]) -> Path:
    return Path(config["KEYS_DIR"])


def checkpoint_files(folder: Path) -> list[Path]:
    """The checkpoint files in folder, sorted by name (so by size); none when the folder does not exist."""
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.glob(CHECKPOINT_GLOB) if path.is_file() and not path.is_symlink())


def files_under(folder: Path) -> list[Path]:
    """Every plain file below folder, sorted; symbolic links are neither followed nor listed."""
    if not folder.is_dir():
        return []
    found = []
    for directory, subdirectories, names in os.walk(folder, followlinks=False):
        subdirectories.sort()
        for name in sorted(names):
            path = Path(directory, name)
            if path.is_file() and not path.is_symlink():
                found.append(path)
    return found


def referenced_blobs(connection: Connection) -> set[str]:
    """Every blob name a row points at."""
    names: set[str] = set()
    for column in BLOB_COLUMNS:
        named = select(column).where(column.is_not(None))
        if column.table is Bundle.__table__:
            named = named.where(column.table.c.purged_at.is_(None))
        names.update(str(name) for name in connection.execute(named).scalars())
    return names


def stored_blobs(connection: Connection) -> dict[str, str]:
    """The database backend's complete blobs: name -> storage key id."""
    from disclosure.storage.models import BlobObject

    columns = BlobObject.__table__.c
    return {str(name): str(key_id) for name, key_id in connection.execute(select(columns.name, columns.key_id))}


def _blob_objects() -> Any:
    from disclosure.storage.models import BlobObject

    return BlobObject.__table__


def _count(connection: Connection, table: Any) -> int:
    return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


@dataclass(frozen=True)
class Holdings:
    """What exists now that keys were used for; zero where a table or folder does not exist."""

    blob_rows: int
    blob_files: int
    checkpoint_rows: int
    checkpoint_files: int
    bundle_rows: int
    bundle_files: int


def holdings(connection: Connection, config: Mapping[str, Any], instance_path: str | os.PathLike[str]) -> Holdings:
    tables = set(inspect(connection).get_table_names())

    def rows(table: Any) -> int:
        return _count(connection, table) if table.name in tables else 0

    try:
        blob_rows = sum(rows(column.table) for column in BLOB_COLUMNS[:2])
        checkpoint_rows, bundle_rows = rows(AuditCheckpoint.__table__), rows(Bundle.__table__)
        in_database = rows(_blob_objects()) if blobs_in_database(config) else 0
    except DBAPIError:
        blob_rows = checkpoint_rows = bundle_rows = in_database = 0
    root = blob_root(config, instance_path)
    if blobs_in_database(config):
        blob_files = in_database
    else:
        blob_files = sum(1 for path in files_under(root) if path.parent.parent == root)
    return Holdings(
        blob_rows=blob_rows,
        blob_files=blob_files,
        checkpoint_rows=checkpoint_rows,
        checkpoint_files=len(checkpoint_files(checkpoint_dir(config))),
        bundle_rows=bundle_rows,
        bundle_files=sum(1 for path in files_under(bundle_dir(config, instance_path)) if path.suffix == ".zip"),
    )


@dataclass(frozen=True)
class MissingKey:
    """A key `flask keys init` would create, and the existing data that only the lost key can read or verify."""

    #: "audit-log", "storage" or "pki", as `flask keys init` names them.
    kind: str
    #: For people: "the audit-log key".
    key: str
    path: Path
    depends: list[str]


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def missing_keys(
    connection: Connection, config: Mapping[str, Any], instance_path: str | os.PathLike[str]
) -> list[MissingKey]:
    """The keys `flask keys init` would create anew, each with what already depends on the key it replaces.

    The audit-log key signed every checkpoint (and the checkpoint every bundle carries); the storage keys encrypt
    every blob; the CA vouches for every bundle's signer. A new signing certificate under the existing CA is no
    loss, so only a missing CA counts for bundles.
    """
    from disclosure.exports.pki import CA_CERT_FILE
    from disclosure.production.bundles import pki_dir

    have = holdings(connection, config, instance_path)
    keys = keys_dir(config)
    folder = checkpoint_dir(config)
    found: list[MissingKey] = []
    if not (keys / LOG_KEY_FILE).exists():
        depends = []
        if have.checkpoint_rows:
            stored = _plural(have.checkpoint_rows, "stored checkpoint", "stored checkpoints")
            depends.append(f"{stored} in the database")
        if have.checkpoint_files:
            depends.append(_plural(have.checkpoint_files, "checkpoint file", "checkpoint files") + f" in {folder}")
        if have.bundle_rows:
            depends.append(_plural(have.bundle_rows, "bundle", "bundles") + " carrying signed checkpoints")
        found.append(MissingKey("audit-log", "the audit-log key", keys / LOG_KEY_FILE, depends))
    storage = keyring_for_config(config)
    if not storage.key_ids():
        depends = []
        if have.blob_rows:
            depends.append(_plural(have.blob_rows, "document or record", "documents and records") + " on file")
        if have.blob_files:
            where = "the database" if blobs_in_database(config) else str(blob_root(config, instance_path))
            depends.append(_plural(have.blob_files, "encrypted blob", "encrypted blobs") + f" in {where}")
        found.append(MissingKey("storage", "the storage key", storage.folder, depends))
    ca = pki_dir(config) / CA_CERT_FILE
    if not ca.exists():
        depends = []
        if have.bundle_rows:
            depends.append(_plural(have.bundle_rows, "bundle", "bundles") + " signed under it on record")
        if have.bundle_files:
            bundles = bundle_dir(config, instance_path)
            depends.append(_plural(have.bundle_files, "bundle file", "bundle files") + f" in {bundles}")
        found.append(MissingKey("pki", "the bundle CA", ca, depends))
    return found


def blob_folder_problem(
    connection: Connection, config: Mapping[str, Any], instance_path: str | os.PathLike[str]
) -> str | None:
    """A message when the blob folder is missing although rows point at blobs; None when all is as it should be
    (and always with the database backend, which has no folder)."""
    if blobs_in_database(config):
        return None
    root = blob_root(config, instance_path)
    if root.is_dir():
        return None
    try:
        rows = sum(_count(connection, column.table) for column in BLOB_COLUMNS[:2])
    except DBAPIError:
        return None  # no schema yet: nothing can point at a blob
    if not rows:
        return None
    return (
        f"the blob folder {root} does not exist, but {_plural(rows, 'row names', 'rows name')} a blob in it: "
        "restore the folder from your backup (`flask backup restore`), or point BLOB_DIR at where it is"
    )
