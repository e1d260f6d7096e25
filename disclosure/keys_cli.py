"""`flask keys init|export-ca|revoke-signer|reissue-crl|export-crl`: create the organisation's keys under
instance/keys/ (or import existing ones), hand out the CA certificate, ask for the bundle-signing certificate to be
withdrawn and keep the CA's revocation list current.

Each command is one unit of work (disclosure.unit_of_work.command) run by an operator holding storage:maintain.
Revoking the signer is two-person control: `revoke-signer --as EMAIL` only asks, and a second administrator
approves it on the pending changes page (disclosure.auth.pending, disclosure.exports.signer_service). Reissuing the
list signs the same entries again (routine upkeep, run from cron): it writes the list while its audit event waits
in the open transaction, then commits, so a failed write rolls the event back; it holds the audit log's head row
while it reads and writes the list, so it never overwrites a revocation's list. A commit that fails after the
file was written says so, and what to do.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from disclosure import keyring, unit_of_work
from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record, require_schema
from disclosure.auth.models import User
from disclosure.backup.inventory import missing_keys
from disclosure.clock import utcnow
from disclosure.exports.pki import PKIError, ca_pem, init_pki, serial_hex, write_file_atomically
from disclosure.exports.pki_revocation import (
    REVOCATION_REASONS,
    NoRevocationList,
    prepare_crl_reissue,
    stored_crl,
    write_crl,
)
from disclosure.extensions import db
from disclosure.permissions import Permission
from disclosure.production.bundles import pki_dir
from disclosure.services import NotPermitted, SystemActor, require
from disclosure.storage.keys import keyring_for_config

keys_cli = AppGroup("keys", help="Manage the organisation's signing keys.")


def _operator(command: str) -> SystemActor:
    """The operator running a command that changes keys, once allowed to: keys are upkeep (storage:maintain)."""
    operator = SystemActor(command)
    try:
        require(operator, Permission.STORAGE_MAINTAIN)
    except NotPermitted as error:
        raise click.ClickException(f"nothing changed: {error}") from error
    return operator


def _refuse_a_stranger_log_key(path: Path) -> None:
    """An imported audit-log key must have signed the latest stored checkpoint, if there is one."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from sqlalchemy import select

    from disclosure.audit.models import AuditCheckpoint
    from disclosure_proofs.note import NoteError, verify_checkpoint

    note = db.session.execute(
        select(AuditCheckpoint.note).order_by(AuditCheckpoint.id.desc()).limit(1)
    ).scalar_one_or_none()
    if note is None:
        return
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return  # init_log_key says what is wrong with the file
    if not isinstance(key, Ed25519PrivateKey):
        return
    try:
        verify_checkpoint(note, key.public_key(), keyring.log_key_name())
    except NoteError as error:
        raise click.ClickException(
            f"nothing created: {path} did not sign the checkpoints on file ({error}); import the audit-log key "
            "they were signed with, from your backup"
        ) from error


def _refuse_to_orphan_data(importing_log_key: Path | None, importing_pki: bool) -> None:
    """Refuse, changing nothing, to create a key whose predecessor encrypted or signed data that still exists.

    A new storage key cannot decrypt the blobs on file, a new log key makes every signed checkpoint read as
    forged, a new CA disowns every bundle already sent: the keys must come back from the backup instead.
    """
    lost = [
        missing
        for missing in missing_keys(db.session.connection(), current_app.config, current_app.instance_path)
        if missing.depends
        and not (missing.kind == "audit-log" and importing_log_key is not None)
        and not (missing.kind == "pki" and importing_pki)
    ]
    if importing_log_key is not None and not keyring.log_key_path().exists():
        _refuse_a_stranger_log_key(importing_log_key)
    if not lost:
        return
    lines = ["nothing created: keys are missing, but data encrypted or signed with them exists:"]
    lines += [f"  - {missing.key} ({missing.path}): {'; '.join(missing.depends)}" for missing in lost]
    lines += [
        "New keys could never decrypt or verify that data. Restore the keys from your backup instead:",
        "  flask backup restore BACKUP_DIR --keys-only   (the keys folder and secret key, from keys.enc)",
        f"or copy the backed-up keys folder back to {current_app.config['KEYS_DIR']}, then run `flask audit verify`.",
    ]
    raise click.ClickException("\n".join(lines))


@keys_cli.command("init")
@click.option(
    "--import-log-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Import this unencrypted PEM Ed25519 key as the audit-log key instead of creating one.",
)
@click.option(
    "--import-ca-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The organisation's own CA certificate (PEM), instead of creating one.",
)
@click.option(
    "--import-ca-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Its private key (optional)."
)
@click.option(
    "--import-signer-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A bundle-signing certificate issued by that CA (ECDSA P-256, emailProtection).",
)
@click.option(
    "--import-signer-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The signing certificate's private key.",
)
def init(
    import_log_key: Path | None,
    import_ca_cert: Path | None,
    import_ca_key: Path | None,
    import_signer_cert: Path | None,
    import_signer_key: Path | None,
) -> None:
    """Create the keys that are missing (audit-log key, storage key, org CA and bundle-signing certificate),
    or import the organisation's own; existing keys are never replaced. Refused, creating nothing, while data
    made with a missing key exists (blobs, checkpoints, bundles): restore the keys from the backup instead."""
    operator = _operator("flask keys init")
    require_schema()
    importing_pki = any(path is not None for path in (import_ca_cert, import_ca_key, import_signer_cert))
    _refuse_to_orphan_data(import_log_key, importing_pki)
    try:
        log_key = keyring.init_log_key(import_log_key)
    except keyring.KeyImportError as error:
        raise click.ClickException(str(error)) from error
    storage_key = keyring_for_config(current_app.config).init()
    try:
        pki_lines = init_pki(
            pki_dir(current_app.config),
            str(current_app.config.get("ORGANISATION_NAME", "Disclosure")),
            import_ca_cert=import_ca_cert,
            import_ca_key=import_ca_key,
            import_signer_cert=import_signer_cert,
            import_signer_key=import_signer_key,
            passphrase=keyring.bundle_key_passphrase(),
        )
    except PKIError as error:
        raise click.ClickException(str(error)) from error
    created = {"audit-log": log_key, "storage": storage_key, "pki": "\n".join(pki_lines) or None}
    done = {name: line for name, line in created.items() if line}
    if not done:
        click.echo("all keys already exist; nothing changed")
        return
    with unit_of_work.command("keys created but not recorded"):
        record(
            operator,
            AuditAction.KEYS_CREATED,
            subject="keys",
            data={"keys": sorted(done), "imported": sorted(["audit-log"] if import_log_key and log_key else [])},
        )
    for line in done.values():
        click.echo(line)


@keys_cli.command("export-ca")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Where to write the PEM.")
def export_ca(out: Path) -> None:
    """Write the organisation's CA certificate, which recipients use to verify bundles."""
    try:
        pem = ca_pem(pki_dir(current_app.config))
    except PKIError as error:
        raise click.ClickException(f"{error} Run `flask keys init`.") from error
    _write_out(out, pem, "the CA certificate")
    click.echo(f"wrote the CA certificate to {out}")


def _write_out(out: Path, data: bytes, what: str) -> None:
    """Write an --out file whole or not at all, with a message that says what to fix."""
    try:
        write_file_atomically(out, data)
    except OSError as error:
        raise click.ClickException(
            f"cannot write {what} to {out}: {error.strerror or error}; give --out a path in a folder that exists "
            "and that you can write to"
        ) from error


@keys_cli.command("revoke-signer")
@click.option(
    "--reason",
    required=True,
    type=click.Choice(list(REVOCATION_REASONS)),
    help="Why the certificate is withdrawn (recorded in the revocation list and the audit log).",
)
@click.option(
    "--as",
    "as_email",
    required=True,
    help="Email of the administrator asking for it; a second administrator approves it.",
)
@click.option("--yes", is_flag=True, help="Ask for it without confirming first.")
def revoke_signer(reason: str, as_email: str, yes: bool) -> None:
    """Ask for the bundle-signing certificate to be revoked and a new one issued (two-person control).

    Nothing is revoked here: the request waits under Users → Pending changes until a second administrator
    approves it with their own password; the requester cannot approve their own. Then the CA's revocation list
    (instance/keys/pki/bundle-ca.crl.pem) keeps every earlier revocation and also lists the current certificate,
    so bundles it signed fail verification against the list, and new bundles are signed with a new certificate.
    Publish the list with `flask keys export-crl` once it is approved."""
    from disclosure.auth import pending
    from disclosure.exports.signer_service import SignerRevocationError, check_signer_revocation

    require_schema()
    requester = _administrator(as_email)
    try:
        preview = check_signer_revocation(reason)
    except SignerRevocationError as error:
        raise click.ClickException(f"nothing requested: {error}") from error
    serial = serial_hex(preview.revoked.serial_number)
    if not yes:
        question = (
            f"Ask a second administrator to revoke the bundle-signing certificate "
            f"{preview.revoked.subject.rfc4514_string()}, serial {serial} (reason: {reason})? Once approved, every "
            "bundle it signed fails verification against the revocation list"
        )
        try:
            confirmed = click.confirm(question, default=False)
        except click.Abort:
            confirmed = False
        if not confirmed:
            raise click.ClickException("nothing requested: not confirmed (answer y, or pass --yes)")
    with unit_of_work.command("nothing requested"):
        change = pending.request_signer_revocation(requester, reason, None)
        change_id = change.id
    click.echo(
        f"asked for change #{change_id}: revoke the bundle-signing certificate serial {serial} (reason: {reason}) "
        "and issue a new one"
    )
    click.echo(
        "nothing is revoked yet: a second administrator approves it under Users → Pending changes (/admin/changes) "
        "with their own password; then publish the list: flask keys export-crl --out crl.pem"
    )


def _administrator(email: str) -> User:
    """The active administrator named by --as: who asks, and is accountable for asking."""
    user = db.session.execute(select(User).where(User.email == email.strip().lower())).scalar_one_or_none()
    if user is None or not user.active:
        raise click.BadParameter(f"no active user {email}", param_hint="--as")
    if not user.can(Permission.STORAGE_MAINTAIN):
        raise click.BadParameter(
            f"{email} is not an administrator (needs {Permission.STORAGE_MAINTAIN.value})", param_hint="--as"
        )
    return user


@keys_cli.command("reissue-crl")
def reissue_crl() -> None:
    """Sign the CA's revocation list again: the same revoked certificates, valid for 30 days from now.

    The list expires 30 days after it is issued; after that every `disclosure-bundle verify --crl` refuses it
    as out of date. Once a signing certificate has been revoked, run this from cron (e.g. weekly,
    `0 3 * * 1 flask keys reissue-crl`) and publish the list again with `flask keys export-crl`; the /keys/crl.pem
    download serves the new list at once. Exits 1, changing nothing, when no list exists, when the stored list is
    not signed by the CA, or when the CA key is absent."""
    operator = _operator("flask keys reissue-crl")
    folder = pki_dir(current_app.config)
    require_schema()  # from here the audit log's head row is locked: revoke-signer cannot write the list meanwhile
    written = False
    try:
        with unit_of_work.command("nothing reissued"):
            try:
                crl = prepare_crl_reissue(folder, now=utcnow(), passphrase=keyring.bundle_key_passphrase())
            except NoRevocationList as error:
                raise click.ClickException(
                    f"nothing reissued: {error}. There is no list to reissue until a signing certificate is revoked "
                    "with `flask keys revoke-signer`"
                ) from error
            except PKIError as error:
                raise click.ClickException(f"nothing reissued: {error}") from error
            next_update = crl.next_update_utc or utcnow()
            record(
                operator,
                AuditAction.KEYS_CRL_REISSUED,
                subject="keys",
                data={"entries": len(crl), "next_update": next_update.isoformat()},
            )
            try:
                path = write_crl(folder, crl)
            except OSError as error:
                raise click.ClickException(
                    f"could not write the revocation list in {folder}: {error.strerror or error}. The stored list "
                    "is unchanged and no audit event was recorded; fix the folder and run the command again"
                ) from error
            written = True  # from here only the commit can fail, and the new list is already in place
    except SQLAlchemyError as error:
        if not written:
            raise
        raise click.ClickException(
            f"the reissued revocation list is in place in {path} (next update due {next_update:%Y-%m-%d %H:%M} "
            f"UTC) but its audit event could not be committed ({error.__class__.__name__}); tell the auditors, "
            "with this message"
        ) from error
    click.echo(f"reissued the revocation list {path} ({len(crl)} revoked certificate(s), the same as before)")
    click.echo(f"next update due {next_update:%Y-%m-%d %H:%M} UTC")
    click.echo("publish it to recipients again: flask keys export-crl --out crl.pem")


@keys_cli.command("export-crl")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Where to write the PEM.")
def export_crl(out: Path) -> None:
    """Write the CA's revocation list (PEM), which recipients give to `disclosure-bundle verify --crl`."""
    try:
        crl = stored_crl(pki_dir(current_app.config))
    except NoRevocationList as error:
        raise click.ClickException(
            f"{error}. There is nothing to export until a signing certificate is revoked with "
            "`flask keys revoke-signer`"
        ) from error
    except PKIError as error:
        raise click.ClickException(str(error)) from error
    _write_out(out, crl.public_bytes(serialization.Encoding.PEM), "the revocation list")
    next_update = crl.next_update_utc or utcnow()
    click.echo(
        f"wrote the revocation list ({len(crl)} revoked certificate(s), next update due {next_update:%Y-%m-%d}) "
        f"to {out}"
    )
    if next_update < utcnow() + dt.timedelta(days=7):
        click.echo(
            f"warning: the list's next update is due {next_update:%Y-%m-%d %H:%M} UTC; after that recipients' "
            "checks refuse it as out of date: run `flask keys reissue-crl` first, and from cron (e.g. weekly)",
            err=True,
        )
