"""Proof benchmark: one inclusion proof read from the stored tiles, at 100k and 1M events, on SQLite and PostgreSQL.

The log's leaf hashes (and the tiles record() would have stored with them) are seeded directly, for speed: what is
timed is disclosure.audit.merkle.stored_tree(...).inclusion_proof(), the code bundles and extracts call, for
random events of the log, each on a fresh tree object (nothing cached between proofs). Memory is Python's
tracemalloc peak while building --proofs proofs: flat as the log grows, since a proof reads O(log n) rows.
DESIGN's budget: one inclusion proof at 1M events < 5 ms.

    .venv/bin/python bench/proof_bench.py [--sizes 100000,1000000] [--proofs 200] [--skip-postgres]

PostgreSQL: DISCLOSURE_BENCH_DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres) names a
server; the throwaway database disclosure_bench_proof is created there and dropped afterwards. The last line
printed is one JSON object with all figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa
from flask import Flask

from disclosure import create_app
from disclosure.audit.merkle import stored_tree
from disclosure.extensions import db
from disclosure_proofs.merkle import RootBuilder, verify_inclusion
from disclosure_proofs.tiles import TileBuilder

BUDGET_MS = 5.0
BENCH_DB = "disclosure_bench_proof"
CHUNK = 50_000


def make_app(instance: Path, url: str) -> Flask:
    instance.mkdir(parents=True, exist_ok=True)
    app = create_app(
        {
            "INSTANCE_PATH": str(instance),
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "KEYS_DIR": str(instance / "keys"),
        }
    )
    with app.app_context():
        db.create_all()
    return app


def leaf(seq: int) -> bytes:
    return hashlib.sha256(b"\x00" + seq.to_bytes(8, "big")).digest()


def seed(app: Flask, upto: int, start: int) -> bytes:
    """Grow the seeded log from `start` to `upto` events (rows with their leaf hashes, and the full tiles)."""
    with app.app_context(), db.engine.begin() as connection:
        builder, tiles = RootBuilder(), TileBuilder()
        # Rebuild the builders' state from the leaves already seeded (cheap next to the insert).
        for first in range(1, start + 1, CHUNK):
            hashes = [leaf(seq) for seq in range(first, min(first + CHUNK, start + 1))]
            builder.extend(hashes)
            tiles.extend(hashes)
        events, tile_table = db.metadata.tables["audit_event"], db.metadata.tables["audit_tile"]
        ts = sa.func.current_timestamp()
        for first in range(start + 1, upto + 1, CHUNK):
            hashes = [leaf(seq) for seq in range(first, min(first + CHUNK, upto + 1))]
            connection.execute(
                events.insert().values(ts=ts),
                [
                    {"seq": first + i, "body": b"", "leaf_hash": h, "chain_hash": bytes(32), "action": "bench"}
                    for i, h in enumerate(hashes)
                ],
            )
            builder.extend(hashes)
            made = tiles.extend(hashes)
            if made:
                connection.execute(
                    tile_table.insert(),
                    [{"level": t.level, "index": t.index, "hashes": t.hashes, "root": t.root} for t in made],
                )
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # As steady use leaves it: autovacuum would have analysed the tables after a load this size.
        with app.app_context(), db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(sa.text("ANALYZE audit_event"))
            connection.execute(sa.text("ANALYZE audit_tile"))
    return builder.root()


def time_proofs(app: Flask, size: int, root: bytes, count: int) -> tuple[float, float, int]:
    """(median ms per proof, p95 ms, tracemalloc peak bytes) over `count` random events, each on a fresh tree."""
    rng = random.Random(size)
    seqs = [rng.randrange(1, size + 1) for _ in range(count)]
    timings = []
    with app.app_context():
        connection = db.session.connection()
        stored_tree(connection, size, root).inclusion_proof(seqs[0], leaf(seqs[0]))  # warm the statement cache
        for seq in seqs:
            started = time.perf_counter()
            proof = stored_tree(connection, size, root).inclusion_proof(seq, leaf(seq))
            timings.append((time.perf_counter() - started) * 1000)
            assert verify_inclusion(leaf(seq), seq - 1, size, proof, root)
        # Memory apart from the timing: tracemalloc slows every allocation down.
        tracemalloc.start()
        for seq in seqs[: max(1, count // 4)]:
            stored_tree(connection, size, root).inclusion_proof(seq, leaf(seq))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        db.session.rollback()
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95) - 1], peak


def run_backend(label: str, app: Flask, sizes: list[int], proofs: int, figures: dict[str, Any]) -> None:
    print(f"{label}:", flush=True)
    seeded = 0
    for size in sizes:
        started = time.perf_counter()
        root = seed(app, size, seeded)
        seeded = size
        print(f"  (seeded {size:,} events in {time.perf_counter() - started:.1f} s)", flush=True)
        median, p95, peak = time_proofs(app, size, root, proofs)
        verdict = "meets" if median < BUDGET_MS else "MISSES"
        print(
            f"  one inclusion proof @{size:>9,}: median {median:.2f} ms, p95 {p95:.2f} ms   {verdict} budget "
            f"{BUDGET_MS} ms ({median / BUDGET_MS:.2f}x of it); tracemalloc peak {peak / 1024:.0f} KiB",
            flush=True,
        )
        key = f"{label.lower()}_{size}"
        figures[f"{key}_proof_ms"] = round(median, 3)
        figures[f"{key}_proof_p95_ms"] = round(p95, 3)
        figures[f"{key}_proof_vs_budget"] = round(median / BUDGET_MS, 3)
        figures[f"{key}_peak_kib"] = round(peak / 1024, 1)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def postgres_admin_url() -> str:
    return os.environ.get("DISCLOSURE_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="log sizes, ascending (default 100000,1000000)")
    parser.add_argument("--proofs", type=int, default=200, help="proofs timed per size (default 200)")
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    if not sizes or sizes[0] < 1 or args.proofs < 1:
        parser.error("--sizes and --proofs must be positive")
    figures: dict[str, Any] = {"sizes": sizes, "proofs": args.proofs, "budget_ms": BUDGET_MS}
    with tempfile.TemporaryDirectory(prefix="proof-bench-") as folder:
        base = Path(folder)
        run_backend("SQLite", make_app(base / "sqlite", f"sqlite:///{base / 'bench.db'}"), sizes, args.proofs, figures)
        if not args.skip_postgres:
            admin = sa.create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
                connection.execute(sa.text(f'CREATE DATABASE "{BENCH_DB}"'))
            try:
                url = sa.engine.make_url(postgres_admin_url()).set(database=BENCH_DB)
                app = make_app(base / "postgres", url.render_as_string(hide_password=False))
                run_backend("PostgreSQL", app, sizes, args.proofs, figures)
            finally:
                with admin.connect() as connection:
                    connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
                admin.dispose()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
