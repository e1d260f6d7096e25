"""Blobs tied to the request's transaction: stored now, removed again if the transaction rolls back.

A blob is written (and fsynced) before the row that names it is committed; if the commit never happens, the blob
is deleted, so no file is left that no record points at, and no record ever points at a missing file.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from disclosure.extensions import db
from disclosure.storage.store import BlobStore, StoredBlob, store_for_app

PENDING = "uncommitted_blobs"


def app_store() -> BlobStore:
    return store_for_app(current_app.config, current_app.instance_path)


def put_in_transaction(source: Iterable[bytes] | Any, max_bytes: int) -> StoredBlob:
    store = app_store()
    blob = store.put(source, max_bytes=max_bytes)
    db.session.info.setdefault(PENDING, []).append((store, blob.name))
    return blob


@event.listens_for(Session, "after_commit")
def _keep_committed_blobs(session: Session) -> None:
    session.info.pop(PENDING, None)


@event.listens_for(Session, "after_soft_rollback")
def _remove_orphaned_blobs(session: Session, previous_transaction: Any) -> None:
    if not previous_transaction.nested:
        for store, name in session.info.pop(PENDING, []):
            store.delete(name)
