"""`flask notifications send-due | send-digests | test-email`: the reminder scan and the digests once, by hand or
from cron (the workers run both by themselves), and a test message through the configured relay."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from email_validator import EmailNotValidError, validate_email
from flask.cli import AppGroup

from disclosure import unit_of_work
from disclosure.audit.service import require_schema
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.notifications import mail, service
from disclosure.notifications.models import TEST_KIND, MessageState, SentMessage
from disclosure.services import SystemActor

notifications_cli = AppGroup("notifications", help="Notifications: deadline reminders, daily digests, test email.")


def _moment(_: click.Context, __: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise click.BadParameter(f"{value!r} is not a date and time such as 2026-11-16T09:00:00Z") from error
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


NOW_OPTION = click.option(
    "--now",
    callback=_moment,
    metavar="ISO-8601",
    help="Act as if it were this moment (UTC unless it says otherwise); default: now.",
)


@notifications_cli.command("send-due")
@NOW_OPTION
def send_due(now: datetime | None) -> None:
    """Create the deadline reminders due now (each once, however often this runs) and queue their emails."""
    require_schema()
    with unit_of_work.command("no reminder created"):
        result = service.send_due(SystemActor("flask notifications send-due"), now)
    click.echo(f"{result.created} new reminder(s); {result.due} deadline(s) have crossed a threshold")


@notifications_cli.command("send-digests")
@NOW_OPTION
def send_digests(now: datetime | None) -> None:
    """Queue the daily digest emails of everyone whose yesterday's notifications wait for one."""
    require_schema()
    with unit_of_work.command("no digest queued"):
        queued = service.make_digests(SystemActor("flask notifications send-digests"), now)
    click.echo(f"{queued} daily digest(s) queued")


@notifications_cli.command("test-email")
@click.option("--to", "address", required=True, metavar="EMAIL", help="Where to send the test message.")
def test_email(address: str) -> None:
    """Send a test message now through the configured relay (or print it, in development without one)."""
    require_schema()
    try:
        address = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise click.BadParameter(str(error), param_hint="--to") from error
    outgoing = mail.compose_test(address)
    try:
        answer, failure = mail.send(outgoing), None
    except mail.MailError as error:
        answer, failure = str(error), error
    now = utcnow()
    with unit_of_work.command("the attempt was not recorded"):
        db.session.add(
            SentMessage(
                kind=TEST_KIND,
                address=address,
                created_at=now,
                attempts=1,
                last_attempt_at=now,
                sent_at=None if failure else now,
                delivery=(MessageState.FAILED if failure else MessageState.SENT).value,
                result=answer[:500],
            )
        )
    if failure is not None:
        raise click.ClickException(f"not sent: {answer}")
    click.echo(f"sent to {address}: {answer}")
