"""One commit per request or command, in one place, so that a change and its audit event land together or not at all.

A request commits once its response is ready, unless the response says something went wrong (4xx/5xx), in which case
everything is rolled back. A view runs its service calls inside `attempt()`: a refusal (a ServiceError, an illegal
transition, a request document or scope that does not hold) rolls back everything the call wrote and is re-raised for
the view to show beside the form; a refusal that must itself stay on record (`ServiceError.on_record`) is written
after the rollback and committed. Command-line commands use `command()` the same way. Services never commit.
A rollback that fails in turn (the connection was lost) is logged and never replaces the answer already decided on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import Flask, Response, g, session

from disclosure.database import READ_ONLY
from disclosure.extensions import db
from disclosure.policy.request_fields import RequestError
from disclosure.policy.scope import ScopeError
from disclosure.services import NotPermitted, ServiceError, Stale
from disclosure.workflow import IllegalTransition

#: What a service call may refuse with; anything else is a fault, not a refusal, and becomes the 500 page.
REFUSALS = (ServiceError, IllegalTransition, RequestError, ScopeError)
Refusal = ServiceError | IllegalTransition | RequestError | ScopeError

_KEEP = "unit_of_work_keep"
_SETTLED = "unit_of_work_settled"

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    app.after_request(_settle)
    app.teardown_request(_discard)


def keep() -> None:
    """What this request wrote so far records the refusal itself (an expired session, say): commit it anyway."""
    setattr(g, _KEEP, True)


def roll_back() -> None:
    """Roll back what the request or command wrote, while an error or a refusal is being answered.

    If the rollback fails too (the connection was lost, so nothing was written anyway), that is logged and not
    raised: the person still gets the app's answer (its error page, the refused form), not a second failure.
    SQLAlchemy has closed the transaction by then, and the session starts afresh on its next use.
    """
    try:
        db.session.rollback()
    except Exception:
        log.exception("the rollback failed; the transaction ends without it")


def _settle(response: Response) -> Response:
    if g.get(_SETTLED):
        return response
    setattr(g, _SETTLED, True)
    if response.status_code >= 400 and not g.get(_KEEP):
        roll_back()
        return response
    try:
        db.session.commit()
    except Exception:
        roll_back()
        # The page was about to say what happened; it did not happen, so it must not say so.
        session.pop("_flashes", None)
        raise
    return response


def _discard(error: BaseException | None) -> None:
    # An exception that escaped the view (the 500 page): nothing it wrote may land.
    if error is not None or not g.get(_SETTLED):
        roll_back()


@contextmanager
def attempt() -> Iterator[None]:
    """Run service calls; a refusal rolls back all they wrote, records the refusal if it asks to be, and re-raises."""
    try:
        yield
    except REFUSALS as error:
        roll_back()
        on_record = error.on_record if isinstance(error, ServiceError) else None
        if on_record is not None:
            on_record()
            db.session.flush()
            keep()
        raise


def status_for(error: Refusal) -> int:
    """The HTTP status a refused form answers with."""
    if isinstance(error, NotPermitted):
        return 403
    if isinstance(error, Stale | IllegalTransition):
        return 409
    return 400


def message_for(error: Refusal) -> str:
    """The sentence shown to the person: what was refused and what to fix."""
    if isinstance(error, RequestError):
        return f"{error.field}: {error.message}"
    if isinstance(error, ScopeError):
        return f"Cannot approve: {error}."
    return str(error)


@contextmanager
def command(nothing_done: str = "nothing was changed") -> Iterator[None]:
    """A command-line command's unit of work: commit at the end, roll back on any error, refusals as clear exits."""
    try:
        yield
    except REFUSALS as error:
        roll_back()
        if isinstance(error, ServiceError) and error.on_record is not None:
            error.on_record()
            db.session.commit()
        raise click.ClickException(f"{nothing_done}: {message_for(error)}") from error
    except BaseException:
        roll_back()
        raise
    db.session.commit()


@contextmanager
def reading_beside_writers() -> Iterator[None]:
    """Read through the session in a transaction that takes no write lock, and end it after.

    On SQLite every session transaction begins IMMEDIATE, holding the database's only write lock; this one is
    opened READ_ONLY (a plain deferred BEGIN), so other users write while a large extract or report is read. On
    PostgreSQL a read takes no lock anyone writing waits for. Call it holding no transaction: nothing is written
    inside, and the read transaction is rolled back at the end."""
    if db.session().in_transaction():
        raise RuntimeError("read the bundle's contents holding no transaction: commit the first step before")
    db.session.connection(execution_options={READ_ONLY: True})
    try:
        yield
    finally:
        db.session.rollback()
