"""Configuration fails closed: no secret, a short secret, a readable secret file or unsafe cookies stop the app."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from disclosure import create_app
from disclosure.config import ConfigError
from disclosure.instance import init_instance

ROOT = Path(__file__).resolve().parent.parent


def production(instance: Path, **extra: object) -> dict[str, object]:
    return {"INSTANCE_PATH": str(instance), "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'x.db'}", **extra}


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("DISCLOSURE_"):
            monkeypatch.delenv(name)


def test_refuses_to_start_without_a_secret_key_and_says_how_to_fix_it(tmp_path, clean_environment):
    with pytest.raises(ConfigError, match=r"python -m disclosure.instance init.*DISCLOSURE_SECRET_KEY"):
        create_app(production(tmp_path))


def test_refuses_a_short_secret_key(tmp_path, clean_environment):
    with pytest.raises(ConfigError, match="at least 32"):
        create_app(production(tmp_path, SECRET_KEY="too-short"))


def test_instance_init_writes_a_private_strong_key_that_the_app_reads(tmp_path, clean_environment):
    created = init_instance(tmp_path)
    key_file = tmp_path / "secret_key"
    assert any("secret_key" in line for line in created)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text().strip()) >= 48
    app = create_app(production(tmp_path))
    assert app.config["SECRET_KEY"] == key_file.read_text().strip()
    assert init_instance(tmp_path) == []  # never overwritten


def test_refuses_a_secret_key_file_that_others_can_read(tmp_path, clean_environment):
    init_instance(tmp_path)
    (tmp_path / "secret_key").chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        create_app(production(tmp_path))


def test_environment_variables_configure_database_and_key(tmp_path, monkeypatch, clean_environment):
    monkeypatch.setenv("DISCLOSURE_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("DISCLOSURE_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("env.db")
    assert app.config["SECRET_KEY"] == "k" * 40


@pytest.mark.parametrize(
    "unsafe",
    [
        {"PASSWORD_HASHER": "fast-insecure-for-tests"},
        {"WTF_CSRF_ENABLED": False},
        {"SESSION_COOKIE_SECURE": False},
        {"SESSION_COOKIE_NAME": "session"},
    ],
)
def test_refuses_unsafe_settings_outside_tests(tmp_path, clean_environment, unsafe):
    with pytest.raises(ConfigError):
        create_app(production(tmp_path, SECRET_KEY="k" * 40, **unsafe))


def test_development_mode_relaxes_only_the_cookie_and_only_for_this_machine(tmp_path, clean_environment):
    app = create_app(production(tmp_path, SECRET_KEY="k" * 40, DEV_MODE=True))
    assert app.config["SESSION_COOKIE_SECURE"] is False
    assert not app.config["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Strict" and app.config["SESSION_COOKIE_HTTPONLY"]
    client = app.test_client()
    assert client.get("/health", base_url="http://127.0.0.1:5000").status_code in {200, 503}
    assert client.get("/health", base_url="http://disclosure.example.com").status_code == 400
    # The Host header is the sender's to write: a request from another machine naming 127.0.0.1 is refused too.
    spoofed = client.get("/health", base_url="http://127.0.0.1:5000", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert spoofed.status_code == 400
    assert client.get("/health", base_url="http://127.0.0.1:5000", environ_base={"REMOTE_ADDR": "::1"}).status_code in {
        200,
        503,
    }


def test_instance_init_command_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "disclosure.instance", "init", str(tmp_path / "i")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0 and "mode 0600" in result.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "disclosure.instance", "wipe"], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert bad.returncode == 2 and "usage" in bad.stderr


def test_the_reconcile_grace_period_is_set_from_the_environment(tmp_path, monkeypatch, clean_environment):
    from datetime import timedelta

    from disclosure.config import ConfigError
    from disclosure.storage.reconcile import grace_period

    monkeypatch.setenv("DISCLOSURE_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("DISCLOSURE_RECONCILE_GRACE_SECONDS", "7200")
    app = create_app(production(tmp_path))
    assert grace_period(app.config) == timedelta(hours=2)
    monkeypatch.setenv("DISCLOSURE_RECONCILE_GRACE_SECONDS", "an hour")
    with pytest.raises(ConfigError, match="DISCLOSURE_RECONCILE_GRACE_SECONDS='an hour' is not valid"):
        create_app(production(tmp_path))


def test_shared_folders_are_set_from_the_environment(tmp_path, monkeypatch, clean_environment):
    """Several hosts share the keys, the blobs and the built bundles through one mounted path each."""
    monkeypatch.setenv("DISCLOSURE_SECRET_KEY", "k" * 40)
    for name in ("KEYS_DIR", "BLOB_DIR", "BUNDLE_DIR"):
        monkeypatch.setenv(f"DISCLOSURE_{name}", str(tmp_path / "shared" / name.lower()))
    app = create_app(production(tmp_path))
    assert app.config["KEYS_DIR"] == str(tmp_path / "shared" / "keys_dir")
    assert app.config["BLOB_DIR"] == str(tmp_path / "shared" / "blob_dir")
    assert app.config["BUNDLE_DIR"] == str(tmp_path / "shared" / "bundle_dir")
