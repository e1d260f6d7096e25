"""`flask audit verify|checkpoint|export` and `flask db harden-roles`."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from disclosure import unit_of_work
from disclosure.audit.export import export_events
from disclosure.audit.models import AuditCheckpoint
from disclosure.audit.service import checkpoint_now, missing_checkpoint_files, require_schema
from disclosure.audit.verify import GivenCheckpoint, VerifyResult, verify_log
from disclosure.database import READ_ONLY
from disclosure.extensions import db
from disclosure.keyring import KeyMissing, log_key_name, log_public_key
from disclosure.permissions import Permission
from disclosure.services import SystemActor, require

audit_cli = AppGroup("audit", help="Verify, checkpoint and export the audit log.")


def run_verification(given: list[GivenCheckpoint]) -> VerifyResult:
    try:
        public_key = log_public_key()
    except KeyMissing:
        public_key = None
    # A connection of its own, out of any open transaction: verify_log then reads one snapshot (REPEATABLE READ
    # on PostgreSQL, a deferred read on SQLite that never waits for the session's BEGIN IMMEDIATE).
    with db.engine.connect() as connection:
        return verify_log(connection, public_key, log_key_name(), str(current_app.config["AUDIT_ORIGIN"]), given)


def folder_checkpoints(given: set[Path]) -> list[GivenCheckpoint]:
    """Every file in the checkpoint folder that is neither among the given files nor a copy of a stored checkpoint:
    a log restored from an older backup is shorter than the checkpoints signed since, and only the files outside
    the database still say so."""
    folder = Path(current_app.config["AUDIT_CHECKPOINT_DIR"])
    if not folder.is_dir():
        return []
    with db.engine.connect() as connection:
        connection.execution_options(**{READ_ONLY: True})
        stored = set(connection.execute(select(AuditCheckpoint.__table__.c.note)).scalars())
    found = []
    for path in sorted(folder.glob("checkpoint-*.txt")):
        if not path.is_file() or path.resolve() in given:
            continue
        try:
            note = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise click.ClickException(f"cannot read checkpoint file {path}: {error}") from error
        if note not in stored:
            found.append(GivenCheckpoint(f"checkpoint file {path}", note))
    return found


@audit_cli.command("verify")
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A checkpoint file kept outside the database; repeat for several.",
)
def verify(checkpoints: tuple[Path, ...]) -> None:
    """Recompute every hash, the chain, the tree and the checkpoints (those given, those stored, and every file in
    the checkpoint folder), and check the copied columns (action, subject, actor, time) against each hashed body.
    Exit 0 when intact, 1 naming the first bad seq when not."""
    given = []
    for path in checkpoints:
        try:
            given.append(GivenCheckpoint(f"checkpoint file {path}", path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as error:
            raise click.ClickException(f"cannot read checkpoint file {path}: {error}") from error
    try:
        given += folder_checkpoints({path.resolve() for path in checkpoints})
        result = run_verification(given)
    except DBAPIError as error:
        raise click.ClickException(
            f"cannot read the audit log ({error.orig}); has `flask db upgrade` been run?"
        ) from error
    click.echo(result.summary())
    missing = missing_checkpoint_files(Path(current_app.config["AUDIT_CHECKPOINT_DIR"]))
    if missing:
        sizes = ", ".join(str(c.size) for c in missing[:10]) + (" …" if len(missing) > 10 else "")
        click.echo(
            f"warning: {len(missing)} stored checkpoint(s) have no file in the checkpoint folder (sizes {sizes}); "
            "the job worker writes them once the folder can be written",
            err=True,
        )
    if not result.intact:
        raise SystemExit(1)


@audit_cli.command("checkpoint")
def checkpoint() -> None:
    """Sign a checkpoint of the log now, store it, and write it to the checkpoint folder."""
    require_schema()
    operator = SystemActor("flask audit checkpoint")
    try:
        with unit_of_work.command("no checkpoint made"):
            require(operator, Permission.AUDIT_CHECKPOINT)
            made = checkpoint_now(operator)
    except KeyMissing as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"checkpoint: {made.size} events, root {made.root.hex()}")
    click.echo(made.note, nl=False)


def _day(_ctx: click.Context, _param: click.Parameter, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter(f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-01-31.") from error


def recipient_options(command: Any) -> Any:
    """--recipient-cert PEM… | --passphrase-only, shared by the auditor bundle commands."""
    command = click.option(
        "--passphrase-only", is_flag=True, help="With --bundle: encrypt to a passphrase, printed once, instead."
    )(command)
    return click.option(
        "--recipient-cert",
        "certs",
        multiple=True,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="With --bundle: an RSA recipient certificate (PEM), repeatable. A certificate on file with any agency "
        "must be usable; any other (e.g. the auditor's own) must pass the recipient-certificate checks.",
    )(command)


def build_auditor_bundle_cli(actor: Any, plan: Any, certs: tuple[Path, ...], passphrase_only: bool, out: Path) -> None:
    """Resolve the recipients and call plan(certificates) for the bundle's first step (as `actor`) and commit it;
    then compute and write the bundle holding no transaction and commit that; print the passphrase; copy it out.

    The passphrase is printed as soon as the bundle and its audit event are committed, before anything else can
    fail (it is stored nowhere).
    """
    from disclosure.production import auditor_bundles as bundles
    from disclosure.production.bundles import copy_out

    if bool(certs) == passphrase_only:
        raise click.UsageError("with --bundle give --recipient-cert PEM (one or more) or --passphrase-only, not both")
    if not out.parent.resolve().is_dir():
        raise click.UsageError(f"--out: the folder {out.parent} does not exist")
    require_schema()
    try:
        with unit_of_work.command("no bundle built"):
            certificates = bundles.auditor_recipients([path.read_bytes() for path in certs])
            planned = plan(certificates)
        # The start and its checkpoint are committed: the contents are read and the bundle written holding no lock.
        with unit_of_work.command("the build was started and its checkpoint signed, but no bundle was built"):
            bundle, passphrase = bundles.finish_auditor_bundle(actor, planned, None)
    except KeyMissing as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"built {bundle.kind} bundle {bundle.public_id}  sha256 {bundle.sha256}  {bundle.size} bytes")
    if passphrase:
        click.echo(f"passphrase (shown once, deliver it separately): {passphrase}")
    try:
        copy_out(bundle, out)
    except OSError as error:
        raise click.ClickException(
            f"bundle {bundle.public_id} is built and recorded, but copying it to {out} failed ({error.strerror}); an "
            "auditor can download it in the web app instead of building it again"
        ) from error
    click.echo(f"copied to {out}")


@audit_cli.command("export")
@click.option("--from", "start", required=True, callback=_day, help="First day, YYYY-MM-DD (UTC).")
@click.option("--to", "end", required=True, callback=_day, help="Last day, YYYY-MM-DD (UTC), included.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The .jsonl file to write (with --bundle: the .zip bundle).",
)
@click.option("--bundle", "as_bundle", is_flag=True, help="Write the extract as a signed, encrypted bundle.")
@recipient_options
def export(start: date, end: date, out: Path, as_bundle: bool, certs: tuple[Path, ...], passphrase_only: bool) -> None:
    """Write the period's events as JSON Lines with inclusion proofs, the latest checkpoint and a consistency proof.

    With --bundle the extract goes into a signed, encrypted bundle (disclosure-bundle/1) whose inner manifest
    also carries the period's events with inclusion proofs to the bundle's checkpoint.
    """
    if not as_bundle:
        if certs or passphrase_only:
            raise click.UsageError("--recipient-cert and --passphrase-only apply only with --bundle")
        require_schema()
        try:
            with unit_of_work.command("nothing exported"):
                count = export_events(
                    SystemActor("flask audit export"), start, end, out, str(current_app.config["AUDIT_ORIGIN"])
                )
        except (ValueError, KeyMissing) as error:
            raise click.ClickException(str(error)) from error
        click.echo(f"exported {count} events to {out}")
        return
    if end < start:
        raise click.UsageError("--to is before --from: give the period's first day, then its last.")
    from disclosure.audit.extract_bundle import plan_audit_extract_bundle

    actor = SystemActor("flask audit export --bundle")
    build_auditor_bundle_cli(
        actor,
        lambda certificates: plan_audit_extract_bundle(actor, start, end, certificates, passphrase_only, None),
        certs,
        passphrase_only,
        out,
    )


ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@click.command("harden-roles")
@click.option("--app-role", required=True, help="The PostgreSQL role the application connects as.")
def harden_roles(app_role: str) -> None:
    """PostgreSQL: let the application role only SELECT and INSERT the audit tables."""
    from disclosure.audit.hardening import grant_statements

    if db.engine.dialect.name != "postgresql":
        raise click.ClickException("harden-roles applies to PostgreSQL only; SQLite has no roles.")
    if not ROLE_NAME.match(app_role):
        raise click.BadParameter("use a lower-case PostgreSQL role name (letters, digits, underscore).")
    from sqlalchemy import inspect, text

    exists = db.session.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :name"), {"name": app_role}).first()
    if not exists:
        raise click.ClickException(f"there is no PostgreSQL role {app_role!r}; create it first (CREATE ROLE … LOGIN).")
    statements = grant_statements(app_role, db.metadata.sorted_tables)
    if inspect(db.engine).has_table("alembic_version"):
        statements.append(f'GRANT SELECT ON TABLE alembic_version TO "{app_role}"')
    with unit_of_work.command("no privileges changed"):
        for statement in statements:
            db.session.execute(text(statement))
    click.echo(f"{app_role}: SELECT and INSERT only on the audit tables; read and write elsewhere")
