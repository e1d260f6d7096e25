"""`flask users create`: add a staff account from the command line (the password comes from standard input)."""

from __future__ import annotations

import getpass
import sys

import click
from flask.cli import AppGroup

from disclosure import unit_of_work
from disclosure.auth import service
from disclosure.permissions import Role
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
    """Create a user. The password is read from standard input when it is not a terminal."""
    password = read_password()
    with unit_of_work.command("no user created"):
        user = service.create_user(
            SystemActor("flask users create"), email, name, roles, password, must_change_password=temporary
        )
    click.echo(f"created user {user.id}: {user.email} ({', '.join(r.value for r in user.sorted_roles)})")
