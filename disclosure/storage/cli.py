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


@storage_cli.command("verify")
def verify() -> None:
    """Authenticate and re-hash every blob. Exit 0 when all are intact, 1 when any is not."""
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
    leftovers = len(store.temporary_files())
    click.echo(
        f"checked {checked} blob(s): {checked - len(failures)} intact, {len(failures)} corrupted"
        + (f"; {leftovers} temporary file(s) in {store.root / '.tmp'}" if leftovers else "")
    )
    if failures:
        raise SystemExit(1)
