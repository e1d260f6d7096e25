"""Settings: defaults, then instance/config.py, then DISCLOSURE_* environment variables, then explicit settings.

Configuration fails closed: outside tests there is no fallback secret key, a short key is refused, and the
relaxed cookie settings for plain http://127.0.0.1 exist only in development mode.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from disclosure.key_files import MIN_PASSPHRASE_LENGTH

SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name
MIN_SECRET_KEY_LENGTH = 32

# Environment variables read by the app: DISCLOSURE_<NAME> sets config key <NAME>, converted as given.
def _seconds(value: str) -> float:
    seconds = float(value)
    if not 0 <= seconds < 10 * 365 * 86400:
        raise ValueError("give a number of seconds, at least 0")
    return seconds


def _port(value: str) -> int:
    port = int(value)
    if not 0 < port < 65536:
        raise ValueError("give a TCP port, 1 to 65535")
    return port


def _days(value: str) -> tuple[int, ...]:
    """Days before a deadline to remind of it, from "3,1" (each reminded once), largest first."""
    days = tuple(sorted({int(part) for part in value.split(",") if part.strip()}, reverse=True))
    if not days or any(not 0 < day <= 365 for day in days):
        raise ValueError("give whole days between 1 and 365, separated by commas, e.g. 3,1")
    return days


ENVIRONMENT: dict[str, Any] = {
    "DATABASE_URL": ("SQLALCHEMY_DATABASE_URI", str),
    "SECRET_KEY": ("SECRET_KEY", str),
    "DEV": ("DEV_MODE", lambda value: value.strip().lower() in {"1", "true", "yes", "on"}),
    "MAX_UPLOAD_MB": ("MAX_CONTENT_LENGTH", lambda value: int(value) * 1024 * 1024),
    "CHECKPOINT_DIR": ("AUDIT_CHECKPOINT_DIR", str),
    "CHECKPOINT_EVERY": ("AUDIT_CHECKPOINT_EVERY", int),
    "CHECKPOINT_MINUTES": ("AUDIT_CHECKPOINT_MINUTES", int),
    "AUDIT_ORIGIN": ("AUDIT_ORIGIN", str),
    "ORGANISATION": ("ORGANISATION_NAME", str),
    # The letterhead of response letters; an address's lines are separated by "|" (or newlines).
    "LETTERHEAD_NAME": ("LETTERHEAD_NAME", str),
    "LETTERHEAD_ADDRESS": ("LETTERHEAD_ADDRESS", str),
    "LETTERHEAD_EMAIL": ("LETTERHEAD_EMAIL", str),
    "LETTERHEAD_PHONE": ("LETTERHEAD_PHONE", str),
    "LETTERHEAD_LOGO": ("LETTERHEAD_LOGO", str),
    "BUNDLE_RETENTION_DAYS": ("BUNDLE_RETENTION_DAYS", int),
    "LOG_FORMAT": ("LOG_FORMAT", lambda value: value.strip().lower()),
    "RECONCILE_GRACE_SECONDS": ("STORAGE_RECONCILE_GRACE", _seconds),
    # Folders several app hosts may share (a mounted, access-controlled path): keys, blobs, built bundles.
    "KEYS_DIR": ("KEYS_DIR", str),
    "BLOB_DIR": ("BLOB_DIR", str),
    "BUNDLE_DIR": ("BUNDLE_DIR", str),
    # Where encrypted blobs (and, then, built bundles) live: "file" (BLOB_DIR) or "database" (PostgreSQL only).
    "BLOB_BACKEND": ("BLOB_BACKEND", lambda value: value.strip().lower()),
    # The audit-log key kept out of the instance folder, passphrase-encrypted; the witnesses' public keys.
    "LOG_KEY_FILE": ("LOG_KEY_FILE", str),
    "LOG_KEY_PASSPHRASE": ("LOG_KEY_PASSPHRASE", str),
    # The passphrase the bundle CA's and bundle signer's private keys are encrypted with.
    "CA_KEY_PASSPHRASE": ("CA_KEY_PASSPHRASE", str),
    "WITNESS_KEYS": ("WITNESS_KEYS", str),
    # Email notifications (disclosure.notifications): the SMTP relay, how to reach it, and who mail comes from.
    "SMTP_HOST": ("SMTP_HOST", str),
    "SMTP_PORT": ("SMTP_PORT", _port),
    "SMTP_TLS": ("SMTP_TLS", lambda value: value.strip().lower()),
    "SMTP_USERNAME": ("SMTP_USERNAME", str),
    "SMTP_PASSWORD": ("SMTP_PASSWORD", str),
    "SMTP_FROM": ("SMTP_FROM", str),
    "SMTP_CA_FILE": ("SMTP_CA_FILE", str),
    "SMTP_TIMEOUT": ("SMTP_TIMEOUT", _seconds),
    # The address people open the app at (https://legal.example.net), for the links in emails.
    "EXTERNAL_URL": ("EXTERNAL_URL", lambda value: value.strip().rstrip("/")),
    "NOTIFY_DUE_DAYS": ("NOTIFY_DUE_DAYS", _days),
}
SMTP_TLS_MODES = ("starttls", "tls", "none")
BLOB_BACKENDS = ("file", "database")
LOG_FORMATS = ("json", "text")


class ConfigError(RuntimeError):
    """The configuration is missing something or is unsafe; the message says how to fix it."""


def default_settings(instance_path: Path) -> dict[str, Any]:
    return {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance_path / 'disclosure.db'}",
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        #: "json" (one object per line) or "text"; unset: JSON, or text in development mode and tests.
        "LOG_FORMAT": None,
        "DEV_MODE": False,
        # Sessions: a server-side record is checked on every request (disclosure.auth.sessions).
        "SESSION_COOKIE_NAME": "__Host-session",
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Strict",
        "SESSION_COOKIE_PATH": "/",
        "SESSION_COOKIE_DOMAIN": None,
        "SESSION_IDLE_TIMEOUT": timedelta(minutes=30),
        "SESSION_ABSOLUTE_TIMEOUT": timedelta(hours=8),
        "SECOND_FACTOR_PENDING_TIMEOUT": timedelta(minutes=5),
        "REMEMBER_COOKIE_SECURE": True,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Strict",
        # Throttling of sign-in failures.
        "SIGN_IN_WINDOW": timedelta(minutes=15),
        "SIGN_IN_MAX_FAILURES_PER_ACCOUNT": 5,
        "SIGN_IN_MAX_FAILURES_PER_ADDRESS": 50,
        # CSRF: Flask-WTF tokens on every form, no exemptions. See disclosure.hardening for why the
        # Referer-based SSL check is replaced by a Fetch Metadata check.
        "WTF_CSRF_ENABLED": True,
        "WTF_CSRF_SSL_STRICT": False,
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,
        # Request limits.
        "MAX_CONTENT_LENGTH": 25 * 1024 * 1024,
        "MAX_FORM_MEMORY_SIZE": 512 * 1024,
        # Fields in one multipart post: intake with its 200 target rows (4 parts each) and the rest of the form.
        "MAX_FORM_PARTS": 1000,
        "PASSWORD_HASHER": "argon2id",
        "PREFERRED_URL_SCHEME": "https",
        # Audit checkpoints: every N events, every T minutes, and on demand.
        "AUDIT_ORIGIN": "disclosure.example/audit",
        "AUDIT_CHECKPOINT_EVERY": 1000,
        "AUDIT_CHECKPOINT_MINUTES": 60,
        "AUDIT_CHECKPOINT_DIR": str(instance_path / "checkpoints"),
        "KEYS_DIR": str(instance_path / "keys"),
        #: The audit-log key's PEM file (unset: KEYS_DIR/audit-log-ed25519.pem), encrypted when a passphrase is set.
        "LOG_KEY_FILE": None,
        "LOG_KEY_PASSPHRASE": None,
        #: The bundle CA's and signer's keys are encrypted with it when set (`flask keys init` writes them so).
        "CA_KEY_PASSPHRASE": None,
        #: Witnesses whose cosignatures verify counts: a folder of C2SP verifier keys (*.vkey), or a list of them.
        "WITNESS_KEYS": None,
        "DEMO_SECOND_FACTOR_EXEMPT": True,
        #: Names the organisation in letters, bundles and certificates.
        "ORGANISATION_NAME": "Disclosure",
        #: The letterhead of every response letter (the demo's; set the organisation's own before sending one).
        "LETTERHEAD_NAME": "Example Hosting Ltd",
        #: Postal address, one line per "|" (or newline).
        "LETTERHEAD_ADDRESS": "Legal Department | 1 Example Street | London EC1A 1AA | United Kingdom",
        "LETTERHEAD_EMAIL": "legal@example.net",
        "LETTERHEAD_PHONE": "+44 20 7946 0000",
        #: A PNG or JPEG under the instance folder (a path relative to it, or absolute inside it); None: no logo.
        "LETTERHEAD_LOGO": None,
        #: "file": blobs under BLOB_DIR (one host, or a shared mount); "database": in PostgreSQL, for several hosts.
        "BLOB_BACKEND": "file",
        #: Days a built bundle is kept before `flask bundle purge` deletes its file.
        "BUNDLE_RETENTION_DAYS": 30,
        #: The SMTP relay notifications are sent through; None: no email (in development, printed instead).
        "SMTP_HOST": None,
        "SMTP_PORT": 587,
        #: "starttls" (upgrade a plain connection, port 587), "tls" (implicit TLS, port 465) or "none".
        "SMTP_TLS": "starttls",
        "SMTP_USERNAME": None,
        "SMTP_PASSWORD": None,
        #: The From: address of every notification, e.g. "Disclosure <disclosure@legal.example.net>".
        "SMTP_FROM": None,
        #: A CA bundle to trust for the relay's certificate (a private CA); None: the system's.
        "SMTP_CA_FILE": None,
        "SMTP_TIMEOUT": 10.0,
        #: Where people open the app, for links in emails; None: emails say that no link can be given.
        "EXTERNAL_URL": None,
        #: Remind of a response deadline this many days before it (and once more when it has passed).
        "NOTIFY_DUE_DAYS": (3, 1),
    }


def load_settings(app: Flask, settings: Mapping[str, Any] | None) -> None:
    """Fill app.config in order of precedence and refuse unsafe results."""
    instance_path = Path(app.instance_path)
    app.config.update(default_settings(instance_path))
    app.config.from_pyfile("config.py", silent=True)
    for name, (key, convert) in ENVIRONMENT.items():
        raw = os.environ.get(f"DISCLOSURE_{name}")
        if raw is None or raw == "":
            continue
        try:
            app.config[key] = convert(raw)
        except ValueError as error:
            raise ConfigError(f"DISCLOSURE_{name}={raw!r} is not valid: {error}") from error
    if settings:
        app.config.update(settings)
    apply_dev_mode(app.config)
    apply_engine_options(app.config)
    if not app.config.get("LOG_FORMAT"):
        app.config["LOG_FORMAT"] = "text" if app.config.get("DEV_MODE") or app.config.get("TESTING") else "json"
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = read_secret_key_file(instance_path)
    check_settings(app.config)


def apply_engine_options(config: dict[str, Any]) -> None:
    """Engine options every deployment needs; instance/config.py may still set its own."""
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    # Statement parameters hold password hashes, session tokens and personal data: keep them out of error
    # messages, and so out of logs, whatever logging level someone turns on.
    options.setdefault("hide_parameters", True)
    if str(config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("postgresql"):
        # A pooled connection the server has dropped (restart, failover, idle timeout, pg_terminate_backend) is
        # found by a ping at checkout and replaced, so it costs no request. Measured here: under 0.1 ms a checkout,
        # one checkout a request.
        options.setdefault("pool_pre_ping", True)
    config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def read_secret_key_file(instance_path: Path) -> str | None:
    path = instance_path / SECRET_KEY_FILE
    if not path.exists():
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} can be read by other users (mode {mode:o}). Run: chmod 600 {path}")
    return path.read_text(encoding="ascii").strip()


def check_settings(config: Mapping[str, Any]) -> None:
    testing = bool(config.get("TESTING"))
    key = config.get("SECRET_KEY")
    if not key:
        raise ConfigError(
            "No secret key is configured. Run `python -m disclosure.instance init` (or `make run`) to create "
            "instance/secret_key, or set DISCLOSURE_SECRET_KEY to at least 32 random characters."
        )
    if len(key) < MIN_SECRET_KEY_LENGTH and not testing:
        raise ConfigError(
            f"The secret key is {len(key)} characters long; use at least {MIN_SECRET_KEY_LENGTH} random "
            "characters, e.g. from `python -c 'import secrets; print(secrets.token_urlsafe(48))'`."
        )
    if config.get("PASSWORD_HASHER") != "argon2id" and not testing:
        raise ConfigError("PASSWORD_HASHER may differ from argon2id only in tests.")
    if not config.get("WTF_CSRF_ENABLED") and not testing:
        raise ConfigError("CSRF protection cannot be switched off.")
    for setting in ("LOG_KEY_PASSPHRASE", "CA_KEY_PASSPHRASE"):
        passphrase = config.get(setting)
        if passphrase and len(str(passphrase)) < MIN_PASSPHRASE_LENGTH:
            raise ConfigError(
                f"DISCLOSURE_{setting} is {len(str(passphrase))} characters long; a key file's encryption is only "
                f"as strong as its passphrase: use at least {MIN_PASSPHRASE_LENGTH} random characters, e.g. from "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
            )
    if config.get("LOG_FORMAT") not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT (DISCLOSURE_LOG_FORMAT) must be one of {', '.join(LOG_FORMATS)}.")
    backend = config.get("BLOB_BACKEND")
    if backend not in BLOB_BACKENDS:
        raise ConfigError(
            f"BLOB_BACKEND (DISCLOSURE_BLOB_BACKEND) is {backend!r}; set it to \"file\" (the default) or \"database\"."
        )
    if backend == "database" and not str(config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("postgresql"):
        raise ConfigError(
            "BLOB_BACKEND is \"database\", which keeps the encrypted files in PostgreSQL, but the database is not "
            "PostgreSQL. Set DISCLOSURE_DATABASE_URL to a postgresql+psycopg:// URL, or use the file backend "
            "(DISCLOSURE_BLOB_BACKEND=file) with SQLite."
        )
    check_mail_settings(config)
    if not config.get("DEV_MODE") and not (
        config.get("SESSION_COOKIE_SECURE") and str(config.get("SESSION_COOKIE_NAME", "")).startswith("__Host-")
    ):
        raise ConfigError(
            "The session cookie must be Secure and __Host- prefixed outside development mode "
            "(DISCLOSURE_DEV=1 relaxes this for plain http://127.0.0.1 only)."
        )


def check_mail_settings(config: Mapping[str, Any]) -> None:
    """Email notifications: a known TLS mode, a sender when there is a relay, no password sent in clear, and links
    that point at https (http only in development)."""
    mode = config.get("SMTP_TLS")
    if mode not in SMTP_TLS_MODES:
        raise ConfigError(f"SMTP_TLS (DISCLOSURE_SMTP_TLS) is {mode!r}; use one of {', '.join(SMTP_TLS_MODES)}.")
    if config.get("SMTP_HOST") and not config.get("SMTP_FROM"):
        raise ConfigError(
            "DISCLOSURE_SMTP_HOST is set but DISCLOSURE_SMTP_FROM is not: set the address notifications come from, "
            'e.g. "Disclosure <disclosure@legal.example.net>".'
        )
    if config.get("SMTP_PASSWORD") and mode == "none":
        raise ConfigError(
            "DISCLOSURE_SMTP_PASSWORD is set with DISCLOSURE_SMTP_TLS=none, which would send it in clear: use "
            "starttls (port 587) or tls (port 465)."
        )
    url = config.get("EXTERNAL_URL")
    schemes = ("https://", "http://") if config.get("DEV_MODE") else ("https://",)
    if url and (not str(url).startswith(schemes) or len(str(url)) <= len("https://")):
        raise ConfigError(
            f"EXTERNAL_URL (DISCLOSURE_EXTERNAL_URL) is {url!r}; give the address people open the app at, "
            "e.g. https://legal.example.net (http:// only in development)."
        )


def apply_dev_mode(config: dict[str, Any]) -> None:
    """Relax only what plain http://127.0.0.1 needs: the Secure flag and the __Host- prefix."""
    if config.get("DEV_MODE"):
        config["SESSION_COOKIE_NAME"] = "disclosure_session"
        config["SESSION_COOKIE_SECURE"] = False
        config["REMEMBER_COOKIE_SECURE"] = False
        config["PREFERRED_URL_SCHEME"] = "http"
