"""The soak benchmark's HTTP client: one keep-alive connection and a cookie jar per simulated user, as a browser
behind the TLS proxy would present itself (X-Forwarded-For/-Proto, Sec-Fetch-Site on forms), and the forms of a
page read with the standard library's HTML parser. Standard library only: the venv has neither requests nor httpx.
"""

from __future__ import annotations

import http.client
import secrets
import socket
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode

#: Transport failures after which a GET is sent again on a new connection (a keep-alive connection the server
#: closed while idle, e.g. when gunicorn replaces a worker after max_requests).
RETRYABLE = (http.client.RemoteDisconnected, http.client.BadStatusLine, ConnectionError)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float
    retried: bool = False

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def location(self) -> str:
        return self.headers.get("location", "")

    @property
    def request_id(self) -> str:
        return self.headers.get("x-request-id", "")


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class FormParser(HTMLParser):
    """Every form of a page with the values a browser would send for it (text inputs, checked boxes, textareas,
    the selected option)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._textarea: str | None = None
        self._select: str | None = None
        self._first_option: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(a.get("action", ""), a.get("method", "get").lower()))
            return
        if not self.forms:
            return
        form = self.forms[-1]
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    form.fields[name] = a.get("value", "on")
            elif kind not in ("submit", "button", "file", "image", "reset"):
                form.fields[name] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            form.fields[name] = ""
        elif tag == "select" and name:
            self._select, self._first_option = name, None
        elif tag == "option" and self._select:
            value = a.get("value", "")
            if self._first_option is None:
                self._first_option = value
                form.fields.setdefault(self._select, value)
            if "selected" in a:
                form.fields[self._select] = value

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea and self.forms:
            # The first newline after <textarea> belongs to the markup, not the value.
            current = self.forms[-1].fields[self._textarea]
            self.forms[-1].fields[self._textarea] = current + (data[1:] if not current and data[:1] == "\n" else data)


def forms_of(page: str) -> list[Form]:
    parser = FormParser()
    parser.feed(page)
    parser.close()
    return parser.forms


def form_posting_to(page: str, action: str) -> Form | None:
    return next((f for f in forms_of(page) if f.action == action and f.method == "post"), None)


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    boundary = "----soak" + secrets.token_hex(12)
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data, content_type) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        )
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Client:
    """One simulated user: a keep-alive connection for reads, a fresh connection for each form sent (so that a
    write is never sent on a connection the server may have closed meanwhile: its outcome is always known)."""

    def __init__(self, port: int, address: str, timeout: float = 180.0) -> None:
        self.port = port
        self.address = address
        self.timeout = timeout
        self.cookies: dict[str, str] = {}
        self.connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        connection.connect()
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def _headers(self) -> dict[str, str]:
        headers = {
            "Host": f"127.0.0.1:{self.port}",
            # What nginx in front of gunicorn adds (README, "TLS at the reverse proxy"); PROXY_FIX = 1 trusts them.
            "X-Forwarded-For": self.address,
            "X-Forwarded-Proto": "https",
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def get(self, path: str) -> Response:
        retried = False
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = self._connect()
            started = time.perf_counter()
            try:
                self.connection.request("GET", path, headers=self._headers())
                raw = self.connection.getresponse()
                body = raw.read()
            except RETRYABLE:
                self.close()
                if attempt == 2:
                    raise
                retried = True
                continue
            response = self._finish(raw, body, time.perf_counter() - started)
            response.retried = retried
            if raw.getheader("Connection", "").lower() == "close":
                self.close()
            return response
        raise AssertionError("unreachable")

    def post(self, path: str, form: dict[str, str], files: dict[str, tuple[str, bytes, str]] | None = None) -> Response:
        headers = self._headers()
        headers["Sec-Fetch-Site"] = "same-origin"
        headers["Connection"] = "close"
        if files:
            body, headers["Content-Type"] = multipart(form, files)
        else:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = self._connect()
        try:
            started = time.perf_counter()
            connection.request("POST", path, body=body, headers=headers)
            raw = connection.getresponse()
            data = raw.read()
            return self._finish(raw, data, time.perf_counter() - started)
        finally:
            connection.close()

    def _finish(self, raw: http.client.HTTPResponse, body: bytes, seconds: float) -> Response:
        for header, value in raw.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                cookie_value = rest.split(";", 1)[0]
                if cookie_value and "expires=thu, 01 jan 1970" not in value.lower():
                    self.cookies[name.strip()] = cookie_value
                else:
                    self.cookies.pop(name.strip(), None)
        return Response(raw.status, {k.lower(): v for k, v in raw.getheaders()}, body, seconds)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None
