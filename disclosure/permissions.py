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
    CASE_VIEW = "case:view"
    CASE_CREATE = "case:create"
    CASE_EDIT = "case:edit"
    CASE_ASSIGN = "case:assign"
    CASE_CLOSE = "case:close"
    DOCUMENT_UPLOAD = "document:upload"
    DOCUMENT_DOWNLOAD = "document:download"
    AGENCY_MANAGE = "agency:manage"
    REVIEW_DECIDE = "review:decide"
    PRODUCTION_MANAGE = "production:manage"
    BUNDLE_DOWNLOAD = "bundle:download"
    RECIPIENT_MANAGE = "recipient:manage"
    POLICY_VIEW = "policy:view"
    POLICY_MANAGE = "policy:manage"
    USER_VIEW = "user:view"
    USER_MANAGE = "user:manage"
    AUDIT_VIEW = "audit:view"
    AUDIT_VERIFY = "audit:verify"
    AUDIT_CHECKPOINT = "audit:checkpoint"
    AUDIT_EXPORT = "audit:export"
    #: The transparency report, operational metrics and case dossiers (auditors).
    REPORT_VIEW = "report:view"


_EVERYONE = frozenset({Permission.ACCOUNT_SELF})

_READ_CASES = frozenset({Permission.CASE_VIEW, Permission.DOCUMENT_DOWNLOAD, Permission.POLICY_VIEW})

GRANTS: dict[Role, frozenset[Permission]] = {
    Role.INTAKE: _EVERYONE
    | _READ_CASES
    | {
        Permission.CASE_CREATE,
        Permission.CASE_EDIT,
        Permission.CASE_ASSIGN,
        Permission.CASE_CLOSE,
        Permission.DOCUMENT_UPLOAD,
        Permission.AGENCY_MANAGE,
    },
    Role.REVIEWER: _EVERYONE | _READ_CASES | {Permission.REVIEW_DECIDE, Permission.CASE_ASSIGN},
    Role.PRODUCER: _EVERYONE
    | _READ_CASES
    | {Permission.PRODUCTION_MANAGE, Permission.BUNDLE_DOWNLOAD, Permission.CASE_CLOSE},
    Role.AUDITOR: _EVERYONE
    | _READ_CASES
    | {Permission.REPORT_VIEW}
    | {Permission.AUDIT_VIEW, Permission.AUDIT_VERIFY, Permission.AUDIT_EXPORT, Permission.USER_VIEW},
    Role.ADMIN: _EVERYONE
    | {
        Permission.USER_VIEW,
        Permission.USER_MANAGE,
        Permission.AUDIT_VERIFY,
        Permission.AUDIT_CHECKPOINT,
        Permission.POLICY_VIEW,
        Permission.POLICY_MANAGE,
        Permission.RECIPIENT_MANAGE,
    },
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
