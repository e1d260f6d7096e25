"""`flask users create`: add a staff account from the command line (the password comes from standard input).

The first administrator is created here (the bootstrap); after that, powerful roles go through two-person control.
"""

from __future__ import annotations

import getpass
import sys

import click
from flask.cli import AppGroup

from disclosure import unit_of_work
from disclosure.auth import service
from disclosure.permissions import POWERFUL_ROLES, Role
from disclosure.services import SystemActor

users_cli = AppGroup("users", help="Manage staff accounts.")


def read_password() -> str:
    """From a terminal: ask twice without echo. Otherwise: the first line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password again: "):
            raise click.UsageError("The two passwords differ.")
        return first
    line = sys.stdin.readline()
    if not line.strip():
        raise click.UsageError(
            "No password on standard input: pipe it in, e.g. `printf '%s\\n' \"$PW\" | flask users create …`."
        )
    return line.rstrip("\r\n")


@users_cli.command("create")
@click.option("--email", required=True, help="Sign-in email address.")
@click.option("--name", required=True, help="The person's full name.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="A role; repeat for several.",
)
@click.option(
    "--temporary/--permanent",
    default=True,
    show_default=True,
    help="Whether the user must change the password at first sign-in.",
)
def create(email: str, name: str, roles: tuple[str, ...], temporary: bool) -> None:
    """Create a user. The password is read from standard input when it is not a terminal.

    Reviewer, producer and administrator are powerful roles: once an active administrator exists, they are granted
    in the web app, where a second administrator approves. Only the first administrator is created here."""
    password = read_password()
    with unit_of_work.command("no user created"):
        powerful = sorted(set(roles) & {role.value for role in POWERFUL_ROLES})
        if powerful and service.active_admin_exists():
            raise click.ClickException(
                f"no user created: {', '.join(powerful)} can only be granted by an administrator in the web app, "
                "and takes effect once a second administrator approves (the command line creates only the first "
                "administrator). Create the account with intake or auditor here, or in the web app."
            )
        user = service.create_user(
            SystemActor("flask users create"), email, name, roles, password, must_change_password=temporary
        )
    click.echo(f"created user {user.id}: {user.email} ({', '.join(r.value for r in user.sorted_roles)})")
