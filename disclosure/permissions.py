"""Who may do what: the roles, the permission vocabulary, the one table that grants them, and the object rules.

Pure: no Flask, no database. Every view declares one Permission; a role grants a fixed set of them; a user
holds the union of their roles' grants, and an operator at the command line holds OPERATOR_GRANTS. Anything not
granted here is denied. The object rules (four eyes, distinct approvers, producing within the approved scope) are
predicates over plain values, so that services, views and templates all ask the same question.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
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
    #: Internal comments on a case, for the team working it (never in letters or bundles).
    CASE_COMMENT = "case:comment"
    DOCUMENT_UPLOAD = "document:upload"
    DOCUMENT_DOWNLOAD = "document:download"
    #: The agency directory: its records, aliases, official domains and verified contact channels.
    AGENCY_VIEW = "agency:view"
    #: Changing the directory: adding agencies, aliases, domains and channels, verifying a channel, merging records.
    AGENCY_MANAGE = "agency:manage"
    #: Vouching for an agency: marking it verified (or withdrawing that), and the changes that lean on that trust:
    #: the official domains of a verified agency, and merging a record into a verified one.
    AGENCY_VERIFY = "agency:verify"
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
    #: Housekeeping of stored files and keys: purging expired bundles, rotating the storage key.
    STORAGE_MAINTAIN = "storage:maintain"


_EVERYONE = frozenset({Permission.ACCOUNT_SELF})

_READ_CASES = frozenset(
    {Permission.CASE_VIEW, Permission.DOCUMENT_DOWNLOAD, Permission.POLICY_VIEW, Permission.AGENCY_VIEW}
)

GRANTS: dict[Role, frozenset[Permission]] = {
    Role.INTAKE: _EVERYONE
    | _READ_CASES
    | {
        Permission.CASE_CREATE,
        Permission.CASE_EDIT,
        Permission.CASE_ASSIGN,
        Permission.CASE_CLOSE,
        Permission.CASE_COMMENT,
        Permission.DOCUMENT_UPLOAD,
        Permission.AGENCY_MANAGE,
    },
    Role.REVIEWER: _EVERYONE
    | _READ_CASES
    | {Permission.REVIEW_DECIDE, Permission.CASE_ASSIGN, Permission.CASE_COMMENT},
    Role.PRODUCER: _EVERYONE
    | _READ_CASES
    | {Permission.PRODUCTION_MANAGE, Permission.BUNDLE_DOWNLOAD, Permission.CASE_CLOSE, Permission.CASE_COMMENT},
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
        Permission.STORAGE_MAINTAIN,
        Permission.AGENCY_VIEW,
        Permission.AGENCY_MANAGE,
        Permission.AGENCY_VERIFY,
    },
}

#: What an operator may do from the command line without naming a person (`--as`): the system's own upkeep,
#: reading for reports and exports. Everything that touches a case on its way to disclosure (logging it, deciding
#: it, producing its records) needs a person who is accountable for it, so an operator holds none of that.
OPERATOR_GRANTS: frozenset[Permission] = frozenset(
    {
        Permission.USER_VIEW,
        Permission.USER_MANAGE,
        Permission.POLICY_VIEW,
        Permission.POLICY_MANAGE,
        Permission.RECIPIENT_MANAGE,
        Permission.AUDIT_VIEW,
        Permission.AUDIT_VERIFY,
        Permission.AUDIT_CHECKPOINT,
        Permission.AUDIT_EXPORT,
        Permission.REPORT_VIEW,
        Permission.STORAGE_MAINTAIN,
        Permission.AGENCY_VIEW,
    }
)

#: Roles whose grant is power over cases and users: given only once a second administrator approves (two-person
#: control), except the first administrator, created at the command line when there is none.
POWERFUL_ROLES = frozenset({Role.REVIEWER, Role.PRODUCER, Role.ADMIN})
#: Separation of duties: an account that administers users, keys and the policy never also decides or produces.
#: Otherwise one administrator could grant themselves both and approve and disclose a case alone.
EXCLUSIVE_WITH_ADMIN = frozenset({Role.REVIEWER, Role.PRODUCER})

#: Roles whose holders must sign in with a second factor.
SECOND_FACTOR_ROLES = frozenset({Role.REVIEWER, Role.PRODUCER, Role.ADMIN})


def permissions_for(roles: Iterable[Role]) -> frozenset[Permission]:
    """The union of the grants of the given roles; no roles grant nothing."""
    granted: frozenset[Permission] = frozenset()
    for role in roles:
        granted |= GRANTS[role]
    return granted


def requires_second_factor(roles: Iterable[Role]) -> bool:
    return any(role in SECOND_FACTOR_ROLES for role in roles)


# Object rules: who may act on this particular case, beyond what their roles grant.


def may_review(actor_id: int | None, logged_by_id: int | None) -> bool:
    """Four eyes: the person who logged a case never reviews, decides or is assigned to review it."""
    return actor_id is not None and actor_id != logged_by_id


def may_add_approval(actor_id: int | None, approver_ids: Collection[int]) -> bool:
    """Where two approvals are required, each comes from a different reviewer."""
    return actor_id is not None and actor_id not in approver_ids


def approvals_complete(approver_ids: Collection[int], required: int) -> bool:
    """The decision stands once `required` distinct reviewers have approved."""
    return len(set(approver_ids)) >= required


#: One approved grant: (target kind, target value) and the categories approved for it.
ScopeGrant = tuple[tuple[str, str], Collection[str]]


def within_scope(scope: Iterable[ScopeGrant], target: tuple[str, str], category: str) -> bool:
    """A producer may attach a record only for a target and category that the standing approval covers."""
    return any(granted_target == target and category in categories for granted_target, categories in scope)


def roles_compatible(roles: Collection[Role]) -> bool:
    """Separation of duties: no account holds admin together with reviewer or producer."""
    return not (Role.ADMIN in roles and EXCLUSIVE_WITH_ADMIN & set(roles))


def needs_second_administrator(old_roles: Collection[Role], new_roles: Collection[Role]) -> bool:
    """Adding a powerful role (reviewer, producer, admin) waits for a second administrator; removing never does."""
    return bool((set(new_roles) - set(old_roles)) & POWERFUL_ROLES)


def may_decide_change(actor_id: int | None, requested_by_id: int) -> bool:
    """Two-person control: a pending change is approved or refused by a person other than who asked for it."""
    return actor_id is not None and actor_id != requested_by_id


def may_withdraw_change(actor_id: int | None, requested_by_id: int) -> bool:
    """Only the person who asked for a change may withdraw it."""
    return actor_id is not None and actor_id == requested_by_id
