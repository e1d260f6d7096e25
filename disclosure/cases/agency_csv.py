"""The agency directory as CSV: `flask agencies export` writes it, `flask agencies import` reads it back.

One row per agency: name, country, regime, parent, aliases, domains, phone, email, portal, postal; a cell holding
several values separates them with "; ". Export then import gives the same directory (channel verifications and an
administrator's vouching are not in the file: they are acts of a person, never imported). An imported row whose name
is already an agency's name or alias in its country attaches to that agency (its aliases, domains and channels are
added, a blank regime or parent filled in); any other row adds an agency, unverified. Reading checks every row
before anything is written, and applying is all or nothing: the first refusal names its line and column.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy import select

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.cases import agencies
from disclosure.cases.models import Agency, directory_key
from disclosure.csv_export import FORMULA_STARTS, csv_bytes
from disclosure.extensions import db
from disclosure.permissions import Permission
from disclosure.services import Actor, ServiceError, require

COLUMNS = ("name", "country", "regime", "parent", "aliases", "domains", "phone", "email", "portal", "postal")
REQUIRED = ("name", "country")
CHANNEL_COLUMNS = ("phone", "email", "portal", "postal")
SEPARATOR = agencies.SEPARATOR
#: Refused beyond this: a directory is thousands of rows, not millions.
MAX_BYTES = 5 * 1024 * 1024
#: Problems listed at most, when reading finds many.
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class Problem:
    """What is wrong with one cell (or the file), as the command prints it."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.column}: {self.message}"


class ImportRefused(Exception):
    """The file was refused; `problems` name each bad line and column. Not a ServiceError: the command rolls back
    and exits 2 (a usage error) rather than 1."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class Row:
    line: int
    name: str
    country: str
    regime: str | None
    parent: str
    aliases: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    #: (kind, value) in the file's order.
    channels: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ImportSummary:
    created: list[str] = field(default_factory=list)
    attached: list[str] = field(default_factory=list)
    #: Newly added agencies that look like others already there: (new name, existing name, why).
    possible_duplicates: list[tuple[str, str, str]] = field(default_factory=list)


def _uninert(text: str) -> str:
    """A cell as exported: csv_export puts an apostrophe before a leading = + - @ so spreadsheets never run it."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def _values(cell: str) -> list[str]:
    return [part.strip() for part in cell.split(SEPARATOR) if part.strip()]


def read(data: bytes) -> list[Row]:
    """Check every row of the file; ImportRefused lists what is wrong (at most MAX_PROBLEMS)."""
    if len(data) > MAX_BYTES:
        raise ImportRefused([Problem(1, "file", f"larger than {MAX_BYTES // (1024 * 1024)} MiB")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ImportRefused([Problem(line, "file", "not UTF-8 text: save the file as CSV UTF-8")]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [_uninert(cell).strip().lower() for cell in next(reader, [])]
    except csv.Error as error:
        raise ImportRefused([Problem(1, "header", f"not CSV: {error}")]) from None
    problems = _check_header(header)
    if problems:
        raise ImportRefused(problems)
    rows: list[Row] = []
    line = reader.line_num
    try:
        for cells in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(header):
                problems.append(Problem(start, "row", f"{len(cells)} cells but {len(header)} columns"))
                continue
            values = dict(zip(header, (_uninert(cell) for cell in cells), strict=False))
            row = _row(start, values, problems)
            if row is not None:
                rows.append(row)
            if len(problems) >= MAX_PROBLEMS:
                break
    except csv.Error as error:
        problems.append(Problem(line + 1, "row", f"not CSV: {error}"))
    if problems:
        raise ImportRefused(problems[:MAX_PROBLEMS])
    if not rows:
        raise ImportRefused([Problem(1, "file", "no agency rows under the header")])
    return rows


def _check_header(header: list[str]) -> list[Problem]:
    problems = []
    for name in header:
        if name not in COLUMNS:
            problems.append(Problem(1, "header", f"unknown column {name!r}; the columns are {', '.join(COLUMNS)}"))
        elif header.count(name) > 1:
            problems.append(Problem(1, "header", f"the column {name!r} appears twice"))
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        problems.append(Problem(1, "header", f"missing column(s) {', '.join(missing)}"))
    return problems


def _row(line: int, values: dict[str, str], problems: list[Problem]) -> Row | None:
    found = len(problems)

    def check(column: str, text: str, checker: Callable[[str], str | None]) -> str:
        try:
            return checker(text) or ""
        except agencies.AgencyError as error:
            problems.append(Problem(line, column, str(error)))
            return text

    name = check("name", values.get("name", ""), agencies.check_name)
    country = check("country", values.get("country", ""), agencies.check_country)
    regime_text = values.get("regime", "").strip()
    regime = check("regime", regime_text, agencies.check_regime) if regime_text else None
    parent = values.get("parent", "").strip()
    if parent:
        parent = check("parent", parent, agencies.check_name)
    aliases = [check("aliases", alias, agencies.check_name) for alias in _values(values.get("aliases", ""))]
    domains = [check("domains", domain, agencies.check_domain) for domain in _values(values.get("domains", ""))]
    channels = []
    for kind in CHANNEL_COLUMNS:
        for value in _values(values.get(kind, "")):
            channels.append((kind, check(kind, value, partial(agencies.check_contact, kind))))
    if len(problems) > found:
        return None
    return Row(line, name, country, regime, parent, aliases, domains, channels)


# Applying the rows.


def apply(actor: Actor, rows: list[Row], data: bytes, ip: str | None = None) -> ImportSummary:
    """Add or attach every row, then set the parents; ImportRefused names the first row a service refuses."""
    require(actor, Permission.AGENCY_MANAGE)
    summary = ImportSummary()
    placed: list[tuple[Row, Agency]] = []
    created: list[Agency] = []
    for row in rows:
        before = len(summary.created)
        agency = _attach_or_create(actor, row, summary, ip)
        placed.append((row, agency))
        if len(summary.created) > before:
            created.append(agency)
    for row, agency in placed:
        if row.parent:
            _set_parent(actor, row, agency, ip)
    for agency in created:
        for duplicate in agencies.possible_duplicates(agency.name, exclude=agency, limit=3):
            summary.possible_duplicates.append((agency.name, duplicate.agency.name, duplicate.match.why))
    record(
        actor,
        AuditAction.AGENCIES_IMPORTED,
        subject="agencies",
        ip=ip,
        data={
            "sha256": hashlib.sha256(data).hexdigest(),
            "rows": len(rows),
            "created": summary.created,
            "attached": summary.attached,
        },
    )
    return summary


def _refuse(row: Row, column: str, error: ServiceError) -> ImportRefused:
    return ImportRefused([Problem(row.line, column, str(error))])


_COLUMN_OF = {"alias": "aliases", "domain": "domains", "name": "name", "country": "country", "regime": "regime"}


def _attach_or_create(actor: Actor, row: Row, summary: ImportSummary, ip: str | None) -> Agency:
    agency = agencies.find_by_name(row.name, row.country)
    if agency is None:
        draft = agencies.AgencyDraft(row.name, row.country, row.regime, None, row.aliases, row.domains)
        try:
            agency = agencies.create_agency(actor, draft, ip, origin="import")
        except ServiceError as error:
            raise _refuse(row, _COLUMN_OF.get(getattr(error, "field", None) or "", "name"), error) from error
        summary.created.append(agency.name)
    else:
        summary.attached.append(agency.name)
        try:
            _fill(actor, row, agency, ip)
        except ServiceError as error:
            raise _refuse(row, _COLUMN_OF.get(getattr(error, "field", None) or "", "name"), error) from error
    for kind, value in row.channels:
        if not any(c.kind == kind and c.value == value for c in agency.contacts):
            try:
                agencies.add_contact(actor, agency, kind, value, ip)
            except ServiceError as error:
                raise _refuse(row, kind, error) from error
    return agency


def _fill(actor: Actor, row: Row, agency: Agency, ip: str | None) -> None:
    """Attach a row to the agency it names: add what is new, fill a blank regime, refuse a contradiction."""
    if row.regime and agency.regime and row.regime != agency.regime:
        raise ImportRefused(
            [
                Problem(
                    row.line,
                    "regime",
                    f"{agency.name} ({agency.country}) is recorded under {agency.regime_label}; this row says "
                    f"{row.regime}. Change one of them.",
                )
            ]
        )
    if row.regime and not agency.regime:
        draft = agencies.AgencyDraft(agency.name, agency.country, row.regime, agency.parent_id)
        agencies.update_agency(actor, agency, draft, ip)
    known = {agency.name_key, *(a.name_key for a in agency.aliases)}
    for alias in row.aliases:
        if directory_key(alias) not in known:
            agencies.add_alias(actor, agency, alias, ip)
            known.add(directory_key(alias))
    for domain in row.domains:
        if not any(d.domain == domain for d in agency.domains):
            agencies.add_domain(actor, agency, domain, ip)


def _set_parent(actor: Actor, row: Row, agency: Agency, ip: str | None) -> None:
    parent = agencies.find_by_name(row.parent, row.country)
    if parent is None:
        elsewhere = agencies.find_by_name_anywhere(row.parent)
        if len(elsewhere) != 1:
            where = "in any country" if not elsewhere else f"in {row.country}, and it is ambiguous elsewhere"
            raise ImportRefused([Problem(row.line, "parent", f"no agency named {row.parent!r} {where}")])
        parent = elsewhere[0]
    if agency.parent_id == parent.id:
        return
    if agency.parent_id is not None:
        raise ImportRefused(
            [
                Problem(
                    row.line,
                    "parent",
                    f"{agency.name} is recorded as a field office of {agency.parent.name if agency.parent else '?'}; "
                    f"this row says {parent.name}. Change one of them.",
                )
            ]
        )
    draft = agencies.AgencyDraft(agency.name, agency.country, agency.regime, parent.id)
    try:
        agencies.update_agency(actor, agency, draft, ip)
    except ServiceError as error:
        raise _refuse(row, "parent", error) from error


# Writing the directory.


def export() -> bytes:
    """The whole directory as CSV, one row per agency, in the columns `read` takes."""
    rows = []
    for agency in db.session.execute(select(Agency).order_by(Agency.country, Agency.name_key, Agency.id)).scalars():
        in_use = [c for c in agency.contacts if c.retired_at is None]
        channels = {kind: [c.value for c in in_use if c.kind == kind] for kind in CHANNEL_COLUMNS}
        rows.append(
            [
                agency.name,
                agency.country,
                agency.regime or "",
                agency.parent.name if agency.parent else "",
                f"{SEPARATOR} ".join(a.name for a in agency.aliases),
                f"{SEPARATOR} ".join(d.domain for d in agency.domains),
                *(f"{SEPARATOR} ".join(channels[kind]) for kind in CHANNEL_COLUMNS),
            ]
        )
    return csv_bytes(COLUMNS, rows)
