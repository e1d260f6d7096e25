"""The relay as configured: STARTTLS with a login, implicit TLS, a relay that offers no STARTTLS (refused, never sent
in clear), an address the relay refuses for good, and `flask notifications test-email`."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from disclosure.extensions import db
from disclosure.notifications import mail
from disclosure.notifications.models import SentMessage
from tests.notifications.conftest import Inbox, SmtpServer, configure_mail, free_port

USER, PASSWORD = "relay-user", "relay password of some length"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for 127.0.0.1 signed by it: (CA file, certificate, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Test relay CA"))
        .issuer_name(_name("Test relay CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


class Logins:
    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []
        self.lock = threading.Lock()

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        with self.lock:
            self.seen.append((mechanism, bool(session.ssl)))
        return AuthResult(success=ok)


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    return certificates(tmp_path)


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.fixture
def starttls_relay(tls_files) -> Iterator[tuple[int, Inbox, Logins]]:
    _, cert, key = tls_files
    inbox, logins, port = Inbox(), Logins(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_context(cert, key),
        require_starttls=True,
        authenticator=logins,
        auth_require_tls=True,
    )
    controller.start()
    yield port, inbox, logins
    controller.stop()


def outgoing(to: str = "reader@example.org") -> mail.Outgoing:
    return mail.Outgoing(to, "[Disclosure] Test", "A line of text.\n")


def test_starttls_with_a_login_against_a_private_ca(app, starttls_relay, tls_files):
    port, inbox, logins = starttls_relay
    ca_file = str(tls_files[0])
    configure_mail(app, port, SMTP_TLS="starttls", SMTP_USERNAME=USER, SMTP_PASSWORD=PASSWORD, SMTP_CA_FILE=ca_file)
    with app.app_context():
        answer = mail.send(outgoing())
    assert answer.startswith("250 ")
    assert [m["X-Envelope-To"] for m in inbox.messages()] == ["reader@example.org"]
    assert logins.seen and all(over_tls for _, over_tls in logins.seen)  # the password went over TLS only


def test_a_relay_certificate_nobody_vouches_for_is_refused(app, starttls_relay):
    port, inbox, _ = starttls_relay
    configure_mail(app, port, SMTP_TLS="starttls", SMTP_USERNAME=USER, SMTP_PASSWORD=PASSWORD)  # system CAs only
    with app.app_context(), pytest.raises(mail.MailError, match=r"could not reach 127\.0\.0\.1") as refused:
        mail.send(outgoing())
    assert not refused.value.permanent and "CERTIFICATE_VERIFY_FAILED" in str(refused.value)
    assert inbox.messages() == []


def test_implicit_tls(app, tls_files):
    ca, cert, key = tls_files
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=server_context(cert, key))
    controller.start()
    try:
        configure_mail(app, port, SMTP_TLS="tls", SMTP_CA_FILE=str(ca))
        with app.app_context():
            assert mail.send(outgoing()).startswith("250 ")
        assert len(inbox.messages()) == 1
    finally:
        controller.stop()


def test_starttls_asked_of_a_relay_that_offers_none_sends_nothing(app, smtp_server: SmtpServer):
    configure_mail(app, smtp_server.port, SMTP_TLS="starttls")
    with app.app_context(), pytest.raises(mail.MailError, match="does not offer STARTTLS") as refused:
        mail.send(outgoing())
    assert refused.value.permanent
    assert smtp_server.inbox.messages() == []


class Refusing(Inbox):
    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return "550 5.1.1 No such user here"


def test_an_address_the_relay_refuses_for_good_is_not_tried_again(app):
    port = free_port()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        configure_mail(app, port)
        with app.app_context(), pytest.raises(mail.MailError, match="refused the address: 550") as refused:
            mail.send(outgoing("nobody@example.org"))
        assert refused.value.permanent
    finally:
        controller.stop()


def test_flask_notifications_test_email(app, smtp_server: SmtpServer):
    runner = app.test_cli_runner()
    configure_mail(app, smtp_server.port)
    result = runner.invoke(args=["notifications", "test-email", "--to", "Legal.Team@Example.org"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("sent to Legal.Team@example.org: 250 ")
    (message,) = smtp_server.inbox.messages()
    assert message["Subject"] == "[Disclosure] Test message"
    assert "https://legal.example.net/notifications" in message.get_body().get_content()

    smtp_server.stop()
    failed = runner.invoke(args=["notifications", "test-email", "--to", "legal@example.org"])
    assert failed.exit_code == 1 and "not sent: could not reach 127.0.0.1" in failed.output
    bad = runner.invoke(args=["notifications", "test-email", "--to", "not an address"])
    assert bad.exit_code == 2
    with app.app_context():
        record = [
            (m.kind, m.address, m.delivery, m.attempts) for m in db.session.execute(select(SentMessage)).scalars()
        ]
        assert record == [
            ("test", "Legal.Team@example.org", "sent", 1),
            ("test", "legal@example.org", "failed", 1),
        ]


def test_without_a_relay_test_email_says_what_to_set(app):
    result = app.test_cli_runner().invoke(args=["notifications", "test-email", "--to", "legal@example.org"])
    assert result.exit_code == 1 and "set DISCLOSURE_SMTP_HOST" in result.output
