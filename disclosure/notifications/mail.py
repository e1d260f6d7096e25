"""Email: the words of a notification, a daily digest or a test message, and handing one to the SMTP relay.

Settings (disclosure.config): SMTP_HOST, SMTP_PORT, SMTP_TLS ("starttls", "tls" or "none"), SMTP_USERNAME,
SMTP_PASSWORD, SMTP_FROM, SMTP_CA_FILE, SMTP_TIMEOUT, and EXTERNAL_URL for links. Without a relay, development
mode (DISCLOSURE_DEV=1) prints each message to the console; otherwise no email is queued at all, and the app still
lists every notification. A message names the case by its reference and kind of process, says what happened and
the deadline in the reader's own time zone, and links to the page: it never holds a target identifier, an
officer's details or anything from a document.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

from flask import current_app

from disclosure.auth.models import User
from disclosure.notifications.models import Notification
from disclosure.timezones import text as time_text

log = logging.getLogger(__name__)

#: The From: address in development when no relay (and so no SMTP_FROM) is set: mail is only printed then.
DEVELOPMENT_SENDER = "Disclosure (development) <disclosure@localhost>"


class MailError(Exception):
    """The relay did not take a message; `permanent` when trying again cannot help (a refused address)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def mail_method(config: Mapping[str, Any]) -> str | None:
    """ "smtp" with a relay; "console" in development without one; None: no email is sent."""
    if config.get("SMTP_HOST"):
        return "smtp"
    if config.get("DEV_MODE"):
        return "console"
    return None


def _path(endpoint: str, **values: Any) -> str:
    # Built without a request (a worker has none): the app's own rules, so a link always names a real page.
    return str(current_app.url_map.bind("localhost").build(endpoint, values))


def _external(path: str) -> str | None:
    base = current_app.config.get("EXTERNAL_URL")
    return f"{str(base).rstrip('/')}{path}" if base else None


NO_LINK = (
    "(No link: the address of Disclosure is not configured. An administrator sets it with DISCLOSURE_EXTERNAL_URL; "
    "until then, open Disclosure and find {what}.)"
)


def page_of(notification: Notification) -> tuple[str, str]:
    """The page a notification points at, and how to find it by hand: (path, description)."""
    if notification.case is not None:
        reference = notification.case.reference
        return _path("cases.show", reference=reference), f"case {reference}"
    if notification.subject and notification.subject.startswith("change:"):
        return _path("admin.changes"), "the waiting change under Users → Changes"
    if notification.subject == "audit":
        return _path("audit.checkpoint"), "Log integrity"
    return _path("notifications.index"), "your notifications"


def link_lines(path: str, what: str) -> str:
    url = _external(path)
    return f"Open it: {url}" if url else NO_LINK.format(what=what)


def _deadline_line(deadline: datetime | None, reader: User) -> str | None:
    if deadline is None:
        return None
    return f"Deadline: {time_text(deadline, reader.time_zone)} (your time zone, {reader.time_zone})"


@dataclass(frozen=True)
class Outgoing:
    """A message ready for the relay."""

    to: str
    subject: str
    body: str


def _footer() -> str:
    settings = _external(_path("notifications.preferences"))
    where = settings or "Notifications → Settings in Disclosure"
    return (
        "\n-- \n"
        "This message names cases by their reference only; everything else is in Disclosure.\n"
        f"Choose which notifications come at once and which in a daily digest: {where}\n"
        "(emergencies and audit-log alerts always come at once).\n"
    )


def compose_notification(notification: Notification, reader: User) -> Outgoing:
    """One notification's email: what happened, the case, the deadline in the reader's zone, the link."""
    lines = [f"Hello {reader.name},", "", notification.summary, ""]
    if notification.case is not None:
        lines.append(f"Case: {notification.case.reference} ({notification.case.process.label})")
    deadline = _deadline_line(notification.deadline, reader)
    if deadline:
        lines.append(deadline)
    lines.append(link_lines(*page_of(notification)))
    what = notification.case.reference if notification.case is not None else "Disclosure"
    subject = f"[Disclosure] {what}: {notification.notification_kind.label}"
    return Outgoing(reader.email, subject, "\n".join(lines) + "\n" + _footer())


def compose_digest(notifications: Sequence[Notification], reader: User, day: date) -> Outgoing:
    """A day's notifications for one person in one email, oldest first."""
    count = len(notifications)
    lines = [
        f"Hello {reader.name},",
        "",
        f"Your daily digest for {day.isoformat()} ({reader.time_zone}): {count} notification"
        f"{'s' if count != 1 else ''} you asked to receive once a day.",
        "",
    ]
    for notification in notifications:
        lines.append(f"* {time_text(notification.created_at, reader.time_zone)}: {notification.summary}")
        deadline = _deadline_line(notification.deadline, reader)
        if deadline:
            lines.append(f"  {deadline}")
        lines.append(f"  {link_lines(*page_of(notification))}")
        lines.append("")
    subject = f"[Disclosure] Your daily digest for {day.isoformat()}: {count} notification{'s' if count != 1 else ''}"
    return Outgoing(reader.email, subject, "\n".join(lines) + _footer())


def compose_test(address: str) -> Outgoing:
    url = _external(_path("notifications.index"))
    where = f"Notifications are listed at {url}" if url else NO_LINK.format(what="Notifications")
    body = (
        "This is a test message from Disclosure (`flask notifications test-email`).\n\n"
        "If you are reading it, the SMTP settings work.\n"
        f"{where}\n"
    )
    return Outgoing(address, "[Disclosure] Test message", body)


def _message(outgoing: Outgoing, sender: str) -> EmailMessage:
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = outgoing.to
    message["Subject"] = outgoing.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or None)
    # Out-of-office replies and mailing-list software leave automatic messages alone (RFC 3834).
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(outgoing.body)
    return message


def send(outgoing: Outgoing) -> str:
    """Hand the message to the relay (or, in development without one, print it). Returns the relay's answer;
    raises MailError when it was not taken."""
    config = current_app.config
    method = mail_method(config)
    if method is None:
        raise MailError(
            "No SMTP relay is configured: set DISCLOSURE_SMTP_HOST (and DISCLOSURE_SMTP_FROM) to send email.",
            permanent=True,
        )
    if method == "console":
        sender = str(config.get("SMTP_FROM") or DEVELOPMENT_SENDER)
        print(
            "----- email (development: printed, not sent) -----\n"
            f"From: {sender}\nTo: {outgoing.to}\nSubject: {outgoing.subject}\n\n{outgoing.body}"
            "----- end of email -----",
            flush=True,
        )
        log.info("development mode: an email to %s was printed, not sent", outgoing.to)
        return "printed to the console (development mode, no SMTP relay)"
    return _send_smtp(_message(outgoing, str(config["SMTP_FROM"])), outgoing.to, config)


def _connect(config: Mapping[str, Any]) -> smtplib.SMTP:
    host, port, mode = str(config["SMTP_HOST"]), int(config["SMTP_PORT"]), config["SMTP_TLS"]
    timeout = float(config["SMTP_TIMEOUT"])
    context = ssl.create_default_context(cafile=config.get("SMTP_CA_FILE") or None)
    if mode == "tls":
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    client = smtplib.SMTP(host, port, timeout=timeout)
    if mode == "starttls":
        try:
            client.starttls(context=context)
        except smtplib.SMTPNotSupportedError as error:
            client.close()
            raise MailError(
                f"The relay {host}:{port} does not offer STARTTLS; set DISCLOSURE_SMTP_TLS to tls (implicit TLS) "
                "if it expects TLS from the start.",
                permanent=True,
            ) from error
    return client


def _send_smtp(message: EmailMessage, to: str, config: Mapping[str, Any]) -> str:
    where = f"{config['SMTP_HOST']}:{config['SMTP_PORT']}"
    try:
        with _connect(config) as client:
            if config.get("SMTP_USERNAME"):
                client.login(str(config["SMTP_USERNAME"]), str(config.get("SMTP_PASSWORD") or ""))
            sender = parseaddr(str(message["From"]))[1]
            client.ehlo_or_helo_if_needed()
            code, reply = client.mail(sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, sender)
            code, reply = client.rcpt(to)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({to: (code, reply)})
            code, reply = client.data(message.as_bytes())
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
            return f"{code} {reply.decode('utf-8', 'replace')}"[:500]
    except smtplib.SMTPRecipientsRefused as error:
        code, reply = next(iter(error.recipients.values()))
        raise MailError(f"{where} refused the address: {code} {_text(reply)}", permanent=code >= 500) from error
    except smtplib.SMTPResponseException as error:
        permanent = error.smtp_code >= 500
        raise MailError(f"{where} answered {error.smtp_code} {_text(error.smtp_error)}", permanent=permanent) from error
    except (smtplib.SMTPException, OSError) as error:
        raise MailError(f"could not reach {where}: {error}") from error


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
