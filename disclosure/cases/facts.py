"""Writing a request's facts onto a case: shared by logging a request (service.log_request) and correcting it
(corrections.update_case), so that both store targets, categories, the agency and the deadline the same way.

Nothing here checks a permission or writes the case's own event: the callers do, once per request.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from disclosure.cases.agencies import agency_for_intake
from disclosure.cases.models import Agency, Case, CaseCategory, CaseTarget
from disclosure.policy.deadlines import DeadlineError, DueDate, calendar_for, compute_due
from disclosure.policy.identifiers import canonical_identifier
from disclosure.policy.loader import default_policy
from disclosure.policy.request import Jurisdiction, RequestDocument, Target
from disclosure.policy.vocabulary import Category, ProcessType, TargetKind
from disclosure.services import Actor, ServiceError


class CaseError(ServiceError):
    """A case operation was refused; the message says what to fix. `field` names the argument it is about (None:
    the operation as a whole), so that a form can show the message beside its field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def normalized_target(kind: str, value: str) -> str:
    """The form used for search and for spotting related cases: the canonical identifier, case-folded."""
    try:
        return canonical_identifier(TargetKind(kind), value.strip()).lower()
    except ValueError:
        return value.strip().lower()


def iso(moment: date | None) -> str | None:
    """A date, or an aware time in UTC with a Z, as the request document and the audit log write it."""
    if moment is None:
        return None
    if isinstance(moment, datetime):
        return moment.isoformat().replace("+00:00", "Z")
    return moment.isoformat()


def case_columns(doc: RequestDocument) -> dict[str, Any]:
    """The case's columns a request document states one for one: what intake stores and a correction compares."""
    authority, officer = doc.issuing_authority, doc.officer
    return {
        "process_type": doc.process_type.value,
        "regime": doc.jurisdiction.regime.value,
        "country": doc.jurisdiction.country,
        "region": doc.jurisdiction.region,
        "authority_kind": authority.kind.value,
        "authority_name": authority.name,
        "docket": authority.docket,
        "officer_name": officer.name if officer else None,
        "officer_badge": officer.badge if officer else None,
        "officer_email": officer.email if officer else None,
        "officer_phone": officer.phone if officer else None,
        "received_at": doc.received_at,
        "received_via": doc.received_via.value,
        "emergency": doc.emergency,
        "issued_on": doc.issued_on,
        "valid_until": doc.valid_until,
    }


def agency_named(actor: Actor, name: str, country: str, ip: str | None) -> Agency:
    """The agency of that country going by that name or one of its aliases ("FBI" finds the Federal Bureau of
    Investigation once the directory lists that alias); else a new, unverified one, added with its event."""
    agency, _created = agency_for_intake(actor, name, country, ip)
    return agency


def due_for(
    process: ProcessType,
    received_at: datetime,
    emergency: bool,
    stated: date | None,
    timezone: str,
    jurisdiction: Jurisdiction,
) -> DueDate:
    """When the response is due: the date the document states, else the process's clock from receipt."""
    policy = default_policy()
    try:
        return compute_due(
            process,
            policy,
            received_at,
            emergency,
            stated,
            timezone,
            calendar_for(policy, jurisdiction.regime, jurisdiction.country),
        )
    except DeadlineError as error:
        raise CaseError(f"timezone: {error}", field="timezone") from error


def stated_due(case: Case) -> date | None:
    """The due date the document states, if the case's deadline came from one (None: from the process's clock)."""
    local = case.due_at.astimezone(ZoneInfo(case.timezone)).date()
    try:
        stated = compute_due(
            case.process, default_policy(), case.received_at, case.emergency, local, case.timezone, None
        )
    except DeadlineError:
        return None
    return local if stated.explanation == case.due_explanation else None


def set_targets(case: Case, targets: tuple[Target, ...]) -> None:
    """The case's targets become `targets`: rows of identifiers it already had are kept (production records point
    at them), removed ones are deleted, new ones added."""
    kept = {(row.kind, row.value): row for row in case.targets}
    rows = []
    for target in targets:
        row = kept.pop((target.kind.value, target.value), None) or CaseTarget(
            kind=target.kind.value, value=target.value, normalized=normalized_target(target.kind.value, target.value)
        )
        row.date_from, row.date_to = iso(target.from_), iso(target.to)
        rows.append(row)
    case.targets = rows


def set_categories(case: Case, categories: tuple[Category, ...]) -> None:
    """The case's requested data becomes `categories` (rows it already had are kept)."""
    kept = {row.category: row for row in case.category_rows}
    case.category_rows = [kept.get(c.value) or CaseCategory(category=c.value) for c in categories]
