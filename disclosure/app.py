"""The application factory: settings, extensions, blueprints, commands.

create_app(settings=None) builds the app from instance/config.py, DISCLOSURE_* environment variables and the
given settings (tests), and refuses to start with an unsafe configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from disclosure.config import load_settings
from disclosure.extensions import csrf, db, login_manager, migrate
from disclosure.logging_setup import LineBreakEscapingFormatter, configure_logging

__all__ = ["LineBreakEscapingFormatter", "create_app", "forget_inherited_connections"]


def create_app(settings: Mapping[str, Any] | None = None) -> Flask:
    from disclosure.instance import PROJECT_ROOT, default_instance_path

    settings = dict(settings or {})
    instance_path = Path(settings.pop("INSTANCE_PATH", None) or default_instance_path())
    app = Flask(
        __name__,
        instance_path=str(instance_path),
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
    )
    load_settings(app, settings)
    configure_logging(app)
    if app.config.get("PROXY_FIX"):
        count = int(app.config["PROXY_FIX"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), compare_type=True, render_as_batch=True)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = "Sign in to continue."
    login_manager.session_protection = None  # the server-side session record does this job

    with app.app_context():
        from disclosure.database import configure_sqlite

        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)
        # PostgreSQL needs no listener: pool_pre_ping (disclosure.config) replaces a dead pooled connection.

    _register_models()
    _register_web(app)
    _register_cli(app)
    return app


def forget_inherited_connections(app: Flask) -> None:
    """In a process just forked from one that may have used the database (a worker of a preloaded gunicorn app):
    drop the inherited connection pools without closing their connections, which still belong to the parent
    (SQLAlchemy's "Using Connection Pools with Multiprocessing or os.fork()"). The child opens its own."""
    with app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)


def _register_models() -> None:
    # Importing registers the tables and the audit triggers with the metadata (and the jobs' tasks).
    import disclosure.audit.ddl
    import disclosure.auth.models
    import disclosure.auth.pending_models
    import disclosure.cases.models
    import disclosure.jobs.models
    import disclosure.jobs.tasks
    import disclosure.notifications.service  # notifications made from the audit log's events, at commit
    import disclosure.production.models
    import disclosure.reports.case_log  # the case log state table and the projection that fills it
    import disclosure.review.models
    import disclosure.review.service  # opens a review round whenever a case enters review
    import disclosure.storage.models  # noqa: F401  (each import binds `disclosure`; only the last is checked)


def _register_web(app: Flask) -> None:
    from disclosure import errors, hardening, routing, unit_of_work
    from disclosure.audit.views import bp as audit_bp
    from disclosure.auth.access import enforce_access
    from disclosure.auth.admin_views import bp as admin_bp
    from disclosure.auth.views import bp as auth_bp
    from disclosure.cases.agency_views import bp as agencies_bp
    from disclosure.cases.views import bp as cases_bp
    from disclosure.jobs.views import bp as jobs_bp
    from disclosure.notifications.views import bp as notifications_bp
    from disclosure.production.views import bp as production_bp
    from disclosure.reports.views import bp as reports_bp
    from disclosure.review.views import bp as review_bp
    from disclosure.site.views import bp as site_bp

    routing.init_app(app)  # the bounded `int` converter, before any rule is added
    hardening.init_app(app)
    errors.init_app(app)
    unit_of_work.init_app(app)
    app.before_request(enforce_access)
    for blueprint in (
        site_bp,
        auth_bp,
        admin_bp,
        audit_bp,
        cases_bp,
        agencies_bp,
        review_bp,
        production_bp,
        reports_bp,
        jobs_bp,
        notifications_bp,
    ):
        app.register_blueprint(blueprint)

    @app.context_processor
    def navigation() -> dict[str, Any]:
        from disclosure.permissions import Permission, may_review

        # Templates ask the same object rules the services enforce, never a copy of them.
        return {"Permission": Permission, "may_review": may_review}


def _register_cli(app: Flask) -> None:
    from disclosure.audit.cli import audit_cli, harden_roles
    from disclosure.auth.cli import users_cli
    from disclosure.backup.cli import backup_cli
    from disclosure.cases.agency_cli import agencies_cli
    from disclosure.cases.cli import cases_cli
    from disclosure.demo import demo_cli
    from disclosure.jobs.cli import jobs_cli
    from disclosure.keys_cli import keys_cli
    from disclosure.notifications.cli import notifications_cli
    from disclosure.policy_cli import policy_cli
    from disclosure.production.cli import bundle_cli, production_cli
    from disclosure.reports.cli import report_cli
    from disclosure.storage.cli import storage_cli

    for group in (
        users_cli,
        demo_cli,
        keys_cli,
        audit_cli,
        cases_cli,
        agencies_cli,
        policy_cli,
        storage_cli,
        production_cli,
        bundle_cli,
        report_cli,
        backup_cli,
        jobs_cli,
        notifications_cli,
    ):
        app.cli.add_command(group)
    from flask_migrate.cli import db as db_group

    if "harden-roles" not in db_group.commands:
        db_group.add_command(harden_roles)
