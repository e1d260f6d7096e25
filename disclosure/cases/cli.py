"""`flask cases import FILE.json`: log one request or a list of them, as the intake user named with --as.

The whole file is one unit of work: a single bad record imports nothing.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from disclosure import unit_of_work
from disclosure.audit.service import require_schema
from disclosure.auth.models import User
from disclosure.cases import search, service
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.permissions import Permission
from disclosure.policy.json_input import JsonInputError, read_json_document
from disclosure.policy.request import parse_requests

cases_cli = AppGroup("cases", help="Log and import legal process.")


@cases_cli.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--as", "as_email", required=True, help="Email of the intake user the cases are logged by.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone deadlines are counted in.")
def import_cases(path: Path, as_email: str, timezone: str) -> None:
    """Import request documents (DESIGN's JSON shape): one object or a list. All or nothing."""
    require_schema()
    actor = db.session.execute(select(User).where(User.email == as_email.strip().lower())).scalar_one_or_none()
    if actor is None or not actor.active:
        raise click.BadParameter(f"no active user {as_email}", param_hint="--as")
    if not actor.can(Permission.CASE_CREATE):
        raise click.BadParameter(f"{as_email} may not log cases (needs the intake role)", param_hint="--as")
    try:
        with path.open("rb") as stream:
            raw = read_json_document(stream, source=str(path))
    except OSError as error:
        raise click.ClickException(f"cannot read {path}: {error.strerror}") from error
    except JsonInputError as error:
        raise click.ClickException(str(error)) from error
    with unit_of_work.command("nothing imported"):
        documents = parse_requests(raw, now=utcnow())
        cases = [service.log_request(actor, document, None, timezone=timezone) for document in documents]
    for case in cases:
        click.echo(f"{case.reference}  {case.process.label}  due {case.due_at:%Y-%m-%d %H:%M} UTC")
    click.echo(f"imported {len(cases)} case{'s' if len(cases) != 1 else ''}")


@cases_cli.command("reindex")
def reindex_cases() -> None:
    """Rebuild the search index of every case (derived data: run it after restoring a database by hand, or if a
    search misses a case it should find)."""
    require_schema()
    with unit_of_work.command("the search index was not rebuilt"):
        count = search.rebuild(db.session())
    click.echo(f"search index rebuilt for {count} case{'s' if count != 1 else ''}")
