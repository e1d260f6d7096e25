"""`flask report transparency --from D --to D --format pdf|csv --out FILE` and `flask report bundle`.

The command signs a new audit checkpoint (recorded as the report's), computes the report at it, and writes the
file atomically: a temporary file beside the target, fsync, rename. Bad input exits non-zero with a message.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click
from flask.cli import AppGroup

from disclosure import unit_of_work
from disclosure.audit.cli import build_auditor_bundle_cli, recipient_options
from disclosure.audit.service import require_schema
from disclosure.extensions import db
from disclosure.keyring import KeyMissing
from disclosure.reports import render, service
from disclosure.reports.queries import resolve_checkpoint
from disclosure.reports.transparency import ReportError
from disclosure.services import SystemActor

report_cli = AppGroup("report", help="Export reports (transparency report as PDF or CSV, or a signed bundle).")


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over the target."""
    folder = path.parent if str(path.parent) else Path(".")
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@report_cli.command("transparency")
@click.option("--from", "raw_from", required=True, metavar="YYYY-MM-DD", help="First day of the period (UTC).")
@click.option("--to", "raw_to", required=True, metavar="YYYY-MM-DD", help="Last day of the period (UTC).")
@click.option("--format", "fmt", required=True, type=click.Choice(["pdf", "csv"]), help="Output format.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="File to write.")
@click.option(
    "--checkpoint",
    "checkpoint_id",
    type=int,
    default=None,
    help="Compute at this existing checkpoint (id) instead of signing a new one.",
)
def transparency_command(raw_from: str, raw_to: str, fmt: str, out: Path, checkpoint_id: int | None) -> None:
    """Compute the transparency report for a period and write it as PDF or CSV."""
    try:
        start, end = service.parse_period(raw_from, raw_to)
    except ReportError as error:
        raise click.UsageError(str(error)) from error
    if not out.parent.resolve().is_dir():
        raise click.UsageError(f"--out: the folder {out.parent} does not exist")
    require_schema()
    try:
        if checkpoint_id is None:
            # Signed and committed on its own, so the log's head is not held while the report is computed.
            with unit_of_work.command("no report written"):
                checkpoint = resolve_checkpoint(create_for=SystemActor("flask report transparency"))
        with unit_of_work.command("no report written"):
            if checkpoint_id is not None:
                checkpoint = resolve_checkpoint(checkpoint_id)
            report = service.transparency_report(start, end, checkpoint)
    except KeyMissing as error:
        raise click.ClickException("the audit log key is missing; run `flask keys init` first") from error
    except ReportError as error:
        raise click.ClickException(str(error)) from error
    data = render.transparency_pdf(report, service.organisation()) if fmt == "pdf" else render.transparency_csv(report)
    write_atomically(out, data)
    click.echo(
        f"wrote {out} ({len(data)} bytes): {report.total.count} requests from {start} to {end}, "
        f"audit checkpoint {checkpoint.size} (id {checkpoint.id})"
    )


@report_cli.command("bundle")
@click.option("--from", "raw_from", required=True, metavar="YYYY-MM-DD", help="First day of the period (UTC).")
@click.option("--to", "raw_to", required=True, metavar="YYYY-MM-DD", help="Last day of the period (UTC).")
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The .zip bundle to write."
)
@click.option(
    "--checkpoint",
    "checkpoint_id",
    type=int,
    default=None,
    help="Compute at this existing checkpoint (id) instead of the bundle's new one.",
)
@recipient_options
def bundle_command(
    raw_from: str, raw_to: str, out: Path, checkpoint_id: int | None, certs: tuple[Path, ...], passphrase_only: bool
) -> None:
    """Export the transparency report (PDF and CSV) as a signed, encrypted bundle for an auditor."""
    from disclosure.reports.bundle import plan_report_bundle

    try:
        start, end = service.parse_period(raw_from, raw_to)
    except ReportError as error:
        raise click.UsageError(str(error)) from error
    actor = SystemActor("flask report bundle")
    build_auditor_bundle_cli(
        actor,
        lambda certificates: plan_report_bundle(actor, start, end, certificates, passphrase_only, None, checkpoint_id),
        certs,
        passphrase_only,
        out,
    )


@report_cli.command("check")
@click.option(
    "--checkpoint",
    "checkpoint_id",
    type=int,
    default=None,
    help="Check only the state rows up to this checkpoint (id); default: every row.",
)
def check_command(checkpoint_id: int | None) -> None:
    """Recompute each case's log state from the signed event bodies and compare it with the stored rows.

    Reports read the stored rows; this proves they say what the audit log says. Exit 0 when every row matches,
    1 naming the first seq that differs. Run `flask audit verify` first: it proves the bodies themselves.
    """
    from disclosure.reports.case_log import check

    require_schema()
    size = None
    if checkpoint_id is not None:
        try:
            size = resolve_checkpoint(checkpoint_id).size
        except ReportError as error:
            raise click.UsageError(f"--checkpoint: {error}") from error
    with unit_of_work.command("nothing checked"):
        checked, mismatch = check(db.session.connection(), size)
    if mismatch is not None:
        click.echo(f"MISMATCH at seq {mismatch.seq}: {mismatch.what} ({checked} rows matched before it)", err=True)
        raise SystemExit(1)
    scope = f"up to audit checkpoint {size}" if size is not None else "in the whole log"
    click.echo(f"consistent: {checked} case log state rows match the audit log {scope}")
