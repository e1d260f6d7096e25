"""`flask storage rotate-key|verify`: re-encrypt every blob under a new key; re-hash every blob."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from disclosure.storage.keys import StorageKeyError
from disclosure.storage.store import BlobCorrupted, BlobMissing, BlobStore, store_for_app

storage_cli = AppGroup("storage", help="Manage the encrypted files at rest.")


def app_store() -> BlobStore:
    return store_for_app(current_app.config, current_app.instance_path)


@storage_cli.command("rotate-key")
def rotate_key() -> None:
    """Create a new storage key and re-encrypt every blob under it; old keys stay until retired."""
    from disclosure import unit_of_work
    from disclosure.audit.actions import AuditAction
    from disclosure.audit.service import record, require_schema
    from disclosure.permissions import Permission
    from disclosure.services import SystemActor, require

    operator = SystemActor("flask storage rotate-key")
    require_schema()
    store = app_store()
    with unit_of_work.command("no key rotated"):
        require(operator, Permission.STORAGE_MAINTAIN)
        try:
            rotation = store.rotate_key()
        except StorageKeyError as error:
            raise click.ClickException(str(error)) from error
        record(
            operator,
            AuditAction.STORAGE_KEY_ROTATED,
            subject="storage",
            data={"new_key": rotation.key_id, "blobs": rotation.rotated, "corrupted": len(rotation.corrupted)},
            outcome="failure" if rotation.corrupted else "success",
        )
    click.echo(f"created storage key {rotation.key_id}; re-encrypted {rotation.rotated} blob(s) under it")
    if rotation.corrupted:
        for message in rotation.corrupted:
            click.echo(message, err=True)
        click.echo(
            f"{len(rotation.corrupted)} corrupted blob(s) keep their old key; run `flask storage verify`", err=True
        )
        raise SystemExit(1)


def missing_blob_folder() -> str | None:
    """A message when the blob folder is missing although rows name blobs in it (opening the store would create
    it empty and find nothing wrong); None otherwise."""
    from disclosure.backup.database import reading
    from disclosure.backup.inventory import blob_folder_problem
    from disclosure.extensions import db

    with reading(db.engine) as connection:
        return blob_folder_problem(connection, current_app.config, current_app.instance_path)


@storage_cli.command("verify")
def verify() -> None:
    """Authenticate and re-hash every blob, in either backend. Exit 0 when all are intact and every blob matches the
    database; 1 on a missing blob folder, a corrupted, missing or orphan blob, or a leftover partial write."""
    problem = missing_blob_folder()
    if problem is not None:
        click.echo(problem, err=True)
        raise SystemExit(1)
    store = app_store()
    checked = 0
    failures = []
    for name in store.names():
        checked += 1
        try:
            store.sha256(name)
        except (BlobCorrupted, BlobMissing, StorageKeyError) as error:
            failures.append(str(error))
    for message in failures:
        click.echo(message, err=True)
    leftovers = len(store.partial_writes())
    click.echo(
        f"checked {checked} blob(s): {checked - len(failures)} intact, {len(failures)} corrupted"
        + ("" if store.kind == "file" else f" ({store.location})")
        + (f"; {leftovers} unfinished write(s)" if leftovers else "")
    )
    from disclosure.storage.reconcile import reconcile

    report = reconcile(dry_run=True)  # orphans, partials, abandoned and missing files
    for finding in report.findings:
        click.echo(finding.line(dry_run=True), err=True)
    if report.findings:
        click.echo(f"{len(report.findings)} file(s) disagree with the database: `flask storage reconcile`", err=True)
    if failures or report.findings:
        raise SystemExit(1)


@storage_cli.command("reconcile")
@click.option("--dry-run", is_flag=True, help="Report what does not match the database; remove nothing.")
def reconcile_files(dry_run: bool) -> None:
    """Find files that disagree with the database and remove those no committed row names.

    Orphans, partials of killed writers, files staged for rows that never committed, and purged bundles' files are
    removed, each removal audit-logged; files younger than STORAGE_RECONCILE_GRACE (one hour) are left alone.
    Missing files are reported for a person. Exit 0 when nothing is left to do, 1 otherwise.
    """
    from disclosure import unit_of_work
    from disclosure.audit.service import require_schema
    from disclosure.extensions import db
    from disclosure.services import SystemActor
    from disclosure.storage.reconcile import reconcile

    require_schema()
    db.session.rollback()  # the schema is there; the scan needs no lock on the audit log's head
    with unit_of_work.command("nothing removed"):
        report = reconcile(dry_run=dry_run, actor=SystemActor("flask storage reconcile"))
    for line in report.lines():  # the removals are committed and the files gone: say so
        click.echo(line)
    if report.exit_code:
        raise SystemExit(report.exit_code)
