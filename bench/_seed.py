"""Seeding for the case benchmarks: staff, an agency directory, N cases and M audit events, fast but valid.

Cases, targets, categories and non-disclosure orders go in through SQLAlchemy Core executemany on the models'
own tables, so the column types (aware UTC datetimes), CHECK constraints and foreign keys all apply. The
data follow the models' rules: states, process types, channels, target kinds and categories come from the
vocabularies; a case past review has a decider; a preservation request only ever takes preservation states;
a target's range is ordered and its `normalized` form is what the intake service would store.

Audit events go through the real record(), a batch per commit, so the chain, the head row's frontier and the
signed checkpoints are exactly what the app would have written.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import SystemActor, record
from disclosure.cases.models import (
    PRESERVATION_PROCESSES,
    Agency,
    Case,
    CaseCategory,
    CaseTarget,
    NonDisclosureOrder,
    ReferenceCounter,
    directory_key,
)
from disclosure.cases.service import normalized_target
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.policy.vocabulary import AuthorityKind, Category, ProcessType, ReceivedVia, Regime, TargetKind
from disclosure.workflow import State

PASSWORD = "correct horse battery staple"  # noqa: S105 - bench users only
BENCH_EMAIL = "bench.reviewer@example.org"

# Weighted process mix, roughly what a mid-sized hosting provider sees.
PROCESS_WEIGHTS: dict[ProcessType, int] = {
    ProcessType.SUBPOENA: 30,
    ProcessType.COURT_ORDER_2703D: 12,
    ProcessType.SEARCH_WARRANT: 14,
    ProcessType.WIRETAP_ORDER: 1,
    ProcessType.PEN_TRAP_ORDER: 2,
    ProcessType.PRESERVATION_REQUEST: 14,
    ProcessType.EMERGENCY_REQUEST: 4,
    ProcessType.NATIONAL_SECURITY_LETTER: 1,
    ProcessType.EU_PRODUCTION_ORDER: 8,
    ProcessType.EU_PRESERVATION_ORDER: 4,
    ProcessType.OTHER_COURT_ORDER: 10,
}
# Days from receipt to the due date, by process (emergency: hours).
DUE_DAYS: dict[ProcessType, int] = {
    ProcessType.SUBPOENA: 21,
    ProcessType.COURT_ORDER_2703D: 14,
    ProcessType.SEARCH_WARRANT: 10,
    ProcessType.WIRETAP_ORDER: 2,
    ProcessType.PEN_TRAP_ORDER: 5,
    ProcessType.PRESERVATION_REQUEST: 3,
    ProcessType.EMERGENCY_REQUEST: 1,
    ProcessType.NATIONAL_SECURITY_LETTER: 14,
    ProcessType.EU_PRODUCTION_ORDER: 10,
    ProcessType.EU_PRESERVATION_ORDER: 6,
    ProcessType.OTHER_COURT_ORDER: 30,
}
AUTHORITY_FOR: dict[ProcessType, list[AuthorityKind]] = {
    ProcessType.SUBPOENA: [AuthorityKind.PROSECUTOR, AuthorityKind.COURT, AuthorityKind.AGENCY],
    ProcessType.PRESERVATION_REQUEST: [AuthorityKind.AGENCY, AuthorityKind.POLICE],
    ProcessType.EMERGENCY_REQUEST: [AuthorityKind.POLICE, AuthorityKind.AGENCY],
    ProcessType.NATIONAL_SECURITY_LETTER: [AuthorityKind.AGENCY],
    ProcessType.EU_PRODUCTION_ORDER: [AuthorityKind.JUDGE, AuthorityKind.PROSECUTOR],
    ProcessType.EU_PRESERVATION_ORDER: [AuthorityKind.JUDGE, AuthorityKind.PROSECUTOR],
}
COUNTRIES_FOR_REGIME: dict[Regime, list[str]] = {
    Regime.US_FEDERAL: ["US"],
    Regime.US_STATE: ["US"],
    Regime.EU: ["DE", "FR", "NL", "IE", "ES", "IT", "PL"],
    Regime.UK: ["GB"],
    Regime.OTHER: ["CA", "AU", "BR", "JP", "CH"],
}
US_STATES = ["CA", "NY", "TX", "WA", "FL", "IL", "MA", "GA", "VA", "CO"]
AGENCY_KINDS = [
    "Police Department",
    "Sheriff's Office",
    "State Police",
    "District Attorney's Office",
    "Cybercrime Unit",
    "Fraud Squad",
    "Public Prosecutor's Office",
    "Investigation Bureau",
]
PLACES = [
    "Springfield",
    "Riverton",
    "Lakeside",
    "Fairview",
    "Greenville",
    "Madison",
    "Georgetown",
    "Clinton",
    "Franklin",
    "Salem",
    "Bristol",
    "Dover",
    "Oxford",
    "Ashland",
    "Burlington",
    "Camden",
    "Hudson",
    "Kingston",
    "Milton",
    "Newport",
    "Arlington",
    "Centerville",
    "Dayton",
    "Auburn",
    "Marion",
]
FEDERAL_AGENCIES = [
    "Federal Bureau of Investigation",
    "Drug Enforcement Administration",
    "Homeland Security Investigations",
    "U.S. Secret Service",
    "Internal Revenue Service - Criminal Investigation",
    "U.S. Postal Inspection Service",
]
TERMINAL_DISCLOSURE = [State.DISCLOSED, State.CLOSED, State.REJECTED, State.WITHDRAWN]
OPEN_DISCLOSURE = [State.RECEIVED, State.IN_REVIEW, State.NEEDS_INFO, State.APPROVED, State.PRODUCING]
PAST_REVIEW = {State.APPROVED, State.REJECTED, State.PRODUCING, State.DISCLOSED}


@dataclass(frozen=True)
class Staff:
    """Users the seeded cases point at, and the one the benchmark signs in as."""

    bench_user_id: int
    bench_email: str
    bench_password: str
    bench_totp_secret: str
    reviewer_ids: list[int]
    intake_ids: list[int]


@dataclass(frozen=True)
class Seeded:
    staff: Staff
    cases: int
    events: int
    #: Target identifiers that are on some case, for the search requests.
    target_terms: list[str]
    references: list[str]
    dockets: list[str]


@dataclass(frozen=True)
class _Actor:
    """What record() needs of a user acting: an id and an email (it is not a SystemActor)."""

    id: int
    email: str


def make_staff(rng: random.Random) -> Staff:
    """A reviewer-and-intake user with a second factor (the benchmark's), 8 reviewers and 4 intake clerks."""
    import pyotp

    from disclosure.auth import service, totp

    system = SystemActor("cases_bench")
    bench = service.create_user(
        system, BENCH_EMAIL, "Bench Reviewer", ["intake", "reviewer"], PASSWORD, must_change_password=False
    )
    secret = pyotp.random_base32()
    bench.totp_secret_enc = totp.encrypt_secret(bench.id, secret)
    bench.totp_enrolled_at = utcnow()
    reviewers = [
        service.create_user(
            system,
            f"reviewer{n}@example.org",
            f"Reviewer {n}",
            ["reviewer"],
            PASSWORD,
            must_change_password=False,
        )
        for n in range(1, 9)
    ]
    intake = [
        service.create_user(
            system,
            f"intake{n}@example.org",
            f"Intake Clerk {n}",
            ["intake"],
            PASSWORD,
            must_change_password=False,
        )
        for n in range(1, 5)
    ]
    db.session.commit()
    return Staff(bench.id, BENCH_EMAIL, PASSWORD, secret, [u.id for u in reviewers], [u.id for u in intake])


def _agencies(rng: random.Random) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()

    def add(name: str, country: str, regime: Regime) -> None:
        if (name, country) not in seen:
            seen.add((name, country))
            rows.append({"id": len(rows) + 1, "name": name, "country": country, "_regime": regime})

    for name in FEDERAL_AGENCIES:
        add(name, "US", Regime.US_FEDERAL)
    for place in PLACES:
        for kind in rng.sample(AGENCY_KINDS, 4):
            add(f"{place} {kind}", "US", Regime.US_STATE)
    for regime in (Regime.EU, Regime.UK, Regime.OTHER):
        for country in COUNTRIES_FOR_REGIME[regime]:
            for kind in ("National Police", "Cybercrime Unit", "Public Prosecutor's Office"):
                add(f"{kind} ({country})", country, regime)
    return rows


def _target(rng: random.Random, case_no: int, slot: int, received: datetime) -> tuple[str, str, str | None, str | None]:
    kind = rng.choices(list(TargetKind), weights=[40, 15, 15, 15, 10, 5])[0]
    n = case_no * 3 + slot
    if kind is TargetKind.EMAIL:
        local = rng.choice(["user", "info", "admin", "shop", "mail"])
        value = f"{local}{n}@{rng.choice(['example.net', 'example.com', 'example.org'])}"
    elif kind is TargetKind.USERNAME:
        value = f"account_{n:06d}"
    elif kind is TargetKind.DOMAIN:
        value = f"site-{n}.example"
    elif kind is TargetKind.IP:
        value = f"198.51.{n // 250 % 250}.{n % 250 + 1}" if n % 4 else f"2001:db8::{n:x}"
    elif kind is TargetKind.CUSTOMER_ID:
        value = f"C-{n:08d}"
    else:
        value = f"+1 415 555 {n % 10000:04d}"
    if kind is TargetKind.IP:
        start = received - timedelta(days=rng.randint(5, 60), hours=rng.randint(0, 23))
        end = start + timedelta(hours=rng.randint(1, 72))
        return (
            kind.value,
            value,
            start.isoformat().replace("+00:00", "Z"),
            end.isoformat().replace("+00:00", "Z"),
        )
    if rng.random() < 0.7:
        start_day = (received - timedelta(days=rng.randint(30, 720))).date()
        end_day = start_day + timedelta(days=rng.randint(1, 365))
        return kind.value, value, start_day.isoformat(), end_day.isoformat()
    return kind.value, value, None, None


def _state_for(rng: random.Random, process: ProcessType, age_days: float) -> State:
    if process in PRESERVATION_PROCESSES:
        if age_days < 3:
            return rng.choice([State.RECEIVED, State.PRESERVED])
        if age_days < 90:
            return rng.choices([State.PRESERVED, State.WITHDRAWN, State.RECEIVED], weights=[85, 10, 5])[0]
        return rng.choices([State.EXPIRED, State.CLOSED, State.WITHDRAWN, State.PRESERVED], weights=[60, 25, 10, 5])[0]
    if age_days < 45:
        return rng.choices(OPEN_DISCLOSURE + TERMINAL_DISCLOSURE, weights=[25, 30, 10, 8, 12, 8, 3, 3, 1])[0]
    return rng.choices(OPEN_DISCLOSURE + TERMINAL_DISCLOSURE, weights=[1, 3, 2, 1, 3, 45, 35, 6, 4])[0]


def seed_cases(
    count: int, staff: Staff, rng: random.Random, batch: int = 2_000
) -> tuple[list[str], list[str], list[str]]:
    """Insert `count` cases with their targets, categories and gag orders; return search terms."""
    now = utcnow()
    agencies = _agencies(rng)
    by_regime: dict[Regime, list[dict[str, Any]]] = {}
    for row in agencies:
        by_regime.setdefault(row["_regime"], []).append(row)
    db.session.execute(
        sa.insert(Agency.__table__),
        [
            {
                "id": r["id"],
                "name": r["name"],
                "name_key": directory_key(r["name"]),
                "regime": r["_regime"].value,
                "country": r["country"],
                "created_at": now - timedelta(days=800),
            }
            for r in agencies
        ],
    )

    processes, weights = list(PROCESS_WEIGHTS), list(PROCESS_WEIGHTS.values())
    counters: dict[int, int] = {}
    dockets: list[str] = []
    target_terms: list[str] = []
    references: list[str] = []
    reviewers = [*staff.reviewer_ids, staff.bench_user_id]
    review_weights = [10] * len(staff.reviewer_ids) + [6]
    categories = list(Category)
    # Received times oldest first so references grow with time, as the per-year counter hands them out.
    received_times = sorted(now - timedelta(days=rng.uniform(0.05, 540)) for _ in range(count))
    case_rows: list[dict[str, Any]] = []
    target_rows: list[dict[str, Any]] = []
    category_rows: list[dict[str, Any]] = []
    ndo_rows: list[dict[str, Any]] = []

    def flush() -> None:
        for table, rows in (
            (Case.__table__, case_rows),
            (CaseTarget.__table__, target_rows),
            (CaseCategory.__table__, category_rows),
            (NonDisclosureOrder.__table__, ndo_rows),
        ):
            if rows:
                db.session.execute(sa.insert(table), rows)
                rows.clear()

    recent_targets: list[tuple[str, str]] = []
    for index, received in enumerate(received_times):
        case_id = index + 1
        process = rng.choices(processes, weights)[0]
        regime = (
            Regime.EU
            if process in (ProcessType.EU_PRODUCTION_ORDER, ProcessType.EU_PRESERVATION_ORDER)
            else rng.choices([Regime.US_FEDERAL, Regime.US_STATE, Regime.UK, Regime.OTHER], weights=[45, 35, 8, 12])[0]
        )
        if process is ProcessType.NATIONAL_SECURITY_LETTER:
            regime = Regime.US_FEDERAL
        agency = rng.choice(by_regime[regime])
        country = rng.choice(COUNTRIES_FOR_REGIME[regime])
        year = received.year
        counters[year] = counters.get(year, 0) + 1
        reference = f"DR-{year}-{counters[year]:05d}"
        emergency = process is ProcessType.EMERGENCY_REQUEST or rng.random() < 0.01
        days = DUE_DAYS[process]
        due = received + (timedelta(hours=24) if emergency else timedelta(days=days))
        age_days = (now - received).total_seconds() / 86400
        state = _state_for(rng, process, age_days)
        docket = None
        if process not in (ProcessType.EMERGENCY_REQUEST, ProcessType.PRESERVATION_REQUEST) or rng.random() < 0.3:
            if dockets and rng.random() < 0.08:
                docket = rng.choice(dockets[-200:])  # a related case: same docket
            else:
                kind_code = rng.choice(["mj", "cr", "mc", "sw"])
                docket = f"{rng.randint(1, 9)}:{year % 100:02d}-{kind_code}-{case_id:05d}"
                dockets.append(docket)
        assigned = None if state is State.RECEIVED and rng.random() < 0.8 else rng.choices(reviewers, review_weights)[0]
        decided = (
            assigned
            if state in PAST_REVIEW
            or (state is State.CLOSED and process not in PRESERVATION_PROCESSES and rng.random() < 0.7)
            else None
        )
        if state in PAST_REVIEW and decided is None:
            decided = rng.choice(staff.reviewer_ids)
        kind = rng.choice(AUTHORITY_FOR.get(process, [AuthorityKind.JUDGE, AuthorityKind.COURT]))
        changed = received + timedelta(hours=rng.uniform(0, max(1.0, min(age_days, 60) * 24)))
        changed = min(changed, now)
        case_rows.append(
            {
                "id": case_id,
                "reference": reference,
                "process_type": process.value,
                "regime": regime.value,
                "country": country,
                "region": rng.choice(US_STATES) if regime is Regime.US_STATE else None,
                "authority_kind": kind.value,
                "authority_name": f"Hon. {rng.choice('ABCDEFGHJKLMNPRSTW')}. {rng.choice(PLACES)}"
                if kind in (AuthorityKind.JUDGE, AuthorityKind.COURT)
                else agency["name"],
                "docket": docket,
                "agency_id": agency["id"],
                "officer_name": f"Det. {rng.choice('ABCDEFGHJK')}. {rng.choice(PLACES)}",
                "officer_badge": str(rng.randint(100, 99999)),
                "officer_email": f"officer{rng.randint(1, 5000)}@example.gov",
                "officer_phone": f"+1 202 555 {rng.randint(0, 9999):04d}",
                "received_at": received,
                "received_via": rng.choices(list(ReceivedVia), weights=[45, 8, 10, 35, 2])[0].value,
                "due_at": due,
                "due_explanation": (
                    f"Emergency request: due 24 hours after receipt ({received:%Y-%m-%d %H:%M} UTC)."
                    if emergency
                    else f"{days} calendar days after receipt on {received:%Y-%m-%d}, per the "
                    f"{process.value} clock; moved past weekends and holidays."
                ),
                "emergency": emergency,
                "issued_on": (received - timedelta(days=rng.randint(0, 5))).date(),
                "valid_until": (received + timedelta(days=14)).date()
                if process is ProcessType.SEARCH_WARRANT
                else None,
                "timezone": "America/New_York" if regime in (Regime.US_FEDERAL, Regime.US_STATE) else "UTC",
                "summary": f"Request for records relating to case {reference}.",
                "state": state.value,
                "assigned_to_id": assigned,
                "created_by_id": rng.choice(staff.intake_ids),
                "created_at": received,
                "updated_at": changed,
                "decided_by_id": decided,
                "decided_at": changed if decided else None,
                "version_id": 1 + (0 if state is State.RECEIVED else rng.randint(1, 6)),
            }
        )
        references.append(reference)
        seen: set[str] = set()
        for slot in range(rng.choices([1, 2, 3], weights=[60, 28, 12])[0]):
            if recent_targets and rng.random() < 0.05:
                target_kind, value = rng.choice(recent_targets[-500:])  # a related case: same target
                date_from = date_to = None
            else:
                target_kind, value, date_from, date_to = _target(rng, case_id, slot, received)
            normalized = normalized_target(target_kind, value)
            if normalized in seen:
                continue
            seen.add(normalized)
            recent_targets.append((target_kind, value))
            target_terms.append(value)
            target_rows.append(
                {
                    "case_id": case_id,
                    "kind": target_kind,
                    "value": value,
                    "normalized": normalized,
                    "date_from": date_from,
                    "date_to": date_to,
                }
            )
        for category in rng.sample(categories, rng.choices([1, 2, 3, 4], weights=[20, 40, 30, 10])[0]):
            category_rows.append({"case_id": case_id, "category": category.value})
        if process not in PRESERVATION_PROCESSES and rng.random() < 0.3:
            starts = received.date()
            expires: date | None = (
                None if rng.random() < 0.1 else starts + timedelta(days=rng.choice([90, 180, 365, 730]))
            )
            notified = (
                datetime.combine(expires, datetime.min.time(), UTC) + timedelta(days=rng.randint(1, 20))
                if expires is not None and expires < now.date() - timedelta(days=20) and rng.random() < 0.8
                else None
            )
            ndo_rows.append(
                {
                    "case_id": case_id,
                    "basis": rng.choice(["18 USC 2705(b)", "Court order", "EU Regulation 2023/1543 Art. 11"]),
                    "starts_on": starts,
                    "expires_on": expires,
                    "customer_notified_at": notified,
                    "customer_notified_by_id": rng.choice(staff.intake_ids) if notified else None,
                    "version_id": 1,
                }
            )
        if len(case_rows) >= batch:
            flush()
    flush()
    for year, last in counters.items():
        db.session.execute(sa.insert(ReferenceCounter.__table__), {"year": year, "last": last})
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        # Explicit ids above: move the sequences past them, so the app's own inserts keep working.
        with db.engine.begin() as connection:
            for table in ("agency", "case_file"):
                connection.execute(
                    sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
                )
    return target_terms, references, dockets


def _event_plan(count: int, references: list[str], staff: Staff, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    """What happened, roughly: one case.create per case, then updates, transitions, assignments, downloads."""
    users = [_Actor(uid, f"user{uid}@example.org") for uid in staff.reviewer_ids + staff.intake_ids]
    intake = [u for u in users if u.id in staff.intake_ids]
    for seq in range(count):
        if seq < len(references):
            reference = references[seq]
            yield (
                rng.choice(intake),
                AuditAction.CASE_CREATE,
                f"case:{reference}",
                {"reference": reference, "process_type": "subpoena", "received_via": "portal"},
            )
            continue
        reference = rng.choice(references)
        action = rng.choices(
            [
                AuditAction.CASE_TRANSITION,
                AuditAction.CASE_UPDATE,
                AuditAction.CASE_ASSIGN,
                AuditAction.DOCUMENT_UPLOAD,
                AuditAction.DOCUMENT_DOWNLOAD,
                AuditAction.NDO_SET,
                AuditAction.USER_SIGN_IN,
            ],
            weights=[30, 15, 15, 15, 15, 5, 5],
        )[0]
        actor = rng.choice(users)
        if action is AuditAction.USER_SIGN_IN:
            yield actor, action, f"user:{actor.id}", {}
        elif action is AuditAction.CASE_TRANSITION:
            yield actor, action, f"case:{reference}", {"from": "received", "to": "in_review", "note": ""}
        elif action is AuditAction.CASE_UPDATE:
            yield actor, action, f"case:{reference}", {"changes": {"summary": ["", "Updated after call."]}}
        elif action is AuditAction.CASE_ASSIGN:
            yield actor, action, f"case:{reference}", {"from": None, "to": rng.choice(staff.reviewer_ids)}
        else:
            yield (
                actor,
                action,
                f"case:{reference}",
                {"document": rng.randint(1, 50_000), "sha256": f"{rng.getrandbits(256):064x}"},
            )


def seed_events(count: int, references: list[str], staff: Staff, rng: random.Random, batch: int = 1_000) -> int:
    """Append `count` events through record(), one commit per batch; return how many the log now holds."""
    for done, (actor, action, subject, data) in enumerate(_event_plan(count, references, staff, rng), 1):
        record(actor, action, subject=subject, data=data, ip=f"10.0.{rng.randint(0, 9)}.{rng.randint(1, 250)}")
        if done % batch == 0:
            db.session.commit()
    db.session.commit()
    from disclosure.audit.models import AuditHead

    return int(db.session.execute(sa.select(AuditHead.size)).scalar_one())


def seed_all(cases: int, events: int, seed: int = 20260) -> Seeded:
    rng = random.Random(seed)
    started = time.perf_counter()
    staff = make_staff(rng)
    target_terms, references, dockets = seed_cases(cases, staff, rng)
    after_cases = time.perf_counter()
    # Events on top of the ones the user creation already wrote.
    size = seed_events(max(0, events - 13), references, staff, rng)
    print(
        f"  seeded {cases:,} cases in {after_cases - started:.1f} s and {size:,} audit events in "
        f"{time.perf_counter() - after_cases:.1f} s",
        flush=True,
    )
    return Seeded(staff, cases, size, target_terms, references, dockets)
