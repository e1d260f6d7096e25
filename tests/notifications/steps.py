"""Steps the notification tests share: workers draining the queue (one, or several at once), and reading rows."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import select

from disclosure.extensions import db
from disclosure.jobs import worker
from disclosure.notifications.models import Notification, SentMessage


def run_worker(name: str = "test-worker") -> int:
    """Run every job due now, in this app context, as one worker would."""
    return worker.work(name, once=True, periodic=False, heartbeat_every=0.05)


def at_once(app: Flask, *steps: Callable[[], Any]) -> list[Any]:
    """Run each step in a thread of its own, with its own app context (and so its own database session), all
    released at the same instant; re-raise the first error. Returns what each step returned. The caller's own
    transaction is ended first (on SQLite it would hold the only write lock)."""
    db.session.commit()
    barrier = threading.Barrier(len(steps))
    results: list[Any] = [None] * len(steps)
    errors: list[BaseException] = []

    def run(index: int, step: Callable[[], Any]) -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                results[index] = step()
                db.session.remove()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, step)) for i, step in enumerate(steps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def workers_drain(app: Flask, count: int = 2) -> int:
    """`count` workers running side by side until nothing is due; returns how many jobs they ran in all."""
    ran = at_once(app, *[lambda i=i: run_worker(f"worker-{i}") for i in range(count)])
    return sum(ran)


def notifications(**where: Any) -> list[Notification]:
    db.session.expire_all()
    query = select(Notification).order_by(Notification.id)
    for name, value in where.items():
        query = query.where(getattr(Notification, name) == value)
    return list(db.session.execute(query).scalars())


def messages() -> list[SentMessage]:
    db.session.expire_all()
    return list(db.session.execute(select(SentMessage).order_by(SentMessage.id)).scalars())
