"""Soak benchmark: real gunicorn and a real job worker on PostgreSQL, 50 signed-in users, a 1 GB bundle job.

Sets up what an operator would: a fresh instance folder (`python -m disclosure.instance init`, and
`instance/config.py` with PROXY_FIX = 1, as behind the README's nginx), a fresh PostgreSQL database
(`flask db upgrade`, `flask keys init`), then, through the services in this process, --users intake users (no
second factor: intake needs none), a reviewer, a producer with an enrolled TOTP secret, --cases cases in `received`,
and one warrant case approved for a target's stored content. It starts `gunicorn -c gunicorn.conf.py wsgi:app`
(DISCLOSURE_BIND on a free port; workers and threads as gunicorn.conf.py derives them, or --workers/--threads,
and printed) and `flask jobs worker`, signs every user in through the real forms (each from its own forwarded
address), and drives them over HTTP with no pause between requests (closed loop; --think-ms adds one). Each step a
user takes is one of:

    list      GET /cases/
    case      GET /cases/<ref>                      (a random case)
    health    GET /health                           (public, SELECT 1)
    account   GET /account/password                 (the lightest signed-in page: DESIGN's anchor for the list)
    edit      GET /cases/<ref>/edit, then POST it with new notes and its CSRF token   (audited: case.update)
    upload    GET /cases/<ref>, then POST a document (text or PDF, 1 KB-2 MB) to it  (audited: document.upload)

The phases: a warm-up (--warmup, 5 s; checked, not timed); throughput probes (--probe-rounds 2 rounds of
--probe 5 s each) in which every user asks for one page only, the case list, /health and the account page in
turn; a baseline of --baseline seconds (20) of the mix above without the bundle job; then --duration seconds (60,
or DISCLOSURE_SOAK_SECONDS) of the mix during which a producer adds a --bundle-mb (1024) MB production record with
`flask production add`, asks for the bundle on the production page (which queues a job the worker runs), follows
the job's status as the page's script does, and reveals the passphrase once. That run lasts until both the
duration has passed and the job has finished; the time from the start of `flask production add` to the job's end
is "job" in the tables, and a table by 5-second slot shows where the time went.

It passes (exit 0) when:
  1. no request got a 5xx (nor no answer at all, nor an answer its page never gives: those are printed too);
  2. `flask audit verify` exits 0, and the audit events after the start equal, action by action and subject by
     subject, the audited writes the clients saw succeed (an edit answered with a redirect, an upload answered
     with a redirect, the production record, the bundle's request, build and passphrase) plus the worker's own
     periodic jobs, which are listed;
  3. `flask storage reconcile --dry-run` finds nothing (exit 0);
  4. the case list's p95 while the job was at work is within 2x its baseline p95
(and the bundle's job succeeded and showed its passphrase). It prints p50/p95/p99 per kind of request and phase;
from the probes, the case list's throughput against /health's and against the account page's (DESIGN's anchor:
>= 0.5x); and the bundle's MB/s against DESIGN's 150 MB/s budget. With no pause between requests the server is
saturated, so latencies are mostly time spent waiting for a free gunicorn thread. The last line printed is one
JSON object.

    .venv/bin/python bench/soak_bench.py [--duration 60] [--baseline 20] [--warmup 5] [--probe 5] [--probe-rounds 2]
                                         [--users 50] [--cases 300] [--bundle-mb 1024] [--workers N] [--threads N]
                                         [--think-ms 0] [--keep]

PostgreSQL: DISCLOSURE_BENCH_DATABASE_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres) names a
server to connect to; the throwaway database disclosure_soak is created there (dropped first if left over) and
dropped afterwards. Without a server the benchmark is skipped (exit 0), except with CI=true, where it fails.
Everything else lives in a temporary folder removed at the end (kept, with the server's and the worker's logs,
with --keep); gunicorn and the worker are stopped (SIGTERM, then SIGKILL to their process group) whatever happens.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import random
import re
import runpy
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench._soak_http import Client, Response, form_posting_to  # noqa: E402

BIN = Path(sys.executable).parent
SOAK_DB = "disclosure_soak"
MB = 1 << 20
LIST_P95_FACTOR = 2.0
#: DESIGN's performance budget: the case list at >= 0.5x the throughput of the lightest signed-in page (the account
#: page); a bundle builds at >= 150 MB/s (both measured there without other load). Its p95 < 100 ms is for requests
#: one at a time at 10,000 cases: cases_bench.py measures that.
DESIGN_LIST_RATIO = 0.5
DESIGN_BUNDLE_MB_S = 150.0
#: What a user does next, and how often.
STEPS = {"list": 30, "case": 20, "health": 15, "account": 10, "edit": 15, "upload": 10}
#: The throughput probes, each page alone: the case list, its anchor in the issue (/health) and DESIGN's (the
#: lightest signed-in page, the account page).
PROBES = ("list", "health", "account")
#: The answers each kind of request may get; anything else is reported (a 5xx fails the run by itself).
EXPECTED = {
    "list": {200},
    "case": {200},
    "health": {200},
    "account": {200},
    "edit_form": {200},
    "edit": {302, 409},  # 409: someone else saved the case since the form was loaded ("changed by someone else")
    "upload": {302},
    "production": {200},
    "bundle_request": {302},
    "job_page": {200},
    "job_status": {200},
    "secret": {200},
}
KIND_ORDER = list(EXPECTED)


# -- Set-up: database, instance folder, users and cases ------------------------------------------------------


def server_url() -> str:
    return os.environ.get("DISCLOSURE_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def recreate_database(drop_only: bool = False) -> str:
    admin = sa.create_engine(server_url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {SOAK_DB} WITH (FORCE)"))
            if not drop_only:
                connection.execute(sa.text(f"CREATE DATABASE {SOAK_DB}"))
    finally:
        admin.dispose()
    return sa.engine.make_url(server_url()).set(database=SOAK_DB).render_as_string(hide_password=False)


def flask(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    done = subprocess.run([str(BIN / "flask"), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise SystemExit(f"flask {' '.join(args)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done


@dataclass
class Seeded:
    password: str
    intake: list[str]
    producer: str
    producer_totp: str
    references: list[str]
    approved: str
    approved_target: str


def request_doc(rng: random.Random, index: int, now: Any, approved: bool = False) -> dict[str, Any]:
    received = now - timedelta(days=rng.randint(1, 20), hours=rng.randint(0, 23))
    warrant = approved or rng.random() < 0.6
    agencies = [
        ("Federal Bureau of Investigation", "US"),
        ("Drug Enforcement Administration", "US"),
        ("U.S. Secret Service", "US"),
        ("Homeland Security Investigations", "US"),
    ]
    name, country = rng.choice(agencies)
    doc: dict[str, Any] = {
        "process_type": "search_warrant" if warrant else "subpoena",
        "jurisdiction": {"regime": "us_federal", "country": "US", "region": None},
        "issuing_authority": (
            {"kind": "judge", "name": "Hon. A. Example, N.D. Cal.", "docket": f"5:26-mj-{index:05d}"}
            if warrant
            else {"kind": "prosecutor", "name": "U.S. Attorney's Office, S.D.N.Y.", "docket": f"GJ-2026-{index:04d}"}
        ),
        "agency": {"name": name, "country": country},
        "officer": {
            "name": f"SA J. Doe {index}",
            "email": "jdoe@example.gov",
            "phone": "+1 415 555 0100",
            "badge": str(1000 + index),
        },
        "received_at": received.isoformat(),
        "received_via": rng.choice(["email", "portal", "post"]),
        "due_at": None,
        "emergency": False,
        "targets": [{"kind": "email", "value": f"user{index}@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
        "categories": ["subscriber_basic", "stored_content"] if warrant else ["subscriber_basic"],
    }
    if warrant:
        doc["valid_until"] = (received + timedelta(days=14)).date().isoformat()
    return doc


def seed(cases: int, users: int) -> Seeded:
    """Users and cases through the services, as `flask users create` and the intake form would make them."""
    import pyotp

    from disclosure import create_app
    from disclosure.auth import service as accounts
    from disclosure.auth import totp
    from disclosure.auth.models import User as Account
    from disclosure.cases import service as cases_service
    from disclosure.cases.models import Case
    from disclosure.clock import utcnow
    from disclosure.extensions import db
    from disclosure.policy.request import parse_request
    from disclosure.review import service as review
    from disclosure.services import SystemActor
    from disclosure.workflow import Action

    rng = random.Random(20261207)
    password = "soak " + secrets.token_urlsafe(18)
    app = create_app()
    with app.app_context():
        operator = SystemActor("soak bench")

        def person(email: str, name: str, role: str) -> Account:
            user = accounts.create_user(operator, email, name, [role], password, must_change_password=False)
            db.session.commit()
            return user

        intake = [person(f"intake{i:02d}@soak.example", f"Intake Clerk {i:02d}", "intake") for i in range(users)]
        reviewer = person("reviewer@soak.example", "Rita Reviewer", "reviewer")
        producer = person("producer@soak.example", "Paul Producer", "producer")
        secret = pyotp.random_base32()
        producer.totp_secret_enc = totp.encrypt_secret(producer.id, secret)
        producer.totp_enrolled_at = utcnow()
        db.session.commit()

        now = utcnow()
        references = []
        for index in range(cases):
            logger = intake[index % len(intake)]
            case = cases_service.log_request(logger, parse_request(request_doc(rng, index, now), now=now))
            db.session.commit()
            references.append(case.reference)

        doc = request_doc(rng, cases, now, approved=True)
        approved = cases_service.log_request(intake[0], parse_request(doc, now=now))
        db.session.commit()
        cases_service.apply_action(reviewer, approved, Action.START_REVIEW, None, None)
        db.session.commit()
        current = review.open_review(approved)
        assert current is not None
        evaluation = review.evaluation_for(current)
        review.save_worksheet(
            reviewer,
            current,
            {item.id: {"answer": "yes"} for item in evaluation.checklist},
            {"stored_content": {"grounds": ["legal_process"]}, "subscriber_basic": {"grounds": ["law_requires"]}},
            "",
            None,
            None,
        )
        scope = [review.ScopeEntry(t.kind, t.value, ("stored_content",), None, None) for t in approved.targets]
        review.decide(reviewer, current, "approved", password=password, ip=None, scope=scope, text="Approved.")
        db.session.commit()
        approved_case = db.session.execute(sa.select(Case).where(Case.id == approved.id)).scalar_one()
        if approved_case.state != "approved":
            raise SystemExit(f"the bundle's case is {approved_case.state}, not approved")
        result = Seeded(
            password,
            [u.email for u in intake],
            producer.email,
            secret,
            references,
            approved_case.reference,
            approved_case.targets[0].value,
        )
        db.session.remove()
        db.engine.dispose()
    return result


def write_record(path: Path, size_mb: int) -> None:
    """Pseudo-random bytes, fast: a random MiB, rotated by a few bytes for each MiB written."""
    block = os.urandom(MB)
    with open(path, "wb") as handle:
        for index in range(size_mb):
            shift = (index * 4099) % MB
            handle.write(block[shift:] + block[:shift])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- The load ------------------------------------------------------------------------------------------------


@dataclass
class Sample:
    phase: str
    kind: str
    status: int  # 0: no answer (a transport error)
    seconds: float
    request_id: str = ""
    note: str = ""
    at: float = 0.0  # when it was sent (time.perf_counter)


@dataclass
class Ledger:
    """What the clients saw succeed, as (audit action, subject) pairs, and everything they measured."""

    samples: list[Sample] = field(default_factory=list)
    writes: Counter = field(default_factory=Counter)  # type: ignore[type-arg]
    unknown_writes: list[str] = field(default_factory=list)
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)

    def wrote(self, action: str, subject: str) -> None:
        with self.lock:
            self.writes[(action, subject)] += 1


class Phase:
    def __init__(self, name: str, only: str | None = None) -> None:
        self.name = name
        self.only = only  # every user sends only this kind of read (a throughput probe)
        self.stop = threading.Event()
        self.started = 0.0


CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_of(page: str) -> str:
    match = CSRF.search(page)
    if not match:
        raise RuntimeError("no CSRF token on the page")
    return match.group(1) or match.group(2)


class Staff:
    """One signed-in member of the legal team, with their own connection, cookies and forwarded address."""

    def __init__(self, index: int, port: int, email: str, password: str, ledger: Ledger, references: list[str]):
        self.email = email
        self.password = password
        self.client = Client(port, f"10.77.{index // 200}.{index % 200 + 1}")
        self.ledger = ledger
        self.references = references
        self.rng = random.Random(index)

    def sign_in(self, totp_secret: str | None = None) -> None:
        page = self.client.get("/sign-in")
        answer = self.client.post(
            "/sign-in", {"email": self.email, "password": self.password, "csrf_token": csrf_of(page.text)}
        )
        if totp_secret is not None and answer.status == 302 and "/sign-in/code" in answer.location:
            import pyotp

            page = self.client.get("/sign-in/code")
            answer = self.client.post(
                "/sign-in/code", {"code": pyotp.TOTP(totp_secret).now(), "csrf_token": csrf_of(page.text)}
            )
        if answer.status != 302 or "/sign-in" in answer.location:
            raise SystemExit(f"{self.email} could not sign in: {answer.status} {answer.location} {answer.text[:300]}")
        dashboard = self.client.get("/")
        if dashboard.status != 200 or "Dashboard" not in dashboard.text:
            raise SystemExit(f"{self.email}: no dashboard after signing in ({dashboard.status})")

    def measure(self, phase: Phase, kind: str, send: Any) -> Response | None:
        at = time.perf_counter()
        try:
            response: Response = send()
        except Exception as error:
            self.ledger.add(Sample(phase.name, kind, 0, 0.0, note=f"{type(error).__name__}: {error}", at=at))
            self.client.close()
            return None
        note = ""
        if response.status not in EXPECTED[kind]:
            page = re.sub(r"\s+", " ", response.text)[:300]
            note = f"{response.location} {page}".strip()
        self.ledger.add(Sample(phase.name, kind, response.status, response.seconds, response.request_id, note, at))
        if response.retried:
            with self.ledger.lock:
                self.ledger.retries += 1
        return response

    def get(self, phase: Phase, kind: str, path: str) -> Response | None:
        return self.measure(phase, kind, lambda: self.client.get(path))

    def run(self, phase: Phase, think: float) -> None:
        steps, weights = list(STEPS), list(STEPS.values())
        while not phase.stop.is_set():
            step = phase.only or self.rng.choices(steps, weights)[0]
            reference = self.rng.choice(self.references)
            if step == "list":
                self.get(phase, "list", "/cases/")
            elif step == "case":
                self.get(phase, "case", f"/cases/{reference}")
            elif step == "health":
                self.get(phase, "health", "/health")
            elif step == "account":
                self.get(phase, "account", "/account/password")
            elif step == "edit":
                self.edit(phase, reference)
            else:
                self.upload(phase, reference)
            if think:
                phase.stop.wait(self.rng.expovariate(1 / think))

    def edit(self, phase: Phase, reference: str) -> None:
        page = self.get(phase, "edit_form", f"/cases/{reference}/edit")
        if page is None or page.status != 200:
            return
        form = form_posting_to(page.text, f"/cases/{reference}/edit")
        if form is None:
            self.ledger.add(Sample(phase.name, "edit", -1, 0.0, note="no edit form on the page"))
            return
        fields = dict(form.fields)
        fields["summary"] = f"Soak note {secrets.token_hex(6)}: called the officer, {self.email} ({phase.name})."
        answer = self.measure(phase, "edit", lambda: self.client.post(f"/cases/{reference}/edit", fields))
        self.saved(phase, "edit", reference, answer, "case.update")

    def upload(self, phase: Phase, reference: str) -> None:
        page = self.get(phase, "case", f"/cases/{reference}")
        if page is None or page.status != 200:
            return
        form = form_posting_to(page.text, f"/cases/{reference}/documents")
        if form is None:
            self.ledger.add(Sample(phase.name, "upload", -1, 0.0, note="no upload form on the case page"))
            return
        name, data, content_type = document(self.rng)
        fields = {"csrf_token": form.fields.get("csrf_token", ""), "kind": "correspondence"}
        answer = self.measure(
            phase,
            "upload",
            lambda: self.client.post(f"/cases/{reference}/documents", fields, {"file": (name, data, content_type)}),
        )
        self.saved(phase, "upload", reference, answer, "document.upload")

    def saved(self, phase: Phase, kind: str, reference: str, answer: Response | None, action: str) -> None:
        """A write succeeded when it redirects to the case page (and only then is it counted as audited)."""
        if answer is None:
            self.ledger.unknown_writes.append(f"{kind} {reference}: no answer")
        elif answer.status == 302 and answer.location.endswith(f"/cases/{reference}"):
            self.ledger.wrote(action, f"case:{reference}")
        elif answer.status == 302:
            self.ledger.add(Sample(phase.name, kind, -1, 0.0, answer.request_id, f"redirected to {answer.location}"))


_PDF: bytes | None = None


def document(rng: random.Random) -> tuple[str, bytes, str]:
    """A plain-text letter of 1 KB to 2 MB (log-uniform), or now and then a small real PDF."""
    global _PDF
    if rng.random() < 0.2:
        if _PDF is None:
            from pypdf import PdfWriter

            writer, out = PdfWriter(), io.BytesIO()
            writer.add_blank_page(width=612, height=792)
            writer.write(out)
            _PDF = out.getvalue()
        return "letter.pdf", _PDF, "application/pdf"
    size = int(2 ** rng.uniform(10, 21))
    line = b"Correspondence with the requesting agency about the scope of the request.\n"
    return "correspondence.txt", (line * (size // len(line) + 1))[:size], "text/plain"


# -- The producer and the bundle job -------------------------------------------------------------------------


@dataclass
class BundleRun:
    record_started: float = 0.0
    record_seconds: float = 0.0
    requested_at: float = 0.0
    finished_at: float = 0.0
    job: str = ""
    state: str = ""
    error: str = ""
    passphrase_shown: bool = False
    done: threading.Event = field(default_factory=threading.Event)


def produce(user: Staff, phase: Phase, env: dict[str, str], seeded: Seeded, record: Path, run: BundleRun) -> None:
    ledger, reference = user.ledger, seeded.approved
    subject = f"case:{reference}"
    try:
        started = run.record_started = time.perf_counter()
        added = flask(
            env,
            "production",
            "add",
            reference,
            str(record),
            "--target",
            seeded.approved_target,
            "--category",
            "stored_content",
            "--as",
            seeded.producer,
            check=False,
        )
        run.record_seconds = time.perf_counter() - started
        if added.returncode != 0:
            run.error = f"flask production add failed ({added.returncode}): {added.stdout}{added.stderr}"
            return
        # Adding the first record to an approved case moves it to producing.
        ledger.wrote("production.record_added", subject)
        ledger.wrote("case.transition", subject)

        page = user.get(phase, "production", f"/cases/{reference}/production")
        form = form_posting_to(page.text, f"/cases/{reference}/production/bundles") if page else None
        if form is None:
            run.error = "no build form on the production page"
            return
        fields = dict(form.fields)
        fields["passphrase_only"] = "y"  # noqa: S105 - a checkbox's value
        run.requested_at = time.perf_counter()
        answer = user.measure(
            phase, "bundle_request", lambda: user.client.post(f"/cases/{reference}/production/bundles", fields)
        )
        if answer is None or answer.status != 302 or "/jobs/" not in answer.location:
            run.error = f"the bundle was not queued: {answer.status if answer else 'no answer'}"
            if answer is None:
                ledger.unknown_writes.append("bundle request: no answer")
            return
        job_path = answer.location[answer.location.index("/jobs/") :]
        run.job = job_path.rsplit("/", 1)[-1]
        ledger.wrote("job.queued", f"job:{run.job}")
        user.get(phase, "job_page", job_path)
        while True:
            status = user.get(phase, "job_status", f"{job_path}/status")
            if status is not None and status.status == 200:
                state = json.loads(status.body)
                if state.get("finished"):
                    run.state, run.error = state["state"], state.get("error", "")
                    break
            time.sleep(1.0)
        run.finished_at = time.perf_counter()
        if run.state != "succeeded":
            return
        # The worker's part, one attempt: it claimed the job, recorded the build's start and the checkpoint it
        # carries, then the bundle and the job's outcome.
        for action, on in (
            ("job.started", f"job:{run.job}"),
            ("bundle.build_started", subject),
            ("audit.checkpoint", "audit"),
            ("bundle.built", subject),
            ("job.finished", f"job:{run.job}"),
        ):
            ledger.wrote(action, on)
        page = user.get(phase, "job_page", job_path)
        form = form_posting_to(page.text, f"{job_path}/secret") if page else None
        if form is None:
            run.error = "the job's page offers no passphrase"
            return
        shown = user.measure(phase, "secret", lambda: user.client.post(f"{job_path}/secret", form.fields))
        if shown is None:
            ledger.unknown_writes.append("passphrase: no answer")
        elif shown.status == 200:
            run.passphrase_shown = True
            ledger.wrote("job.secret_shown", f"job:{run.job}")
    except Exception as error:
        run.error = f"{type(error).__name__}: {error}"
    finally:
        run.done.set()


def drive(
    users: list[Staff],
    phase: Phase,
    seconds: float,
    think: float,
    until: threading.Event | None = None,
    alongside: threading.Thread | None = None,
) -> float:
    """Run every user (and `alongside`, once they are all going) until `seconds` have passed and `until` (if given)
    is set; return the phase's length."""
    threads = [threading.Thread(target=u.run, args=(phase, think), daemon=True) for u in users]
    started = phase.started = time.perf_counter()
    for thread in threads:
        thread.start()
    if alongside is not None:
        alongside.start()
    deadline = started + seconds
    while time.perf_counter() < deadline or (until is not None and not until.is_set()):
        time.sleep(0.2)
        if until is not None and time.perf_counter() > deadline + 1800:
            print("  the bundle job has not finished 30 minutes after the run's end; stopping", flush=True)
            break
    phase.stop.set()
    for thread in threads:
        thread.join(timeout=300)
    return time.perf_counter() - started


# -- Processes -----------------------------------------------------------------------------------------------


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = open(log.with_suffix(".out"), "wb")  # noqa: SIM115 - closed with the process
    err = open(log.with_suffix(".err"), "wb")  # noqa: SIM115
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True)


def stop(process: subprocess.Popen[bytes] | None, name: str, grace: float) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        print(f"  {name} (pid {process.pid}) did not stop in {grace:.0f} s; killing its process group", flush=True)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def wait_healthy(port: int, server: subprocess.Popen[bytes], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode} before answering")
        try:
            if Client(port, "10.77.255.1", timeout=5).get("/health").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("gunicorn did not answer /health in time")


def wait_for_idle_jobs(url: str, timeout: float = 120) -> None:
    """The worker queues its periodic reconciliation when it starts: let it finish before counting events."""
    engine = sa.create_engine(url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                busy = connection.execute(
                    sa.text("SELECT count(*) FROM job WHERE state IN ('queued', 'running') AND run_after <= now()")
                ).scalar_one()
            if not busy:
                return
            time.sleep(0.5)
        raise SystemExit("the worker's startup jobs did not finish")
    finally:
        engine.dispose()


# -- Results -------------------------------------------------------------------------------------------------


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def stats(samples: list[Sample]) -> dict[str, float]:
    times = sorted(s.seconds for s in samples if s.status > 0)
    if not times:
        return {"n": 0}
    return {
        "n": len(times),
        "p50_ms": statistics.median(times) * 1000,
        "p95_ms": percentile(times, 0.95) * 1000,
        "p99_ms": percentile(times, 0.99) * 1000,
        "max_ms": times[-1] * 1000,
    }


#: (ts, action, subject) of audit events, in order.
Appended = list[tuple[datetime, str, str]]


def audit_events(url: str, after: int) -> tuple[Counter, dict[str, str], int, Appended]:  # type: ignore[type-arg]
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT ts, action, subject FROM audit_event WHERE seq > :after ORDER BY seq"),
                {"after": after},
            ).all()
            kinds = dict(connection.execute(sa.text("SELECT public_id, kind FROM job")).all())
            size = connection.execute(sa.text("SELECT max(seq) FROM audit_event")).scalar_one()
    finally:
        engine.dispose()
    return Counter((a, s) for _, a, s in rows), kinds, int(size or 0), [(t, a, s) for t, a, s in rows]


def head_seq(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text("SELECT coalesce(max(seq), 0) FROM audit_event")).scalar_one())
    finally:
        engine.dispose()


def server_errors(log_dir: Path, request_ids: set[str]) -> list[str]:
    """The server's log lines at ERROR or above, and any naming one of the failed requests."""
    lines = []
    for path in sorted(log_dir.glob("*.err")) + sorted(log_dir.glob("*.out")):
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            level = entry.get("level", "") if isinstance(entry, dict) else ""
            if level in ("ERROR", "CRITICAL") or "Traceback" in line or any(rid and rid in line for rid in request_ids):
                lines.append(f"{path.name}: {line}")
    return lines


@dataclass
class Outcome:
    ledger: Ledger
    bundle: BundleRun
    verify: subprocess.CompletedProcess  # type: ignore[type-arg]
    reconcile: subprocess.CompletedProcess  # type: ignore[type-arg]
    events: Counter  # type: ignore[type-arg]
    job_kinds: dict[str, str]
    log_size: int
    start_seq: int
    probes: dict[str, float]
    baseline_seconds: float
    soak_seconds: float
    soak_started: float
    soak_wall: tuple[datetime, datetime]  # the run with the job, in UTC as the log's timestamps
    appended: Appended  # every event after start_seq
    workers: int
    threads: int


def soak(args: argparse.Namespace, work: Path) -> Outcome:
    instance, logs = work / "instance", work / "logs"
    logs.mkdir()
    url = recreate_database()
    port = free_port()
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    workers = args.workers or int(conf["workers"])
    threads = args.threads or int(conf["threads"])
    settings = {
        "FLASK_APP": "wsgi",
        "DISCLOSURE_INSTANCE_PATH": str(instance),
        "DISCLOSURE_DATABASE_URL": url,
        "DISCLOSURE_AUDIT_ORIGIN": "soak.example/disclosure-audit",
        "DISCLOSURE_BIND": f"127.0.0.1:{port}",
        "DISCLOSURE_WORKERS": str(workers),
        "DISCLOSURE_THREADS": str(threads),
    }
    # The production configuration: no development mode; the secret key and checkpoints in the instance folder.
    for name in ("DISCLOSURE_DEV", "DISCLOSURE_SECRET_KEY", "DISCLOSURE_CHECKPOINT_DIR", "DISCLOSURE_LOG_FORMAT"):
        os.environ.pop(name, None)
    os.environ.update(settings)  # this process's create_app (the seeding) reads them too
    env = dict(os.environ)

    print(f"== soak: {args.users} users, {args.cases} cases, {args.bundle_mb} MB bundle job; in {work}", flush=True)
    subprocess.run(
        [sys.executable, "-m", "disclosure.instance", "init", str(instance)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    (instance / "config.py").write_text(
        "# As behind the README's nginx: one proxy sets X-Forwarded-*.\nPROXY_FIX = 1\n"
    )
    flask(env, "db", "upgrade")
    flask(env, "keys", "init")
    started = time.perf_counter()
    seeded = seed(args.cases, args.users)
    print(
        f"  set up: migrations, keys, {args.users + 2} users and {args.cases + 1} cases in "
        f"{time.perf_counter() - started:.1f} s",
        flush=True,
    )
    record = work / "responsive-records.bin"
    started = time.perf_counter()
    write_record(record, args.bundle_mb)
    print(f"  wrote the {args.bundle_mb} MB production record in {time.perf_counter() - started:.1f} s", flush=True)

    ledger, bundle = Ledger(), BundleRun()
    server: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    try:
        worker = start([str(BIN / "flask"), "jobs", "worker"], env, logs / "worker")
        server = start([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"], env, logs / "gunicorn")
        wait_healthy(port, server)
        print(
            f"  gunicorn on 127.0.0.1:{port}: {workers} workers x {threads} threads (gthread), pid {server.pid}; "
            f"job worker pid {worker.pid}; {os.cpu_count()} CPUs",
            flush=True,
        )

        users = [
            Staff(i, port, email, seeded.password, ledger, seeded.references) for i, email in enumerate(seeded.intake)
        ]
        producer = Staff(len(users), port, seeded.producer, seeded.password, ledger, [])
        started = time.perf_counter()
        refused: list[str] = []

        def sign_in(user: Staff, totp_secret: str | None = None) -> None:
            try:
                user.sign_in(totp_secret)
            except BaseException as error:
                refused.append(str(error))

        signers = [threading.Thread(target=sign_in, args=(u,)) for u in users]
        signers.append(threading.Thread(target=sign_in, args=(producer, seeded.producer_totp)))
        for thread in signers:
            thread.start()
        for thread in signers:
            thread.join()
        if refused:
            raise SystemExit(f"{len(refused)} sign-in(s) failed; the first: {refused[0]}")
        print(f"  {len(signers)} users signed in in {time.perf_counter() - started:.1f} s", flush=True)
        wait_for_idle_jobs(url)
        start_seq = head_seq(url)

        think = args.think_ms / 1000
        print(f"== warm-up: {args.warmup:.0f} s (checked, not timed)", flush=True)
        drive(users, Phase("warmup"), args.warmup, think, None)
        probes = dict.fromkeys(PROBES, 0.0)
        print(
            f"== throughput probes: every user asks for one page only, {args.probe:.0f} s each, "
            f"{' / '.join(PROBES)} in turn, {args.probe_rounds} rounds",
            flush=True,
        )
        for _ in range(args.probe_rounds):  # in turn, so that a drift of the machine's load hits each alike
            for kind in PROBES:
                probes[kind] += drive(users, Phase(f"probe {kind}", only=kind), args.probe, think, None)
        print(f"== baseline: {args.baseline:.0f} s without the bundle job", flush=True)
        baseline_seconds = drive(users, Phase("baseline"), args.baseline, think, None)

        print(f"== with the job: {args.duration:.0f} s, and until the bundle job has finished", flush=True)
        phase = Phase("soak")
        producing = threading.Thread(target=produce, args=(producer, phase, env, seeded, record, bundle), daemon=True)
        soak_began = datetime.now(UTC).replace(tzinfo=None)
        soak_seconds = drive(users, phase, args.duration, think, until=bundle.done, alongside=producing)
        soak_wall = (soak_began, datetime.now(UTC).replace(tzinfo=None))
        producing.join(timeout=60)
        for user in [*users, producer]:
            user.client.close()
    finally:
        stop(server, "gunicorn", 45)
        stop(worker, "the job worker", 60)

    # Checked with nothing running, as an operator would after a crash or before a backup.
    verify = flask(env, "audit", "verify", check=False)
    reconcile = flask(env, "storage", "reconcile", "--dry-run", check=False)
    events, job_kinds, log_size, appended = audit_events(url, start_seq)
    return Outcome(
        ledger,
        bundle,
        verify,
        reconcile,
        events,
        job_kinds,
        log_size,
        start_seq,
        probes,
        baseline_seconds,
        soak_seconds,
        phase.started,
        soak_wall,
        appended,
        workers,
        threads,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration",
        type=float,
        default=float(os.environ.get("DISCLOSURE_SOAK_SECONDS", 60)),
        help="seconds of load with the bundle job (DISCLOSURE_SOAK_SECONDS)",
    )
    parser.add_argument("--baseline", type=float, default=20.0, help="seconds of load without it")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before the baseline, not timed")
    parser.add_argument("--probe", type=float, default=5.0, help="seconds of each single-page throughput probe")
    parser.add_argument("--probe-rounds", type=int, default=2, help="rounds of the three probes")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--bundle-mb", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=None, help="default: as gunicorn.conf.py derives it")
    parser.add_argument("--threads", type=int, default=None, help="default: as gunicorn.conf.py derives it")
    parser.add_argument("--think-ms", type=float, default=0.0, help="mean pause between a user's requests")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and the database")
    args = parser.parse_args()

    try:
        with sa.create_engine(server_url()).connect():
            pass
    except sa.exc.OperationalError as error:
        # As `make test`: without a PostgreSQL server the run is skipped, except in CI (CI=true), where it fails.
        print(f"(PostgreSQL does not answer at {sa.engine.make_url(server_url())!r}: the soak benchmark needs it)")
        print(json.dumps({"skipped": "PostgreSQL does not answer"}))
        if os.environ.get("CI") == "true":
            raise SystemExit(f"CI=true: PostgreSQL is required ({error.orig})") from error
        return

    work = Path(tempfile.mkdtemp(prefix="soak-bench-"))
    try:
        outcome = soak(args, work)
        passed = report(args, outcome, work / "logs")
    finally:
        if args.keep:
            print(f"kept {work} and the database {SOAK_DB}")
        else:
            shutil.rmtree(work, ignore_errors=True)
            try:
                recreate_database(drop_only=True)
            except Exception as error:
                print(f"  could not drop {SOAK_DB}: {error}", flush=True)
    if not passed:
        sys.exit(1)


def report(args: argparse.Namespace, outcome: Outcome, logs: Path) -> bool:
    """Print the figures and the four conditions, then the JSON line; True when every condition holds."""
    ledger, bundle, verify, reconcile = outcome.ledger, outcome.bundle, outcome.verify, outcome.reconcile
    events, job_kinds, log_size, start_seq = outcome.events, outcome.job_kinds, outcome.log_size, outcome.start_seq
    baseline_seconds, soak_seconds = outcome.baseline_seconds, outcome.soak_seconds
    workers, threads = outcome.workers, outcome.threads
    # The phases, and within the run with the job, the time the job was at work: `flask production add` encrypting
    # the record into the blob store, then the worker building the bundle.
    windows = {
        "job": (bundle.record_started, bundle.finished_at or time.perf_counter()),
        "adding": (bundle.record_started, bundle.record_started + bundle.record_seconds),
        "building": (bundle.requested_at, bundle.finished_at or time.perf_counter()),
    }
    by: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for sample in ledger.samples:
        by[(sample.phase, sample.kind)].append(sample)
        if sample.phase == "soak":
            for window, (begin, end) in windows.items():
                if begin <= sample.at <= end:
                    by[(window, sample.kind)].append(sample)
    table = {key: stats(samples) for key, samples in by.items()}
    lengths = {
        "baseline": baseline_seconds,
        "soak": soak_seconds,
        **{window: max(end - begin, 1e-9) for window, (begin, end) in windows.items()},
    }

    print()
    print(
        "baseline: without the job; soak: the whole run with it; job: while the record was added and the bundle built"
    )
    print(f"{'phase':<9}{'request':<15}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}{'req/s':>9}")
    for phase in ("baseline", "soak", "job"):
        length = lengths[phase]
        for kind in KIND_ORDER:
            row = table.get((phase, kind))
            if not row or not row["n"]:
                continue
            print(
                f"{phase:<9}{kind:<15}{row['n']:>7}{row['p50_ms']:>9.1f}{row['p95_ms']:>9.1f}{row['p99_ms']:>9.1f}"
                f"{row['max_ms']:>9.0f}{row['n'] / length:>9.1f}"
            )
        total = sum(len(by[(phase, k)]) for k in KIND_ORDER)
        print(f"{phase:<9}{'all':<15}{total:>7}   in {length:.1f} s: {total / length:.1f} requests/s")
    print("(req/s: answered per second of the phase, all users together)")

    # When, in the run with the job, the time went: 5-second slots by when each request was sent.
    slot = 5.0
    marks = [
        (bundle.record_started, "`flask production add` starts"),
        (bundle.record_started + bundle.record_seconds, "the record is added"),
        (bundle.requested_at, "the bundle is asked for"),
        (bundle.finished_at, "the job has finished"),
    ]
    slots: dict[int, list[Sample]] = defaultdict(list)
    for sample in ledger.samples:
        if sample.phase == "soak" and sample.status > 0:
            slots[int((sample.at - outcome.soak_started) // slot)].append(sample)
    print()
    print(f"the run with the job, by {slot:.0f} s slot, as sent (latencies in ms):")
    print(f"  {'slot':<13}{'answers':>8}{'list p95':>10}{'write p95':>10}{'max':>8}")
    for index in sorted(slots):
        samples = slots[index]
        lists = sorted(s.seconds for s in samples if s.kind == "list")
        writes = sorted(s.seconds for s in samples if s.kind in ("edit", "upload"))
        begin = outcome.soak_started + index * slot
        happened = [text for at, text in marks if at and begin <= at < begin + slot]
        print(
            f"  {index * slot:4.0f}-{(index + 1) * slot:<4.0f} s  {len(samples):>8}"
            f"{percentile(lists, 0.95) * 1000 if lists else 0:>10.0f}"
            f"{percentile(writes, 0.95) * 1000 if writes else 0:>10.0f}"
            f"{max(s.seconds for s in samples) * 1000:>8.0f}  {'; '.join(happened)}"
        )

    # 1. 5xx, no answer, unexpected answers.
    failed = [s for s in ledger.samples if s.status >= 500]
    unanswered = [s for s in ledger.samples if s.status == 0]
    unexpected = [
        s for s in ledger.samples if s.status < 0 or (0 < s.status < 500 and s.status not in EXPECTED[s.kind])
    ]
    conflicts = sum(1 for s in ledger.samples if s.kind == "edit" and s.status == 409)
    print()
    five_xx = Counter((s.kind, s.status) for s in failed)
    print(f"5xx answers: {len(failed)}" + (f"  {dict(five_xx)}" if failed else ""))
    print(
        f"no answer (transport errors): {len(unanswered)}; GETs sent again after an idle connection closed: "
        f"{ledger.retries}"
    )
    print(f"other unexpected answers: {len(unexpected)}; edit conflicts (409, expected): {conflicts}")
    server_log = "".join(path.read_text(errors="replace") for path in sorted(logs.glob("gunicorn.*")))
    restarts = server_log.count("Autorestarting worker")
    print(f"gunicorn workers replaced after max_requests during the whole run: {restarts}")
    for sample in (failed + unanswered + unexpected)[:15]:
        print(f"  {sample.phase} {sample.kind} {sample.status} request={sample.request_id} {sample.note[:240]}")
    lines = server_errors(logs, {s.request_id for s in failed})
    print(f"error lines in the server's and the worker's logs: {len(lines)}")
    for line in lines[:40]:
        print("   ", line[:2000])
    requests_ok = not failed and not unanswered and not unexpected

    # 2. The log: intact, and its events are the writes the clients saw succeed (and the worker's own jobs).
    verify_line = (verify.stdout.strip() or verify.stderr.strip()).splitlines()
    print()
    print(f"flask audit verify: exit {verify.returncode}: {verify_line[-1] if verify_line else ''}")
    system = Counter(
        {
            key: n
            for key, n in events.items()
            if key[1] and key[1].startswith("job:") and key[1][4:] != bundle.job and key[1][4:] in job_kinds
        }
    )
    client_events = events - system
    missing = ledger.writes - client_events
    extra = client_events - ledger.writes
    print(f"audit events after seq {start_seq}: {sum(events.values())} (log size now {log_size})")
    by_action_written: Counter = Counter()  # type: ignore[type-arg]
    by_action_logged: Counter = Counter()  # type: ignore[type-arg]
    for (action, _), n in ledger.writes.items():
        by_action_written[action] += n
    for (action, _), n in client_events.items():
        by_action_logged[action] += n
    for action in sorted(set(by_action_written) | set(by_action_logged)):
        mark = "" if by_action_written[action] == by_action_logged[action] else "   <-- differs"
        written, logged = by_action_written[action], by_action_logged[action]
        print(f"  {action:<26} writes that succeeded {written:>5}   events {logged:>5}{mark}")
    if system:
        kinds = Counter(job_kinds[s[4:]] for (_, s) in system)
        print(f"  the worker's own periodic jobs: {sum(system.values())} events ({dict(kinds)})")
    for (action, subject), n in list(missing.items())[:10]:
        print(f"  MISSING from the log: {n} x {action} {subject}")
    for (action, subject), n in list(extra.items())[:10]:
        print(f"  in the log but not seen to succeed: {n} x {action} {subject}")
    if ledger.unknown_writes:
        print(f"  writes whose outcome is unknown (no answer): {ledger.unknown_writes[:10]}")
    audited_writes = sum(ledger.writes.values())
    audit_ok = verify.returncode == 0 and not missing and not extra

    # Audited writes commit one at a time under the log's head-row lock; with writers always waiting, a long
    # pause between two events is a pause of every audited write: who held the lock shows in the event after it.
    begin, end = outcome.soak_wall
    during = [(ts, action, subject) for ts, action, subject in outcome.appended if begin <= ts <= end]
    pauses = sorted(((b[0] - a[0]).total_seconds(), a, b) for a, b in itertools.pairwise(during))[::-1][:3]
    print("longest pauses between two audit events in the run with the job (every audited write waited):")
    for seconds, before, after in pauses:
        print(
            f"  {seconds:5.2f} s  from {before[0]:%H:%M:%S}.{before[0].microsecond // 1000:03d} ({before[1]}) "
            f"to {after[0]:%H:%M:%S}.{after[0].microsecond // 1000:03d} ({after[1]} {after[2]})"
        )
    longest_pause = pauses[0][0] if pauses else 0.0

    # 3. Files follow the database.
    reconcile_text = (reconcile.stdout + reconcile.stderr).strip()
    print()
    print(f"flask storage reconcile --dry-run: exit {reconcile.returncode}")
    for line in reconcile_text.splitlines()[:15]:
        print(f"  {line}")
    reconcile_ok = reconcile.returncode == 0

    # 4. The list while the job was at work against without it (the whole run's p95 is printed too).
    base, loaded = table.get(("baseline", "list"), {"n": 0}), table.get(("job", "list"), {"n": 0})
    whole = table.get(("soak", "list"), {"n": 0})
    list_ratio = loaded["p95_ms"] / base["p95_ms"] if base["n"] and loaded["n"] else float("inf")
    p95_ok = list_ratio <= LIST_P95_FACTOR

    bundle_seconds = bundle.finished_at - bundle.requested_at if bundle.finished_at else 0.0
    bundle_mb_s = args.bundle_mb / bundle_seconds if bundle_seconds else 0.0
    bundle_ok = bundle.state == "succeeded" and bundle.passphrase_shown and not bundle.error
    print()
    print(
        f"bundle job: the {args.bundle_mb} MB record added by `flask production add` in {bundle.record_seconds:.1f} s "
        f"({args.bundle_mb / max(bundle.record_seconds, 1e-9):.0f} MB/s, the command's start included); "
        f"job {bundle.job} {bundle.state or 'not run'} {bundle_seconds:.1f} s after it was asked for "
        f"({bundle_mb_s:.0f} MB/s, "
        f"{bundle_mb_s / DESIGN_BUNDLE_MB_S:.2f}x DESIGN's {DESIGN_BUNDLE_MB_S:.0f} MB/s, which is measured with "
        f"nothing else running); passphrase shown: {'yes' if bundle.passphrase_shown else 'no'}"
        + (f"; error: {bundle.error}" if bundle.error else "")
    )

    print()
    # Throughput: each page alone, every user asking for it with no pause, answers per second.
    rate = {kind: len(by[(f"probe {kind}", kind)]) / outcome.probes[kind] for kind in PROBES}
    print(
        f"throughput, {args.users} users asking for one page only ({args.probe_rounds} x {args.probe:.0f} s each, "
        "no bundle job):"
    )
    for kind in PROBES:
        row = table.get((f"probe {kind}", kind), {"n": 0})
        if row["n"]:
            print(
                f"  {kind:<8} {rate[kind]:7.1f} requests/s   p50 {row['p50_ms']:6.1f} ms   p95 {row['p95_ms']:6.1f} ms"
                f"   p99 {row['p99_ms']:6.1f} ms"
            )
    to_health = rate["list"] / rate["health"] if rate["health"] else 0.0
    to_account = rate["list"] / rate["account"] if rate["account"] else 0.0
    print(
        f"  case list / /health: {to_health:.2f}x;  case list / account page: {to_account:.2f}x "
        f"(DESIGN's anchor, the lightest signed-in page: budget >= {DESIGN_LIST_RATIO}x)"
    )
    print()
    checks = {
        "no 5xx": requests_ok,
        "log intact, events = successful writes": audit_ok,
        "reconcile finds nothing": reconcile_ok,
        f"list p95 with the job <= {LIST_P95_FACTOR:.0f}x baseline": p95_ok,
    }
    parts = {w: table.get((w, "list"), {"n": 0}) for w in ("adding", "building")}
    print(
        f"list p95: baseline {base.get('p95_ms', 0):.1f} ms; while the job was at work "
        f"{loaded.get('p95_ms', 0):.1f} ms "
        f"({list_ratio:.2f}x, limit {LIST_P95_FACTOR:.0f}x): adding the record "
        f"{parts['adding'].get('p95_ms', 0):.1f} ms ({parts['adding']['n']} requests), building the bundle "
        f"{parts['building'].get('p95_ms', 0):.1f} ms ({parts['building']['n']}); the whole run with the job "
        f"{whole.get('p95_ms', 0):.1f} ms"
    )
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    if not bundle_ok:
        print("  FAIL  the bundle job succeeded and its passphrase was shown")

    def figures(phase: str) -> dict[str, Any]:
        return {
            kind: {k: round(v, 1) for k, v in row.items()}
            for (p, kind), row in sorted(table.items())
            if p == phase and row["n"]
        }

    print(
        json.dumps(
            {
                "passed": all(checks.values()) and bundle_ok,
                "users": args.users,
                "cases": args.cases,
                "workers": workers,
                "threads": threads,
                "baseline_s": round(baseline_seconds, 1),
                "soak_s": round(soak_seconds, 1),
                "requests": len(ledger.samples),
                "five_xx": len(failed),
                "no_answer": len(unanswered),
                "unexpected": len(unexpected),
                "edit_conflicts": conflicts,
                "worker_restarts": restarts,
                "audit_verify_exit": verify.returncode,
                "audited_writes": audited_writes,
                "audit_events_for_writes": sum(client_events.values()),
                "audit_events_system": sum(system.values()),
                "reconcile_exit": reconcile.returncode,
                "list_p95_baseline_ms": round(base.get("p95_ms", 0), 1),
                "list_p95_job_ms": round(loaded.get("p95_ms", 0), 1),
                "list_p95_ratio": round(list_ratio, 2),
                "list_p95_adding_ms": round(parts["adding"].get("p95_ms", 0), 1),
                "list_p95_building_ms": round(parts["building"].get("p95_ms", 0), 1),
                "list_p95_soak_ms": round(whole.get("p95_ms", 0), 1),
                "list_rps": round(rate["list"], 1),
                "health_rps": round(rate["health"], 1),
                "account_rps": round(rate["account"], 1),
                "list_to_health": round(to_health, 3),
                "list_to_account": round(to_account, 3),
                "bundle_mb": args.bundle_mb,
                "bundle_state": bundle.state,
                "bundle_s": round(bundle_seconds, 1),
                "bundle_mb_per_s": round(bundle_mb_s, 1),
                "record_add_s": round(bundle.record_seconds, 1),
                "longest_audit_pause_s": round(longest_pause, 2),
                "baseline": figures("baseline"),
                "soak": figures("soak"),
                "job": figures("job"),
            }
        )
    )
    return all(checks.values()) and bundle_ok


if __name__ == "__main__":
    main()
