"""The production server as `make serve` runs it: gunicorn with gunicorn.conf.py (preloaded app, gthread workers),
spoken to over real HTTP on 127.0.0.1. Its logs are JSON lines carrying each response's correlation id and never a
query string or a password; on PostgreSQL, every server connection terminated under it costs no request."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from tests.factories import make_user

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Browser:
    """Just enough of a browser: a cookie jar (it sends __Host- cookies over plain HTTP to 127.0.0.1) and forms."""

    port: int
    cookies: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body, headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
            for cookie in response.headers.get_all("Set-Cookie") or []:
                name, _, rest = cookie.partition("=")
                value = rest.split(";", 1)[0]
                if value and "Expires=Thu, 01 Jan 1970" not in cookie and "Max-Age=0" not in cookie:
                    self.cookies[name] = value
                else:
                    self.cookies.pop(name, None)
            return response.status, dict(response.headers.items()), text
        finally:
            connection.close()

    def csrf(self, path: str) -> str:
        status, _, page = self.request("GET", path)
        assert status == 200, (path, status)
        match = CSRF.search(page)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def sign_in(self, email: str, password: str, query: str = "") -> int:
        token = self.csrf("/sign-in")
        status, _, _ = self.request(
            "POST", f"/sign-in{query}", {"email": email, "password": password, "csrf_token": token}
        )
        return status


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    stdout: Path
    stderr: Path

    def stop(self) -> tuple[str, str]:
        """Stop gracefully (as systemd does, SIGTERM) and return what it wrote to stdout and stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.stdout.read_text(encoding="utf-8"), self.stderr.read_text(encoding="utf-8")


@pytest.fixture
def server(app, instance: Path, database_url: str, tmp_path: Path) -> Iterator[Server]:
    """gunicorn on the test's instance folder and database (the `app` fixture made its schema and keys)."""
    port = free_port()
    environment = {name: value for name, value in os.environ.items() if not name.startswith("DISCLOSURE_")}
    environment.update(
        DISCLOSURE_INSTANCE_PATH=str(instance),
        DISCLOSURE_DATABASE_URL=database_url,
        DISCLOSURE_SECRET_KEY=app.config["SECRET_KEY"],
        DISCLOSURE_BIND=f"127.0.0.1:{port}",
        DISCLOSURE_WORKERS="2",
        DISCLOSURE_THREADS="2",
    )
    stdout, stderr = tmp_path / "gunicorn.out", tmp_path / "gunicorn.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", str(ROOT / "gunicorn.conf.py"), "wsgi:app"],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
    running = Server(process, port, stdout, stderr)
    deadline = time.monotonic() + 60
    try:
        while True:
            assert process.poll() is None, f"gunicorn exited: {stderr.read_text(encoding='utf-8')[-2000:]}"
            try:
                if Browser(port).request("GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not answer within 60 s"
            time.sleep(0.1)
        yield running
    finally:
        running.stop()


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.backends("sqlite")
def test_gunicorn_logs_json_lines_with_the_correlation_id_and_no_query_or_password(app, server, backend):
    with app.app_context():
        user = make_user("intake")
    browser = Browser(server.port)
    status, headers, _ = browser.request("GET", "/health?probe=query-marker-1")
    assert status == 200
    health_id = headers["X-Request-Id"]
    status, _, body = browser.request("GET", "/ready")
    assert status == 200 and json.loads(body)["status"] == "ok"
    wrong = "Wrong-violet-harbour-9"
    assert browser.sign_in(user.email, wrong, query=f"?next=/&password={wrong}") == 200
    assert browser.sign_in(user.email, user.password) == 302
    assert browser.request("GET", "/")[0] == 200

    stdout, stderr = server.stop()
    access, errors = json_lines(stdout), json_lines(stderr)  # every line of both parses as one JSON object
    assert any(entry["logger"] == "gunicorn.error" and "Booting worker" in str(entry["message"]) for entry in errors)
    (health,) = [entry for entry in access if entry.get("correlation_id") == health_id]
    assert health["path"] == "/health"
    assert health["logger"] == "gunicorn.access" and health["method"] == "GET" and health["status"] == "200"
    assert {"time", "level", "message", "duration_ms", "remote_addr"} <= set(health)
    assert len({entry["correlation_id"] for entry in access}) == len(access), "each request has its own id"
    for secret in ("query-marker-1", "probe=", wrong, user.password, "next="):
        assert secret not in stdout and secret not in stderr


@pytest.mark.backends("postgresql")
def test_under_gunicorn_connections_terminated_between_requests_cost_no_request(app, server, backend, database_url):
    with app.app_context():
        user = make_user("intake")
    browser = Browser(server.port)
    assert browser.sign_in(user.email, user.password) == 302
    for _ in range(8):  # both workers' pools hold connections now
        assert browser.request("GET", "/")[0] == 200
    admin = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        statuses = []
        for _ in range(3):
            with admin.connect() as connection:
                killed = connection.execute(
                    sa.text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            assert killed >= 1
            statuses += [browser.request("GET", "/")[0] for _ in range(6)]
            statuses.append(browser.request("GET", "/ready")[0])
        token = browser.csrf("/account/password")
        with admin.connect() as connection:
            connection.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        statuses.append(browser.request("POST", "/sign-out", {"csrf_token": token})[0])  # an audited write
    finally:
        admin.dispose()
    assert statuses == [200] * 21 + [302]
    _, stderr = server.stop()
    assert not [entry for entry in json_lines(stderr) if entry["level"] == "ERROR"]
