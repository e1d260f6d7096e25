"""Files that disagree with the database, found and put right: `flask storage reconcile [--dry-run]`.

In the blob store (either backend: a blob of the database backend is a "file" here too) and the bundles folder it
finds
- orphans: a complete file that no row names and no pending_file row stages;
- partials: what killed writers leave (the file store's .tmp/*.part, the database store's chunks with no blob row,
  a bundle's .partial, an audit extract's folder, a bundle's folder on its way into the database store);
- abandoned files: named by a pending_file row whose owning row never committed;
- missing files: a row that names a file which is not there (reported for a person; never "fixed");
- purged bundles still present: the purge committed, its file was never deleted.
Anything younger than the grace period (STORAGE_RECONCILE_GRACE, default one hour) may be a write in progress and
is left alone. Without dry-run each removal is audit-logged and its pending row deleted, and the files go once the
caller's unit of work commits (never before: the log never misses a removal). Nothing a committed row names is ever
removed: each removal is checked against the rows again inside the transaction that records it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import delete, select

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.cases.models import Case, Document
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.jobs.models import Job
from disclosure.permissions import Permission
from disclosure.production.models import Bundle, ProductionRecord
from disclosure.services import Actor, SystemActor, require
from disclosure.storage.models import FileArea, PendingFile
from disclosure.storage.store import BlobStore, PartialWrite, StorageError
from disclosure.storage.transactional import (
    BUNDLE_FILE,
    StoredFile,
    app_store,
    bundle_dir,
    remove_after_commit,
    stored_file,
)

DEFAULT_GRACE = timedelta(hours=1)
#: What a killed bundle build leaves: build_bundle's `.<public id>.zip.<random>.partial`.
BUNDLE_PARTIAL = re.compile(r"\.[0-9A-Za-z]{1,32}\.zip\.[^/]+\.partial")
#: What a killed audit extract leaves: its working folder (plaintext JSONL) beside the bundles.
EXTRACT_FOLDER = re.compile(r"\.extract-[^/]+")
#: What a bundle build killed before its ZIP reached the database blob store leaves (disclosure.production.bundles).
STORING_FOLDER = re.compile(r"\.storing-[^/]+")


class Kind(StrEnum):
    ORPHAN = "orphan"
    PARTIAL = "partial"
    ABANDONED = "abandoned"
    MISSING = "missing"
    PURGED_PRESENT = "purged_present"


@dataclass(frozen=True)
class Finding:
    kind: Kind
    area: FileArea
    #: The file's name in its area; for a partial, its path below the area's folder.
    name: str
    #: What it is and why it is wrong, in plain words.
    description: str
    #: The fix is recorded (the file goes when the transaction commits); never for a missing file.
    fixed: bool = False

    def line(self, dry_run: bool) -> str:
        if self.kind is Kind.MISSING:
            outcome = "needs a person"
        elif self.fixed:
            outcome = "removed"
        else:
            outcome = "would be removed" if dry_run else "left alone"
        return f"{self.kind.value}: {self.description} ({outcome})"


@dataclass(frozen=True)
class Report:
    dry_run: bool
    findings: tuple[Finding, ...]
    #: Files and pending records younger than the grace period: writes that may still be in progress.
    in_progress: int

    @property
    def needs_a_person(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind is Kind.MISSING)

    @property
    def exit_code(self) -> int:
        """0 when nothing was found or everything found was fixed; 1 otherwise (a missing file, or a dry run)."""
        return 0 if all(f.fixed for f in self.findings) else 1

    def lines(self) -> list[str]:
        lines = [f.line(self.dry_run) for f in self.findings]
        fixed = sum(f.fixed for f in self.findings)
        waiting = f"; {self.in_progress} write(s) in progress left alone" if self.in_progress else ""
        if not self.findings:
            lines.append(f"nothing to reconcile: every file matches the database{waiting}")
        else:
            lines.append(
                f"{len(self.findings)} finding(s): {fixed} removed, "
                f"{len(self.findings) - fixed - len(self.needs_a_person)} to remove, "
                f"{len(self.needs_a_person)} for a person{waiting}"
            )
        if self.needs_a_person:
            lines.append(
                "a missing file cannot be recreated here: restore it from a backup (or, for a bundle, build a new one)"
            )
        return lines


def grace_period(config: Any) -> timedelta:
    """STORAGE_RECONCILE_GRACE: a timedelta, or a number of seconds; one hour when unset."""
    value = config.get("STORAGE_RECONCILE_GRACE", DEFAULT_GRACE)
    return value if isinstance(value, timedelta) else timedelta(seconds=float(value))


def reconcile(dry_run: bool, *, actor: Actor | None = None, grace: timedelta | None = None) -> Report:
    """Find what disagrees with the database; unless dry_run, record each removal and remove it on commit.

    Needs an app context. The caller commits (unit_of_work.command, or the job's unit of work): the files go only
    once the audit events of their removal are committed. A dry run changes nothing and needs no permission.
    """
    actor = actor or SystemActor("storage reconcile")
    if not dry_run:
        require(actor, Permission.STORAGE_MAINTAIN)
    grace = grace_period(current_app.config) if grace is None else grace
    scan = _Scan(app_store(), bundle_dir(create=False), utcnow() - grace)
    scan.look()
    findings = []
    for problem in scan.problems:
        if dry_run or problem.finding.kind is Kind.MISSING:
            findings.append(problem.finding)
        elif _fix(actor, problem, scan.cutoff):
            findings.append(_with_fixed(problem.finding, True))
        # else: a writer committed it meanwhile; it is no finding after all
    return Report(dry_run=dry_run, findings=tuple(findings), in_progress=scan.in_progress)


# -- finding ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Problem:
    finding: Finding
    #: What to remove: a named file, or a killed writer's leftover (file, folder, or unfinished blob).
    removal: StoredFile | Path | PartialWrite | None
    pending_id: int | None = None


@dataclass
class _Scan:
    store: BlobStore
    bundles: Path
    cutoff: datetime
    problems: list[_Problem] = field(default_factory=list)
    in_progress: int = 0

    def look(self) -> None:
        # Files first, rows after: a file seen here had its pending row committed before it was written, so the
        # queries below see that row, or the owner row committed with its deletion. Pending rows are read before
        # the owners for the same reason.
        blobs = self.store.listing()
        bundles = _modified(p for p in _entries(self.bundles) if BUNDLE_FILE.fullmatch(p.name))
        unfinished = self.store.partial_writes()
        partials = [
            (FileArea.BUNDLE, p)
            for p in _entries(self.bundles)
            if BUNDLE_PARTIAL.fullmatch(p.name)
            or ((EXTRACT_FOLDER.fullmatch(p.name) or STORING_FOLDER.fullmatch(p.name)) and p.is_dir())
        ]
        pending = {(row.area, row.name): row for row in db.session.execute(select(PendingFile)).scalars()}
        documents = {
            row.blob_name: f"document {row.filename} of {row.reference}"
            for row in db.session.execute(
                select(Document.blob_name, Document.filename, Case.reference).join(Case, Document.case_id == Case.id)
            )
        }
        records = {
            row.blob_name: f"production record {row.filename} of {row.reference}"
            for row in db.session.execute(
                select(ProductionRecord.blob_name, ProductionRecord.filename, Case.reference).join(
                    Case, ProductionRecord.case_id == Case.id
                )
            )
        }
        outputs = db.session.execute(select(Job.output_blob, Job.label).where(Job.output_blob.is_not(None)))
        every_bundle = db.session.execute(
            select(Bundle.public_id, Bundle.kind, Bundle.purged_at, Bundle.blob_name, Case.reference).outerjoin(
                Case, Bundle.case_id == Case.id
            )
        ).all()
        # A bundle in the blob store (the database backend) is a blob its row names until it is purged.
        stored_bundles = {row.blob_name: row for row in every_bundle if row.blob_name is not None}
        owners = (
            documents
            | records
            | {row.output_blob: f"output of the job {row.label!r}" for row in outputs}
            | {
                name: f"bundle {row.public_id}.zip ({_bundle_label(row)})"
                for name, row in stored_bundles.items()
                if row.purged_at is None
            }
        )
        bundle_rows = {f"{row.public_id}.zip": row for row in every_bundle if row.blob_name is None}

        for name, modified in blobs.items():
            purged = stored_bundles.get(name)
            if purged is not None and purged.purged_at is not None:
                self._add(
                    Kind.PURGED_PRESENT,
                    FileArea.BLOB,
                    name,
                    f"bundle {purged.public_id}.zip ({_bundle_label(purged)}) was purged on "
                    f"{_when(purged.purged_at)}, but its encrypted file {name} is still there",
                )
            elif name not in owners:
                self._unnamed(FileArea.BLOB, name, modified, pending.pop((FileArea.BLOB.value, name), None))
        for name, modified in bundles.items():
            row = bundle_rows.get(name)
            if row is None:
                self._unnamed(FileArea.BUNDLE, name, modified, pending.pop((FileArea.BUNDLE.value, name), None))
            elif row.purged_at is not None:
                self._add(
                    Kind.PURGED_PRESENT,
                    FileArea.BUNDLE,
                    name,
                    f"bundle {name} ({_bundle_label(row)}) was purged on {_when(row.purged_at)}, "
                    "but its file is still there",
                )
        for leftover in unfinished:
            self._unfinished_blob(leftover)
        for area, path in partials:
            self._partial(area, path)
        for (area_name, name), row in pending.items():
            self._leftover_pending(FileArea(area_name), name, row, owners, bundle_rows)
        for name, owner in owners.items():
            if name not in blobs and not self._blob_exists(name):  # looked again: it may be newer than the scan
                self._add(
                    Kind.MISSING, FileArea.BLOB, name, f"encrypted file {name} is not there; the {owner} names it"
                )
        for name, row in bundle_rows.items():
            if row.purged_at is None and name not in bundles and not (self.bundles / name).is_file():
                self._add(
                    Kind.MISSING,
                    FileArea.BUNDLE,
                    name,
                    f"bundle {name} ({_bundle_label(row)}) is on record and not purged, but its file is not there",
                )

    def _blob_exists(self, name: str) -> bool:
        try:
            return self.store.exists(name)
        except StorageError:  # not a name the store gives: no such file can exist
            return False

    def _unnamed(self, area: FileArea, name: str, modified: datetime, row: PendingFile | None) -> None:
        if row is not None:
            if row.created_at >= self.cutoff:
                self.in_progress += 1
                return
            self._add(
                Kind.ABANDONED,
                area,
                name,
                f"{area.label} {name} was staged for a {_owner(row.owner)} on {_when(row.created_at)}, "
                "which never committed",
                pending_id=row.id,
            )
        elif modified >= self.cutoff:
            self.in_progress += 1
        else:
            what = "no document or production record" if area is FileArea.BLOB else "no bundle on record"
            self._add(
                Kind.ORPHAN, area, name, f"{area.label} {name} (written {_when(modified)}) is named by {what}"
            )

    def _unfinished_blob(self, leftover: PartialWrite) -> None:
        if leftover.modified >= self.cutoff:
            self.in_progress += 1
            return
        self.problems.append(
            _Problem(
                Finding(
                    Kind.PARTIAL,
                    FileArea.BLOB,
                    leftover.label,
                    f"{leftover.label}: an encrypted file whose writer never finished (ciphertext only), last written "
                    f"{_when(leftover.modified)}",
                ),
                leftover,
            )
        )

    def _partial(self, area: FileArea, path: Path) -> None:
        try:
            modified = _latest_change(path)
        except FileNotFoundError:
            return  # finished or removed meanwhile
        if modified >= self.cutoff:
            self.in_progress += 1
            return
        relative = path.relative_to(self.bundles).as_posix()
        if STORING_FOLDER.fullmatch(path.name):
            what = "a bundle whose copy into the database blob store never finished"
        elif path.is_dir():
            what = "the working folder of an audit extract that never finished (it holds plaintext)"
        else:
            what = "a bundle whose build never finished"
        self.problems.append(
            _Problem(
                Finding(Kind.PARTIAL, area, relative, f"{relative}: {what}, last written {_when(modified)}"), path
            )
        )

    def _leftover_pending(
        self, area: FileArea, name: str, row: PendingFile, owners: dict[str, str], bundle_rows: dict[str, Any]
    ) -> None:
        if row.created_at >= self.cutoff:
            self.in_progress += 1
            return
        named = name in owners if area is FileArea.BLOB else name in bundle_rows
        if named:
            # Its file is named by a committed row: the row stays and so does the file; only the record goes.
            outcome = "its owner did commit (the file stays)"
        else:
            outcome = "never committed, and the file was never written or is gone already"
        self.problems.append(
            _Problem(
                Finding(
                    Kind.ABANDONED,
                    area,
                    name,
                    f"{area.label} {name} was staged for a {_owner(row.owner)} on {_when(row.created_at)}, which "
                    f"{outcome}",
                ),
                None,
                row.id,
            )
        )

    def _add(self, kind: Kind, area: FileArea, name: str, description: str, pending_id: int | None = None) -> None:
        removal = None if kind is Kind.MISSING else stored_file(area, name)  # refuses a name the app never gives
        self.problems.append(_Problem(Finding(kind, area, name, description), removal, pending_id))


# -- fixing ----------------------------------------------------------------------------------------------------


def _fix(actor: Actor, problem: _Problem, cutoff: datetime) -> bool:
    """Record one removal; the file goes when the transaction commits. False when it turned out to be in use."""
    finding = problem.finding
    if problem.pending_id is not None:
        # A writer committing now deletes this row in its own transaction: whoever deletes it first wins.
        statement = delete(PendingFile).where(PendingFile.id == problem.pending_id, PendingFile.created_at < cutoff)
        if db.session.connection().execute(statement).rowcount != 1:
            return False
    if problem.removal is None:
        return True  # only the pending record goes: there is no file
    if isinstance(problem.removal, StoredFile) and _named_by_a_row(problem.removal):
        return False
    record(
        actor,
        AuditAction.STORAGE_FILE_REMOVED,
        subject="storage",
        data={
            "area": finding.area.value,
            "file": finding.name,
            "finding": finding.kind.value,
            "why": finding.description,
        },
    )
    remove_after_commit(problem.removal)
    return True


def _named_by_a_row(file: StoredFile) -> bool:
    if file.area is FileArea.BLOB:
        for column in (Document.blob_name, ProductionRecord.blob_name, Job.output_blob):
            if db.session.execute(select(column).where(column == file.name)).first() is not None:
                return True
        bundle = select(Bundle.id).where(Bundle.blob_name == file.name, Bundle.purged_at.is_(None))
        return db.session.execute(bundle).first() is not None
    public_id = file.name.removesuffix(".zip")
    return (
        db.session.execute(select(Bundle.id).where(Bundle.public_id == public_id, Bundle.purged_at.is_(None))).first()
        is not None
    )


# -- helpers ---------------------------------------------------------------------------------------------------


def _with_fixed(finding: Finding, fixed: bool) -> Finding:
    return Finding(finding.kind, finding.area, finding.name, finding.description, fixed)


def _entries(folder: Path) -> Iterator[Path]:
    try:
        with os.scandir(folder) as entries:
            found = [Path(entry.path) for entry in entries if not entry.is_symlink()]
    except FileNotFoundError:
        return
    yield from sorted(found)


def _modified(paths: Iterable[Path]) -> dict[str, datetime]:
    """name -> last modification, for the files still there."""
    found = {}
    for path in paths:
        try:
            found[path.name] = _timestamp(path.stat(follow_symlinks=False).st_mtime)
        except FileNotFoundError:
            continue
    return found


def _latest_change(path: Path) -> datetime:
    """When a leftover was last written to: for a folder, the newest of it and what it holds."""
    newest = path.stat(follow_symlinks=False).st_mtime
    if path.is_dir():
        for inner in path.rglob("*"):
            try:
                newest = max(newest, inner.stat(follow_symlinks=False).st_mtime)
            except FileNotFoundError:
                continue
    return _timestamp(newest)


def _timestamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _owner(table: str) -> str:
    return {"case_document": "case document", "production_record": "production record"}.get(table, table)


def _bundle_label(row: Any) -> str:
    return f"case {row.reference}" if row.reference else f"an auditor's {str(row.kind).replace('_', ' ')}"

