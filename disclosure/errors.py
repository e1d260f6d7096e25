"""Error pages: a plain message and a correlation id, never a traceback.

The correlation id also goes to the server log with the exception, so support can find the details. The page is
the app's own even when cleaning up fails too: a rollback that fails is logged (disclosure.unit_of_work.roll_back),
and a page that cannot be drawn with the site's layout (it asks the database who is signed in) is drawn without it.
"""

from __future__ import annotations

import logging
from html import escape
from typing import Any

from flask import Flask, current_app, g, render_template, request, session
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException, InternalServerError

from disclosure import unit_of_work
from disclosure.database import is_busy
from disclosure.unit_of_work import RETRY_AFTER_SECONDS, roll_back

MESSAGES = {
    400: ("Bad request", "The request could not be understood. Go back, reload the page and try again."),
    401: ("Sign-in required", "Sign in to continue."),
    403: ("Not allowed", "Your roles do not allow this. Ask an administrator if you need access."),
    404: ("Not found", "There is nothing at this address. Check the link, or start from the dashboard."),
    405: ("Not allowed", "This address does not accept that kind of request."),
    413: ("Too large", "The upload is larger than allowed. Send a smaller file, or ask for a bulk import."),
    429: ("Too many requests", "Wait a few minutes and try again."),
    500: ("Something went wrong", "Nothing was saved. Try again; if it keeps happening, give the id below to support."),
}


log = logging.getLogger(__name__)
#: PostgreSQL's SQLSTATE for a number too large for its column (an id from a form, say).
NUMERIC_VALUE_OUT_OF_RANGE = "22003"

#: The error page without the site's layout, for when the layout itself cannot be drawn.
BARE_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{title} \u00b7 Disclosure</title>
<link rel="stylesheet" href="/static/css/disclosure.css"></head>
<body><main id="main"><div class="error-page">
<h1>{title}</h1>
<p>{message}</p>{detail}
<p class="correlation">Reference: <span class="mono">{request_id}</span></p>
</div></main></body>
</html>
"""


def render_error(status: int, detail: str | None = None) -> tuple[str, int]:
    title, message = MESSAGES.get(status, (f"Error {status}", "The request could not be completed."))
    request_id = g.get("request_id", "-")
    try:
        page = render_template(
            "errors/error.html", status=status, title=title, message=message, detail=detail, request_id=request_id
        )
    except Exception:
        log.exception("the %d page could not be drawn with the site's layout; sent without it", status)
        page = BARE_PAGE.format(
            title=escape(title),
            message=escape(message),
            detail=f"\n<p>{escape(detail)}</p>" if detail else "",
            request_id=escape(str(request_id)),
        )
    return page, status


def init_app(app: Flask) -> None:
    app.register_error_handler(OperationalError, database_error)
    unit_of_work.on_database_error(database_error)

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> tuple[str, int]:
        return render_error(
            400, "The form had expired or did not come from this site. Reload the page and send it again."
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[str, int] | HTTPException:
        if error.code is None or error.code < 400:
            return error
        detail = error.description if error.code == 400 and error.description else None
        return render_error(error.code, detail)

    @app.errorhandler(OverflowError)
    def number_out_of_range(error: OverflowError) -> tuple[str, int]:
        # A number from the request too large for the database (SQLite stops at 2**63 - 1) or for date arithmetic:
        # the request's fault, so a 400 that says so, wherever the number was read without a range check.
        app.logger.warning(
            "number out of range, request id %s, %s %s: %s",
            g.get("request_id", "-"),
            request.method,
            request.path,
            error,
        )
        roll_back()
        return render_error(400, "A number or date in the request is out of range. Check the link or the form.")

    @app.errorhandler(DataError)
    def database_refused_a_value(error: DataError) -> tuple[str, int]:
        # PostgreSQL's "numeric value out of range" (SQLSTATE 22003) is the same mistake as SQLite's OverflowError.
        if getattr(error.orig, "sqlstate", None) == NUMERIC_VALUE_OUT_OF_RANGE:
            return number_out_of_range(OverflowError(str(error.orig)))
        return unexpected_error(error)

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> tuple[str, int]:
        if isinstance(error, HTTPException) and not isinstance(error, InternalServerError):
            return http_error(error)  # type: ignore[return-value]
        app.logger.error(
            "unhandled error, request id %s, %s %s",
            g.get("request_id", "-"),
            request.method,
            request.path,
            exc_info=error,
        )
        roll_back()
        return render_error(500)


def database_error(error: OperationalError) -> Any:
    """SQLite's "database is locked": a clear page that asks to try again, not the 500 page."""
    roll_back()
    if not is_busy(error):
        current_app.logger.error(
            "unhandled error, request id %s, %s %s",
            g.get("request_id", "-"),
            request.method,
            request.path,
            exc_info=error,
        )
        return render_error(500)
    log.warning("database busy, request id %s, %s %s", g.get("request_id", "-"), request.method, request.path)
    session.pop("_flashes", None)
    title = "Busy, try again"
    message = (
        f"Many people are working at once and nothing was saved. Wait {RETRY_AFTER_SECONDS} seconds and send it again."
    )
    request_id = g.get("request_id", "-")
    try:
        page = render_template(
            "errors/error.html", status=503, title=title, message=message, detail=None, request_id=request_id
        )
    except Exception:
        # The layout asks the database who is signed in, and the database is what is busy.
        roll_back()
        page = BARE_PAGE.format(title=escape(title), message=escape(message), detail="", request_id=escape(request_id))
    return page, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}
