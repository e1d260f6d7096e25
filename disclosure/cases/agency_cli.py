"""`flask agencies import|export|add-cert`: the agency directory from the command line.

`import FILE.csv --as EMAIL` is all or nothing: a bad row names its line and column, exits 2 and writes nothing.
`export [--out FILE]` writes the same columns, so an export imports back unchanged. `add-cert NAME_OR_ID FILE.pem
--as EMAIL` puts a recipient certificate on file for the agency (by its name, an alias or its id), after which
`flask bundle build REFERENCE --recipient-cert FILE.pem` encrypts a case's bundle to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import click
from flask.cli import AppGroup
from sqlalchemy import select

from disclosure import unit_of_work
from disclosure.audit.service import require_schema
from disclosure.auth.models import User
from disclosure.cases import agencies, agency_csv
from disclosure.cases.models import Agency
from disclosure.extensions import db
from disclosure.permissions import Permission
from disclosure.production import service as production

agencies_cli = AppGroup("agencies", help="The agency directory: import, export, recipient certificates.")

_USAGE_ERROR = 2


def _fail(lines: list[str]) -> NoReturn:
    for line in lines:
        # A message quotes the file: an unprintable character must not reach the terminal.
        shown = "".join(char if char.isprintable() else ascii(char)[1:-1] for char in line)
        click.echo(f"error: {shown}", err=True)
    raise SystemExit(_USAGE_ERROR)


def _person(email: str, permission: Permission, role: str) -> User:
    user = db.session.execute(select(User).where(User.email == email.strip().lower())).scalar_one_or_none()
    if user is None or not user.active:
        raise click.BadParameter(f"no active user {email}", param_hint="--as")
    if not user.can(permission):
        raise click.BadParameter(f"{email} may not do this (needs the {role} role)", param_hint="--as")
    return user


@agencies_cli.command("import")
@click.argument("path", metavar="FILE.csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--as", "as_email", required=True, help="Email of the intake user or administrator importing.")
def import_agencies(path: Path, as_email: str) -> None:
    """Add or update agencies from FILE.csv (the columns `export` writes). All or nothing."""
    require_schema()
    actor = _person(as_email, Permission.AGENCY_MANAGE, "intake or admin")
    try:
        data = path.read_bytes()
    except OSError as error:
        _fail([f"cannot read {path}: {error.strerror or error}"])
    try:
        rows = agency_csv.read(data)
        with unit_of_work.command("nothing imported"):
            summary = agency_csv.apply(actor, rows, data)
    except agency_csv.ImportRefused as refused:
        _fail([str(problem) for problem in refused.problems] + ["nothing was imported"])
    for name in summary.created:
        click.echo(f"added      {name} (unverified)")
    for name in summary.attached:
        click.echo(f"attached   {name}")
    for new, existing, why in summary.possible_duplicates:
        click.echo(f"check      {new} may be {existing}: {why}")
    click.echo(f"imported {len(rows)} row(s): {len(summary.created)} added, {len(summary.attached)} attached")


@agencies_cli.command("export")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write here instead of stdout."
)
def export_agencies(out: Path | None) -> None:
    """Write the directory as CSV (UTF-8), in the columns `import` reads."""
    require_schema()
    data = agency_csv.export()
    db.session.rollback()
    if out is None:
        click.echo(data, nl=False)  # bytes: written to the binary stream as they are
        return
    try:
        out.write_bytes(data)
    except OSError as error:
        raise click.ClickException(f"cannot write {out}: {error.strerror or error}") from error
    count = data.count(b"\n") - 1  # one line per agency under the header: values never hold a line break
    click.echo(f"wrote {count} agencies to {out}")


def _agency(name_or_id: str, country: str | None) -> Agency:
    found = agencies.find_by_name_anywhere(name_or_id)
    if country:
        found = [a for a in found if a.country == country.strip().upper()]
    if not found:
        raise click.BadParameter(f"no agency named {name_or_id!r} in the directory", param_hint="NAME_OR_ID")
    if len(found) > 1:
        listed = ", ".join(f"{a.name} ({a.country}, id {a.id})" for a in found)
        raise click.BadParameter(
            f"{name_or_id!r} names {listed}: add --country or give the id", param_hint="NAME_OR_ID"
        )
    return found[0]


@agencies_cli.command("add-cert")
@click.argument("name_or_id", metavar="NAME_OR_ID")
@click.argument("pem_path", metavar="FILE.pem", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "as_email", required=True, help="Email of the administrator putting it on file.")
@click.option("--label", default="", help="A label for the certificate (default: its subject).")
@click.option("--country", default=None, help="The agency's country, when its name is used in several.")
def add_cert(name_or_id: str, pem_path: Path, as_email: str, label: str, country: str | None) -> None:
    """Put a recipient certificate (RSA, PEM) on file for an agency named by its name, an alias or its id."""
    require_schema()
    actor = _person(as_email, Permission.RECIPIENT_MANAGE, "admin")
    agency = _agency(name_or_id, country)
    pem = pem_path.read_bytes()
    with unit_of_work.command("no certificate added"):
        certificate = production.add_recipient_certificate(actor, agency, label, pem, None)
    click.echo(f"on file for {agency.name} ({agency.country}): {certificate.label}, sha256 {certificate.fingerprint}")
    click.echo(f"build with: flask bundle build REFERENCE --recipient-cert {pem_path} --out FILE --as EMAIL")
