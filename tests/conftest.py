"""Shared fixtures: the app on a temporary instance folder and a clean, real database per test.

Every test that uses `app` runs on SQLite and, when a server answers (always under CI=true), on PostgreSQL.
Argon2 uses fast parameters here only.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from disclosure import create_app
from disclosure.extensions import db
from tests.factories import make_user

#: The browser fixtures (a live server, Chromium, pages that fail on console errors), registered once for every
#: folder: a second import of them elsewhere would start a second Playwright, which the first one refuses.
pytest_plugins = ["tests.browser_fixtures"]

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
POSTGRES_ADMIN_URL = os.environ.get("DISCLOSURE_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
POSTGRES_TEST_DB = os.environ.get("DISCLOSURE_TEST_PG_DB", "disclosure_test")


def postgres_available() -> bool:
    url = sa.engine.make_url(POSTGRES_ADMIN_URL)
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def _postgres_url() -> str:
    return str(
        sa.engine.make_url(POSTGRES_ADMIN_URL).set(database=POSTGRES_TEST_DB).render_as_string(hide_password=False)
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        # @pytest.mark.backends("sqlite") runs a test on one database only: for what exists on one alone.
        marker = metafunc.definition.get_closest_marker("backends")
        backends = list(marker.args) if marker else ["sqlite", "postgresql"]
        metafunc.parametrize("backend", backends, scope="session")


def require_postgres() -> None:
    if postgres_available():
        return
    if IN_CI:
        pytest.fail("CI=true: PostgreSQL must answer on 127.0.0.1:5432 (or DISCLOSURE_TEST_DATABASE_URL)")
    pytest.skip("PostgreSQL is not running; the suite runs it when a server answers, and always under CI=true")


def base_settings(instance: Path, database_url: str) -> dict[str, Any]:
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(instance),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "PASSWORD_HASHER": "fast-insecure-for-tests",
        "KEYS_DIR": str(instance / "keys"),
        "AUDIT_CHECKPOINT_DIR": str(instance / "checkpoints"),
        "AUDIT_CHECKPOINT_EVERY": 1000,
        "AUDIT_CHECKPOINT_MINUTES": 24 * 60,
    }


@pytest.fixture(scope="session")
def database_template(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Build the schema once per backend; each test then starts from a copy (SQLite) or a wiped schema."""
    if backend == "postgresql":
        require_postgres()
        admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            exists = connection.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": POSTGRES_TEST_DB}
            ).first()
            if not exists:
                connection.execute(sa.text(f'CREATE DATABASE "{POSTGRES_TEST_DB}"'))
        admin.dispose()
        url = _postgres_url()
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('template') / 'template.db'}"
    folder = tmp_path_factory.mktemp("template-instance")
    app = create_app(base_settings(folder, url))
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    return url


def wipe_postgres(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        # Replica mode skips the audit triggers so that the next test starts from an empty log.
        connection.execute(sa.text("SET session_replication_role = replica"))
        tables = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
        connection.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        connection.execute(
            sa.text("INSERT INTO audit_head (id, size, chain_tip, frontier) VALUES (1, 0, :tip, '')"),
            {"tip": bytes(32)},
        )
    engine.dispose()


@pytest.fixture
def database_url(backend: str, database_template: str, tmp_path: Path) -> Iterator[str]:
    if backend == "postgresql":
        wipe_postgres(database_template)
        yield database_template
    else:
        path = tmp_path / "disclosure.db"
        shutil.copyfile(database_template.removeprefix("sqlite:///"), path)
        yield f"sqlite:///{path}"


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    folder = tmp_path / "instance"
    for name in ("keys", "blobs", "checkpoints"):
        (folder / name).mkdir(parents=True, mode=0o700)
    return folder


@pytest.fixture
def app(instance: Path, database_url: str) -> Iterator[Flask]:
    application = create_app(base_settings(instance, database_url))
    application.test_client_class = HttpsClient
    with application.app_context():
        from disclosure.exports.pki import init_pki
        from disclosure.keyring import init_log_key
        from disclosure.storage.keys import keyring_for_config

        init_log_key()
        keyring_for_config(application.config).init()
        init_pki(Path(application.config["KEYS_DIR"]) / "pki", "Disclosure Test Provider")
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


class HttpsClient(FlaskClient):
    """A test client that speaks https://localhost, so Secure and __Host- cookies behave as in a browser."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("base_url", "https://localhost")
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


CSRF_INPUT = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


def fresh_csrf(client: FlaskClient, path: str = "/sign-in") -> str:
    return csrf_from(client.get(path, follow_redirects=True).get_data(as_text=True))


def sign_in(client: FlaskClient, email: str, password: str, totp_secret: str | None = None) -> Any:
    """Sign in through the real forms, giving a TOTP code when asked."""
    token = fresh_csrf(client, "/sign-in")
    response = client.post("/sign-in", data={"email": email, "password": password, "csrf_token": token})
    if totp_secret is not None and response.status_code == 302 and "/sign-in/code" in response.location:
        import pyotp

        page = client.get("/sign-in/code").get_data(as_text=True)
        response = client.post(
            "/sign-in/code", data={"code": pyotp.TOTP(totp_secret).now(), "csrf_token": csrf_from(page)}
        )
    return response


@pytest.fixture
def login_as(app: Flask, client: FlaskClient) -> Any:
    """login_as("reviewer", "producer") creates a user with those roles and signs the client in as them."""

    def _login(*roles: str, client_: FlaskClient | None = None) -> Any:
        with app.app_context():
            user = make_user(*roles)
        response = sign_in(client_ or client, user.email, user.password, user.totp_secret)
        assert response.status_code == 302 and "/sign-in" not in response.location, "sign-in failed"
        return user

    return _login
