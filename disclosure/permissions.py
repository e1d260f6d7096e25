"""Who may do what: the roles, the permission vocabulary and the one table that grants them.

Pure: no Flask, no database. Every view declares one Permission; a role grants a fixed set of them; a user
holds the union of their roles' grants. Anything not granted here is denied.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    INTAKE = "intake"
    REVIEWER = "reviewer"
    PRODUCER = "producer"
    AUDITOR = "auditor"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]


ROLE_LABELS: dict[Role, str] = {
    Role.INTAKE: "Intake",
    Role.REVIEWER: "Reviewer",
    Role.PRODUCER: "Producer",
    Role.AUDITOR: "Auditor",
    Role.ADMIN: "Administrator",
}


class Permission(StrEnum):
    #: Every signed-in user: the dashboard, their own password and second factor, signing out.
    ACCOUNT_SELF = "account:self"
    USER_VIEW = "user:view"
    USER_MANAGE = "user:manage"
    AUDIT_VIEW = "audit:view"
    AUDIT_VERIFY = "audit:verify"
    AUDIT_CHECKPOINT = "audit:checkpoint"
    AUDIT_EXPORT = "audit:export"


_EVERYONE = frozenset({Permission.ACCOUNT_SELF})

GRANTS: dict[Role, frozenset[Permission]] = {
    Role.INTAKE: _EVERYONE,
    Role.REVIEWER: _EVERYONE,
    Role.PRODUCER: _EVERYONE,
    Role.AUDITOR: _EVERYONE
    | {Permission.AUDIT_VIEW, Permission.AUDIT_VERIFY, Permission.AUDIT_EXPORT, Permission.USER_VIEW},
    Role.ADMIN: _EVERYONE
    | {Permission.USER_VIEW, Permission.USER_MANAGE, Permission.AUDIT_VERIFY, Permission.AUDIT_CHECKPOINT},
}

#: Roles whose holders must sign in with a second factor.
SECOND_FACTOR_ROLES = frozenset({Role.REVIEWER, Role.PRODUCER, Role.ADMIN})


def permissions_for(roles: Iterable[Role]) -> frozenset[Permission]:
    """The union of the grants of the given roles; no roles grant nothing."""
    granted: frozenset[Permission] = frozenset()
    for role in roles:
        granted |= GRANTS[role]
    return granted


def is_allowed(roles: Iterable[Role], permission: Permission) -> bool:
    return permission in permissions_for(roles)


def requires_second_factor(roles: Iterable[Role]) -> bool:
    return any(role in SECOND_FACTOR_ROLES for role in roles)
