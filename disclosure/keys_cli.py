"""`flask keys init`: create the organisation's keys under instance/keys/, or import existing ones."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from disclosure import keyring
from disclosure.audit.actions import AuditAction
from disclosure.audit.service import SystemActor, record, require_schema
from disclosure.extensions import db

keys_cli = AppGroup("keys", help="Manage the organisation's signing keys.")


@keys_cli.command("init")
@click.option("--import-log-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Import this unencrypted PEM Ed25519 key as the audit-log key instead of creating one.")
def init(import_log_key: Path | None) -> None:
    """Create the keys that are missing; existing keys are never replaced."""
    require_schema()
    try:
        done = keyring.init_log_key(import_log_key)
    except keyring.KeyImportError as error:
        raise click.ClickException(str(error)) from error
    if done is None:
        click.echo("all keys already exist; nothing changed")
        return
    record(SystemActor("flask keys init"), AuditAction.KEYS_CREATED, subject="keys",
           data={"key": "audit-log", "imported": import_log_key is not None})
    db.session.commit()
    click.echo(done)
