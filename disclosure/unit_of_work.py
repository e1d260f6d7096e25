"""One commit per request or command, in one place, so that a change and its audit event land together or not at all.

A request commits once its response is ready, unless the response says something went wrong (4xx/5xx), in which case
everything is rolled back. A view runs its service calls inside `attempt()`: a refusal (a ServiceError, an illegal
transition, a request document or scope that does not hold) rolls back everything the call wrote and is re-raised for
the view to show beside the form; a refusal that must itself stay on record (`ServiceError.on_record`) is written
after the rollback and committed. Command-line commands use `command()` the same way. Services never commit.
A rollback that fails in turn (the connection was lost) is logged and never replaces the answer already decided on.
A request that only reads (GET, HEAD, or a view marked `writes_apart`) reads in deferred transactions, which on SQLite
wait for no writer, and writes, if at all, in a `short_write()` of its own; slow work (a password hash) runs in
`holding_no_transaction()`. SQLite's "database is locked" is answered with a 503 "busy, try again" page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from flask import Flask, Response, current_app, g, request, session
from sqlalchemy.exc import OperationalError

from disclosure.database import READ_ONLY, WRITE, is_busy, reading_deferred, reads_deferred
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
_DEFERRED = "unit_of_work_deferred"
#: Seconds a person is asked to wait when the database is busy.
RETRY_AFTER_SECONDS = 5

log = logging.getLogger(__name__)

View = TypeVar("View", bound=Callable[..., Any])


def init_app(app: Flask) -> None:
    # First of all before_request functions: the user loader's first read must already know how to begin.
    app.before_request_funcs.setdefault(None, []).insert(0, _begin_request)
    app.after_request(_settle)
    app.teardown_request(_discard)


def writes_apart(view: View) -> View:
    """Mark a view that reads in deferred transactions and writes only in `short_write()`, whatever its method
    (sign-in: the password is checked holding no lock, then the outcome written in one short transaction)."""
    view.writes_apart = True  # type: ignore[attr-defined]
    return view


def _begin_request() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    if request.method in {"GET", "HEAD"} or getattr(view, "writes_apart", False):
        context = reads_deferred()
        context.__enter__()
        setattr(g, _DEFERRED, context)


#: The answer to a database error, set by disclosure.errors (which renders pages; this module renders none).
_answer_database_error: Callable[[OperationalError], Any] | None = None


def on_database_error(answer: Callable[[OperationalError], Any]) -> None:
    """Have `answer(error)` give the response when the database fails (busy, or lost) as the request ends."""
    global _answer_database_error
    _answer_database_error = answer


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
    except Exception as error:
        roll_back()
        # The page was about to say what happened; it did not happen, so it must not say so.
        session.pop("_flashes", None)
        if isinstance(error, OperationalError) and is_busy(error) and _answer_database_error is not None:
            return current_app.make_response(_answer_database_error(error))
        raise
    return response


def _discard(error: BaseException | None) -> None:
    # An exception that escaped the view (the 500 page): nothing it wrote may land.
    if error is not None or not g.get(_SETTLED):
        roll_back()
    deferred = g.pop(_DEFERRED, None)
    if deferred is not None:
        deferred.__exit__(None, None, None)


@contextmanager
def holding_no_transaction() -> Iterator[None]:
    """Slow work (a password hash): what the request wrote so far is committed first, so that the work runs holding
    no transaction and no lock anyone else waits for. Read what the work needs before, in `reading_apart()`."""
    if db.session().in_transaction():
        db.session.commit()
    yield


@contextmanager
def reading_apart() -> Iterator[None]:
    """A read in a deferred transaction of its own, ended after: whatever the request's method, it takes no write
    lock. What the request wrote before is committed first."""
    if db.session().in_transaction():
        db.session.commit()
    db.session.connection(execution_options={READ_ONLY: True})
    try:
        yield
    finally:
        db.session.rollback()


@contextmanager
def short_write(keep_on: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """A short write transaction, committed at its end: the write lock (SQLite) from its first statement to its
    commit, and nothing slow inside. What the request did before is committed first; an error rolls it back, except
    one of `keep_on` (a refusal that recorded itself, such as a counted sign-in failure), which commits, then is
    raised."""
    if db.session().in_transaction():
        db.session.commit()
    db.session.connection(execution_options={WRITE: True})
    try:
        yield
        db.session.flush()
    except keep_on:
        db.session.commit()
        raise
    except BaseException:
        roll_back()
        raise
    db.session.commit()


def writes_in_own_transaction() -> bool:
    """Whether this request reads deferred, so that a write it must make goes in a `short_write()`."""
    return reading_deferred()


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
