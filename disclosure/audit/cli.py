"""`flask audit verify|checkpoint|export` and `flask db harden-roles`."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy.exc import DBAPIError

from disclosure.audit.export import export_events
from disclosure.audit.service import SystemActor, checkpoint_now, require_schema
from disclosure.audit.verify import GivenCheckpoint, VerifyResult, verify_log
from disclosure.extensions import db
from disclosure.keyring import KeyMissing, log_key_name, log_public_key

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


@audit_cli.command("verify")
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A checkpoint file kept outside the database; repeat for several.",
)
def verify(checkpoints: tuple[Path, ...]) -> None:
    """Recompute every hash, the chain, the tree and the checkpoints. Exit 0 when intact, 1 when not."""
    given = []
    for path in checkpoints:
        try:
            given.append(GivenCheckpoint(f"checkpoint file {path}", path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as error:
            raise click.ClickException(f"cannot read checkpoint file {path}: {error}") from error
    try:
        result = run_verification(given)
    except DBAPIError as error:
        raise click.ClickException(
            f"cannot read the audit log ({error.orig}); has `flask db upgrade` been run?"
        ) from error
    click.echo(result.summary())
    if not result.intact:
        raise SystemExit(1)


@audit_cli.command("checkpoint")
def checkpoint() -> None:
    """Sign a checkpoint of the log now, store it, and write it to the checkpoint folder."""
    require_schema()
    try:
        made = checkpoint_now(SystemActor("flask audit checkpoint"))
    except KeyMissing as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(f"checkpoint: {made.size} events, root {made.root.hex()}")
    click.echo(made.note, nl=False)


def _day(_ctx: click.Context, _param: click.Parameter, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter(f"{value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-01-31.") from error


@audit_cli.command("export")
@click.option("--from", "start", required=True, callback=_day, help="First day, YYYY-MM-DD (UTC).")
@click.option("--to", "end", required=True, callback=_day, help="Last day, YYYY-MM-DD (UTC), included.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The .jsonl file to write.")
def export(start: date, end: date, out: Path) -> None:
    """Write the period's events as JSON Lines with inclusion proofs, the latest checkpoint and a consistency proof."""
    require_schema()
    try:
        count = export_events(
            SystemActor("flask audit export"), start, end, out, str(current_app.config["AUDIT_ORIGIN"])
        )
    except (ValueError, KeyMissing) as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo(f"exported {count} events to {out}")


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
    for statement in statements:
        db.session.execute(text(statement))
    db.session.commit()
    click.echo(f"{app_role}: SELECT and INSERT only on the audit tables; read and write elsewhere")
