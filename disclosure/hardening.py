"""Request- and response-level protections: security headers, Fetch Metadata checks, request ids.

Why a Fetch Metadata check instead of Flask-WTF's WTF_CSRF_SSL_STRICT: the strict check demands a same-origin
Referer on every HTTPS POST, but `Referrer-Policy: no-referrer` (which we send) makes browsers omit it, so the
two together refuse every legitimate form. Browsers do send Sec-Fetch-Site regardless of referrer policy; a
cross-site or same-site state change is refused here, and the CSRF token is still required on every form.
"""

from __future__ import annotations

import io
import ipaddress
import secrets
from typing import IO

from flask import Flask, Request, Response, abort, current_app, g, request
from werkzeug.serving import WSGIRequestHandler

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEV_HOSTS = ("127.0.0.1", "localhost")


def assign_request_id() -> None:
    g.request_id = secrets.token_hex(8)


def refuse_cross_site_writes() -> None:
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in {"same-origin", "none"}:
        abort(400, description="This form was sent from another site and was refused.")
    origin = request.headers.get("Origin")
    if origin and origin != "null" and origin != request.host_url.rstrip("/"):
        abort(400, description="This form was sent from another site and was refused.")


def refuse_foreign_hosts_in_dev_mode() -> None:
    """The relaxed cookie settings of development mode hold only for plain http on this machine: the address asked
    for (the Host header) must be this machine, and so must the peer that asked (the Host header is the sender's
    to choose, so it alone proves nothing)."""
    if not current_app.config.get("DEV_MODE"):
        return
    if request.host.rsplit(":", 1)[0] not in DEV_HOSTS or not _loopback(request.remote_addr):
        abort(400, description="Development mode answers only http://127.0.0.1, from this machine.")


def _loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def set_security_headers(response: Response) -> Response:
    headers = response.headers
    headers["Content-Security-Policy"] = headers.get("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Cross-Origin-Resource-Policy"] = "same-origin"
    if not current_app.config.get("DEV_MODE"):
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    if request.endpoint != "static":
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    if "request_id" in g:
        headers["X-Request-Id"] = g.request_id
    return response


class InMemoryUploadRequest(Request):
    """Uploads stay in memory (bounded by MAX_CONTENT_LENGTH): a plaintext legal document never touches a
    temporary file on disk before the storage module encrypts it."""

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        return io.BytesIO()


def init_app(app: Flask) -> None:
    app.request_class = InMemoryUploadRequest
    # The development server names itself and its Python version in a Server header of its own; say less.
    # werkzeug's stubs type it as a property; http.server reads a plain class attribute.
    WSGIRequestHandler.server_version = "Disclosure"  # type: ignore[method-assign,assignment]
    WSGIRequestHandler.sys_version = ""
    app.before_request(assign_request_id)
    app.before_request(refuse_foreign_hosts_in_dev_mode)
    app.before_request(refuse_cross_site_writes)
    app.after_request(set_security_headers)
