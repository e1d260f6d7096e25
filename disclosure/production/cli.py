"""`flask production add` for large files, and `flask bundle build|purge`."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from disclosure.audit.service import require_schema
from disclosure.auth.models import User
from disclosure.cases.models import Case
from disclosure.extensions import db
from disclosure.permissions import Permission
from disclosure.production import bundles, service
from disclosure.services import SystemActor
from disclosure.unit_of_work import command

production_cli = AppGroup("production", help="Attach responsive records to approved cases.")
bundle_cli = AppGroup("bundle", help="Build and purge signed, encrypted export bundles.")


def _actor(email: str, permission: Permission) -> User:
    user = db.session.execute(select(User).where(User.email == email.strip().lower())).scalar_one_or_none()
    if user is None or not user.active:
        raise click.BadParameter(f"no active user {email}", param_hint="--as")
    if not user.can(permission):
        raise click.BadParameter(f"{email} may not do this (needs {permission.value})", param_hint="--as")
    return user


def _case(reference: str) -> Case:
    case = db.session.execute(select(Case).where(Case.reference == reference)).scalar_one_or_none()
    if case is None:
        raise click.BadParameter(f"there is no case {reference}", param_hint="REFERENCE")
    return case


@production_cli.command("add")
@click.argument("reference")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target", required=True, help="The target identifier the records belong to.")
@click.option("--category", required=True, help="The data category, e.g. stored_content.")
@click.option("--as", "as_email", required=True, help="Email of the producer adding the records.")
def add(reference: str, files: tuple[Path, ...], target: str, category: str, as_email: str) -> None:
    """Add FILES as responsive records (streamed and encrypted; any size). All or nothing."""
    require_schema()
    actor, case = _actor(as_email, Permission.PRODUCTION_MANAGE), _case(reference)
    added = []
    with command("nothing added"):
        for path in files:
            with path.open("rb") as handle:
                added.append(service.add_record(actor, case, target, category, handle, path.name, None))
    for record in added:
        click.echo(f"{record.filename}  {record.size} bytes  sha256 {record.sha256}")


@bundle_cli.command("build")
@click.argument("reference")
@click.option(
    "--recipient-cert",
    "certs",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An RSA recipient certificate (PEM) on file for the case's agency; repeat for several.",
)
@click.option("--passphrase-only", is_flag=True, help="Encrypt to a passphrase, printed once, instead.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Where to copy the bundle.")
@click.option("--as", "as_email", required=True, help="Email of the producer building the bundle.")
def build(reference: str, certs: tuple[Path, ...], passphrase_only: bool, out: Path, as_email: str) -> None:
    """Build the case's bundle for the given recipient certificates, or passphrase-only."""
    require_schema()
    if bool(certs) == passphrase_only:
        raise click.UsageError("give --recipient-cert PEM (one or more) or --passphrase-only, not both or neither")
    actor, case = _actor(as_email, Permission.PRODUCTION_MANAGE), _case(reference)
    with command("no bundle built"):
        certificates = bundles.certificates_on_file(case, [path.read_bytes() for path in certs])
        inputs = bundles.plan_case_bundle(actor, case, certificates, passphrase_only, None)
    # The start and its checkpoint are committed: building holds no lock while it encrypts and signs.
    with command("the build was started and its checkpoint signed, but no bundle was built"):
        bundle, passphrase = bundles.finish_case_bundle(actor, inputs, None)
    # The bundle is recorded: its passphrase is shown before anything else can fail, or it would be lost.
    click.echo(f"built bundle {bundle.public_id} for {case.reference}  sha256 {bundle.sha256}  {bundle.size} bytes")
    if passphrase:
        click.echo(f"passphrase (shown once, deliver it separately): {passphrase}")
    try:
        bundles.copy_out(bundle, out)
    except OSError as error:
        raise click.ClickException(
            f"the bundle is built and recorded, but copying it to {out} failed ({error.strerror}); download it "
            "from the case's production page instead of building it again"
        ) from error
    click.echo(f"copied to {out}")


@bundle_cli.command("purge")
def purge() -> None:
    """Delete the files of expired bundles (their records stay)."""
    require_schema()
    with command("nothing purged"):
        purged = service.purge_expired(SystemActor("flask bundle purge"))
    click.echo(f"purged {len(purged)} expired bundle(s)")
