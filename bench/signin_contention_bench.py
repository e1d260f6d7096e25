"""Sign-in contention benchmark (issue 17, finding 3): a signed-in user's case list while 8 anonymous sign-in loops run.

Sign-in checks an argon2id password (the app's own parameters: t=3, m=64 MiB, p=4). It used to hold SQLite's only
write lock through the hash, and every page began BEGIN IMMEDIATE, so anonymous sign-ins slowed every page to
seconds. Now the hash runs holding no transaction and pages read in deferred transactions. On SQLite and on
PostgreSQL (when a server answers), with a threaded server in this process: the p95 of GET /cases/ for a signed-in
reviewer, idle and then while 8 loops post wrong passwords to /sign-in (each loop its own session). Budget: the loaded
p95 is at most 3x the idle p95. Prints the figures, the ratio, and one JSON line.

    .venv/bin/python bench/signin_contention_bench.py [--cases 500] [--requests 100] [--loops 8] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask

from bench._seed import seed_all
from bench.cases_bench import Client, Server, csrf_from, postgres_answers, sign_in, with_postgres
from disclosure import create_app
from disclosure.extensions import db

BUDGET_RATIO = 3.0


def make_app(instance: Path, url: str) -> Flask:
    for name in ("keys", "blobs", "checkpoints"):
        (instance / name).mkdir(parents=True, exist_ok=True, mode=0o700)
    app = create_app(
        {
            "TESTING": True,
            "DEV_MODE": True,
            "INSTANCE_PATH": str(instance),
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            # The app's real hasher: the slow work sign-in must not hold a lock through.
            "PASSWORD_HASHER": "argon2id",
            "KEYS_DIR": str(instance / "keys"),
            "AUDIT_CHECKPOINT_DIR": str(instance / "checkpoints"),
            "AUDIT_CHECKPOINT_EVERY": 1000,
            "AUDIT_CHECKPOINT_MINUTES": 24 * 60,
        }
    )
    with app.app_context():
        from disclosure.keyring import init_log_key
        from disclosure.storage.keys import keyring_for_config

        db.create_all()
        init_log_key()
        keyring_for_config(app.config).init()
    return app


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


def case_list_times(client: Client, count: int) -> tuple[list[float], int]:
    times, errors = [], 0
    for _ in range(count):
        started = time.perf_counter()
        status, _, _ = client.request("GET", "/cases/")
        times.append((time.perf_counter() - started) * 1000)
        errors += status != 200
    return times, errors


def run_backend(label: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    print(f"\n{label}", flush=True)
    with tempfile.TemporaryDirectory(prefix="signin-bench-") as folder:
        app = make_app(Path(folder) / "instance", url)
        with app.app_context():
            seeded = seed_all(args.cases, 0)
        with Server(app) as server:
            reader = Client(server.port)
            sign_in(reader, seeded)
            case_list_times(reader, 10)  # warm-up
            idle, idle_errors = case_list_times(reader, args.requests)

            stop = threading.Event()
            attempts: list[int] = []
            statuses: dict[int, int] = {}

            def loop(number: int) -> None:
                client = Client(server.port)
                _, _, page = client.request("GET", "/sign-in")
                token, done = csrf_from(page), 0
                while not stop.is_set():
                    status, _, page = client.request(
                        "POST",
                        "/sign-in",
                        {"email": f"nobody{number}@example.org", "password": "wrong password!", "csrf_token": token},
                    )
                    statuses[status] = statuses.get(status, 0) + 1
                    done += 1
                attempts.append(done)

            loops = [threading.Thread(target=loop, args=(n,), daemon=True) for n in range(args.loops)]
            for thread in loops:
                thread.start()
            time.sleep(2)  # every loop is hashing
            started = time.perf_counter()
            loaded, loaded_errors = case_list_times(reader, args.requests)
            seconds = time.perf_counter() - started
            stop.set()
            for thread in loops:
                thread.join(60)
    result = {
        "idle_p50_ms": statistics.median(idle),
        "idle_p95_ms": p95(idle),
        "loaded_p50_ms": statistics.median(loaded),
        "loaded_p95_ms": p95(loaded),
        "loaded_max_ms": max(loaded),
        "errors": idle_errors + loaded_errors + sum(v for k, v in statuses.items() if k >= 500),
        "sign_ins_per_s": sum(attempts) / max(seconds, 1e-9),
    }
    result["ratio"] = result["loaded_p95_ms"] / result["idle_p95_ms"]
    print(
        f"  case list idle      p50 {result['idle_p50_ms']:7.1f} ms   p95 {result['idle_p95_ms']:7.1f} ms\n"
        f"  with {args.loops} sign-in loops p50 {result['loaded_p50_ms']:7.1f} ms"
        f"   p95 {result['loaded_p95_ms']:7.1f} ms"
        f"   max {result['loaded_max_ms']:7.1f} ms   ({result['sign_ins_per_s']:.1f} sign-ins/s)\n"
        f"  ratio loaded/idle p95 {result['ratio']:.2f}x (budget <= {BUDGET_RATIO:.0f}x: "
        f"{'met' if result['ratio'] <= BUDGET_RATIO else 'NOT met'}); errors (5xx or not 200): {result['errors']}",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--loops", type=int, default=8)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    figures: dict[str, Any] = {"loops": args.loops, "requests": args.requests, "budget_ratio": BUDGET_RATIO}
    with tempfile.TemporaryDirectory(prefix="signin-bench-db-") as folder:
        sqlite = run_backend("SQLite", f"sqlite:///{Path(folder) / 'bench.db'}", args)
    figures.update({f"sqlite_{key}": round(value, 2) for key, value in sqlite.items()})
    if not args.skip_postgres:
        if postgres_answers():
            postgres = with_postgres(lambda url: run_backend("PostgreSQL", url, args))
            figures.update({f"postgres_{key}": round(value, 2) for key, value in postgres.items()})
        else:
            print("\n(PostgreSQL does not answer on 127.0.0.1:5432: skipped)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
