"""`flask users create` and `flask demo seed`, including the mistakes people make at a terminal."""

from __future__ import annotations

from sqlalchemy import func, select

from disclosure.auth.models import User
from disclosure.extensions import db


def run(app, args, stdin=""):
    return app.test_cli_runner().invoke(args=args, input=stdin)


def test_users_create_reads_the_password_from_standard_input(app):
    result = run(
        app,
        [
            "users",
            "create",
            "--email",
            "Cli@Example.org",
            "--name",
            "Cli User",
            "--role",
            "reviewer",
            "--role",
            "producer",
        ],
        "a long enough passphrase\n",
    )
    assert result.exit_code == 0, result.output
    assert "created user" in result.output and "reviewer, producer" in result.output
    with app.app_context():
        user = db.session.execute(select(User).where(User.email == "cli@example.org")).scalar_one()
        assert user.must_change_password and user.second_factor_required


def test_users_create_bad_input_exits_non_zero_with_a_clear_message(app):
    no_password = run(app, ["users", "create", "--email", "a@example.org", "--name", "A", "--role", "intake"], "")
    assert no_password.exit_code != 0 and "No password on standard input" in no_password.output
    weak = run(app, ["users", "create", "--email", "a@example.org", "--name", "A", "--role", "intake"], "short\n")
    assert weak.exit_code != 0 and "at least 12" in weak.output
    bad_role = run(app, ["users", "create", "--email", "a@example.org", "--name", "A", "--role", "king"], "x" * 20)
    assert bad_role.exit_code == 2 and "king" in bad_role.output
    bad_email = run(
        app, ["users", "create", "--email", "nope", "--name", "A", "--role", "intake"], "a long enough passphrase\n"
    )
    assert bad_email.exit_code != 0 and "valid email" in bad_email.output
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 0


def test_demo_seed_is_idempotent_and_prints_passwords_once(app):
    app.config["DEV_MODE"] = True  # the command refuses outside development mode (tests/test_demo_seed.py)
    first = run(app, ["demo", "seed"])
    assert first.exit_code == 0 and "DEMO ONLY" in first.output
    lines = [line.split() for line in first.output.splitlines() if "@demo.disclosure.test" in line]
    assert {line[0] for line in lines} == {"intake", "reviewer", "producer", "auditor", "admin"}
    second = run(app, ["demo", "seed"])
    assert second.exit_code == 0 and "nothing changed" in second.output
    assert "@demo" not in second.output
    with app.app_context():
        from disclosure.cases.models import Case

        assert db.session.execute(select(func.count()).select_from(User)).scalar_one() == 5
        assert db.session.execute(select(func.count()).select_from(Case)).scalar_one() == 4
    assert "Sample cases: DR-" in first.output
    ready = next(line for line in first.output.splitlines() if line.startswith("ready to bundle: "))
    with app.app_context():
        from disclosure.production.models import ProductionRecord

        case = db.session.execute(select(Case).where(Case.reference == ready.split(": ")[1])).scalar_one()
        assert case.state == "producing"
        assert db.session.execute(select(func.count()).select_from(ProductionRecord)).scalar_one() == 1
    admin_line = next(line for line in lines if line[0] == "admin")
    from tests.conftest import sign_in

    client = app.test_client()
    response = sign_in(client, admin_line[1], admin_line[2])
    assert response.status_code == 302 and response.location == "/"
