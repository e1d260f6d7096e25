"""What a URL may carry: ids within the range of an INTEGER column, filter dates within a sane span, and pagination
links built from the page's own filter keys only.

Invariants: a NUL character anywhere in the path, the query or a form is refused with a 400 before any view runs;
an id larger than any row could have is "not found" before it reaches the database (SQLite raises
OverflowError past 2**63 - 1); a filter date outside DATE_RANGE is refused with a sentence, never passed on to date
arithmetic; a pagination link never hands request.args to url_for, so `_method`, `_external`, `_anchor`, `_scheme`
or any other key cannot change the link.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Flask, abort, request, url_for
from werkzeug.routing import IntegerConverter, Map
from wtforms import Field, Form
from wtforms.validators import ValidationError

#: Largest value of an INTEGER column on both databases: a larger number names no row.
MAX_ID = 2**31 - 1
#: Request bodies whose fields Flask parses into request.form.
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
#: The dates a filter accepts: wider than any case or log entry, narrow enough for any date arithmetic.
DATE_RANGE = (date(1900, 1, 1), date(2199, 12, 31))


class IdConverter(IntegerConverter):
    """werkzeug's `int` converter with a ceiling: /audit/events/99999999999999999999 is a 404, not a 500."""

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None, max: int | None = MAX_ID) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=False)


def parse_id(text: str | None) -> int | None:
    """An id from a form or query string, or None when the text is not one (not digits, or out of range)."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def date_in_range(form: Form, field: Field) -> None:
    """A WTForms validator for filter dates: 0001-01-01 and 9999-12-31 are refused with what to give instead."""
    first, last = DATE_RANGE
    if field.data is not None and not first <= field.data <= last:
        raise ValidationError(f"Give a date between {first.isoformat()} and {last.isoformat()}.")


def page_url(page: int, form: Form, *keys: str) -> str:
    """The current page's URL at another page number, keeping only the filter form's fields (and `keys`) that the
    request gave: never request.args as a whole."""
    allowed = [name for name in form._fields if name not in {"csrf_token", "page"}] + list(keys)
    values: dict[str, Any] = {name: request.args[name] for name in allowed if request.args.get(name)}
    endpoint = request.endpoint or ""
    return url_for(endpoint, **(request.view_args or {}), **values, page=page)


def refuse_nul_characters() -> None:
    """A NUL character in the path, the query or a form field is never part of anything this app stores, and
    PostgreSQL refuses it in any text value: say so with a 400 before it reaches a query (it answered 500)."""
    values = [request.path, *request.args.values()]
    if request.method in {"POST", "PUT", "PATCH"} and request.mimetype in FORM_TYPES:
        values.extend(request.form.values())
    if any("\x00" in value for value in values):
        abort(400, "The address or the form contains a NUL character, which no field accepts. Remove it and try again.")


def init_app(app: Flask) -> None:
    """Before any blueprint is registered: rules bind their converters when they are added."""
    app.url_map.converters["int"] = IdConverter
    app.before_request(refuse_nul_characters)
    app.add_template_global(page_url, "page_url")
