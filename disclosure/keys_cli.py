"""`flask keys init`: create the organisation's keys under instance/keys/, or import existing ones."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from disclosure import keyring
from disclosure.audit.actions import AuditAction
from disclosure.audit.service import SystemActor, record, require_schema
from disclosure.exports.pki import PKIError, ca_pem, init_pki
from disclosure.extensions import db
from disclosure.production.bundles import pki_dir
from disclosure.storage.keys import keyring_for_config

keys_cli = AppGroup("keys", help="Manage the organisation's signing keys.")


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
    or import the organisation's own; existing keys are never replaced."""
    require_schema()
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
        )
    except PKIError as error:
        raise click.ClickException(str(error)) from error
    created = {"audit-log": log_key, "storage": storage_key, "pki": "\n".join(pki_lines) or None}
    done = {name: line for name, line in created.items() if line}
    if not done:
        click.echo("all keys already exist; nothing changed")
        return
    record(
        SystemActor("flask keys init"),
        AuditAction.KEYS_CREATED,
        subject="keys",
        data={"keys": sorted(done), "imported": sorted(["audit-log"] if import_log_key and log_key else [])},
    )
    db.session.commit()
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
    out.write_bytes(pem)
    click.echo(f"wrote the CA certificate to {out}")
