"""Two-person control: powerful changes wait for a second administrator, who re-enters their password to approve.

Granting reviewer, producer or admin, installing a policy version (its grounds, checklists and approval counts),
and revoking the bundle-signing certificate (which issues a new one: `flask keys revoke-signer --as EMAIL`) each
create a PendingChange instead of taking effect. Another administrator approves it (the change is applied
then, in the same transaction, as that administrator) or refuses it, after re-entering their own password; the
requester may withdraw it. The requester can never decide their own (permissions.may_decide_change, and a CHECK
constraint in the database). Every step is an audit event. A wrong password changes nothing.

The one exception is the bootstrap: the first administrator is created at the command line when there is none
(disclosure.auth.cli). There is no break-glass: no command acts alone where a second administrator is needed.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.auth import passwords, service
from disclosure.auth.models import User
from disclosure.auth.pending_models import ChangeKind, ChangeState, PendingChange
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.permissions import (
    POWERFUL_ROLES,
    Permission,
    Role,
    may_decide_change,
    may_withdraw_change,
    needs_second_administrator,
    roles_compatible,
)
from disclosure.services import Actor, ServiceError, require


class PendingChangeError(ServiceError):
    """A pending change cannot be requested, approved, refused or withdrawn as asked."""


def _person(actor: Actor) -> User:
    if not isinstance(actor, User):
        raise PendingChangeError("Only a signed-in administrator can take part in two-person control.")
    return actor


def _parse_roles(values: Iterable[str]) -> list[Role]:
    try:
        roles = sorted({Role(value) for value in values}, key=list(Role).index)
    except ValueError as error:
        raise PendingChangeError(f"Unknown role; choose from {', '.join(Role)}.") from error
    if not roles_compatible(roles):
        raise PendingChangeError(
            "An administrator cannot also be a reviewer or producer (separation of duties): use a second account."
        )
    return roles


def _request(
    actor: User, kind: ChangeKind, params: dict[str, Any], ip: str | None, payload: bytes | None = None
) -> PendingChange:
    change = PendingChange(kind=kind.value, params=params, payload=payload, requested_by_id=actor.id)
    db.session.add(change)
    db.session.flush()
    record(
        actor, AuditAction.CHANGE_REQUESTED, subject=f"change:{change.id}", ip=ip, data={"kind": kind.value, **params}
    )
    return change


def change_roles(actor: Actor, user: User, roles: Iterable[str], ip: str | None) -> PendingChange | None:
    """Set the user's roles now when nothing powerful is added; otherwise ask a second administrator (returned)."""
    require(actor, Permission.USER_MANAGE)
    new = _parse_roles(roles)
    old = user.sorted_roles
    if not needs_second_administrator(old, new):
        service.set_roles(actor, user, [r.value for r in new], ip)
        return None
    params = {"user_id": user.id, "email": user.email, "from": [r.value for r in old], "to": [r.value for r in new]}
    return _request(_person(actor), ChangeKind.GRANT_ROLES, params, ip)


def create_user(
    actor: Actor, email: str, name: str, roles: Iterable[str], password: str, ip: str | None
) -> tuple[User, PendingChange | None]:
    """Create the account with the roles that need no approval, and ask a second administrator for the rest."""
    require(actor, Permission.USER_MANAGE)
    wanted = _parse_roles(roles)
    if not wanted:
        raise PendingChangeError("Give the user at least one role.")
    now = [role.value for role in wanted if role not in POWERFUL_ROLES]
    user = service.create_user(actor, email, name, now, password, ip=ip, roles_pending=len(now) < len(wanted))
    if len(now) == len(wanted):
        return user, None
    return user, change_roles(actor, user, [role.value for role in wanted], ip)


def request_policy_version(actor: Actor, content: bytes, filename: str, ip: str | None) -> PendingChange:
    """Check the policy file now (so the requester sees its errors) and keep it until a second administrator
    approves installing it."""
    from disclosure.review.policy_versions import check_upload

    require(actor, Permission.POLICY_MANAGE)
    label, digest = check_upload(content, filename)
    params = {"label": label, "sha256": digest, "filename": filename[:200]}
    return _request(_person(actor), ChangeKind.UPLOAD_POLICY, params, ip, payload=content)


def request_signer_revocation(actor: Actor, reason: str, ip: str | None) -> PendingChange:
    """Ask for the bundle-signing certificate to be revoked (and a new one issued) once a second administrator
    approves. Checked now, so that the requester sees at once what would stop it; one such request at a time."""
    from disclosure.exports.pki import serial_hex
    from disclosure.exports.signer_service import check_signer_revocation

    require(actor, _DECIDE_PERMISSION[ChangeKind.REVOKE_SIGNER])
    person = _person(actor)
    plan = check_signer_revocation(reason)
    waiting = next((c for c in pending_changes() if c.change_kind is ChangeKind.REVOKE_SIGNER), None)
    if waiting is not None:
        raise PendingChangeError(
            f"A revocation of the bundle-signing certificate is waiting already (change #{waiting.id}, asked by "
            f"{waiting.requested_by.email}): have it approved, or withdrawn by who asked for it."
        )
    params = {
        "reason": reason,
        "serial": serial_hex(plan.revoked.serial_number),
        "subject": plan.revoked.subject.rfc4514_string(),
    }
    return _request(person, ChangeKind.REVOKE_SIGNER, params, ip)


def pending_changes() -> list[PendingChange]:
    query = select(PendingChange).where(PendingChange.state == ChangeState.PENDING.value).order_by(PendingChange.id)
    return list(db.session.execute(query).scalars())


def recent_decisions(limit: int = 20) -> list[PendingChange]:
    query = (
        select(PendingChange)
        .where(PendingChange.state != ChangeState.PENDING.value)
        .order_by(PendingChange.id.desc())
        .limit(limit)
    )
    return list(db.session.execute(query).scalars())


def _close(change: PendingChange, actor: User, state: ChangeState) -> None:
    """Move the change out of pending exactly once: of two administrators deciding at the same moment, one wins."""
    closed = db.session.execute(
        update(PendingChange)
        .where(PendingChange.id == change.id, PendingChange.state == ChangeState.PENDING.value)
        .values(state=state.value, decided_by_id=actor.id, decided_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if closed.rowcount != 1:  # type: ignore[attr-defined]
        raise PendingChangeError("This change was decided or withdrawn meanwhile; nothing was changed.")
    db.session.refresh(change)


#: What a person must be allowed to do to ask for, approve or refuse each kind of change.
_DECIDE_PERMISSION = {
    ChangeKind.GRANT_ROLES: Permission.USER_MANAGE,
    ChangeKind.UPLOAD_POLICY: Permission.POLICY_MANAGE,
    ChangeKind.REVOKE_SIGNER: Permission.STORAGE_MAINTAIN,
}


def _decider(actor: Actor, change: PendingChange, password: str) -> User:
    require(actor, _DECIDE_PERMISSION[change.change_kind])
    person = _person(actor)
    if change.change_state is not ChangeState.PENDING:
        raise PendingChangeError(f"This change is {change.change_state.value} already.")
    if not may_decide_change(person.id, change.requested_by_id):
        raise PendingChangeError("You asked for this change: another administrator must approve or refuse it.")
    if not passwords.verify_password(person.password_hash, password):
        raise PendingChangeError("Wrong password; nothing was changed.")
    return person


def approve(actor: Actor, change: PendingChange, password: str, ip: str | None) -> None:
    """A second administrator approves: the change is applied now, as them, with its audit events."""
    person = _decider(actor, change, password)
    _close(change, person, ChangeState.APPROVED)
    record(person, AuditAction.CHANGE_APPROVED, subject=f"change:{change.id}", ip=ip, data={"kind": change.kind})
    _apply(person, change, ip)


def refuse(actor: Actor, change: PendingChange, password: str, ip: str | None) -> None:
    person = _decider(actor, change, password)
    _close(change, person, ChangeState.REFUSED)
    record(person, AuditAction.CHANGE_REFUSED, subject=f"change:{change.id}", ip=ip, data={"kind": change.kind})


def withdraw(actor: Actor, change: PendingChange, ip: str | None) -> None:
    person = _person(actor)
    if change.change_state is not ChangeState.PENDING:
        raise PendingChangeError(f"This change is {change.change_state.value} already.")
    if not may_withdraw_change(person.id, change.requested_by_id):
        raise PendingChangeError("Only the administrator who asked for this change can withdraw it.")
    _close(change, person, ChangeState.WITHDRAWN)
    record(person, AuditAction.CHANGE_WITHDRAWN, subject=f"change:{change.id}", ip=ip, data={"kind": change.kind})


def _apply(approver: User, change: PendingChange, ip: str | None) -> None:
    params = change.params
    if change.change_kind is ChangeKind.GRANT_ROLES:
        user = db.session.get(User, int(params["user_id"]))
        if user is None:
            raise PendingChangeError("The account this change was for no longer exists.")
        if [r.value for r in user.sorted_roles] != params["from"]:
            raise PendingChangeError("The account's roles changed since this was asked for: refuse it and ask again.")
        service.set_roles(approver, user, params["to"], ip)
    elif change.change_kind is ChangeKind.UPLOAD_POLICY:
        from disclosure.review.policy_versions import install_version

        content = bytes(change.payload or b"")
        if hashlib.sha256(content).hexdigest() != params["sha256"]:
            raise PendingChangeError("The stored policy file does not match what was asked for; nothing installed.")
        install_version(approver, content, str(params["filename"]), ip, change.id, change.requested_by_id)
    elif change.change_kind is ChangeKind.REVOKE_SIGNER:
        from disclosure.exports.signer_service import revoke_signer

        revoke_signer(
            approver,
            str(params["reason"]),
            str(params["serial"]),
            change_id=change.id,
            requested_by_id=change.requested_by_id,
            ip=ip,
        )
    else:
        raise PendingChangeError(f"{change.change_kind.label}: unknown kind of change; nothing was applied.")


def describe(change: PendingChange) -> str:
    """One line an administrator reads before approving: what exactly would change."""
    params = change.params
    if change.change_kind is ChangeKind.GRANT_ROLES:
        to = ", ".join(Role(r).label for r in params["to"]) or "no role"
        was = ", ".join(Role(r).label for r in params["from"]) or "no role"
        return f"{params['email']}: roles from {was} to {to}"
    if change.change_kind is ChangeKind.UPLOAD_POLICY:
        return f"Install policy {params['label']} (SHA-256 {params['sha256'][:16]}…, file {params['filename']})"
    if change.change_kind is ChangeKind.REVOKE_SIGNER:
        return (
            f"Revoke the bundle-signing certificate serial {params['serial']} ({params['subject']}), reason "
            f"{str(params['reason']).replace('_', ' ')}, and issue a new one: every bundle it signed then fails "
            "verification against the revocation list"
        )
    return change.change_kind.label


def payload_preview(change: PendingChange) -> str | None:
    """A policy file's text for the approver to read (it is small TOML), or None."""
    if change.payload is None:
        return None
    try:
        return bytes(change.payload).decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(bytes(change.payload)).decode()
