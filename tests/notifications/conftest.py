"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives, and the app configured to send to it."""

from __future__ import annotations

import email
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask

SENDER = "Disclosure <disclosure@legal.example.net>"
EXTERNAL_URL = "https://legal.example.net"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Inbox:
    """What the server received: each message as the recipient's mail program would read it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self._received.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 2.0.0 Ok: queued as TEST"

    def messages(self) -> list[EmailMessage]:
        with self._lock:
            raw = list(self._received)
        parsed = []
        for recipients, content in raw:
            message = email.message_from_bytes(content, policy=default)
            assert isinstance(message, EmailMessage)
            message["X-Envelope-To"] = ", ".join(recipients)
            parsed.append(message)
        return parsed

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages() if m["X-Envelope-To"] == address]

    def clear(self) -> None:
        with self._lock:
            self._received.clear()


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1 that can be stopped (the relay is down) and started again on its port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.inbox = Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


def configure_mail(app: Flask, port: int, **extra: Any) -> None:
    settings = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": port,
        "SMTP_TLS": "none",
        "SMTP_FROM": SENDER,
        "SMTP_TIMEOUT": 5.0,
        "EXTERNAL_URL": EXTERNAL_URL,
    }
    app.config.update({**settings, **extra})


@pytest.fixture
def mail_app(app: Flask, smtp_server: SmtpServer) -> Flask:
    """The app sending its email to the test server."""
    configure_mail(app, smtp_server.port)
    return app


def body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())
