"""`flask backup create|restore`: the command line of disclosure.backup.service.

Exit 0 when everything was done and checked, 1 with the reasons when something was refused or a check failed,
2 for bad arguments (a non-empty --out, a folder that is no backup, no way to ask for the passphrase). The
passphrase comes from a file or is asked for at the terminal (twice when it is chosen); it is never an argument
and never logged.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from disclosure import unit_of_work
from disclosure.backup.keyfile import WeakPassphrase, check_passphrase
from disclosure.backup.service import (
    BackupError,
    BackupRefused,
    BackupUsageError,
    create_backup,
    record_backup_created,
    record_backup_restored,
    restore_backup,
)
from disclosure.services import NotPermitted, SystemActor

backup_cli = AppGroup("backup", help="Back up this instance, or restore a backup into an empty one.")


def _passphrase(path: Path | None, *, choosing: bool) -> str:
    """The passphrase from the file's first line, or asked for at the terminal (twice when choosing one)."""
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise click.UsageError(f"--passphrase-file {path}: cannot read it ({error})") from error
        lines = text.splitlines()
        passphrase = lines[0] if lines else ""
        if not passphrase:
            raise click.UsageError(f"--passphrase-file {path}: its first line is empty")
        return passphrase
    if not sys.stdin.isatty():
        raise click.UsageError("give --passphrase-file FILE: the passphrase is asked for only at a terminal")
    answer = click.prompt(
        "Passphrase for the keys" if choosing else "Passphrase of the backup's keys",
        hide_input=True,
        confirmation_prompt="Repeat it" if choosing else False,
    )
    return str(answer)


@backup_cli.command("create")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A new or empty folder to write the backup to.",
)
@click.option("--without-keys", is_flag=True, help="Leave the keys out (back them up separately, elsewhere).")
@click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the passphrase that encrypts the keys from this file's first line, instead of asking twice.",
)
def create(out: Path, without_keys: bool, passphrase_file: Path | None) -> None:
    """Write a consistent backup: the database snapshot, blobs, bundles, checkpoint files and the keys
    (encrypted to a passphrase), with a manifest of every part's SHA-256 and the audit log's size and root.
    The app may keep running. Exit 1 when a problem was found (the backup is written and says which)."""
    if without_keys and passphrase_file is not None:
        raise click.UsageError("--without-keys leaves the keys out: there is nothing to encrypt to --passphrase-file")
    operator = SystemActor("flask backup create")
    passphrase = None if without_keys else _passphrase(passphrase_file, choosing=True)
    if passphrase is not None:
        try:
            check_passphrase(passphrase)
        except WeakPassphrase as error:
            raise click.UsageError(str(error)) from error
    try:
        created = create_backup(operator, out, passphrase)
    except BackupUsageError as error:
        raise click.UsageError(str(error)) from error
    except (BackupError, NotPermitted) as error:
        raise click.ClickException(f"no backup made: {error}") from error
    with unit_of_work.command("the backup is written but could not be recorded in the audit log"):
        record_backup_created(operator, created)
    for line in created.report():
        click.echo(line)
    if not created.ok:
        raise SystemExit(1)


@backup_cli.command("restore")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="Restore over a database or folders that hold data. Keys and checkpoint files in place are never "
    "deleted: a differing one is kept beside.",
)
@click.option(
    "--keys-only",
    is_flag=True,
    help="Restore only the keys (and the secret key), e.g. when the keys folder alone was lost.",
)
@click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the passphrase of the backup's keys from this file's first line, instead of asking.",
)
def restore(folder: Path, force: bool, keys_only: bool, passphrase_file: Path | None) -> None:
    """Restore a backup into this instance, then check it: the log against every checkpoint file present, its
    size and root against the manifest, every blob against its record. Every part is checked against the
    manifest before anything is touched; a target holding data is refused without --force. Stop the app
    first. Exit 0 only when every check passes."""
    operator = SystemActor("flask backup restore")
    try:
        restored = restore_backup(
            operator,
            folder,
            lambda: _passphrase(passphrase_file, choosing=False),
            force=force,
            keys_only=keys_only,
        )
    except BackupUsageError as error:
        raise click.UsageError(str(error)) from error
    except BackupRefused as error:
        click.echo(str(error), err=True)
        raise SystemExit(1) from error
    except (BackupError, NotPermitted) as error:
        raise click.ClickException(str(error)) from error
    for line in restored.report():
        click.echo(line)
    if restored.recordable:
        with unit_of_work.command("restored, but the restore could not be recorded in the audit log"):
            record_backup_restored(operator, folder, restored, force=force, keys_only=keys_only)
    if not restored.ok:
        raise SystemExit(1)
