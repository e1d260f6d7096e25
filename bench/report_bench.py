"""Benchmark: the transparency report over N synthetic cases (default 1M) and a one-page PDF.

Seeds cases, targets, the audit events the report depends on (case.create, the last case.transition, and
production.record_added) and the case log state rows the log's projection writes beside them (from the same
advance() the app uses) with Core executemany, into a SQLite file and, when a server answers on 127.0.0.1:5432,
a PostgreSQL database; signs nothing (a checkpoint row is written directly at the log's size). Prints each figure
with its ratio to DESIGN's anchor and ends with one JSON line.

    .venv/bin/python bench/report_bench.py [--cases N] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import socket
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

ANCHOR_REPORT_S = 10.0  # budget: the report over 1M cases in under 10 s
ANCHOR_PDF_S = 0.36  # WeasyPrint 70, one page, measured here
BATCH = 20_000
PG_ADMIN = os.environ.get("DISCLOSURE_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

#: (last transition from, to, produced category or None); weights roughly like a real half-year.
SHAPES = [
    (None, "received", None),
    ("received", "in_review", None),
    ("in_review", "rejected", None),
    ("rejected", "closed", None),
    ("approved", "closed", None),
    ("producing", "disclosed", "subscriber_basic"),
    ("disclosed", "closed", "stored_content"),
    ("in_review", "withdrawn", None),
    ("approved", "producing", "account_records"),
]
WEIGHTS = [5, 8, 10, 6, 5, 30, 25, 3, 8]
PROCESSES = (
    ["subpoena"] * 40
    + ["search_warrant"] * 25
    + ["court_order_2703d"] * 15
    + ["preservation_request"] * 10
    + ["eu_production_order"] * 5
    + ["national_security_letter"] * 2
    + ["emergency_request"] * 3
)
COUNTRIES = (
    [("us_federal", "US")] * 60
    + [("us_state", "US")] * 15
    + [("eu", "DE"), ("eu", "FR"), ("eu", "NL")] * 5
    + [("uk", "GB")] * 6
    + [("other", "BR")] * 4
)


def postgres_answers() -> bool:
    url = sa.engine.make_url(PG_ADMIN)
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def make_app(database_url: str, instance: Path):  # type: ignore[no-untyped-def]
    from disclosure import create_app

    for name in ("keys", "blobs", "checkpoints"):
        (instance / name).mkdir(parents=True, exist_ok=True, mode=0o700)
    return create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(instance),
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "PASSWORD_HASHER": "fast-insecure-for-tests",
            "KEYS_DIR": str(instance / "keys"),
            "AUDIT_CHECKPOINT_DIR": str(instance / "checkpoints"),
            "AUDIT_CHECKPOINT_EVERY": 0,
            "AUDIT_CHECKPOINT_MINUTES": 10**6,
        }
    )


def seed(connection: sa.Connection, cases: int, rng: random.Random) -> int:
    """Insert the synthetic cases and their events; returns the audit log's size."""
    from dataclasses import asdict

    from disclosure.audit.models import AuditCheckpoint, AuditEvent
    from disclosure.cases.models import Agency, Case, CaseTarget, directory_key
    from disclosure.reports.case_log import advance
    from disclosure.reports.models import CaseLogState

    now = datetime(2026, 11, 1, tzinfo=UTC)
    user_id = _bench_user(connection)
    agency_id = connection.execute(
        sa.insert(Agency.__table__)
        .values(name="Bench agency", name_key=directory_key("Bench agency"), country="US", created_at=now)
        .returning(Agency.__table__.c.id)
    ).scalar_one()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    seq = 0
    zero = bytes(32)
    for offset in range(0, cases, BATCH):
        count = min(BATCH, cases - offset)
        case_rows, target_rows, events, states = [], [], [], []
        for i in range(offset + 1, offset + count + 1):
            regime, country = rng.choice(COUNTRIES)
            received = start + timedelta(seconds=rng.randrange(180 * 86400))
            reference = f"DR-B-{i:08d}"
            case_rows.append(
                {
                    "id": i,
                    "reference": reference,
                    "process_type": rng.choice(PROCESSES),
                    "regime": regime,
                    "country": country,
                    "authority_kind": "court",
                    "authority_name": "Bench court",
                    "agency_id": agency_id,
                    "received_at": received,
                    "received_via": "portal",
                    "due_at": received + timedelta(days=14),
                    "due_explanation": "bench",
                    "emergency": False,
                    "timezone": "UTC",
                    "summary": "",
                    "state": "received",
                    "created_by_id": user_id,
                    "created_at": received,
                    "updated_at": received,
                    "version_id": 1,
                }
            )
            target_rows.append(
                {
                    "case_id": i,
                    "kind": "email",
                    "value": f"u{i % (cases // 2 + 1)}@example.net",
                    "normalized": f"u{i % (cases // 2 + 1)}@example.net",
                }
            )
            subject = f"case:{reference}"
            before, after, category = rng.choices(SHAPES, WEIGHTS)[0]
            ndo = rng.random() < 0.1
            seq += 1
            events.append(
                _event(
                    seq,
                    received,
                    "case.create",
                    subject,
                    user_id,
                    {"request": {"non_disclosure_order": {"basis": "b", "until": None} if ndo else None}},
                    zero,
                )
            )
            if category:
                seq += 1
                events.append(
                    _event(
                        seq,
                        received + timedelta(days=3),
                        "production.record_added",
                        subject,
                        user_id,
                        {"category": category},
                        zero,
                    )
                )
            if before is not None:
                seq += 1
                events.append(
                    _event(
                        seq,
                        received + timedelta(days=5),
                        "case.transition",
                        subject,
                        user_id,
                        {"from": before, "to": after},
                        zero,
                    )
                )
        connection.execute(sa.insert(Case.__table__), case_rows)
        connection.execute(sa.insert(CaseTarget.__table__), target_rows)
        connection.execute(sa.insert(AuditEvent.__table__), events)
        # What the audit log's projection writes beside each case event (see disclosure.reports.case_log).
        last: dict[str, object] = {}
        for event in events:
            reference = event["subject"][len("case:") :]
            state = advance(last.get(reference), event["action"], event["ts"], json.loads(event["body"])["data"])  # type: ignore[arg-type]
            last[reference] = state
            states.append({"seq": event["seq"], "reference": reference, **asdict(state)})  # type: ignore[arg-type]
        connection.execute(sa.insert(CaseLogState.__table__), states)
    connection.execute(
        sa.update(sa.table("audit_head", sa.column("id"), sa.column("size")))
        .where(sa.column("id") == 1)
        .values(size=seq)
    )
    connection.execute(
        sa.insert(AuditCheckpoint.__table__).values(size=seq, root=zero, note="bench", reason="manual", created_at=now)
    )
    return seq


def _bench_user(connection: sa.Connection) -> int:
    from disclosure.auth.models import User

    columns = User.__table__.c
    values = {"email": "bench@example.org", "name": "Bench"}
    for column in columns:
        if (
            column.name in values
            or column.primary_key
            or column.nullable
            or column.default is not None
            or column.server_default is not None
        ):
            continue
        values[column.name] = "x" if isinstance(column.type, sa.String) else datetime(2026, 1, 1, tzinfo=UTC)
    return connection.execute(sa.insert(User.__table__).values(**values).returning(columns.id)).scalar_one()


def _event(seq: int, ts: datetime, action: str, subject: str, actor: int, data: dict, zero: bytes) -> dict:  # type: ignore[type-arg]
    body = json.dumps(
        {"action": action, "data": data, "seq": seq, "subject": subject}, separators=(",", ":"), sort_keys=True
    ).encode()
    return {
        "seq": seq,
        "ts": ts,
        "body": body,
        "leaf_hash": zero,
        "chain_hash": zero,
        "action": action,
        "actor_id": actor,
        "subject": subject,
    }


def run_backend(name: str, url: str, cases: int, instance: Path) -> dict[str, float]:
    from disclosure.audit.models import AuditCheckpoint
    from disclosure.extensions import db
    from disclosure.reports import service

    app = make_app(url, instance)
    with app.app_context():
        if name == "postgresql":
            with db.engine.begin() as connection:
                connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        db.create_all()
        began = time.perf_counter()
        with db.engine.begin() as connection:
            if name == "postgresql":
                connection.execute(sa.text("SET session_replication_role = replica"))
            size = seed(connection, cases, random.Random(7))
        seeded = time.perf_counter() - began
        if name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text("ANALYZE"))
        checkpoint = db.session.execute(sa.select(AuditCheckpoint)).scalar_one()
        began = time.perf_counter()
        report = service.transparency_report(date(2026, 1, 1), date(2026, 6, 30), checkpoint)
        elapsed = time.perf_counter() - began
        outcomes = {c.key: c.count for c in report.sections[-1].cells}
        print(f"[{name}] seeded {cases:,} cases / {size:,} audit events in {seeded:.1f} s")
        print(
            f"[{name}] transparency report over {cases:,} cases: {elapsed:.2f} s "
            f"(budget {ANCHOR_REPORT_S:.0f} s at 1M: ratio {elapsed / ANCHOR_REPORT_S:.2f}); "
            f"main requests {report.total.count:,}, outcomes {outcomes}"
        )
        db.session.remove()
        db.engine.dispose()
    return {"report_s": elapsed, "seed_s": seeded}


def one_page_pdf(instance: Path) -> tuple[float, int]:
    """The published transparency report for a small period renders to one page; best of 5 after a warm-up."""
    from pypdf import PdfReader

    from disclosure.reports import render
    from disclosure.reports.transparency import CaseFacts, CheckpointRef, Profile, compute_transparency, tally

    app = make_app(f"sqlite:///{instance / 'pdf.db'}", instance)
    profile = Profile("subpoena", "us_federal", "US", "closed", "rejected")
    facts = [CaseFacts(f"DR-{i}", profile, frozenset({("email", f"u{i}")})) for i in range(40)]
    report = compute_transparency(
        tally(facts),
        date(2026, 1, 1),
        date(2026, 6, 30),
        CheckpointRef(1, 100, "ab" * 32, datetime(2026, 7, 1, tzinfo=UTC)),
    )
    timings = []
    with app.test_request_context():
        render.transparency_pdf(report, "Bench")
        for _ in range(5):
            began = time.perf_counter()
            data = render.transparency_pdf(report, "Bench")
            timings.append(time.perf_counter() - began)
    import io

    return min(timings), len(PdfReader(io.BytesIO(data)).pages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    figures: dict[str, object] = {"cases": args.cases}
    with tempfile.TemporaryDirectory(prefix="report-bench-") as folder:
        root = Path(folder)
        pdf_s, pages = one_page_pdf(root / "pdf")
        print(
            f"one-page PDF (PDF/A-3b, {pages} page{'s' if pages != 1 else ''}): {pdf_s:.3f} s "
            f"(anchor {ANCHOR_PDF_S} s: ratio {pdf_s / ANCHOR_PDF_S:.2f}; budget 0.5 s)"
        )
        figures["one_page_pdf_s"] = round(pdf_s, 3)
        figures["one_page_pdf_pages"] = pages
        for backend in args.backends.split(","):
            if backend == "sqlite":
                result = run_backend("sqlite", f"sqlite:///{root / 'bench.db'}", args.cases, root / "sqlite")
            elif backend == "postgresql":
                if not postgres_answers():
                    print("[postgresql] no server on 127.0.0.1:5432; skipped")
                    continue
                admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
                with admin.connect() as connection:
                    if not connection.execute(
                        sa.text("SELECT 1 FROM pg_database WHERE datname = 'disclosure_bench'")
                    ).first():
                        connection.execute(sa.text('CREATE DATABASE "disclosure_bench"'))
                admin.dispose()
                url = (
                    sa.engine.make_url(PG_ADMIN).set(database="disclosure_bench").render_as_string(hide_password=False)
                )
                result = run_backend("postgresql", url, args.cases, root / "postgresql")
            else:
                raise SystemExit(f"unknown backend {backend!r}")
            figures[f"transparency_{backend}_s"] = round(result["report_s"], 3)
            figures[f"seed_{backend}_s"] = round(result["seed_s"], 1)
    report_s = figures.get("transparency_sqlite_s", figures.get("transparency_postgresql_s"))
    key = "transparency_1m_s" if args.cases == 1_000_000 else f"transparency_{args.cases}_s"
    figures[key] = report_s
    if key != "transparency_1m_s":
        figures["transparency_1m_s"] = None  # not measured at 1M in this run
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
