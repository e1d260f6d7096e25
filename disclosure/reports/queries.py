"""The queries behind reports: each case's facts as of one audit checkpoint, read from the audit log.

The audit log is the source of truth: a case counts only if its case.create event is inside the checkpoint, its
state is the "to" of its last case.transition event inside it, and its production is the production.record_added
events inside it. JSON fields are read by the database (json_extract on SQLite, jsonb on PostgreSQL), so a report
over a million cases does not parse a million bodies in Python.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlalchemy.dialects.postgresql import JSONB

from disclosure.audit.actions import AuditAction
from disclosure.audit.models import AuditCheckpoint, AuditEvent
from disclosure.audit.service import checkpoint_now
from disclosure.cases.models import Case, CaseTarget
from disclosure.extensions import db
from disclosure.reports.metrics import CaseTimes
from disclosure.reports.transparency import CaseFacts, CheckpointRef, ReportError
from disclosure.workflow import State

EVENT = AuditEvent.__table__.c
CASE = Case.__table__.c
TARGET = CaseTarget.__table__.c


def _postgres() -> bool:
    return bool(db.engine.dialect.name == "postgresql")


def json_text(body: Any, *path: str) -> Any:
    """A JSON field of an event body as text (SQL NULL when missing or JSON null)."""
    if _postgres():
        return func.jsonb_extract_path_text(cast(func.convert_from(body, "UTF8"), JSONB), *path)
    return func.json_extract(cast(body, Text), "$." + ".".join(path))


def json_type(body: Any, *path: str) -> Any:
    """The JSON type of a field ('object', 'null', ...) or SQL NULL when it is missing."""
    if _postgres():
        return func.jsonb_typeof(func.jsonb_extract_path(cast(func.convert_from(body, "UTF8"), JSONB), *path))
    return func.json_type(cast(body, Text), "$." + ".".join(path))


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
        return checkpoint_now(create_for, "report", ip)
    found = latest_checkpoint()
    if found is None:
        raise ReportError(
            "there is no audit checkpoint yet; make one (`flask audit checkpoint`) or compute the "
            "report from the command line, which makes one"
        )
    return found


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return datetime.combine(start, time.min, UTC), datetime.combine(end + timedelta(days=1), time.min, UTC)


def _subject(reference: str) -> str:
    return f"case:{reference}"


def _created_cases(start: date, end: date, size: int) -> list[Any]:
    """Cases received in the period whose case.create event is inside the checkpoint.

    The two sides are matched here rather than joined in SQL: the join key is computed ('case:' || reference),
    which no index serves, and SQLite would run it as a nested loop.
    """
    low, high = _bounds(start, end)
    created = select(
        EVENT.subject,
        json_type(EVENT.body, "data", "request", "non_disclosure_order"),
        json_type(EVENT.body, "data", "request", "non_disclosure_order", "until"),
    ).where(EVENT.action == AuditAction.CASE_CREATE.value, EVENT.seq <= size)
    orders = {subject: (ndo, until) for subject, ndo, until in db.session.execute(created)}
    statement = select(
        CASE.id, CASE.reference, CASE.process_type, CASE.regime, CASE.country, CASE.received_at, CASE.due_at
    ).where(CASE.received_at >= low, CASE.received_at < high)
    rows = []
    for row in db.session.execute(statement):
        order = orders.get(_subject(row.reference))
        if order is not None:
            rows.append(CreatedCase(*row, ndo=order[0], until=order[1]))
    return rows


@dataclass(frozen=True)
class CreatedCase:
    id: int
    reference: str
    process_type: str
    regime: str
    country: str
    received_at: datetime
    due_at: datetime
    #: JSON types of the intake request's non-disclosure order and of its "until" ('object', 'null', or None).
    ndo: str | None
    until: str | None


def _transitions(size: int, subjects: set[str] | None) -> dict[str, tuple[str, str]]:
    """Each case's last transition inside the checkpoint: subject → (from, to)."""
    last = (
        select(EVENT.subject.label("subject"), func.max(EVENT.seq).label("seq"))
        .where(EVENT.action == AuditAction.CASE_TRANSITION.value, EVENT.seq <= size)
        .group_by(EVENT.subject)
        .subquery()
    )
    statement = select(EVENT.subject, json_text(EVENT.body, "data", "from"), json_text(EVENT.body, "data", "to")).join(
        last, EVENT.seq == last.c.seq
    )
    return {
        subject: (before, after)
        for subject, before, after in db.session.execute(statement)
        if subjects is None or subject in subjects
    }


def _produced(size: int) -> dict[str, set[str]]:
    statement = (
        select(EVENT.subject, json_text(EVENT.body, "data", "category"))
        .where(EVENT.action == AuditAction.PRODUCTION_RECORD_ADDED.value, EVENT.seq <= size)
        .distinct()
    )
    produced: dict[str, set[str]] = defaultdict(set)
    for subject, category in db.session.execute(statement):
        produced[subject].add(category)
    return produced


def _ndo_changes(size: int) -> dict[str, bool]:
    """Orders set or renewed after intake: subject → indefinite, the latest event inside the checkpoint winning."""
    statement = (
        select(
            EVENT.subject,
            EVENT.action,
            json_text(EVENT.body, "data", "expires_on"),
            json_text(EVENT.body, "data", "diff", "expires_on", "to"),
        )
        .where(EVENT.action.in_([AuditAction.NDO_SET.value, AuditAction.NDO_RENEW.value]), EVENT.seq <= size)
        .order_by(EVENT.seq)
    )
    latest: dict[str, bool] = {}
    for subject, action, set_to, renewed_to in db.session.execute(statement):
        value = set_to if action == AuditAction.NDO_SET.value else renewed_to
        latest[subject] = value == "indefinite"
    return latest


def _targets(start: date, end: date) -> dict[int, set[tuple[str, str]]]:
    low, high = _bounds(start, end)
    statement = (
        select(TARGET.case_id, TARGET.kind, TARGET.normalized)
        .join(Case.__table__, CASE.id == TARGET.case_id)
        .where(CASE.received_at >= low, CASE.received_at < high)
    )
    targets: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for case_id, kind, normalized in db.session.execute(statement):
        targets[case_id].add((kind, normalized))
    return targets


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def load_case_facts(start: date, end: date, size: int) -> list[CaseFacts]:
    """Every case received in [start, end] as it stood at the checkpoint of `size` events."""
    rows = _created_cases(start, end, size)
    transitions = _transitions(size, None)
    produced = _produced(size)
    ndo_changes = _ndo_changes(size)
    targets = _targets(start, end)
    facts = []
    for row in rows:
        subject = _subject(row.reference)
        before, after = transitions.get(subject, (None, State.RECEIVED.value))
        indefinite = ndo_changes.get(subject, row.ndo == "object" and row.until == "null")
        facts.append(
            CaseFacts(
                id=row.id,
                reference=row.reference,
                process_type=row.process_type,
                regime=row.regime,
                country=row.country,
                received_at=_aware(row.received_at),
                state=after,
                previous_state=before,
                targets=frozenset(targets.get(row.id, ())),
                produced=frozenset(produced.get(subject, ())),
                indefinite_ndo=indefinite,
            )
        )
    return facts


def load_case_times(start: date, end: date, size: int) -> list[CaseTimes]:
    """Received, due, first decision and disclosure times of the period's cases, as of the checkpoint."""
    rows = _created_cases(start, end, size)
    transitions = _transitions(size, None)
    target = json_text(EVENT.body, "data", "to")
    firsts = (
        select(EVENT.subject, target.label("to"), func.min(EVENT.ts))
        .where(
            EVENT.action == AuditAction.CASE_TRANSITION.value,
            EVENT.seq <= size,
            target.in_([State.APPROVED.value, State.REJECTED.value, State.DISCLOSED.value]),
        )
        .group_by(EVENT.subject, target)
    )
    decided: dict[str, datetime] = {}
    disclosed: dict[str, datetime] = {}
    for subject, to, moment in db.session.execute(firsts):
        moment = _aware(moment)
        if to == State.DISCLOSED.value:
            disclosed[subject] = moment
        elif subject not in decided or moment < decided[subject]:
            decided[subject] = moment
    times = []
    for row in rows:
        subject = _subject(row.reference)
        times.append(
            CaseTimes(
                reference=row.reference,
                process_type=row.process_type,
                received_at=_aware(row.received_at),
                due_at=_aware(row.due_at),
                state=transitions.get(subject, (None, State.RECEIVED.value))[1],
                decided_at=decided.get(subject),
                disclosed_at=disclosed.get(subject),
            )
        )
    return times


def cases_by_reference(references: list[str]) -> list[Case]:
    if not references:
        return []
    rows = []
    for offset in range(0, len(references), 500):
        chunk = references[offset : offset + 500]
        rows += list(db.session.execute(select(Case).where(Case.reference.in_(chunk))).scalars())
    return sorted(rows, key=lambda c: c.reference)
