"""`flask keys init`: create the organisation's keys under instance/keys/, or import existing ones."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from disclosure import keyring
from disclosure.audit.actions import AuditAction
from disclosure.audit.service import SystemActor, record, require_schema
from disclosure.extensions import db
from disclosure.storage.keys import keyring_for_config

keys_cli = AppGroup("keys", help="Manage the organisation's signing keys.")


@keys_cli.command("init")
@click.option("--import-log-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Import this unencrypted PEM Ed25519 key as the audit-log key instead of creating one.")
def init(import_log_key: Path | None) -> None:
    """Create the keys that are missing; existing keys are never replaced."""
    require_schema()
    try:
        log_key = keyring.init_log_key(import_log_key)
    except keyring.KeyImportError as error:
        raise click.ClickException(str(error)) from error
    storage_key = keyring_for_config(current_app.config).init()
    created = {"audit-log": log_key, "storage": storage_key}
    done = {name: line for name, line in created.items() if line}
    if not done:
        click.echo("all keys already exist; nothing changed")
        return
    record(SystemActor("flask keys init"), AuditAction.KEYS_CREATED, subject="keys",
           data={"keys": sorted(done), "imported": sorted(["audit-log"] if import_log_key and log_key else [])})
    db.session.commit()
    for line in done.values():
        click.echo(line)
