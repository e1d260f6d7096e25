"""The queries behind reports: the period's cases as they stood at one audit checkpoint.

A case counts only if the log saw it created at or before the checkpoint, and its state is its latest case log
state row (disclosure.reports.models) with seq at or before the checkpoint's size. Counting happens in the
database: the transparency report is one grouped query per profile plus one for the distinct accounts, so a
report over a million cases returns a few hundred rows. The cases behind one cell are listed on request.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Float, and_, case, cast, exists, extract, func, select, text
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import UnaryExpression

from disclosure.audit.models import AuditCheckpoint
from disclosure.audit.service import checkpoint_now
from disclosure.cases.models import Case, CaseTarget
from disclosure.database import READ_ONLY
from disclosure.extensions import db
from disclosure.permissions import Permission
from disclosure.reports.models import CaseLogState
from disclosure.reports.transparency import (
    NATIONAL_SECURITY,
    PRESERVATION,
    CheckpointRef,
    Profile,
    ReportError,
    Tally,
    cell_keys,
)
from disclosure.workflow import OPEN_STATES

CASE = Case.__table__.c
TARGET = CaseTarget.__table__.c
LOG = CaseLogState.__table__.c
STATE_COLUMNS = (
    "state",
    "previous_state",
    "produced",
    "content_produced",
    "indefinite_ndo",
    "decided_at",
    "disclosed_at",
)


def _postgres() -> bool:
    return bool(db.engine.dialect.name == "postgresql")


def checkpoint_ref(checkpoint: AuditCheckpoint) -> CheckpointRef:
    return CheckpointRef(checkpoint.id, checkpoint.size, bytes(checkpoint.root).hex(), checkpoint.created_at)


def latest_checkpoint() -> AuditCheckpoint | None:
    return db.session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)).scalar()


def resolve_checkpoint(
    checkpoint_id: int | None = None, *, create_for: Any = None, ip: str | None = None
) -> AuditCheckpoint:
    """The checkpoint named, or a new one made for `create_for` (the caller commits), or the latest."""
    if checkpoint_id is not None:
        found = db.session.get(AuditCheckpoint, checkpoint_id)
        if found is None:
            raise ReportError(f"there is no audit checkpoint {checkpoint_id}")
        return found
    if create_for is not None:
        return checkpoint_now(create_for, "report", ip, permission=Permission.REPORT_VIEW)
    found = latest_checkpoint()
    if found is None:
        raise ReportError(
            "there is no audit checkpoint yet; make one (`flask audit checkpoint`) or compute the "
            "report from the command line, which makes one"
        )
    return found


def _in_period(start: date, end: date) -> Any:
    low = datetime.combine(start, time.min, UTC)
    high = datetime.combine(end + timedelta(days=1), time.min, UTC)
    received = CASE.received_at
    if not _postgres():
        # SQLite has no statistics on how much of the table a period covers and would walk the received_at index,
        # one table lookup per case; SQLite's unary + (a no-op) keeps it on the faster plan.
        received = UnaryExpression(received, operator=operators.custom_op("+"), type_=received.type)
    return and_(received >= low, received < high)


def _states_at(size: int) -> Any:
    """Each case's latest state row at or before `size`: one row per case the log saw created by then."""
    columns = [LOG.reference, *(LOG[name] for name in STATE_COLUMNS)]
    if _postgres():
        latest = select(*columns).ext(distinct_on(LOG.reference)).order_by(LOG.reference, LOG.seq.desc())
        return latest.where(LOG.seq <= size).subquery("states")
    # SQLite returns the other columns from the row holding max(seq) (its documented "bare column" rule), which
    # reads the (reference, seq) index once, in order, without a sort or a join back.
    latest = select(LOG.reference, func.max(LOG.seq).label("seq"), *columns[1:]).group_by(LOG.reference)
    return latest.where(LOG.seq <= size).subquery("states")


def run_side_by_side(*statements: Any) -> list[list[Any]]:
    """Run read-only statements at once, each on its own connection, and return their rows in order.

    Each statement reads a large part of the database and returns a few rows; on two cores, running them side by
    side roughly halves the wait. They read only rows at or before the checkpoint, which never change, and the
    cases and targets as committed. On PostgreSQL each sorts in memory and skips JIT compilation (seconds of
    overhead on these queries), for its own transaction only.
    """
    engine = db.engine
    postgres = _postgres()

    def run(statement: Any) -> list[Any]:
        with engine.connect().execution_options(**{READ_ONLY: True}) as connection:
            if postgres:
                connection.execute(text("SET LOCAL work_mem = '256MB'"))
                connection.execute(text("SET LOCAL jit = off"))
            rows = list(connection.execute(statement))
            connection.rollback()
            return rows

    with ThreadPoolExecutor(max_workers=len(statements), thread_name_prefix="report") as pool:
        return list(pool.map(run, statements))


def _profile_columns(states: Any) -> list[Any]:
    has_targets = exists().where(TARGET.case_id == CASE.id)
    return [
        CASE.process_type,
        CASE.regime,
        CASE.country,
        states.c.state,
        states.c.previous_state,
        has_targets.label("has_targets"),
        states.c.produced,
        states.c.content_produced,
        states.c.indefinite_ndo,
    ]


def _profile(row: Any) -> Profile:
    return Profile(
        row.process_type,
        row.regime,
        row.country,
        row.state,
        row.previous_state,
        bool(row.has_targets),
        bool(row.produced),
        bool(row.content_produced),
        bool(row.indefinite_ndo),
    )


def tally_statements(start: date, end: date, size: int) -> tuple[Any, Any]:
    """The two statements behind a tally: cases per profile, and distinct accounts per kind of process."""
    states = _states_at(size)
    per_case = (
        select(*_profile_columns(states))
        .select_from(states.join(Case.__table__, CASE.reference == states.c.reference))
        .where(_in_period(start, end))
        .subquery("per_case")
    )
    grouped = select(*per_case.c, func.count().label("cases")).group_by(*per_case.c)
    return grouped, _distinct_accounts(start, end, size)


def tally_from(profile_rows: list[Any], account_rows: list[Any]) -> Tally:
    profiles = tuple((_profile(row), int(row.cases)) for row in profile_rows)
    accounts = {kind: int(count) for kind, count in account_rows}
    return Tally(profiles, accounts.get("main", 0), accounts.get("preservation", 0), accounts.get("nsl", 0))


def load_tally(start: date, end: date, size: int) -> Tally:
    """The period's cases at the checkpoint of `size` events, counted per profile, and their distinct accounts."""
    return tally_from(*run_side_by_side(*tally_statements(start, end, size)))


def _distinct_accounts(start: date, end: date, size: int) -> Any:
    """Distinct (kind, normalized value) targets of the period's cases, by kind of process (see process_class).

    Rows of (kind of process, count).
    """
    kind = case(
        (CASE.process_type.in_(PRESERVATION), "preservation"),
        (CASE.process_type.in_(NATIONAL_SECURITY), "nsl"),
        else_="main",
    ).label("kind")
    logged = exists().where(LOG.reference == CASE.reference, LOG.seq <= size)
    # Grouping by the normalized value first lets SQLite walk its index instead of sorting every target.
    distinct = (
        select(kind)
        .select_from(CaseTarget.__table__.join(Case.__table__, CASE.id == TARGET.case_id))
        .where(_in_period(start, end), logged)
        .group_by(TARGET.normalized, TARGET.kind, kind)
        .subquery("accounts")
    )
    return select(distinct.c.kind, func.count()).group_by(distinct.c.kind)


#: Cells named after a case column ("process.subpoena"): only cases with that value can be in them.
_CELL_COLUMNS = {"process": CASE.process_type, "regime": CASE.regime, "country": CASE.country}


def cell_references(start: date, end: date, size: int, key: str) -> list[str]:
    """The references of the period's cases behind one cell, sorted: cell_keys() decides, once per profile."""
    states = _states_at(size)
    statement = (
        select(CASE.reference, *_profile_columns(states))
        .select_from(states.join(Case.__table__, CASE.reference == states.c.reference))
        .where(_in_period(start, end))
    )
    prefix, _, value = key.partition(".")
    if prefix in _CELL_COLUMNS and value:
        statement = statement.where(_CELL_COLUMNS[prefix] == value)
    in_cell: dict[tuple[Any, ...], bool] = {}
    references = []
    for row in db.session.execute(statement):
        profile = tuple(row[1:])
        member = in_cell.get(profile)
        if member is None:
            member = in_cell[profile] = key in cell_keys(_profile(row))
        if member:
            references.append(row[0])
    references.sort()
    return references


def _seconds_between(earlier: Any, later: Any) -> Any:
    if _postgres():
        return cast(extract("epoch", later - earlier), Float)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def durations_statement(start: date, end: date, size: int, as_of: datetime) -> Any:
    """Each period case's time to decision and to disclosure, and whether it was overdue or late, at the checkpoint.

    The database does the date arithmetic, so a million cases come back as numbers, not datetimes to convert;
    the rows carry CaseDurations' field names and are used as they are.
    """
    states = _states_at(size)
    open_states = [state.value for state in OPEN_STATES]
    return (
        select(
            CASE.reference,
            CASE.process_type,
            _seconds_between(CASE.received_at, states.c.decided_at).label("to_decision"),
            _seconds_between(CASE.received_at, states.c.disclosed_at).label("to_disclosure"),
            and_(states.c.state.in_(open_states), CASE.due_at < as_of).label("overdue_open"),
            func.coalesce(states.c.decided_at > CASE.due_at, False).label("decided_late"),
        )
        .select_from(states.join(Case.__table__, CASE.reference == states.c.reference))
        .where(_in_period(start, end))
    )


def cases_by_reference(references: list[str]) -> list[Case]:
    if not references:
        return []
    rows = []
    for offset in range(0, len(references), 500):
        chunk = references[offset : offset + 500]
        rows += list(db.session.execute(select(Case).where(Case.reference.in_(chunk))).scalars())
    return sorted(rows, key=lambda c: c.reference)
