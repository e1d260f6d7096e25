"""Read-side queries: the dashboard queues, the filtered and sorted case list, search, related cases.

Sort keys map to column objects; user input never reaches order_by or text().
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy import case as sql_case
from sqlalchemy.orm import contains_eager, joinedload, lazyload, selectinload

from disclosure.auth.models import User
from disclosure.cases import search
from disclosure.cases.models import Agency, Case, CaseTarget, NonDisclosureOrder
from disclosure.extensions import db
from disclosure.services import ServiceError
from disclosure.workflow import OPEN_STATES, State

PAGE_SIZE = 25
SORTS: dict[str, Any] = {
    "due": (Case.due_at.asc(), Case.id.asc()),
    "-due": (Case.due_at.desc(), Case.id.desc()),
    "received": (Case.received_at.asc(), Case.id.asc()),
    "-received": (Case.received_at.desc(), Case.id.desc()),
    "reference": (Case.reference.asc(),),
    "-reference": (Case.reference.desc(),),
    "state": (Case.state.asc(), Case.due_at.asc()),
}
DEFAULT_SORT = "due"
OPEN = [state.value for state in OPEN_STATES]
ACTIVE = [
    State.RECEIVED.value,
    State.IN_REVIEW.value,
    State.NEEDS_INFO.value,
    State.APPROVED.value,
    State.PRODUCING.value,
]


@dataclass
class CaseFilter:
    state: str | None = None
    process_type: str | None = None
    agency_id: int | None = None
    regime: str | None = None
    due_from: date | None = None
    due_to: date | None = None
    q: str | None = None
    sort: str = DEFAULT_SORT
    extra: list[Any] = field(default_factory=list)
    #: Set by filtered(): the search's ranking, which comes before the chosen sort.
    extra_order: list[Any] = field(default_factory=list)


#: What a case table row shows (cases/_list.html): the agency (joined by the model) and the assignee's name.
#: Targets and categories are not shown, so they are not loaded; the assignee comes in the same query
#: instead of one lazy load per distinct assignee, and without their roles.
LIST_OPTIONS = (
    lazyload(Case.targets),
    lazyload(Case.category_rows),
    joinedload(Case.assigned_to).lazyload(User.role_rows),
)
#: A search's list shows where each case matched (its targets among the fields): loaded in one more query.
SEARCH_OPTIONS = (
    selectinload(Case.targets),
    lazyload(Case.category_rows),
    joinedload(Case.assigned_to).lazyload(User.role_rows),
)


def _open_first() -> Any:
    return sql_case((Case.emergency.is_(True), 0), else_=1)


def filtered(criteria: CaseFilter, within: Select[Any] | None = None) -> Select[Any]:
    """The cases matching `criteria`, among all cases or `within` a queue's (its own order dropped)."""
    statement = within.order_by(None) if within is not None else select(Case)
    if criteria.state:
        statement = statement.where(Case.state == criteria.state)
    if criteria.process_type:
        statement = statement.where(Case.process_type == criteria.process_type)
    if criteria.agency_id:
        statement = statement.where(Case.agency_id == criteria.agency_id)
    if criteria.regime:
        statement = statement.where(Case.regime == criteria.regime)
    if criteria.due_from:
        statement = statement.where(Case.due_at >= datetime.combine(criteria.due_from, time.min, UTC))
    if criteria.due_to:
        statement = statement.where(Case.due_at < datetime.combine(criteria.due_to + timedelta(days=1), time.min, UTC))
    if criteria.q and criteria.q.strip():
        # Exact references, dockets and targets first, then substrings from the full-text index, best first.
        found = search.matching(criteria.q).subquery()
        statement = statement.join(found, found.c.case_id == Case.id)
        criteria.extra_order = [found.c.rank.asc()]
    for condition in criteria.extra:
        statement = statement.where(condition)
    return statement


def page_of(
    statement: Select[Any], page: int, sort: str, page_size: int = PAGE_SIZE, first: list[Any] | None = None
) -> tuple[list[Case], int, int]:
    """(cases on the page, total count, number of pages); the page number is clamped into range.

    A search (`first`: its rank) finds at most a few thousand cases: the page and the count come from one query
    (count(*) OVER ()), so the full-text lookup runs once, not twice. A list without search counts on its own:
    a window over every case would cost the index's early stop at the page's last row.
    """
    order = (*(first or []), *SORTS.get(sort, SORTS[DEFAULT_SORT]))
    if first:
        counted = statement.add_columns(func.count().over().label("total")).order_by(*order).options(*SEARCH_OPTIONS)
        page = max(1, page)
        found = db.session.execute(counted.limit(page_size).offset((page - 1) * page_size)).all()
        if not found and page > 1:  # past the last page: show the last one (a count, then the page)
            page = _last_page(statement, page_size)
            found = db.session.execute(counted.limit(page_size).offset((page - 1) * page_size)).all()
        total = found[0].total if found else 0
        return [row[0] for row in found], total, max(1, -(-total // page_size))
    total = db.session.execute(select(func.count()).select_from(statement.order_by(None).subquery())).scalar_one()
    pages = max(1, -(-total // page_size))
    page = min(max(1, page), pages)
    ordered = statement.order_by(*order).options(*LIST_OPTIONS)
    rows = db.session.execute(ordered.limit(page_size).offset((page - 1) * page_size)).scalars().unique().all()
    return list(rows), total, pages


def _last_page(statement: Select[Any], page_size: int) -> int:
    total = db.session.execute(select(func.count()).select_from(statement.order_by(None).subquery())).scalar_one()
    return max(1, -(-total // page_size))


#: The most cases one CSV export holds; a larger selection is refused with a request to narrow the filters.
EXPORT_LIMIT = 50_000


class TooManyToExport(ServiceError):
    """The filters select more cases than one export holds."""


def export_rows(statement: Select[Any], criteria: CaseFilter) -> list[Case]:
    """Every case the statement selects, in the list's order (search rank first), for a CSV export."""
    total = db.session.execute(select(func.count()).select_from(statement.order_by(None).subquery())).scalar_one()
    if total > EXPORT_LIMIT:
        raise TooManyToExport(
            f"These filters select {total:,} cases; one export holds at most {EXPORT_LIMIT:,}. Narrow the filters "
            "(a due-date range, say) and export each part."
        )
    ordered = statement.order_by(*criteria.extra_order, *SORTS.get(criteria.sort, SORTS[DEFAULT_SORT]))
    return list(db.session.execute(ordered.options(*LIST_OPTIONS)).scalars().unique())


#: The dashboard's queues, in the order it shows them: (key, title).
QUEUES: tuple[tuple[str, str], ...] = (
    ("mine", "My queue"),
    ("emergencies", "Emergencies"),
    ("overdue", "Overdue"),
    ("due_this_week", "Due within 7 days"),
    ("ready_to_produce", "Approved, ready to produce"),
    ("needs_info", "Waiting for the requester"),
    ("unassigned", "Unassigned, not yet in review"),
    ("gag_expiring", "Non-disclosure orders expiring within 30 days"),
    ("notify_customer", "Notify the customer: non-disclosure order ended"),
)
QUEUE_TITLES = dict(QUEUES)
#: How many cases of each queue the dashboard shows; "See all" lists the rest.
DASHBOARD_ROWS = 10


@dataclass(frozen=True)
class QueueView:
    key: str
    title: str
    #: The first DASHBOARD_ROWS cases, most urgent first.
    cases: list[Case]
    #: How many cases the queue holds in all.
    total: int


def queue_statement(key: str, user_id: int, now: datetime) -> Select[Any] | None:
    """The cases in one queue, most urgent first (None: no such queue). The dashboard shows its first rows and
    the case list pages through all of it, so both always agree on what a queue holds."""
    today = now.date()
    active = select(Case).where(Case.state.in_(ACTIVE))
    gag = select(Case).join(NonDisclosureOrder).options(contains_eager(Case.gag_order))
    statements: dict[str, Any] = {
        "mine": lambda: active.where(Case.assigned_to_id == user_id).order_by(_open_first(), Case.due_at),
        "emergencies": lambda: active.where(Case.emergency.is_(True)).order_by(Case.due_at),
        "overdue": lambda: active.where(Case.due_at < now).order_by(Case.due_at),
        "due_this_week": lambda: active.where(Case.due_at >= now, Case.due_at < now + timedelta(days=7)).order_by(
            Case.due_at
        ),
        "ready_to_produce": lambda: select(Case).where(Case.state == State.APPROVED.value).order_by(Case.due_at),
        "needs_info": lambda: select(Case).where(Case.state == State.NEEDS_INFO.value).order_by(Case.due_at),
        "unassigned": lambda: (
            select(Case)
            .where(Case.state == State.RECEIVED.value, Case.assigned_to_id.is_(None))
            .order_by(_open_first(), Case.due_at)
        ),
        "gag_expiring": lambda: gag.where(
            NonDisclosureOrder.expires_on.is_not(None),
            NonDisclosureOrder.expires_on >= today,
            NonDisclosureOrder.expires_on <= today + timedelta(days=30),
        ).order_by(NonDisclosureOrder.expires_on),
        "notify_customer": lambda: gag.where(
            NonDisclosureOrder.expires_on < today, NonDisclosureOrder.customer_notified_at.is_(None)
        ).order_by(NonDisclosureOrder.expires_on),
    }
    build = statements.get(key)
    return build() if build is not None else None


def queues(user_id: int, now: datetime) -> list[QueueView]:
    """The dashboard: each queue's most urgent cases and how many it holds in all."""
    views = []
    for key, title in QUEUES:
        statement = queue_statement(key, user_id, now)
        assert statement is not None
        cases = list(db.session.execute(statement.options(*LIST_OPTIONS).limit(DASHBOARD_ROWS)).scalars().unique())
        total = len(cases)
        if total == DASHBOARD_ROWS:
            total = db.session.execute(
                select(func.count()).select_from(statement.order_by(None).subquery())
            ).scalar_one()
        views.append(QueueView(key, title, cases, total))
    return views


def related_cases(case: Case) -> list[tuple[Case, str]]:
    """Other cases with the same docket or a target in common, and why they are related."""
    found: dict[int, tuple[Case, str]] = {}
    if case.docket:
        for other in db.session.execute(select(Case).where(Case.docket == case.docket, Case.id != case.id)).scalars():
            found[other.id] = (other, f"same docket {case.docket}")
    values = [t.normalized for t in case.targets]
    if values:
        rows = db.session.execute(
            select(Case, CaseTarget.value).join(CaseTarget).where(CaseTarget.normalized.in_(values), Case.id != case.id)
        ).all()
        for other, value in rows:
            found.setdefault(other.id, (other, f"same target {value}"))
    return sorted(found.values(), key=lambda item: item[0].received_at, reverse=True)


def agencies() -> list[Agency]:
    return list(db.session.execute(select(Agency).order_by(Agency.name)).scalars())
