"""Browser tests: Debian's Chromium, driven by Python Playwright, against the app on a real server and a real
database.

One werkzeug server listens on 127.0.0.1 for the whole session; each test installs a fresh app behind it (its
own instance folder, SQLite file, keys and audit log), so references start at DR-<year>-00001 and each test's
audit log is whole. Development mode lets the session cookie work over plain http://127.0.0.1.

Every page records console errors (CSP violations arrive as these), uncaught page errors and 5xx responses; a
test with any of them fails. A test that provokes one (a refused frame) says so with
`browser_problems.expect(...)`, and then fails if it did not come.

Without /usr/bin/chromium the tests are skipped, except under CI=true, where they fail.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from flask import Flask
from werkzeug.serving import make_server

from disclosure import create_app
from disclosure.extensions import db
from tests.conftest import IN_CI, base_settings

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).parent / "e2e" / "screenshots"
TIMEOUT_MS = 10_000


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true: the browser tests cannot be skipped: {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


# --- the server -------------------------------------------------------------------------------------------


FRAMER_PATH = "/__e2e__/framer"


class SwitchableApp:
    """The WSGI app the session's server calls: whichever app the current test installed.

    It also answers FRAMER_PATH itself (the app never sees it): a page that puts `?src=` in an iframe,
    standing in for another site's page when the browser reaches this server as http://localhost.
    """

    def __init__(self) -> None:
        self.app: Flask | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == FRAMER_PATH:
            src = html.escape(parse_qs(environ.get("QUERY_STRING", "")).get("src", [""])[0], quote=True)
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [
                f'<!doctype html><title>Another site</title><link rel="icon" href="data:,">'
                f'<iframe src="{src}"></iframe>'.encode()
            ]
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"no app installed for this test"]
        return self.app(environ, start_response)


@dataclass
class LiveServer:
    url: str
    wsgi: SwitchableApp


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    wsgi = SwitchableApp()
    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", wsgi)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def e2e_schema(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file with the schema, built once; each test starts from a copy."""
    path = tmp_path_factory.mktemp("e2e-template") / "template.db"
    folder = tmp_path_factory.mktemp("e2e-template-instance")
    application = create_app(base_settings(folder, f"sqlite:///{path}"))
    with application.app_context():
        db.create_all()
        db.engine.dispose()
    return path


@pytest.fixture
def live_app(live_server: LiveServer, e2e_schema: Path, tmp_path: Path) -> Iterator[Flask]:
    """A fresh app (instance folder, database, keys) served at live_server.url for this test."""
    instance = tmp_path / "instance"
    for name in ("keys", "blobs", "checkpoints"):
        (instance / name).mkdir(parents=True, mode=0o700)
    database = tmp_path / "disclosure.db"
    shutil.copyfile(e2e_schema, database)
    application = create_app({**base_settings(instance, f"sqlite:///{database}"), "DEV_MODE": True})
    with application.app_context():
        from disclosure.exports.pki import init_pki
        from disclosure.keyring import init_log_key
        from disclosure.storage.keys import keyring_for_config

        init_log_key()
        keyring_for_config(application.config).init()
        init_pki(instance / "keys" / "pki", "Disclosure Test Provider")
    live_server.wsgi.app = application
    stop = threading.Event()
    worker = threading.Thread(target=_run_worker, args=(application, stop), name="e2e-job-worker", daemon=True)
    worker.start()
    yield application
    stop.set()
    worker.join(timeout=30)
    live_server.wsgi.app = None
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def _run_worker(application: Flask, stop: threading.Event) -> None:
    """The job worker beside the server, as `flask jobs worker` runs beside gunicorn."""
    from disclosure.jobs import worker

    with application.app_context():
        worker.work("e2e-worker", poll=0.2, heartbeat_every=0.5, periodic=False, should_stop=stop.is_set)
        db.session.remove()


# --- the browser ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing; install Debian's chromium: apt-get install -y chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Python playwright is missing: pip install -e '.[dev]' (never `playwright install`)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def browser_with_back_forward_cache(browser: Any) -> Iterator[Any]:
    """Chromium as people run it. Playwright turns the back/forward cache off by default, and without it the
    Back button always asks the server again, so a test could never see a page the cache kept."""
    chromium = browser.browser_type.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=LAUNCH_ARGS,
        ignore_default_args=["--disable-back-forward-cache"],
    )
    try:
        yield chromium
    finally:
        chromium.close()


@dataclass
class BrowserProblems:
    """Console errors, uncaught page errors and 5xx responses seen by this test's pages."""

    seen: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)
    reported: set[str] = field(default_factory=set)

    def expect(self, pattern: str) -> None:
        """This test provokes a console error matching `pattern` (e.g. a refused frame); it must come."""
        self.expected.append(re.compile(pattern))

    def add(self, problem: str) -> None:
        self.seen.append(problem)

    def check(self) -> None:
        """Fail (once per problem) on anything unexpected, and on an expected error that never came."""
        unexpected = [p for p in self.seen if not any(pattern.search(p) for pattern in self.expected)]
        missing = [
            f"never came: {pattern.pattern}"
            for pattern in self.expected
            if not any(pattern.search(p) for p in self.seen)
        ]
        new = [p for p in unexpected + missing if p not in self.reported]
        self.reported.update(new)
        if new:
            pytest.fail("the browser reported problems:\n  " + "\n  ".join(new), pytrace=False)


@pytest.fixture
def browser_problems() -> BrowserProblems:
    return BrowserProblems()


def new_context(browser: Any, live_server: LiveServer) -> Any:
    # en-US and UTC fix how date inputs take typed digits (month, day, year) and how times read.
    ctx = browser.new_context(
        accept_downloads=True,
        base_url=live_server.url,
        locale="en-US",
        timezone_id="UTC",
        viewport={"width": 1280, "height": 900},
    )
    ctx.set_default_timeout(TIMEOUT_MS)
    return ctx


@pytest.fixture
def context(browser: Any, live_server: LiveServer, live_app: Flask) -> Iterator[Any]:
    ctx = new_context(browser, live_server)
    yield ctx
    ctx.close()


# Known app bugs the pages may show, each pinned by a strict xfail test that fails once the bug is fixed
# (then delete the entry here and the xfail marker there). Each pattern matches a problem as `watch` words it:
# "console error on <page>: <text> [<source>]".
KNOWN_APP_BUGS: list[re.Pattern[str]] = []


def watch(page: Any, problems: BrowserProblems, tolerate: list[re.Pattern[str]] | None = None) -> Any:
    """Record this page's console errors, uncaught errors and server errors in `problems` (all but the
    `tolerate`d ones; by default KNOWN_APP_BUGS)."""
    tolerated = KNOWN_APP_BUGS if tolerate is None else tolerate

    def on_console(message: Any) -> None:
        if message.type != "error":
            return
        source = (message.location or {}).get("url") or ""
        problem = f"console error on {page.url}: {message.text} [{source}]"
        if not any(pattern.search(problem) for pattern in tolerated):
            problems.add(problem)

    def on_page_error(error: Any) -> None:
        problems.add(f"page error on {page.url}: {error}")

    def on_response(response: Any) -> None:
        if response.status >= 500:
            problems.add(f"HTTP {response.status} for {response.request.method} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    page.on("response", on_response)
    return page


@pytest.fixture
def page(context: Any, browser_problems: BrowserProblems) -> Iterator[Any]:
    yield watch(context.new_page(), browser_problems)
    browser_problems.check()


@pytest.fixture
def page_with_back_forward_cache(
    browser_with_back_forward_cache: Any, live_server: LiveServer, live_app: Flask, browser_problems: BrowserProblems
) -> Iterator[Any]:
    ctx = new_context(browser_with_back_forward_cache, live_server)
    yield watch(ctx.new_page(), browser_problems)
    ctx.close()
    browser_problems.check()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail the test itself (not only its teardown) when its pages reported a problem."""
    result = yield
    problems = getattr(item, "funcargs", {}).get("browser_problems")
    if isinstance(problems, BrowserProblems):
        problems.check()
    return result


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's tour images: refreshed only with DISCLOSURE_SCREENSHOTS=1, so a test run leaves the tree clean."""
    if os.environ.get("DISCLOSURE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")
