"""Structured logs: one JSON object per line, carrying the correlation id the response shows, and no password, password
hash or query string in any line, even with SQL logging switched on."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from disclosure import create_app, logging_setup
from disclosure.auth.models import User
from disclosure.config import ConfigError
from disclosure.extensions import db
from tests.conftest import HttpsClient, base_settings, csrf_from, sign_in
from tests.factories import make_user


@pytest.fixture
def json_app(instance: Path, database_url: str) -> Iterator[Flask]:
    """The test app, logging as in production."""
    from disclosure.keyring import init_log_key
    from disclosure.storage.keys import keyring_for_config

    application = create_app({**base_settings(instance, database_url), "LOG_FORMAT": "json"})
    application.test_client_class = HttpsClient
    with application.app_context():
        init_log_key()
        keyring_for_config(application.config).init()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def capture() -> tuple[logging.Handler, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging_setup.DisclosureFormatter())
    return handler, out


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the app's handler writes (DisclosureFormatter), at the levels the app keeps."""
    handler, out = capture()
    logging.getLogger().addHandler(handler)
    try:
        yield out
    finally:
        logging.getLogger().removeHandler(handler)


@pytest.fixture
def every_log_line() -> Iterator[io.StringIO]:
    """Every record of every logger, down to DEBUG, as the app formats it, with SQL statement logging switched on
    (as someone chasing a problem would)."""
    handler, out = capture()
    root, sql = logging.getLogger(), logging.getLogger("sqlalchemy.engine")
    levels = root.level, sql.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    sql.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(levels[0])
        sql.setLevel(levels[1])


@pytest.fixture
def outside_tests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, object]]:
    """Settings for an app that is not under test (TESTING unset), and the root logger's handlers put back after."""
    monkeypatch.delenv("DISCLOSURE_LOG_FORMAT", raising=False)
    before = list(logging.getLogger().handlers)
    yield {
        "INSTANCE_PATH": str(tmp_path),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}",
        "SECRET_KEY": "k" * 40,
    }
    for handler in logging.getLogger().handlers:
        if handler not in before:
            logging.getLogger().removeHandler(handler)


def json_lines(text: str) -> list[dict[str, object]]:
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def test_an_error_is_one_json_line_with_the_correlation_id_the_page_shows(json_app, log_lines):
    from disclosure.auth.access import requires
    from disclosure.permissions import Permission

    @requires(Permission.ACCOUNT_SELF)
    def explode():
        raise RuntimeError("line one\nline two")

    json_app.add_url_rule("/explode", "explode", explode)
    client = json_app.test_client()
    with json_app.app_context():
        user = make_user("intake")
    sign_in(client, user.email, user.password)
    response = client.get("/explode?token=s3cr3t-in-the-query")
    assert response.status_code == 500
    reference = response.headers["X-Request-Id"]
    assert f'<span class="mono">{reference}</span>' in response.get_data(as_text=True)

    entries = json_lines(log_lines.getvalue())  # every line a JSON object
    errors = [entry for entry in entries if entry["level"] == "ERROR"]
    assert len(errors) == 1
    entry = errors[0]
    assert entry["correlation_id"] == reference
    assert entry["logger"] == "disclosure.app" and "GET /explode" in entry["message"]
    assert {"time", "level", "logger", "message", "correlation_id", "exception"} <= set(entry)
    assert entry["time"].endswith("Z")
    assert "RuntimeError: line one\nline two" in entry["exception"]  # one line on disk: JSON escapes the break
    assert "s3cr3t-in-the-query" not in json.dumps(entries)


def test_a_record_outside_a_request_has_no_correlation_id(json_app, log_lines):
    with json_app.app_context():
        logging.getLogger("disclosure.test").warning("checkpoint %s is late", "x\r\ny")
    (entry,) = json_lines(log_lines.getvalue())
    assert entry["message"] == "checkpoint x\r\ny is late" and "correlation_id" not in entry


def test_no_line_holds_a_password_its_hash_or_a_query_string(json_app, every_log_line):
    client = json_app.test_client()
    password, wrong, new_password = "Amber kettle 4 quarry", "Violet harbour 9 lantern", "Copper meadow 7 ribbon"
    with json_app.app_context():
        user = make_user("intake", password=password)
        old_hash = db.session.get(User, user.id).password_hash

    token = csrf_from(client.get("/sign-in").get_data(as_text=True))
    refused = client.post(
        f"/sign-in?password={wrong}", data={"email": user.email, "password": wrong, "csrf_token": token}
    )
    assert refused.status_code == 200 and "/" not in (refused.location or "")
    assert sign_in(client, user.email, password).status_code == 302
    token = csrf_from(client.get("/account/password").get_data(as_text=True))
    changed = client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": password,
            "new_password": new_password,
            "confirm": new_password,
        },
    )
    assert changed.status_code == 302
    with json_app.app_context():
        new_hash = db.session.get(User, user.id).password_hash
    assert new_hash != old_hash

    text = every_log_line.getvalue()
    entries = json_lines(text)
    assert any(entry["logger"].startswith("sqlalchemy.engine") for entry in entries), "SQL logging was on"
    assert any(entry["message"].startswith("UPDATE") for entry in entries)
    for secret in (password, wrong, new_password, old_hash, new_hash, f"password={wrong}"):
        assert secret not in text
        assert json.dumps(secret)[1:-1] not in text


def test_log_format_defaults_to_json_outside_development_and_tests(outside_tests, monkeypatch):
    assert create_app(outside_tests).config["LOG_FORMAT"] == "json"
    assert logging_setup.current_format() == "json"
    assert create_app({**outside_tests, "DEV_MODE": True}).config["LOG_FORMAT"] == "text"
    assert create_app({**outside_tests, "TESTING": True}).config["LOG_FORMAT"] == "text"
    monkeypatch.setenv("DISCLOSURE_LOG_FORMAT", "TEXT")
    assert create_app(outside_tests).config["LOG_FORMAT"] == "text"
    monkeypatch.setenv("DISCLOSURE_LOG_FORMAT", "xml")
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        create_app(outside_tests)


def test_outside_tests_the_app_writes_each_record_once_to_stderr(outside_tests, capsys):
    create_app(outside_tests)
    app = create_app(outside_tests)  # a second app in the process adds no second handler
    ours = [h for h in logging.getLogger().handlers if isinstance(h.formatter, logging_setup.DisclosureFormatter)]
    assert len(ours) == 1 and isinstance(ours[0], logging_setup.StderrHandler)
    capsys.readouterr()
    with app.test_request_context("/cases?q=x"):
        from flask import g

        g.request_id = "0123456789abcdef"
        app.logger.info("case list asked for")
    (entry,) = json_lines(capsys.readouterr().err)
    assert entry["logger"] == "disclosure.app" and entry["level"] == "INFO"
    assert entry["message"] == "case list asked for" and entry["correlation_id"] == "0123456789abcdef"


def test_text_lines_carry_the_correlation_id_and_stay_one_line(app, log_lines):
    assert logging_setup.current_format() == "text"
    with app.test_request_context("/"):
        from flask import g

        g.request_id = "fedcba9876543210"
        app.logger.warning("user %s", "eve\r\n2026 INFO admin signed in")
    (line,) = log_lines.getvalue().splitlines()
    assert line.endswith("user eve\\r\\n2026 INFO admin signed in [request fedcba9876543210]")
