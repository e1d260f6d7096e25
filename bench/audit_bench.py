"""Audit-log benchmark: append and verification rates on SQLite and PostgreSQL, each against its anchor.

Appends go through the real code path (create_app, record(), one commit per event; SQLite with WAL and
synchronous=FULL, PostgreSQL with the head row locked FOR UPDATE). Their anchors: a raw DBAPI loop doing the
same lock, insert, update and commit on the same database, and plain hashlib over the same bodies.
Verification runs verify_log() over --events synthetic but valid events (bulk-loaded, with a signed
checkpoint every 1,000 events as the app makes them, and the action, subject, actor_id and ts columns it checks
against each body stored as SQLAlchemy stores them); its anchor is plain hashlib doing the same leaf, chain
and tree hashing, without those checks. On SQLite verify_log splits a large log between processes, one per CPU
(disclosure.audit.scan_worker); the rate in one process is measured too, for comparison. Every figure is
the median of --rounds runs: the machine may be shared.
DESIGN's budget: appends >= 2,000/s SQLite, >= 800/s PostgreSQL; verify >= 300k/s SQLite, >= 120k/s
PostgreSQL.

    .venv/bin/python bench/audit_bench.py [--events 1000000] [--appends 5000] [--rounds 3] [--skip-postgres]
                                          [--verify-only]

PostgreSQL: DISCLOSURE_BENCH_DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres)
names a server and a database to connect to; the throwaway database disclosure_bench_audit is created there and
dropped afterwards. The last line printed is one JSON object with all figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa
from flask import Flask

from disclosure import create_app
from disclosure.audit import scan_worker
from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.audit.verify import verify_log
from disclosure.extensions import db
from disclosure.keyring import init_log_key, load_log_key, log_key_name, log_public_key
from disclosure.services import SystemActor
from disclosure_proofs.merkle import RootBuilder, encode_frontier
from disclosure_proofs.note import sign_checkpoint
from disclosure_proofs.tiles import TileBuilder

BUDGET = {
    "sqlite_append": 2_000,
    "postgres_append": 800,
    "sqlite_verify": 300_000,
    "postgres_verify": 120_000,
}
BENCH_DB = "disclosure_bench_audit"
CHAIN_DOMAIN = b"disclosure-audit-v1\0"
CHECKPOINT_EVERY = 1_000
ACTIONS = [str(action) for action in AuditAction]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


# -- Event bodies, shaped like the app's ---------------------------------------------------------------------


def event_body(seq: int, ts: datetime) -> tuple[bytes, str, int, str]:
    """A canonical body as record() writes it, a user acting on a case: (body, action, actor id, subject)."""
    actor_id = seq % 37 + 1
    action = ACTIONS[seq % len(ACTIONS)]
    subject = f"case:{seq % 5_000 + 1}"
    body = {
        "v": 1,
        "seq": seq,
        "ts": ts.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "actor": {"kind": "user", "id": actor_id, "email": f"staff{actor_id}@example.org"},
        "action": action,
        "subject": subject,
        "ip": f"192.0.2.{seq % 250 + 1}",
        "outcome": "success",
        "data": {"changes": {"state": ["in_review", "approved"]}, "reference": f"LR-2026-{seq:07d}"},
    }
    return (
        json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(),
        action,
        actor_id,
        subject,
    )


def synthetic_log(count: int, chunk: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
    """Valid rows in chunks: (seq, naive UTC ts, body, leaf, chain, action, actor_id, subject)."""
    sha = hashlib.sha256
    previous = bytes(32)
    rows: list[tuple[Any, ...]] = []
    for seq in range(1, count + 1):
        ts = EPOCH + timedelta(milliseconds=seq * 7)
        body, action, actor_id, subject = event_body(seq, ts)
        leaf = sha(b"\x00" + body).digest()
        previous = sha(CHAIN_DOMAIN + previous + leaf).digest()
        rows.append((seq, ts.replace(tzinfo=None), body, leaf, previous, action, actor_id, subject))
        if len(rows) == chunk:
            yield rows
            rows = []
    if rows:
        yield rows


# -- The app on a given database -----------------------------------------------------------------------------


def make_app(instance: Path, url: str) -> Flask:
    for name in ("keys", "checkpoints"):
        (instance / name).mkdir(parents=True, exist_ok=True)
    app = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "KEYS_DIR": str(instance / "keys"),
            "AUDIT_CHECKPOINT_DIR": str(instance / "checkpoints"),
            "AUDIT_CHECKPOINT_EVERY": CHECKPOINT_EVERY,
        }
    )
    with app.app_context():
        db.create_all()
        init_log_key()
    return app


def reset_log(app: Flask) -> None:
    """Empty the audit tables between phases, the append-only triggers out of the way (bench data only)."""
    with app.app_context(), db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SET LOCAL session_replication_role = replica"))
            connection.execute(sa.text("TRUNCATE audit_event, audit_checkpoint, audit_tile"))
        else:
            connection.execute(sa.text("DROP TRIGGER IF EXISTS audit_head_no_shrink"))
            for table in ("audit_event", "audit_checkpoint", "audit_tile"):
                connection.execute(sa.text(f"DROP TRIGGER IF EXISTS {table}_no_delete"))
                connection.execute(sa.text(f"DELETE FROM {table}"))
        connection.execute(
            sa.text("UPDATE audit_head SET size = 0, chain_tip = :tip, frontier = :empty"),
            {"tip": bytes(32), "empty": b""},
        )
    for path in Path(app.config["AUDIT_CHECKPOINT_DIR"]).iterdir():
        path.unlink()


def median_of(label: str, rounds: int, run: Any) -> float:
    """Run a measurement several times and keep the median: on a shared machine single runs swing widely."""
    rates = [run() for _ in range(rounds)]
    print(
        f"  {label}: {', '.join(f'{rate:,.0f}' for rate in rates)}/s -> median {statistics.median(rates):,.0f}/s",
        flush=True,
    )
    return statistics.median(rates)


def time_appends(app: Flask, count: int) -> float:
    actor = SystemActor("audit_bench")
    with app.app_context():
        # Warm up connections and caches, then start from an empty log again.
        for index in range(20):
            record(actor, AuditAction.AUDIT_VERIFIED, subject="warmup", data={"index": index})
            db.session.commit()
    reset_log(app)
    with app.app_context():
        started = time.perf_counter()
        for index in range(count):
            record(
                actor,
                AuditAction.AUDIT_VERIFIED,
                subject=f"case:{index % 5_000 + 1}",
                ip="192.0.2.10",
                data={"changes": {"state": ["in_review", "approved"]}, "reference": f"LR-2026-{index:07d}"},
            )
            db.session.commit()
        elapsed = time.perf_counter() - started
    return count / elapsed


def load_log(app: Flask, count: int) -> None:
    """Bulk-load a valid log of count events, a signed checkpoint every CHECKPOINT_EVERY, its tiles; set the head."""
    reset_log(app)
    builder = RootBuilder()
    tiles = TileBuilder()
    checkpoints = []
    with app.app_context():
        key, name, origin = load_log_key(), log_key_name(), str(app.config["AUDIT_ORIGIN"])
        with db.engine.begin() as connection:
            raw = connection.connection.driver_connection
            postgres = connection.dialect.name == "postgresql"
            last_chain = bytes(32)
            for rows in synthetic_log(count):
                if postgres:
                    with (
                        raw.cursor() as cursor,
                        cursor.copy(
                            "COPY audit_event"
                            " (seq, ts, body, leaf_hash, chain_hash, action, actor_id, subject) FROM STDIN"
                        ) as copy,
                    ):
                        for row in rows:
                            copy.write_row(row)
                else:
                    raw.executemany(
                        "INSERT INTO audit_event "
                        "(seq, ts, body, leaf_hash, chain_hash, action, actor_id, subject) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        [(r[0], r[1].isoformat(sep=" ", timespec="microseconds"), *r[2:]) for r in rows],
                    )
                made = tiles.extend([row[3] for row in rows])
                if made:
                    connection.execute(
                        sa.insert(db.metadata.tables["audit_tile"]),
                        [{"level": t.level, "index": t.index, "hashes": t.hashes, "root": t.root} for t in made],
                    )
                for row in rows:
                    builder.append(row[3])
                    if row[0] % CHECKPOINT_EVERY == 0:
                        root = builder.root()
                        checkpoints.append(
                            {
                                "size": row[0],
                                "root": root,
                                "reason": "count",
                                "created_at": EPOCH,
                                "note": sign_checkpoint(origin, row[0], root, key, name),
                            }
                        )
                last_chain = rows[-1][4]
            if checkpoints:
                connection.execute(sa.insert(db.metadata.tables["audit_checkpoint"]), checkpoints)
            connection.execute(
                sa.text("UPDATE audit_head SET size = :size, chain_tip = :tip, frontier = :frontier"),
                {"size": count, "tip": last_chain, "frontier": encode_frontier(builder.frontier)},
            )
        # Leave the database as steady use would: SQLite's WAL checkpointed into the database file (the bulk
        # load went into the WAL in one transaction), PostgreSQL's table vacuumed and analysed.
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text("VACUUM ANALYZE audit_event"))
        else:
            with db.engine.connect() as connection:
                connection.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@contextmanager
def in_one_process() -> Iterator[None]:
    """verify_log as on a machine with one CPU: no worker processes."""
    available = scan_worker.available_cpus
    scan_worker.available_cpus = lambda: 1
    try:
        yield
    finally:
        scan_worker.available_cpus = available


def verify_parts(events: int) -> int:
    """How many parts verify_log splits a SQLite log of this many events into on this machine."""
    return len(scan_worker.split_points(events, scan_worker.available_cpus())) - 1


def time_verify(app: Flask, count: int) -> float:
    with app.app_context():
        key, name, origin = log_public_key(), log_key_name(), str(app.config["AUDIT_ORIGIN"])
        with db.engine.connect() as connection:  # as `flask audit verify` does
            started = time.perf_counter()
            result = verify_log(connection, key, name, origin)
            elapsed = time.perf_counter() - started
    if not result.intact or result.size != count:
        raise SystemExit(f"the benchmark log did not verify: {result.summary()}")
    return count / elapsed


# -- Anchors -------------------------------------------------------------------------------------------------


def hashlib_per_event(bodies: list[bytes]) -> float:
    """Plain hashlib doing what verification must, per event: the leaf, the chain link and the tree nodes."""
    sha = hashlib.sha256
    started = time.perf_counter()
    previous = bytes(32)
    stack: list[bytes] = []
    for size, body in enumerate(bodies):
        leaf = sha(b"\x00" + body).digest()
        previous = sha(CHAIN_DOMAIN + previous + leaf).digest()
        node = leaf
        while size & 1:
            node = sha(b"\x01" + stack.pop() + node).digest()
            size >>= 1
        stack.append(node)
    return len(bodies) / (time.perf_counter() - started)


def hashlib_per_message(bodies: list[bytes]) -> float:
    """One SHA-256 per body: DESIGN's hashlib anchor."""
    sha = hashlib.sha256
    started = time.perf_counter()
    for body in bodies:
        sha(body).digest()
    return len(bodies) / (time.perf_counter() - started)


def raw_sqlite_appends(folder: Path, count: int) -> float:
    """record()'s transaction in plain sqlite3: lock, read the head, insert, update the head, commit."""
    path = folder / "raw.db"
    for stale in (path, path.with_name("raw.db-wal"), path.with_name("raw.db-shm")):
        stale.unlink(missing_ok=True)
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
        connection.execute(f"PRAGMA {pragma}")
    connection.execute(
        "CREATE TABLE event (seq INTEGER PRIMARY KEY, ts TEXT, body BLOB, leaf BLOB, chain BLOB, "
        "action TEXT, actor_id INTEGER, subject TEXT)"
    )
    for column in ("action, seq", "subject, seq", "actor_id, seq", "ts"):
        connection.execute(f"CREATE INDEX ix_{column.split(',')[0]} ON event ({column})")
    connection.execute("CREATE TABLE head (id INTEGER PRIMARY KEY, size INTEGER, tip BLOB)")
    connection.execute("INSERT INTO head VALUES (1, 0, ?)", (bytes(32),))
    try:
        return _raw_loop(connection, count, "?", "BEGIN IMMEDIATE", "", lambda: connection.execute("COMMIT"))
    finally:
        connection.close()


def raw_postgres_appends(url: str, count: int) -> float:
    import psycopg

    connection = psycopg.connect(
        sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    with connection.transaction():
        connection.execute("DROP TABLE IF EXISTS raw_event, raw_head")
        connection.execute(
            "CREATE TABLE raw_event (seq INTEGER PRIMARY KEY, ts TIMESTAMP, body BYTEA, leaf BYTEA, "
            "chain BYTEA, action VARCHAR(60), actor_id INTEGER, subject VARCHAR(120))"
        )
        for column in ("action, seq", "subject, seq", "actor_id, seq", "ts"):
            connection.execute(f"CREATE INDEX ix_raw_{column.split(',')[0]} ON raw_event ({column})")
        connection.execute("CREATE TABLE raw_head (id INTEGER PRIMARY KEY, size INTEGER, tip BYTEA)")
        connection.execute("INSERT INTO raw_head VALUES (1, 0, %s)", (bytes(32),))
    try:
        return _raw_loop(connection, count, "%s", None, " FOR UPDATE", connection.commit)
    finally:
        connection.close()


def _raw_loop(connection: Any, count: int, mark: str, begin: str | None, lock: str, commit: Any) -> float:
    prefix = "raw_" if mark == "%s" else ""
    # sqlite3 stores the text SQLAlchemy would write; psycopg sends a timestamp.
    stamp = (
        (lambda ts: ts.replace(tzinfo=None))
        if mark == "%s"
        else (lambda ts: ts.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds"))
    )
    sha = hashlib.sha256
    started = time.perf_counter()
    for _ in range(count):
        if begin:
            connection.execute(begin)
        size, tip = connection.execute(f"SELECT size, tip FROM {prefix}head WHERE id = 1{lock}").fetchone()
        ts = datetime.now(UTC)
        body = event_body(size + 1, ts)[0]
        leaf = sha(b"\x00" + body).digest()
        chain = sha(CHAIN_DOMAIN + bytes(tip) + leaf).digest()
        connection.execute(
            f"INSERT INTO {prefix}event VALUES ({', '.join([mark] * 8)})",
            (size + 1, stamp(ts), body, leaf, chain, "audit.verified", 1, "case:1"),
        )
        connection.execute(f"UPDATE {prefix}head SET size = {mark}, tip = {mark} WHERE id = 1", (size + 1, chain))
        commit()
    return count / (time.perf_counter() - started)


# -- Main ----------------------------------------------------------------------------------------------------


def ratio(value: float | None, anchor: float | None) -> float | None:
    return round(value / anchor, 3) if value and anchor else None


def report(label: str, value: float, budget: int, anchors: dict[str, float]) -> None:
    verdict = "meets" if value >= budget else "MISSES"
    against = ", ".join(f"{value / anchor:.2f}x {name} ({anchor:,.0f}/s)" for name, anchor in anchors.items())
    print(f"{label:<22} {value:>12,.0f}/s   {verdict} budget {budget:,}/s   {against}")


def postgres_admin_url() -> str:
    return os.environ.get("DISCLOSURE_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def with_postgres(work: Any) -> Any:
    admin = sa.create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{BENCH_DB}"'))
    try:
        return work(
            sa.engine.make_url(postgres_admin_url()).set(database=BENCH_DB).render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
        admin.dispose()


def run_backend(app: Flask, args: argparse.Namespace) -> tuple[float | None, float, float | None]:
    """(append rate, verify rate, verify rate in one process: SQLite only, where verify_log splits the log)."""
    appends = None
    if not args.verify_only:
        appends = median_of("record() + commit", args.rounds, lambda: time_appends(app, args.appends))
    load_started = time.perf_counter()
    load_log(app, args.events)
    print(f"  (loaded {args.events:,} valid events in {time.perf_counter() - load_started:.1f} s)", flush=True)
    with app.app_context():
        sqlite = db.engine.dialect.name == "sqlite"
    parts = verify_parts(args.events) if sqlite else 1
    verify = median_of(
        f"verify_log over {args.events:,} events{f', in {parts} processes' if parts > 1 else ''}",
        args.rounds,
        lambda: time_verify(app, args.events),
    )
    one_process = None
    if sqlite and parts > 1:
        with in_one_process():
            one_process = median_of("  the same in one process", args.rounds, lambda: time_verify(app, args.events))
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return appends, verify, one_process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="log size for the verify rate (default 1M)")
    parser.add_argument("--appends", type=int, default=5_000, help="appends timed per database (default 5,000)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per figure; the median is kept (default 3)")
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only (its figures are then null)")
    parser.add_argument("--verify-only", action="store_true", help="skip the appends (their figures are then null)")
    args = parser.parse_args()
    if args.events < 1 or args.appends < 1 or args.rounds < 1:
        parser.error("--events, --appends and --rounds must be positive")

    bodies = [event_body(seq, EPOCH)[0] for seq in range(1, min(args.events, 200_000) + 1)]
    print("anchors:", flush=True)
    hashed_per_message = median_of("hashlib, one SHA-256 per body", args.rounds, lambda: hashlib_per_message(bodies))
    hashed_per_event = median_of(
        "hashlib, leaf + chain + tree per event", args.rounds, lambda: hashlib_per_event(bodies)
    )
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as folder:
        base = Path(folder)
        raw_sqlite = None
        if not args.verify_only:
            raw_sqlite = median_of(
                "raw sqlite3 appends, WAL, synchronous=FULL",
                args.rounds,
                lambda: raw_sqlite_appends(base, args.appends),
            )
        print("SQLite:", flush=True)
        sqlite_app = make_app(base / "sqlite", f"sqlite:///{base / 'bench.db'}")
        sqlite_figures = run_backend(sqlite_app, args)
        figures["sqlite_append_per_s"], figures["sqlite_verify_per_s"] = sqlite_figures[:2]
        figures["sqlite_verify_one_process_per_s"] = sqlite_figures[2]
        figures["sqlite_verify_processes"] = verify_parts(args.events)
        figures["sqlite_append_vs_raw"] = ratio(figures["sqlite_append_per_s"], raw_sqlite)
        raw_postgres = None
        if args.skip_postgres:
            figures["postgres_append_per_s"] = figures["postgres_verify_per_s"] = None
        else:

            def postgres(url: str) -> tuple[float | None, float | None, float]:
                raw = None
                if not args.verify_only:
                    raw = median_of(
                        "raw psycopg appends, head FOR UPDATE",
                        args.rounds,
                        lambda: raw_postgres_appends(url, args.appends),
                    )
                print("PostgreSQL:", flush=True)
                app = make_app(base / "postgres", url)
                return (raw, *run_backend(app, args)[:2])

            raw_postgres, figures["postgres_append_per_s"], figures["postgres_verify_per_s"] = with_postgres(postgres)
        figures["postgres_append_vs_raw"] = ratio(figures["postgres_append_per_s"], raw_postgres)

    figures["sqlite_verify_vs_hashlib"] = ratio(figures["sqlite_verify_per_s"], hashed_per_event)
    figures["postgres_verify_vs_hashlib"] = ratio(figures["postgres_verify_per_s"], hashed_per_event)
    figures["sqlite_append_vs_hashlib"] = ratio(figures["sqlite_append_per_s"], hashed_per_event)
    figures["postgres_append_vs_hashlib"] = ratio(figures["postgres_append_per_s"], hashed_per_event)
    figures["hashlib_events_per_s"], figures["hashlib_msgs_per_s"] = hashed_per_event, hashed_per_message
    figures["raw_sqlite_append_per_s"], figures["raw_postgres_append_per_s"] = raw_sqlite, raw_postgres
    figures["events"], figures["appends"] = args.events, None if args.verify_only else args.appends

    print()
    hashed = {"hashlib": hashed_per_event}
    if figures["sqlite_append_per_s"] is not None:
        report(
            "SQLite append",
            figures["sqlite_append_per_s"],
            BUDGET["sqlite_append"],
            {"raw sqlite3": raw_sqlite, **hashed},
        )
    if figures.get("postgres_append_per_s") is not None:
        report(
            "PostgreSQL append",
            figures["postgres_append_per_s"],
            BUDGET["postgres_append"],
            {"raw psycopg": raw_postgres, **hashed},
        )
    one_process = figures["sqlite_verify_one_process_per_s"]
    report(
        f"SQLite verify @{args.events:,}",
        figures["sqlite_verify_per_s"],
        BUDGET["sqlite_verify"],
        {**({"one process": one_process} if one_process else {}), **hashed},
    )
    if figures["postgres_verify_per_s"] is not None:
        report(
            f"PostgreSQL verify @{args.events:,}",
            figures["postgres_verify_per_s"],
            BUDGET["postgres_verify"],
            hashed,
        )
    print(json.dumps({key: round(value, 3) if isinstance(value, float) else value for key, value in figures.items()}))


if __name__ == "__main__":
    main()
