"""`flask audit verify|checkpoint|export|cosign|consistency-proof|witness-key` and `flask db harden-roles`."""

from __future__ import annotations

import os
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
from disclosure.audit.merkle import stored_tree
from disclosure.audit.models import AuditCheckpoint
from disclosure.audit.scan import Finding
from disclosure.audit.service import checkpoint_now, missing_checkpoint_files, require_schema
from disclosure.audit.verify import GivenCheckpoint, VerifyResult, verify_log
from disclosure.audit.witness import (
    ConsistencyProof,
    ProofNeeded,
    WitnessError,
    WitnessState,
    check_extends,
    cosign,
    load_witnesses,
    new_witness_key,
    parse_consistency_proof,
    parse_witness_private_key,
    read_state,
)
from disclosure.clock import utcnow
from disclosure.database import READ_ONLY
from disclosure.extensions import db
from disclosure.instance import write_private_file
from disclosure.keyring import KeyMissing, log_key_name, log_public_key
from disclosure.permissions import Permission
from disclosure.services import SystemActor, require
from disclosure_proofs.merkle import ProofError
from disclosure_proofs.note import NoteError, parse_vkey, verify_checkpoint

audit_cli = AppGroup("audit", help="Verify, checkpoint and export the audit log.")


def run_verification(given: list[GivenCheckpoint]) -> VerifyResult:
    """Verify against the given checkpoints and the stored ones, counting the configured witnesses' cosignatures.

    Raises WitnessError when WITNESS_KEYS cannot be read: a verification that silently ignored the witnesses
    would say less than the operator asked for.
    """
    try:
        public_key = log_public_key()
    except KeyMissing:
        public_key = None
    witnesses = load_witnesses(current_app.config.get("WITNESS_KEYS"))
    # A connection of its own, out of any open transaction: verify_log then reads one snapshot (REPEATABLE READ
    # on PostgreSQL, a deferred read on SQLite that never waits for the session's BEGIN IMMEDIATE).
    with db.engine.connect() as connection:
        result = verify_log(
            connection, public_key, log_key_name(), str(current_app.config["AUDIT_ORIGIN"]), given, witnesses
        )
    missing = checkpoint_folder_finding(Path(current_app.config["AUDIT_CHECKPOINT_DIR"]), result.stored_checkpoints)
    if missing is not None:
        result.findings.append(missing)
    return result


def checkpoint_folder_finding(folder: Path, stored: int) -> Finding | None:
    """A finding when the checkpoint folder is missing, or holds no checkpoint file, while the database holds
    signed checkpoints: the copies kept outside the database are what shows a tail cut together with its
    checkpoint rows, and a verification that read none of them must not say "intact" (issue 17)."""
    if not stored:
        return None
    if not folder.is_dir():
        state = "does not exist"
    elif not any(path.is_file() for path in folder.glob("checkpoint-*.txt")):
        state = "holds no checkpoint file"
    else:
        return None
    signed = "1 signed checkpoint" if stored == 1 else f"{stored} signed checkpoints"
    return Finding(
        None,
        f"the checkpoint folder {folder} {state}, but the database holds {signed}: the copies kept outside the "
        "database are gone, so a cut tail could not be seen. Restore the folder from its WORM copy or a backup "
        "(or point DISCLOSURE_CHECKPOINT_DIR at it); if its mount did not come up, mount it and verify again",
    )


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
    except WitnessError as error:
        raise click.ClickException(f"cannot read the witness keys (WITNESS_KEYS): {error}") from error
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


def _cosigned_path(checkpoint_file: Path) -> Path:
    """checkpoint-N.txt -> checkpoint-N.cosigned.txt beside it; a file already cosigned is cosigned in place."""
    if checkpoint_file.name.endswith(".cosigned.txt"):
        return checkpoint_file
    return checkpoint_file.with_name(checkpoint_file.name.removesuffix(".txt") + ".cosigned.txt")


def _replace_file(path: Path, text: str, mode: int = 0o644) -> None:
    """Write a temporary file beside path, fsync, rename over it: a reader sees the old or the new file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


@audit_cli.command("cosign")
@click.argument("checkpoint_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The witness's private key file (from `flask audit witness-key new`).",
)
@click.option(
    "--log-vkey",
    help="The log's verifier key (name+id+key, as bundles carry it) or a file holding it; default: this instance's.",
)
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the witness keeps the last checkpoint it cosigned per log; default: KEY_FILE.state.",
)
@click.option(
    "--proof",
    "proof_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A consistency proof from the size this witness last cosigned (`flask audit consistency-proof` on the "
    "log's host); needed whenever the checkpoint is larger than that.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the cosigned checkpoint; default: checkpoint-N.cosigned.txt beside the file.",
)
def cosign_command(
    checkpoint_file: Path,
    key_file: Path,
    log_vkey: str | None,
    state_file: Path | None,
    proof_file: Path | None,
    out: Path | None,
) -> None:
    """As a witness: check a checkpoint's log signature, refuse one that would shrink or fork the log this witness
    saw (a larger one needs --proof that it extends the last one cosigned), and append a C2SP cosignature/v1 line
    with the time. Keep a copy of every cosigned file yourself."""
    try:
        name, private_key = parse_witness_private_key(key_file.read_text(encoding="utf-8").strip())
        note = checkpoint_file.read_text(encoding="utf-8")
        if log_vkey:
            vkey_text = Path(log_vkey).read_text(encoding="utf-8") if Path(log_vkey).is_file() else log_vkey
            log_name, log_key = parse_vkey(vkey_text.strip())
        else:
            log_name, log_key = log_key_name(), log_public_key()
        checkpoint = verify_checkpoint(note, log_key, log_name, expected_origin=log_name)
        proof = parse_consistency_proof(proof_file.read_text(encoding="utf-8")) if proof_file else None
        state_path = state_file or key_file.with_name(key_file.name + ".state")
        states = read_state(state_path)
        extended = check_extends(checkpoint, states, proof)
        cosigned = cosign(note, name, private_key, int(utcnow().timestamp()))
    except ProofNeeded as error:
        raise click.ClickException(
            f"not cosigned: {error}. Give --proof PROOF, made on the log's host with `flask audit consistency-proof "
            f"--from {error.last_size} --checkpoint {checkpoint_file.name} --out PROOF`"
        ) from error
    except (OSError, UnicodeDecodeError, ValueError, KeyMissing) as error:
        # NoteError and WitnessError are ValueErrors: a bad key, a forged note, or the witness's refusal.
        raise click.ClickException(f"not cosigned: {error}") from error
    target = out or _cosigned_path(checkpoint_file)
    _replace_file(target, cosigned)
    last = states.get(checkpoint.origin)
    states[checkpoint.origin] = WitnessState(checkpoint.origin, checkpoint.size, checkpoint.root)
    _replace_file(state_path, "".join(state.line() + "\n" for state in states.values()), mode=0o600)
    shown = f" (consistent with size {last.size}, the last it cosigned)" if extended and last else ""
    click.echo(f"cosigned {checkpoint.origin} at size {checkpoint.size} as witness {name}{shown}: {target}")


@audit_cli.command("consistency-proof")
@click.option(
    "--from",
    "old_size",
    required=True,
    type=click.IntRange(min=1),
    help="The size the witness last cosigned (its refusal names it).",
)
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The signed checkpoint to prove (a file from the checkpoint folder); default: the newest stored one.",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Where to write it.")
def consistency_proof_command(old_size: int, checkpoint_file: Path | None, out: Path) -> None:
    """For a witness: an RFC 9162 consistency proof that the checkpoint's log extends the log of --from events, in
    the form `flask audit cosign --proof` reads. Read from the stored tree and checked against the checkpoint's
    signed root before it is written."""
    require(SystemActor("flask audit consistency-proof"), Permission.AUDIT_VIEW)
    origin = str(current_app.config["AUDIT_ORIGIN"])
    try:
        if checkpoint_file is not None:
            note = checkpoint_file.read_text(encoding="utf-8")
        else:
            with db.engine.connect() as connection:
                connection.execution_options(**{READ_ONLY: True})
                stored = connection.execute(
                    select(AuditCheckpoint.__table__.c.note).order_by(AuditCheckpoint.__table__.c.id.desc()).limit(1)
                ).scalar_one_or_none()
            if stored is None:
                raise click.ClickException("no checkpoint is stored yet: sign one with `flask audit checkpoint`")
            note = stored
        checkpoint = verify_checkpoint(note, log_public_key(), log_key_name(), expected_origin=origin)
    except (OSError, UnicodeDecodeError, NoteError, KeyMissing) as error:
        raise click.ClickException(f"no proof written: {error}") from error
    if old_size > checkpoint.size:
        raise click.ClickException(
            f"no proof written: --from {old_size} is larger than the checkpoint's size {checkpoint.size}; the "
            "witness has seen a longer log than this checkpoint"
        )
    try:
        with db.engine.connect() as connection:
            connection.execution_options(**{READ_ONLY: True})
            with connection.begin():
                tree = stored_tree(connection, checkpoint.size, checkpoint.root)
                hashes = tree.consistency_proof(old_size) if old_size < checkpoint.size else []
    except ProofError as error:
        raise click.ClickException(f"no proof written: {error}") from error
    except DBAPIError as error:
        raise click.ClickException(f"cannot read the audit log ({error.orig})") from error
    try:
        _replace_file(out, ConsistencyProof(old_size, tuple(hashes)).text())
    except OSError as error:
        raise click.ClickException(f"cannot write {out}: {error.strerror or error}") from error
    click.echo(f"wrote a consistency proof from size {old_size} to size {checkpoint.size} to {out}")


@audit_cli.group("witness-key")
def witness_key() -> None:
    """Witness keys: a witness cosigns the log's checkpoints with its own key, on a host of its own."""


@witness_key.command("new")
@click.argument("name")
@click.option(
    "--out",
    "folder",
    default=".",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for NAME.key (private, mode 0600) and NAME.vkey (public); default: the current folder.",
)
def witness_key_new(name: str, folder: Path) -> None:
    """Create a witness key pair. Keep NAME.key on the witness's host only; give NAME.vkey to the operators, who
    put it in the WITNESS_KEYS folder."""
    try:
        private, vkey = new_witness_key(name)
    except NoteError as error:
        raise click.BadParameter(str(error), param_hint="NAME") from error
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_path, vkey_path = folder / f"{name}.key", folder / f"{name}.vkey"
    try:
        write_private_file(key_path, (private + "\n").encode())
    except FileExistsError as error:
        raise click.ClickException(f"{key_path} exists already; nothing was overwritten") from error
    vkey_path.write_text(vkey + "\n", encoding="utf-8")
    click.echo(f"created {key_path} (private, mode 0600) and {vkey_path}")
    click.echo(vkey)


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
