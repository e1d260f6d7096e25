"""Case pages benchmark: the list, a filter, searches and the dashboard, through a real HTTP server.

Seeds --cases cases (agencies, 1-3 targets each, categories, gag orders, varied states, processes and due
dates; bulk-inserted with SQLAlchemy Core, see bench/_seed.py) and --events audit events (through record(),
one commit per 1,000), then serves the app with werkzeug's threaded server on 127.0.0.1 (HTTP/1.1 keep-alive)
and signs in through the real sign-in and second-factor forms with their CSRF tokens. It then times, with
http.client and sequential requests interleaved round-robin (so a shared machine's load hits every endpoint
alike):

    list        /cases/
    filter      /cases/?state=in_review&process_type=subpoena
    search      /cases/?q=<a target identifier on some case>   (a different one per request)
    substring   /cases/?q=<five characters from the middle of one> (the full-text index)
    reference   /cases/?q=<a case reference>                   (a different one per request)
    dashboard   /
    account     /account/password   (the lightest signed-in page; reported, not budgeted)
    trivial     /health   (public, one SELECT 1): the anchor

and reports p50/p95/max latency, requests/s and each page's throughput against the anchor's, plus the number
of SQL statements each page runs (an engine event counter). DESIGN's budget for the case list and search
pages: p95 < 100 ms at 10,000 cases, and >= 0.5x the trivial endpoint's throughput.

    .venv/bin/python bench/cases_bench.py [--cases 10000] [--events 100000] [--requests 200] [--skip-postgres]
                                          [--show-sql]

The same runs on PostgreSQL when a server answers on 127.0.0.1:5432: DISCLOSURE_BENCH_DATABASE_URL (default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres) names it; the throwaway database
disclosure_bench_cases is created there and dropped afterwards. The last line printed is one JSON object:
list_p95_ms, search_p95_ms, trivial_rps, list_rps (and the same with a postgres_ prefix), with more beside.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import secrets
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from bench._seed import Seeded, seed_all
from disclosure import create_app
from disclosure.cases import search
from disclosure.extensions import db

BUDGET_P95_MS = 100.0
BUDGET_RATIO = 0.5
BENCH_DB = "disclosure_bench_cases"
CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
BUDGETED = ("list", "filter", "search", "reference", "substring")


# -- The app and its server ----------------------------------------------------------------------------------


def make_app(instance: Path, url: str) -> Flask:
    for name in ("keys", "blobs", "checkpoints"):
        (instance / name).mkdir(parents=True, exist_ok=True, mode=0o700)
    app = create_app(
        {
            # As tests/conftest.py's base_settings, plus DEV_MODE for a plain-http cookie on 127.0.0.1.
            "TESTING": True,
            "DEV_MODE": True,
            "INSTANCE_PATH": str(instance),
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            # The fast hasher only makes creating the seeded users and the one sign-in quick; no page measured
            # below hashes a password.
            "PASSWORD_HASHER": "fast-insecure-for-tests",
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


class QuietKeepAliveHandler(WSGIRequestHandler):
    """HTTP/1.1 with keep-alive (as behind a proxy), and no per-request log line."""

    protocol_version = "HTTP/1.1"

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class Server:
    def __init__(self, app: Flask) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietKeepAliveHandler)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, name="bench-server", daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


# -- A small HTTP client with a cookie jar -------------------------------------------------------------------


class Client:
    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}
        self.connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self.connection is None:
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.connection.connect()
            self.connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.connection

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            connection = self._connect()
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionError, http.client.BadStatusLine):
                self.close()
                if attempt == 2:
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                cookie_value = rest.split(";", 1)[0]
                if cookie_value and "expires=thu, 01 jan 1970" not in value.lower():
                    self.cookies[name.strip()] = cookie_value
                else:
                    self.cookies.pop(name.strip(), None)
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        return (
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            data.decode("utf-8", "replace"),
        )

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def csrf_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    if not match:
        raise SystemExit("no CSRF token in the sign-in page")
    return match.group(1) or match.group(2)


def sign_in(client: Client, seeded: Seeded) -> None:
    """Through the real forms: password, then the TOTP code (the bench user is a reviewer)."""
    import pyotp

    staff = seeded.staff
    status, _, page = client.request("GET", "/sign-in")
    status, headers, _ = client.request(
        "POST",
        "/sign-in",
        {"email": staff.bench_email, "password": staff.bench_password, "csrf_token": csrf_from(page)},
    )
    if status != 302 or "/sign-in/code" not in headers.get("location", ""):
        raise SystemExit(f"sign-in (password) failed: {status} {headers.get('location')}")
    status, _, page = client.request("GET", "/sign-in/code")
    status, headers, _ = client.request(
        "POST",
        "/sign-in/code",
        {"code": pyotp.TOTP(staff.bench_totp_secret).now(), "csrf_token": csrf_from(page)},
    )
    if status != 302 or "/sign-in" in headers.get("location", "/sign-in"):
        raise SystemExit(f"sign-in (second factor) failed: {status} {headers.get('location')}")
    status, _, page = client.request("GET", "/")
    if status != 200 or "Dashboard" not in page:
        raise SystemExit(f"the dashboard did not answer after sign-in: {status}")


# -- Measuring -----------------------------------------------------------------------------------------------


class QueryCounter:
    """Counts SQL statements on the app's engine (requests are sequential, so one counter is enough)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.count = 0
        self.statements: list[str] = []
        sa.event.listen(engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.count += 1
        self.statements.append(" ".join(statement.split()))

    def reset(self) -> None:
        self.count = 0
        self.statements = []

    def remove(self) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._on_execute)


def middle(term: str, size: int = 5) -> str:
    start = max(0, (len(term) - size) // 2)
    return term[start : start + size]


def endpoints(seeded: Seeded, rng_seed: int = 7) -> dict[str, Callable[[int], str]]:
    import random

    rng = random.Random(rng_seed)
    terms = rng.sample(seeded.target_terms, min(500, len(seeded.target_terms)))
    references = rng.sample(seeded.references, min(500, len(seeded.references)))
    return {
        "list": lambda i: "/cases/",
        "filter": lambda i: "/cases/?state=in_review&process_type=subpoena",
        "search": lambda i: "/cases/?q=" + quote(terms[i % len(terms)]),
        "reference": lambda i: "/cases/?q=" + quote(references[i % len(references)]),
        # Part of an identifier (the full-text index): its middle five characters, as a person half-remembers it.
        "substring": lambda i: "/cases/?q=" + quote(middle(terms[i % len(terms)])),
        "dashboard": lambda i: "/",
        # Not budgeted: the lightest signed-in page (session, user and roles loaded, base layout, a 3-field
        # form), to show how much of the gap to the anchor any signed-in page pays.
        "account": lambda i: "/account/password",
        "trivial": lambda i: "/health",
    }


def check_pages(client: Client, seeded: Seeded, paths: dict[str, Callable[[int], str]]) -> None:
    """The pages answer 200 and the searches find what they look for."""
    for name, path in paths.items():
        status, _, page = client.request("GET", path(0))
        if status != 200:
            raise SystemExit(f"{name} ({path(0)}) answered {status}")
        if name == "list" and f"{seeded.cases:,}" not in page and f"{seeded.cases} matching" not in page:
            raise SystemExit(f"the list page does not say {seeded.cases} matching")
        if name in ("search", "reference", "substring") and "No cases match these filters." in page:
            raise SystemExit(f"{name} ({path(0)}) found nothing")


def count_queries(
    client: Client, counter: QueryCounter, paths: dict[str, Callable[[int], str]], show: bool
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, path in paths.items():
        client.request("GET", path(1))  # the session's last-seen touch, if due, lands here and not below
        counter.reset()
        client.request("GET", path(1))
        counts[name] = counter.count
        if show:
            print(f"  -- {name}: {counter.count} statements")
            for statement in counter.statements:
                print(f"     {statement[:220]}")
    return counts


def measure(
    client: Client, paths: dict[str, Callable[[int], str]], requests: int, warmup: int
) -> dict[str, dict[str, float]]:
    for i in range(warmup):
        for path in paths.values():
            client.request("GET", path(i))
    timings: dict[str, list[float]] = {name: [] for name in paths}
    clock = time.perf_counter
    for i in range(requests):
        for name, path in paths.items():
            target = path(i)
            started = clock()
            status, _, _ = client.request("GET", target)
            timings[name].append(clock() - started)
            if status != 200:
                raise SystemExit(f"{name} ({target}) answered {status} during the run")
    results = {}
    for name, values in timings.items():
        ordered = sorted(values)
        results[name] = {
            "p50_ms": statistics.median(ordered) * 1000,
            "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)] * 1000,
            "max_ms": ordered[-1] * 1000,
            "rps": len(values) / sum(values),
        }
    return results


def run_backend(label: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    print(f"\n== {label}: {args.cases:,} cases, {args.events:,} audit events", flush=True)
    with tempfile.TemporaryDirectory(prefix="cases-bench-") as folder:
        app = make_app(Path(folder) / "instance", url)
        with app.app_context():
            seeded = seed_all(args.cases, args.events)
            started = time.perf_counter()
            indexed = search.rebuild(db.session())  # the bulk insert bypassed the app's indexing of each flush
            db.session.commit()
            print(f"  search index built for {indexed:,} cases in {time.perf_counter() - started:.1f} s", flush=True)
            db.session.remove()  # end the seeding session's transaction (on SQLite it holds the write lock)
            if db.engine.dialect.name == "postgresql":
                # Steady state: autovacuum would have analysed tables this size.
                with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(sa.text("VACUUM ANALYZE"))
            else:
                # The WAL checkpointed into the database file, as steady use leaves it. On the driver
                # connection: SQLAlchemy's BEGIN IMMEDIATE must not wrap the checkpoint.
                with db.engine.connect() as connection:
                    driver = connection.connection.driver_connection
                    assert driver is not None
                    busy, _, _ = driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                    if busy:
                        print("  (the WAL checkpoint was blocked; measuring anyway)", flush=True)
            counter = QueryCounter(db.engine)
        try:
            with Server(app) as server:
                client = Client(server.port)
                sign_in(client, seeded)
                paths = endpoints(seeded)
                check_pages(client, seeded, paths)
                queries = count_queries(client, counter, paths, args.show_sql)
                counter.remove()
                results = measure(client, paths, args.requests, args.warmup)
                client.close()
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
    report(label, results, queries)
    return {"results": results, "queries": queries}


def report(label: str, results: dict[str, dict[str, float]], queries: dict[str, int]) -> None:
    trivial = results["trivial"]["rps"]
    print(f"\n{label}{'':<6}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'req/s':>9}{'x trivial':>11}{'SQL':>6}  verdict")
    for name, figures in results.items():
        ratio = figures["rps"] / trivial
        verdict = ""
        if name in BUDGETED:
            ok = figures["p95_ms"] < BUDGET_P95_MS and ratio >= BUDGET_RATIO
            verdict = (
                "meets budget"
                if ok
                else (
                    "MISSES budget ("
                    + ", ".join(
                        part
                        for part, bad in (
                            (f"p95 >= {BUDGET_P95_MS:.0f} ms", figures["p95_ms"] >= BUDGET_P95_MS),
                            (f"< {BUDGET_RATIO}x trivial", ratio < BUDGET_RATIO),
                        )
                        if bad
                    )
                    + ")"
                )
            )
        print(
            f"  {name:<12}{figures['p50_ms']:>9.1f}{figures['p95_ms']:>9.1f}{figures['max_ms']:>9.1f}"
            f"{figures['rps']:>9.0f}{ratio:>10.2f}x{queries.get(name, 0):>6}  {verdict}"
        )
    print(
        f"  (budget for list/filter/search pages: p95 < {BUDGET_P95_MS:.0f} ms and >= {BUDGET_RATIO}x the "
        "trivial"
        " endpoint's requests/s; the dashboard and account pages are reported, not budgeted)",
        flush=True,
    )


def summary(prefix: str, run: dict[str, Any]) -> dict[str, Any]:
    results, queries = run["results"], run["queries"]
    trivial = results["trivial"]["rps"]
    out: dict[str, Any] = {
        f"{prefix}list_p95_ms": round(results["list"]["p95_ms"], 2),
        f"{prefix}search_p95_ms": round(max(results["search"]["p95_ms"], results["reference"]["p95_ms"]), 2),
        f"{prefix}substring_p95_ms": round(results["substring"]["p95_ms"], 2),
        f"{prefix}trivial_rps": round(trivial, 1),
        f"{prefix}list_rps": round(results["list"]["rps"], 1),
        f"{prefix}list_ratio": round(results["list"]["rps"] / trivial, 3),
    }
    for name in ("filter", "search", "reference", "dashboard", "account"):
        out[f"{prefix}{name}_page_p95_ms"] = round(results[name]["p95_ms"], 2)
        out[f"{prefix}{name}_rps"] = round(results[name]["rps"], 1)
    out[f"{prefix}queries_per_page"] = queries
    return out


# -- PostgreSQL ----------------------------------------------------------------------------------------------


def postgres_admin_url() -> str:
    return os.environ.get("DISCLOSURE_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def postgres_answers() -> bool:
    url = sa.engine.make_url(postgres_admin_url())
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def with_postgres(work: Callable[[str], Any]) -> Any:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per endpoint")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests per endpoint first")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--show-sql", action="store_true", help="print the statements each page runs")
    args = parser.parse_args()

    figures: dict[str, Any] = {"cases": args.cases, "events": args.events, "requests": args.requests}
    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory(prefix="cases-bench-db-") as folder:
            sqlite = run_backend("SQLite", f"sqlite:///{Path(folder) / 'bench.db'}", args)
        figures.update(summary("", sqlite))
    if not args.skip_postgres:
        if postgres_answers():
            postgres = with_postgres(lambda url: run_backend("PostgreSQL", url, args))
            figures.update(summary("postgres_", postgres))
        else:
            print("\n(PostgreSQL does not answer on 127.0.0.1:5432: skipped)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
