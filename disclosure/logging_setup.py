"""Log lines: one JSON object per line in production, one text line in development and tests.

A JSON line holds time (UTC), level, logger, message, the request's correlation id (the X-Request-Id its response
carries) when logged inside a request, and the traceback when there is one. gunicorn's access records get the
same shape, with the request's fields taken from gunicorn's own values: the path without its query string, never
the request line. Nothing here reads the request: query strings, form fields, cookies and headers reach a log line
only if code puts them in a message, and none does. A text line escapes CR and LF, so nobody can forge an entry;
a JSON line cannot hold a raw line break at all.

The standard library is enough for this (a formatter of some thirty lines), so no logging package is added.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from flask import Flask, g, has_request_context

from disclosure.config import LOG_FORMATS

#: The format of every line this process writes, set from the app's LOG_FORMAT when it is created (logging is
#: process-wide). Until then, e.g. in a gunicorn master loading the app, DISCLOSURE_LOG_FORMAT or JSON.
_format = os.environ.get("DISCLOSURE_LOG_FORMAT", "").strip().lower() or "json"

#: gunicorn's access-log values (see its access_log_format): field name -> atom.
ACCESS_FIELDS = {
    "method": "m",
    "path": "U",
    "status": "s",
    "bytes": "B",
    "duration_ms": "M",
    "remote_addr": "h",
}
#: The response header that carries the correlation id, as gunicorn names it among its atoms.
CORRELATION_ATOM = "{x-request-id}o"


def set_format(name: str) -> None:
    global _format
    if name not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {name!r}")
    _format = name


def current_format() -> str:
    return _format


def correlation_id(record: logging.LogRecord) -> str | None:
    """The id of the request the record was logged in: the app's own, or the one gunicorn read off its response."""
    if has_request_context():
        value = g.get("request_id")
        if value:
            return str(value)
    if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
        value = record.args.get(CORRELATION_ATOM)
        if value and value != "-":
            return str(value)
    return None


class LineBreakEscapingFormatter(logging.Formatter):
    """Log lines stay one line each: CR and LF in logged values are escaped, so nobody can forge an entry."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        head, sep, trace = text.partition("\nTraceback")
        return head.replace("\r", "\\r").replace("\n", "\\n") + (sep + trace if sep else "")


class JsonFormatter(logging.Formatter):
    """One JSON object per record; see the module docstring for its fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        identifier = correlation_id(record)
        if identifier is not None:
            entry["correlation_id"] = identifier
        if record.name == "gunicorn.access" and isinstance(record.args, Mapping):
            for field, atom in ACCESS_FIELDS.items():
                value = record.args.get(atom)
                if value not in (None, "-"):
                    entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # ASCII only: no line or paragraph separator (U+2028/9) or control character survives unescaped.
        return json.dumps(entry, ensure_ascii=True, default=str)


class TextFormatter(LineBreakEscapingFormatter):
    """A readable line for development and tests, with the correlation id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        identifier = correlation_id(record)
        if identifier is None:
            return line
        head, sep, trace = line.partition("\nTraceback")
        return f"{head} [request {identifier}]{sep}{trace}"


class DisclosureFormatter(logging.Formatter):
    """JSON or text, as this process is configured (see set_format): the one formatter named in gunicorn.conf.py,
    so the handlers gunicorn rebuilds on a reload (SIGHUP) follow the app's setting too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self._json = JsonFormatter()
        self._text = TextFormatter()

    def format(self, record: logging.LogRecord) -> str:
        return (self._json if _format == "json" else self._text).format(record)


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stderr is when a record arrives (a test runner swaps it between tests)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure_logging(app: Flask) -> None:
    """Set this process's log format from the app's LOG_FORMAT and make sure the root logger writes with it.

    Under gunicorn, gunicorn.conf.py has already given the root logger a handler with DisclosureFormatter; the
    `flask` command and `flask run` get one here, to stderr. Either way there is exactly one. Tests (TESTING) get
    none: the test runner's own handlers take the records, and ours would print each one again, into the output
    of the commands under test.
    """
    set_format(str(app.config["LOG_FORMAT"]))
    root = logging.getLogger()
    if not app.testing and not any(isinstance(handler.formatter, DisclosureFormatter) for handler in root.handlers):
        handler = StderrHandler()
        handler.setFormatter(DisclosureFormatter())
        root.addHandler(handler)
    # The app's own records at INFO and above, whatever level the root logger keeps for libraries.
    logging.getLogger("disclosure").setLevel(logging.INFO)
    # Flask's default handler writes plain lines to the WSGI error stream: ours already writes every record once.
    from flask.logging import default_handler

    app.logger.removeHandler(default_handler)


def gunicorn_logconfig() -> dict[str, Any]:
    """gunicorn's logconfig_dict: its error log and every other record to stderr, its access log to stdout, all
    through DisclosureFormatter. Libraries say only warnings and errors; the app (configure_logging) and gunicorn
    say what they do at INFO."""
    formatter = "disclosure"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {formatter: {"()": f"{__name__}.DisclosureFormatter"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": formatter, "stream": "ext://sys.stderr"},
            "stdout": {"class": "logging.StreamHandler", "formatter": formatter, "stream": "ext://sys.stdout"},
        },
        "root": {"level": "WARNING", "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        },
    }
