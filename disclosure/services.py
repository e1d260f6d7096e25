"""What every service shares: who acts, the permission gate, and the refusals the boundary turns into pages.

Every service takes an Actor (a signed-in User, or a SystemActor for the command line and jobs) and calls
`require(actor, permission)` before it changes data; the views' decorators are the first gate, never the only
one. A refusal is a ServiceError whose message says what to fix; the unit of work (disclosure.unit_of_work)
rolls back everything the refused call wrote and shows the message beside the form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from disclosure.permissions import OPERATOR_GRANTS, Permission


class ServiceError(ValueError):
    """An operation was refused; the message says what to fix.

    `on_record` is the refusal's own record (a failed step-up, say): the unit of work runs it after rolling
    back the refused work and commits it, so the attempt stays on file while nothing else changes.
    """

    on_record: Callable[[], None] | None = None


class NotPermitted(ServiceError):
    """The actor's roles or relation to the object do not allow this."""


class Stale(ServiceError):
    """Someone else changed the object since the form was loaded."""

    def __init__(self, what: str) -> None:
        super().__init__(
            f"{what} was changed by someone else while you were editing. Your input is kept below: check the "
            "current version and save again."
        )


@runtime_checkable
class Person(Protocol):
    """A signed-in person (disclosure.auth.models.User): what services need to know of them."""

    @property
    def id(self) -> int: ...

    @property
    def email(self) -> str: ...

    def can(self, permission: Permission) -> bool: ...


@dataclass(frozen=True)
class SystemActor:
    """An operator at the command line, or a scheduled job: holds OPERATOR_GRANTS and nothing else."""

    name: str
    #: Not a person: rows that name who did something (decided_by, added_by) never point at an operator.
    id: None = None

    def can(self, permission: Permission) -> bool:
        return permission in OPERATOR_GRANTS


Actor = Person | SystemActor


def require(actor: Actor, permission: Permission) -> None:
    """Refuse unless the actor holds `permission` (a user through their roles, an operator through its grants)."""
    if not actor.can(permission):
        if isinstance(actor, SystemActor):
            raise NotPermitted(
                f"{actor.name} may not do this without naming the person who does it: pass --as EMAIL."
            )
        raise NotPermitted("Your roles do not allow this.")


def person(actor: Actor) -> Person:
    """The signed-in person behind an action that must be credited to someone."""
    if isinstance(actor, SystemActor):
        raise NotPermitted(f"{actor.name} may not do this without naming the person who does it: pass --as EMAIL.")
    return actor
