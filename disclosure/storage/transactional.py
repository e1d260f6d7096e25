"""Files follow the database: every file the app writes is staged, then committed with the row that owns it.

The rule, for blobs and bundles alike (staged_file() is the one place it lives):
1. the file's name is recorded in a `pending_file` row committed in a short transaction of its own, on a separate
   connection, so that the record outlives whatever becomes of the request;
2. the file is written (completely, fsynced, renamed into place; in the database blob backend, its chunks committed
   on a connection of their own, then its blob_object row);
3. the request's transaction deletes the pending row, so it commits together with the row that names the file.
Success leaves no pending row. A rollback removes the file and its pending row. A process killed, or cut off from
the database, leaves the pending row, and `flask storage reconcile` (disclosure.storage.reconcile) removes the file
once the row is older than the grace period; should reconcile get there first, the commit refuses rather than name
a removed file.

SQLite is the exception: a transaction takes SQLite's only write lock at its first statement (BEGIN IMMEDIATE,
disclosure.database), so while the session holds a transaction no other connection can commit the pending row
before the request ends. There the row is not written: a file whose transaction never commits is named by no row
at all, and reconcile finds it as an orphan once it is older than the grace period.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import Engine, delete, event, insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, SessionTransaction

from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.storage.keys import fsync_directory
from disclosure.storage.models import FileArea, PendingFile
from disclosure.storage.store import (
    BlobStore,
    PartialWrite,
    StorageError,
    StoredBlob,
    new_blob_name,
    store_for_app,
)

#: session.info keys: files written in this transaction, and files to remove once it commits.
STAGED = "disclosure_staged_files"
REMOVE_AFTER_COMMIT = "disclosure_remove_after_commit"
#: A bundle's file: `<public id>.zip`.
BUNDLE_FILE = re.compile(r"[0-9A-Za-z]{1,32}\.zip")

log = logging.getLogger(__name__)


class FileRemovedMeanwhile(StorageError):
    """The file was removed as abandoned while it was being written; nothing was saved."""


def app_store() -> BlobStore:
    return store_for_app(current_app.config, current_app.instance_path)


def bundles_folder(config: Mapping[str, Any], instance_path: str | os.PathLike[str]) -> Path:
    """Where built bundles live under their public id: BUNDLE_DIR (a folder several hosts share), else
    instance/bundles/."""
    configured = config.get("BUNDLE_DIR")
    return Path(configured) if configured else Path(instance_path) / "bundles"


def bundle_dir(create: bool = True) -> Path:
    """The bundles folder of this app (bundles_folder), created unless `create` is False."""
    folder = bundles_folder(current_app.config, current_app.instance_path)
    if create:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


@dataclass(frozen=True)
class StoredFile:
    """A file in one of the areas, by the name a row (or a pending_file row) knows it by."""

    area: FileArea
    name: str
    #: Where the file is; None for a blob of the database backend, which is no file.
    path: Path | None
    #: Blobs are removed through their store, which locks the blob against a rotation in progress.
    store: BlobStore | None = None

    def exists(self) -> bool:
        if self.store is not None:
            return self.store.exists(self.name)
        return self.path is not None and self.path.is_file()

    def remove(self) -> bool:
        """Remove the file; False if it was not there."""
        if self.store is not None:
            return self.store.delete(self.name)
        if self.path is None:
            return False
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        fsync_directory(self.path.parent)
        return True


def stored_file(area: FileArea, name: str) -> StoredFile:
    """The file `name` in `area`; refuses a name that is not one the app gives (UnsafeBlobName, StorageError)."""
    if area is FileArea.BLOB:
        store = app_store()
        store.backend.check_name(name)
        return StoredFile(area, name, store.path(name) if store.kind == "file" else None, store)
    if BUNDLE_FILE.fullmatch(name) is None:
        raise StorageError(f"{name!r} is not a bundle's file name (<public id>.zip)")
    return StoredFile(area, name, bundle_dir() / name)


@dataclass(frozen=True)
class _Staged:
    file: StoredFile
    #: None on SQLite inside a transaction (see the module docstring).
    pending_id: int | None
    #: Where the pending row lives; kept, since a rollback may run outside the app context.
    engine: Engine


@contextmanager
def staged_file(area: FileArea, name: str, owner: str) -> Iterator[StoredFile]:
    """Write the file `name` of `area` inside this block, for a row of table `owner` that the caller adds.

    Records the pending file first (its own transaction); if the block raises, the file and the record are removed.
    Afterwards the record's deletion joins the session's transaction, which must add the owning row and commit.
    """
    target = stored_file(area, name)
    engine = db.engine
    pending_id = _record_pending(engine, area, name, owner)
    try:
        yield target
    except BaseException:
        _discard(_Staged(target, pending_id, engine))
        raise
    session = db.session()
    # From here on a rollback removes the file, even should deleting the pending row fail.
    session.info.setdefault(STAGED, []).append(_Staged(target, pending_id, engine))
    if pending_id is not None:
        deleted = session.connection().execute(delete(PendingFile).where(PendingFile.id == pending_id)).rowcount
        if deleted != 1:
            raise FileRemovedMeanwhile(
                f"{area.label} {name} took longer to write than the reconciliation grace period and was removed as "
                "abandoned; nothing was saved, try again"
            )


def put_in_transaction(source: Iterable[bytes] | Any, max_bytes: int, owner: str = "blob") -> StoredBlob:
    """Store `source` encrypted, staged for a row of table `owner` that the caller adds in this transaction."""
    store = app_store()
    name = new_blob_name()
    with staged_file(FileArea.BLOB, name, owner):
        return store.put(source, max_bytes=max_bytes, name=name)


def remove_after_commit(removal: StoredFile | Path | PartialWrite) -> None:
    """Remove a file (or a killed writer's leftover file or folder) once the session's transaction commits."""
    db.session().info.setdefault(REMOVE_AFTER_COMMIT, []).append(removal)


def _record_pending(engine: Engine, area: FileArea, name: str, owner: str) -> int | None:
    if engine.dialect.name == "sqlite" and db.session().in_transaction():
        return None
    with engine.begin() as connection:
        result = connection.execute(
            insert(PendingFile).values(area=area.value, name=name, owner=owner, created_at=utcnow())
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def _forget_pending(engine: Engine, pending_id: int) -> None:
    with engine.begin() as connection:
        connection.execute(delete(PendingFile).where(PendingFile.id == pending_id))


def _discard(staged: _Staged) -> None:
    """Remove a file whose transaction did not commit, then its pending row; what fails is left to reconcile."""
    try:
        staged.file.remove()
    except (OSError, StorageError, SQLAlchemyError):
        log.exception("could not remove %s %s after a rollback; `flask storage reconcile` will", *_named(staged.file))
        return  # keep the pending row: it is what tells reconcile about the file
    if staged.pending_id is not None:
        try:
            _forget_pending(staged.engine, staged.pending_id)
        except Exception:  # the database may be what failed; an old pending row with no file is reconciled too
            log.exception("could not delete the pending record of %s %s; reconcile will", *_named(staged.file))


def _remove(removal: StoredFile | Path | PartialWrite) -> None:
    try:
        if isinstance(removal, StoredFile | PartialWrite):
            removal.remove()
        elif removal.is_dir() and not removal.is_symlink():
            shutil.rmtree(removal)
        else:
            removal.unlink(missing_ok=True)
            fsync_directory(removal.parent)
    except (OSError, StorageError, SQLAlchemyError):
        # Committed already: say nothing to the caller; the file is found again by the next reconciliation.
        log.exception("could not remove %s after its removal was committed", removal)


def _named(file: StoredFile) -> tuple[str, str]:
    return file.area.label, file.name


@event.listens_for(Session, "after_commit")
def _settle_committed_files(session: Session) -> None:
    session.info.pop(STAGED, None)
    for removal in session.info.pop(REMOVE_AFTER_COMMIT, []):
        _remove(removal)


@event.listens_for(Session, "after_soft_rollback")
def _remove_uncommitted_files(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.nested:
        return
    session.info.pop(REMOVE_AFTER_COMMIT, None)
    for staged in session.info.pop(STAGED, []):
        _discard(staged)

