"""Readiness: whether this process can serve requests now, as a load balancer or an orchestrator asks (`/ready`).

Four checks: the database answers; the blob store (its folder, or with the database backend its tables), the keys
and the audit checkpoint folder are in place.
Each answers True or False. Why one failed goes to the log, which may name a path; the answer, which is public,
names only the check.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import text

from disclosure.extensions import db
from disclosure.keyring import load_log_key
from disclosure.storage.keys import keyring_for_config

log = logging.getLogger(__name__)


def database_answers() -> bool:
    db.session.execute(text("SELECT 1"))
    return True


def folder_is_writable(path: Path) -> bool:
    """The folder exists, this process may create files in it, and its file system is writable and has room.

    Checked without writing a file: the checkpoint folder may be WORM storage, where a probe file, once written,
    could never be removed again. access(2) also answers EROFS for a read-only mount.
    """
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK) and os.statvfs(path).f_bavail > 0


def blob_folder(app: Flask) -> Path:
    """Where the file blob store keeps its blobs (disclosure.storage.store.store_for_app), without creating it."""
    configured = app.config.get("BLOB_DIR")
    return Path(configured) if configured else Path(app.instance_path) / "blobs"


def blob_store_is_writable() -> bool:
    """The file backend: its folder is writable. The database backend: its tables answer (the database's own
    writability is the database check's business)."""
    if current_app.config.get("BLOB_BACKEND") == "database":
        with db.engine.connect() as connection:  # a missing table must not leave the request's session aborted
            connection.execute(text("SELECT 1 FROM blob_object LIMIT 1"))
            connection.execute(text("SELECT 1 FROM blob_chunk LIMIT 1"))
        return True
    return folder_is_writable(blob_folder(current_app))


def keys_load() -> bool:
    """The keys ordinary requests use: the audit-log key (any audited write may sign a checkpoint) and the current
    storage key (every upload and download). The bundle-signing certificate is not one of them: an expiring
    certificate stops bundles, not the site."""
    load_log_key()
    keyring_for_config(current_app.config).current()
    return True


def checkpoint_folder_is_writable() -> bool:
    return folder_is_writable(Path(current_app.config["AUDIT_CHECKPOINT_DIR"]))


CHECKS: dict[str, Callable[[], bool]] = {
    "database": database_answers,
    "blob_store": blob_store_is_writable,
    "keys": keys_load,
    "checkpoints": checkpoint_folder_is_writable,
}


def readiness() -> dict[str, bool]:
    """Every check's answer, by name; all of them run, so that every failing one is named."""
    answers = {}
    for name, check in CHECKS.items():
        try:
            answers[name] = bool(check())
        except Exception as error:
            log.warning("readiness check %s failed: %s", name, error)
            answers[name] = False
        else:
            if not answers[name]:
                log.warning("readiness check %s failed", name)
    return answers
