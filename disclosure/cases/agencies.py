"""The agency directory: who may send us legal process, and the contact channels we have verified out of band.

Changing the directory takes agency:manage; verifying a channel is credited to the person who checked it, so an
operator at the command line cannot do it.
"""

from __future__ import annotations

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.cases.models import Agency, AgencyContact
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.permissions import Permission
from disclosure.policy.identifiers import check_email, check_phone
from disclosure.services import Actor, ServiceError, person, require


class AgencyError(ServiceError):
    """A change to the agency directory was refused; the message says what to fix."""


CONTACT_KINDS = {"email": "Email", "phone": "Telephone", "portal": "Law-enforcement portal", "postal": "Postal address"}


def add_contact(actor: Actor, agency: Agency, kind: str, value: str, ip: str | None) -> AgencyContact:
    require(actor, Permission.AGENCY_MANAGE)
    if kind not in CONTACT_KINDS:
        raise AgencyError(f"Choose a kind of contact: {', '.join(CONTACT_KINDS.values())}.")
    value = " ".join(value.split())
    try:
        if kind == "email":
            value = check_email(value)
        elif kind == "phone":
            value = check_phone(value)
    except ValueError as error:
        raise AgencyError(str(error)) from error
    if not value or len(value) > 300:
        raise AgencyError("Enter the contact (at most 300 characters).")
    if any(c.kind == kind and c.value == value for c in agency.contacts):
        raise AgencyError("That contact is already in the directory.")
    contact = AgencyContact(kind=kind, value=value)
    agency.contacts.append(contact)
    db.session.flush()
    record(
        actor,
        AuditAction.AGENCY_CONTACT_ADD,
        subject=f"agency:{agency.id}",
        ip=ip,
        data={"contact": contact.id, "kind": kind, "value": value},
    )
    return contact


def verify_contact(actor: Actor, contact: AgencyContact, ip: str | None, how: str) -> None:
    """Record that someone confirmed this channel belongs to the agency (e.g. by calling its published number)."""
    require(actor, Permission.AGENCY_MANAGE)
    checker = person(actor)
    if contact.verified_at is not None:
        raise AgencyError("This contact is already verified.")
    if not how.strip():
        raise AgencyError("Say how you verified it, e.g. “called the field office's published number”.")
    contact.verified_at = utcnow()
    contact.verified_by_id = checker.id
    record(
        checker,
        AuditAction.AGENCY_CONTACT_VERIFIED,
        subject=f"agency:{contact.agency_id}",
        ip=ip,
        data={"contact": contact.id, "how": how.strip()[:500]},
    )
    db.session.flush()
