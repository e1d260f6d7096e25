"""Security headers on every kind of response, and error pages that show a reference but never a traceback."""

from __future__ import annotations

import re

import pytest

from tests.conftest import csrf_from

EXPECTED = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
        "form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}


def assert_security_headers(response, *, cacheable: bool = False) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, name
    if not cacheable:
        assert response.headers.get("Cache-Control") == "no-store"
    assert "werkzeug" not in response.headers.get("Server", "").lower()
    assert not re.search(r"\d+\.\d+", response.headers.get("Server", ""))


@pytest.fixture
def failing_app(app):
    from disclosure.auth.access import requires
    from disclosure.permissions import Permission

    @requires(Permission.ACCOUNT_SELF)
    def explode():
        raise RuntimeError("secret internals: /etc/disclosure password=hunter2")

    app.add_url_rule("/explode", "explode", explode)
    return app


def test_header_snapshot_on_200_403_404_500_and_static(failing_app, client, login_as):
    login_as("intake")
    ok = client.get("/")
    assert ok.status_code == 200
    assert_security_headers(ok)
    forbidden = client.get("/admin/users")
    assert forbidden.status_code == 403
    assert_security_headers(forbidden)
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert_security_headers(missing)
    broken = client.get("/explode")
    assert broken.status_code == 500
    assert_security_headers(broken)
    static = client.get("/static/css/disclosure.css")
    assert static.status_code == 200
    assert_security_headers(static, cacheable=True)


def test_a_500_shows_a_correlation_id_and_no_traceback(failing_app, client, login_as, caplog):
    login_as("intake")
    response = client.get("/explode")
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Traceback" not in body and "hunter2" not in body and "RuntimeError" not in body
    reference = re.search(r'Reference: <span class="mono">([0-9a-f]{16})</span>', body).group(1)
    assert response.headers["X-Request-Id"] == reference
    assert any(reference in record.getMessage() for record in caplog.records)


def test_a_413_has_a_clear_page_with_the_headers(app, client, login_as):
    login_as("intake")
    app.config["MAX_CONTENT_LENGTH"] = 1024
    token = csrf_from(client.get("/account/password").get_data(as_text=True))
    response = client.post("/account/password", data={"csrf_token": token, "current_password": "x" * 5000})
    assert response.status_code == 413
    assert "larger than allowed" in response.get_data(as_text=True)
    assert_security_headers(response)


def test_log_lines_cannot_be_forged_with_line_breaks(app):
    import logging

    from disclosure.app import LineBreakEscapingFormatter

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "user %s", ("eve\r\n2026 INFO admin signed in",), None)
    assert "\n" not in LineBreakEscapingFormatter("%(message)s").format(record)


def test_health_is_public_and_says_nothing_else(client):
    response = client.get("/health")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
