"""The agency directory: who may send us legal process, the names they go by, the domains they send from, and the
contact channels we have verified out of band.

Invariants kept here: within a country, a name or alias leads to one agency; a field office's chain of parents never
loops; a channel is never deleted (a case's verification may name it), only retired; an agency counts as verified
only when an administrator vouched for it and it has a verified channel in use. Changing the directory takes
agency:manage; vouching for an agency, changing a verified agency's official domains and folding a record into a
verified one take agency:verify (administrators). Verifying a channel is credited to the person who checked it, so an
operator at the command line cannot do it. Every change is an audit event.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.cases.agency_match import Entry, Match, close_matches, type_ahead
from disclosure.cases.models import (
    Agency,
    AgencyAlias,
    AgencyContact,
    AgencyDomain,
    Case,
    ChannelSource,
    directory_key,
)
from disclosure.clock import utcnow
from disclosure.extensions import db
from disclosure.permissions import Permission
from disclosure.policy.identifiers import canonical_identifier, check_email, check_phone
from disclosure.policy.vocabulary import Regime, TargetKind
from disclosure.production.models import RecipientCertificate
from disclosure.services import Actor, NotPermitted, ServiceError, person, require


class AgencyError(ServiceError):
    """A change to the agency directory was refused; the message says what to fix, `field` which input it is about."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


CONTACT_KINDS = {"email": "Email", "phone": "Telephone", "portal": "Law-enforcement portal", "postal": "Postal address"}
#: The sources a person may give when verifying a channel now (the migration's "before the directory" is not one).
CHANNEL_SOURCES = {s.value: s.label for s in ChannelSource if s is not ChannelSource.BEFORE_DIRECTORY}
#: Mail services anyone can sign up to: never an agency's official domain (forged requests come from them).
# fmt: off
FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "yahoo.com",
    "ymail.com", "aol.com", "icloud.com", "me.com", "mac.com", "proton.me", "protonmail.com", "pm.me",
    "gmx.com", "gmx.net", "gmx.de", "web.de", "mail.com", "mail.ru", "yandex.com", "yandex.ru", "zoho.com",
    "tutanota.com", "tuta.io", "fastmail.com", "hushmail.com", "qq.com", "163.com",
})
# fmt: on
_COUNTRY = re.compile(r"^[A-Z]{2}$")
MAX_NAME = 200
#: Separates several aliases or contacts in one cell of the directory's CSV (disclosure.cases.agency_csv).
SEPARATOR = ";"
#: How deep field offices may nest (agency, field office, resident agency…): a bound on walking the parents.
MAX_DEPTH = 6


@dataclass
class AgencyDraft:
    """An agency's own facts as a form or a CSV row gives them, before they are checked."""

    name: str
    country: str
    regime: str | None = None
    parent_id: int | None = None
    aliases: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Duplicate:
    """An agency already in the directory that a name may mean, and why."""

    agency: Agency
    match: Match


# Reading the directory.


def clean_name(name: str) -> str:
    return " ".join(name.split())


def plain_text(text: str, about: str) -> str:
    """`text` with runs of spaces made one; refused if it holds control characters (a NUL cannot be stored)."""
    cleaned = " ".join(text.split())
    if any(unicodedata.category(char) == "Cc" for char in cleaned):
        raise AgencyError("Remove the control characters (they cannot be stored).", field=about)
    return cleaned


def entries() -> list[Entry]:
    """Every name and alias in the directory, for matching."""
    names = [Entry(id_, name) for id_, name in db.session.execute(select(Agency.id, Agency.name))]
    aliases = [
        Entry(agency_id, name, is_alias=True)
        for agency_id, name in db.session.execute(select(AgencyAlias.agency_id, AgencyAlias.name))
    ]
    return names + aliases


def _with_agencies(matches: Sequence[Match]) -> list[Duplicate]:
    if not matches:
        return []
    statement = select(Agency).where(Agency.id.in_([m.agency_id for m in matches]))
    found = {agency.id: agency for agency in db.session.execute(statement).scalars()}
    return [Duplicate(found[m.agency_id], m) for m in matches if m.agency_id in found]


def possible_duplicates(
    name: str, aliases: Iterable[str] = (), *, exclude: Agency | None = None, limit: int = 10
) -> list[Duplicate]:
    """Agencies whose name or an alias is close to `name` or one of `aliases` (agency_match says how close);
    with `exclude`, other than that agency and those it is related to by field office."""
    known = entries()
    # An agency is never its own duplicate, nor are its parents and field offices: they are related on purpose.
    skip = {a.id for a in [exclude, *ancestors(exclude), *descendants(exclude)]} if exclude is not None else set()
    best: dict[int, Match] = {}
    for text in [name, *aliases]:
        for match in close_matches(text, known, exclude=skip, limit=limit):
            if match.agency_id not in best or match.score > best[match.agency_id].score:
                best[match.agency_id] = match
    ranked = sorted(best.values(), key=lambda m: (-m.score, m.matched.casefold()))[:limit]
    return _with_agencies(ranked)


def lookup(query: str, limit: int = 10) -> list[Duplicate]:
    """The intake type-ahead: agencies whose name or alias starts with, or is close to, what was typed."""
    return _with_agencies(type_ahead(query[:MAX_NAME], entries(), limit=limit))


def find_by_name(name: str, country: str) -> Agency | None:
    """The agency of that country whose name or alias this is (case and spacing aside), or None."""
    key, country = directory_key(name), country.strip().upper()
    by_name = (
        db.session.execute(select(Agency).where(Agency.name_key == key, Agency.country == country).order_by(Agency.id))
        .scalars()
        .first()
    )
    if by_name is not None:
        return by_name
    return (
        db.session.execute(
            select(Agency)
            .join(AgencyAlias, AgencyAlias.agency_id == Agency.id)
            .where(AgencyAlias.name_key == key, Agency.country == country)
            .order_by(Agency.id)
        )
        .scalars()
        .first()
    )


def find_by_name_anywhere(name_or_id: str) -> list[Agency]:
    """Agencies an operator may mean by a name, an alias or an id (several when a name is used in two countries)."""
    text = name_or_id.strip()
    if text.isdigit():
        agency = db.session.get(Agency, int(text)) if len(text) < 10 else None
        return [agency] if agency is not None else []
    key = directory_key(text)
    alias_owners = select(AgencyAlias.agency_id).where(AgencyAlias.name_key == key)
    return list(
        db.session.execute(
            select(Agency).where(or_(Agency.name_key == key, Agency.id.in_(alias_owners))).order_by(Agency.country)
        ).scalars()
    )


def case_count(agency: Agency) -> int:
    return int(db.session.execute(select(func.count(Case.id)).where(Case.agency_id == agency.id)).scalar_one())


def ancestors(agency: Agency) -> list[Agency]:
    """The agency's parent, its parent's parent…, nearest first."""
    found: list[Agency] = []
    current = agency.parent
    while current is not None and len(found) < MAX_DEPTH and current not in found:
        found.append(current)
        current = current.parent
    return found


def descendants(agency: Agency) -> list[Agency]:
    """The agency's field offices, theirs, and so on (at most MAX_DEPTH levels down)."""
    found: list[Agency] = []
    level = list(agency.field_offices)
    for _ in range(MAX_DEPTH):
        level = [office for office in level if office not in found and office is not agency]
        if not level:
            break
        found.extend(level)
        level = [child for office in level for child in office.field_offices]
    return found


def is_official_sender(agency: Agency, address: str) -> bool:
    """Whether an email address is at one of the agency's official domains (or its parents'), subdomains included."""
    domain = address.rpartition("@")[2].strip().lower().rstrip(".")
    if not domain:
        return False
    official = {d.domain for owner in [agency, *ancestors(agency)] for d in owner.domains}
    return any(domain == d or domain.endswith("." + d) for d in official)


# Checking what a person typed.


def check_country(country: str) -> str:
    value = country.strip().upper()
    if not _COUNTRY.match(value):
        raise AgencyError("Give the country as two letters (ISO 3166), e.g. US or DE.", field="country")
    return value


def check_regime(regime: str | None) -> str | None:
    if not regime:
        return None
    try:
        return Regime(regime).value
    except ValueError:
        known = ", ".join(f"{r.value} ({r.label})" for r in Regime)
        raise AgencyError(f"Choose a legal regime: {known}.", field="regime") from None


def check_domain(domain: str) -> str:
    text = plain_text(domain, "domain").lower().removeprefix("@")
    if not text:
        raise AgencyError("Enter a domain, e.g. fbi.gov.", field="domain")
    if "/" in text or ":" in text or "@" in text or " " in text:
        raise AgencyError("Give the domain alone, e.g. fbi.gov: no address, scheme or path.", field="domain")
    try:
        value = canonical_identifier(TargetKind.DOMAIN, text)
    except ValueError as error:
        raise AgencyError(f"“{text}” is {error}.", field="domain") from None
    if value in FREE_MAIL_DOMAINS:
        raise AgencyError(
            f"{value} is a free mail service anyone can use: it is never an agency's official domain.", field="domain"
        )
    return value


def check_name(name: str, what: str = "name") -> str:
    text = plain_text(name, what)
    if not text:
        raise AgencyError("Enter the agency's name.", field=what)
    if len(text) > MAX_NAME:
        raise AgencyError(f"At most {MAX_NAME} characters.", field=what)
    return text


def _name_in_use(name: str, country: str, but: Agency | None = None) -> Agency | None:
    """Another agency of that country that already goes by this name or alias."""
    found = find_by_name(name, country)
    if found is not None and (but is None or found.id != but.id):
        return found
    return None


def _describe(agency: Agency) -> str:
    return f"{agency.name} ({agency.country})"


def _check_parent(agency: Agency | None, parent_id: int | None) -> Agency | None:
    if parent_id is None:
        return None
    parent = db.session.get(Agency, parent_id)
    if parent is None:
        raise AgencyError("Choose the agency this office belongs to from the directory.", field="parent")
    if agency is not None:
        if parent.id == agency.id:
            raise AgencyError("An agency cannot be its own field office.", field="parent")
        if agency in ancestors(parent):
            raise AgencyError(
                f"{parent.name} is itself one of {agency.name}'s field offices: choose the agency above both.",
                field="parent",
            )
    if len(ancestors(parent)) >= MAX_DEPTH - 1:
        raise AgencyError("Field offices nest at most six deep: choose an agency higher up.", field="parent")
    return parent


def _audit(actor: Actor, action: AuditAction, agency: Agency, ip: str | None, data: dict[str, object]) -> None:
    record(actor, action, subject=f"agency:{agency.id}", ip=ip, data=data)


# Changing the directory.


def create_agency(actor: Actor, draft: AgencyDraft, ip: str | None, *, origin: str = "directory") -> Agency:
    """Add an agency (unverified). Its name and aliases must not already lead to another agency of its country."""
    require(actor, Permission.AGENCY_MANAGE)
    name, country = check_name(draft.name), check_country(draft.country)
    regime = check_regime(draft.regime)
    taken = _name_in_use(name, country)
    if taken is not None:
        raise AgencyError(
            f"“{name}” is already in the directory: {_describe(taken)}. Open that record instead.", field="name"
        )
    parent = _check_parent(None, draft.parent_id)
    agency = Agency(name=name, country=country, regime=regime, parent=parent)
    db.session.add(agency)
    db.session.flush()
    _audit(
        actor,
        AuditAction.AGENCY_CREATE,
        agency,
        ip,
        {"name": name, "country": country, "regime": regime, "parent": parent.id if parent else None, "origin": origin},
    )
    for alias in draft.aliases:
        if clean_name(alias) and directory_key(alias) != agency.name_key:
            add_alias(actor, agency, alias, ip)
    for domain in draft.domains:
        if domain.strip():
            add_domain(actor, agency, domain, ip)
    return agency


def agency_for_intake(actor: Actor, name: str, country: str, ip: str | None) -> tuple[Agency, bool]:
    """The agency a logged request names: the one of that country going by that name or alias, else a new,
    unverified one (with its event). Returns (agency, created). The caller has checked case:create."""
    name, country = clean_name(name), country.strip().upper()
    found = find_by_name(name, country)
    if found is not None:
        return found, False
    agency = Agency(name=name, country=country)
    db.session.add(agency)
    db.session.flush()
    _audit(
        actor,
        AuditAction.AGENCY_CREATE,
        agency,
        ip,
        {"name": name, "country": country, "regime": None, "parent": None, "origin": "intake"},
    )
    return agency, True


def update_agency(actor: Actor, agency: Agency, draft: AgencyDraft, ip: str | None) -> dict[str, list[object]]:
    """Change an agency's name, country, regime or parent; a former name stays on as an alias. Returns the changes."""
    require(actor, Permission.AGENCY_MANAGE)
    name, country = check_name(draft.name), check_country(draft.country)
    regime = check_regime(draft.regime)
    taken = _name_in_use(name, country, but=agency)
    if taken is not None:
        raise AgencyError(f"“{name}” already leads to {_describe(taken)}.", field="name")
    for alias in agency.aliases:
        owner = _name_in_use(alias.name, country, but=agency)
        if owner is not None and country != agency.country:
            raise AgencyError(
                f"In {country} the alias “{alias.name}” already leads to {_describe(owner)}.", field="country"
            )
    parent = _check_parent(agency, draft.parent_id)
    changes: dict[str, list[object]] = {}
    old_name = agency.name
    for key, old, new in (
        ("name", agency.name, name),
        ("country", agency.country, country),
        ("regime", agency.regime, regime),
        ("parent", agency.parent_id, parent.id if parent else None),
    ):
        if old != new:
            changes[key] = [old, new]
    if not changes:
        raise AgencyError("Nothing was changed.")
    agency.name, agency.country, agency.regime, agency.parent = name, country, regime, parent
    db.session.flush()
    _audit(actor, AuditAction.AGENCY_UPDATE, agency, ip, {"changes": changes})
    if "name" in changes and directory_key(old_name) != agency.name_key:
        existing = {a.name_key for a in agency.aliases}
        if directory_key(old_name) not in existing:
            add_alias(actor, agency, old_name, ip)
    return changes


def add_alias(actor: Actor, agency: Agency, name: str, ip: str | None) -> AgencyAlias:
    require(actor, Permission.AGENCY_MANAGE)
    text = check_name(name, "alias")
    key = directory_key(text)
    if key == agency.name_key or any(a.name_key == key for a in agency.aliases):
        raise AgencyError(f"{agency.name} already goes by “{text}”.", field="alias")
    taken = _name_in_use(text, agency.country, but=agency)
    if taken is not None:
        raise AgencyError(
            f"“{text}” already leads to {_describe(taken)}: if they are the same agency, merge the two records.",
            field="alias",
        )
    if SEPARATOR in text:
        raise AgencyError(
            f"Give one name at a time: “{SEPARATOR}” separates names in the directory's CSV.", field="alias"
        )
    alias = AgencyAlias(name=text)
    agency.aliases.append(alias)
    db.session.flush()
    _audit(actor, AuditAction.AGENCY_ALIAS_ADD, agency, ip, {"alias": alias.id, "name": text})
    return alias


def remove_alias(actor: Actor, alias: AgencyAlias, ip: str | None) -> None:
    require(actor, Permission.AGENCY_MANAGE)
    agency = alias.agency
    _audit(actor, AuditAction.AGENCY_ALIAS_REMOVE, agency, ip, {"alias": alias.id, "name": alias.name})
    agency.aliases.remove(alias)
    db.session.flush()


def _require_trust_for(actor: Actor, agency: Agency, what: str) -> None:
    if agency.verified_at is not None and not actor.can(Permission.AGENCY_VERIFY):
        raise NotPermitted(
            f"{agency.name} is verified: only an administrator may change {what}, since requests are checked "
            "against them."
        )


def add_domain(actor: Actor, agency: Agency, domain: str, ip: str | None) -> AgencyDomain:
    require(actor, Permission.AGENCY_MANAGE)
    _require_trust_for(actor, agency, "its official domains")
    value = check_domain(domain)
    if any(d.domain == value for d in agency.domains):
        raise AgencyError(f"{value} is already one of {agency.name}'s official domains.", field="domain")
    row = AgencyDomain(domain=value)
    agency.domains.append(row)
    db.session.flush()
    _audit(actor, AuditAction.AGENCY_DOMAIN_ADD, agency, ip, {"domain": value})
    return row


def remove_domain(actor: Actor, domain: AgencyDomain, ip: str | None) -> None:
    require(actor, Permission.AGENCY_MANAGE)
    agency = domain.agency
    _require_trust_for(actor, agency, "its official domains")
    _audit(actor, AuditAction.AGENCY_DOMAIN_REMOVE, agency, ip, {"domain": domain.domain})
    agency.domains.remove(domain)
    db.session.flush()


def check_contact(kind: str, value: str) -> str:
    """A channel's value in its canonical form, or AgencyError (field "value") saying what to fix."""
    if kind not in CONTACT_KINDS:
        raise AgencyError(f"Choose a kind of contact: {', '.join(CONTACT_KINDS.values())}.", field="kind")
    value = plain_text(value, "value")
    try:
        if kind == "email":
            value = check_email(value)
        elif kind == "phone":
            value = check_phone(value)
    except ValueError as error:
        raise AgencyError(str(error), field="value") from error
    if not value or len(value) > 300:
        raise AgencyError("Enter the contact (at most 300 characters).", field="value")
    if SEPARATOR in value:
        raise AgencyError(
            f"Give one contact at a time: “{SEPARATOR}” separates them in the directory's CSV.", field="value"
        )
    return value


def add_contact(actor: Actor, agency: Agency, kind: str, value: str, ip: str | None) -> AgencyContact:
    require(actor, Permission.AGENCY_MANAGE)
    value = check_contact(kind, value)
    if any(c.kind == kind and c.value == value and c.retired_at is None for c in agency.contacts):
        raise AgencyError("That contact is already in the directory.", field="value")
    contact = AgencyContact(kind=kind, value=value)
    agency.contacts.append(contact)
    db.session.flush()
    _audit(actor, AuditAction.AGENCY_CONTACT_ADD, agency, ip, {"contact": contact.id, "kind": kind, "value": value})
    return contact


def verify_contact(actor: Actor, contact: AgencyContact, ip: str | None, how: str, source: str = "") -> None:
    """Record that someone confirmed this channel belongs to the agency: how they checked (e.g. "called the field
    office's published number") and where they found it (a ChannelSource, never the request itself)."""
    require(actor, Permission.AGENCY_MANAGE)
    checker = person(actor)
    if contact.retired_at is not None:
        raise AgencyError("This contact is retired: add it again if it is in use once more.")
    if contact.verified_at is not None:
        raise AgencyError("This contact is already verified.")
    how = plain_text(how, "how")
    if not how:
        raise AgencyError("Say how you verified it, e.g. “called the field office's published number”.", field="how")
    if source not in CHANNEL_SOURCES:
        raise AgencyError(f"Say where you found the contact: {', '.join(CHANNEL_SOURCES.values())}.", field="source")
    contact.verified_at = utcnow()
    contact.verified_by_id = checker.id
    contact.verified_how, contact.verified_source = how[:500], source
    db.session.flush()
    _audit(
        checker,
        AuditAction.AGENCY_CONTACT_VERIFIED,
        contact.agency,
        ip,
        {"contact": contact.id, "how": how[:500], "source": source},
    )


def retire_contact(actor: Actor, contact: AgencyContact, ip: str | None, reason: str) -> None:
    """Stop relying on a channel (a changed number, a compromised mailbox); it stays on record, never offered."""
    require(actor, Permission.AGENCY_MANAGE)
    retirer = person(actor)
    if contact.retired_at is not None:
        raise AgencyError("This contact is already retired.")
    reason = plain_text(reason, "reason")
    if not reason:
        raise AgencyError("Say why the contact is no longer relied on.", field="reason")
    contact.retired_at, contact.retired_by_id, contact.retired_reason = utcnow(), retirer.id, reason[:500]
    db.session.flush()
    _audit(retirer, AuditAction.AGENCY_CONTACT_RETIRED, contact.agency, ip, {"contact": contact.id, "reason": reason})


def mark_verified(actor: Actor, agency: Agency, ip: str | None) -> None:
    """An administrator vouches for the agency; it needs a verified channel in use first."""
    require(actor, Permission.AGENCY_VERIFY)
    admin = person(actor)
    if agency.verified_at is not None:
        raise AgencyError(f"{agency.name} is already marked verified.")
    if not agency.verified_channels:
        raise AgencyError(
            f"{agency.name} has no verified contact channel: verify one out of band before marking the agency verified."
        )
    agency.verified_at, agency.verified_by_id = utcnow(), admin.id
    db.session.flush()
    _audit(admin, AuditAction.AGENCY_VERIFIED, agency, ip, {"channels": [c.id for c in agency.verified_channels]})


def withdraw_verification(actor: Actor, agency: Agency, ip: str | None, reason: str) -> None:
    require(actor, Permission.AGENCY_VERIFY)
    admin = person(actor)
    if agency.verified_at is None:
        raise AgencyError(f"{agency.name} is not marked verified.")
    reason = plain_text(reason, "reason")
    if not reason:
        raise AgencyError("Say why the agency is no longer verified.", field="reason")
    agency.verified_at, agency.verified_by_id = None, None
    db.session.flush()
    _audit(admin, AuditAction.AGENCY_VERIFICATION_WITHDRAWN, agency, ip, {"reason": reason[:500]})


# Merging a duplicate into its canonical record.


@dataclass(frozen=True)
class MergePlan:
    """What folding `duplicate` into `canonical` moves: shown on the form before, recorded in the event after."""

    cases: list[str]
    contacts: int
    domains: int
    aliases: list[str]
    certificates: int
    field_offices: int


def check_merge(actor: Actor, duplicate: Agency, canonical: Agency) -> None:
    """Refuse a merge that cannot be right: into itself, into one of its own field offices, or into a verified
    agency by someone who may not vouch for one."""
    require(actor, Permission.AGENCY_MANAGE)
    if duplicate.id == canonical.id:
        raise AgencyError("Choose another agency: a record cannot be merged into itself.", field="into")
    if duplicate in ancestors(canonical):
        raise AgencyError(
            f"{canonical.name} is a field office of {duplicate.name}: a record cannot be merged into its own field "
            "office. Merge the field office into it instead, if they are the same.",
            field="into",
        )
    if canonical.verified_at is not None and not actor.can(Permission.AGENCY_VERIFY):
        raise NotPermitted(
            f"{canonical.name} is verified: only an administrator may merge another record into it, since its "
            "cases, domains and channels would then count as the verified agency's."
        )


def merge_plan(duplicate: Agency, canonical: Agency) -> MergePlan:
    references = list(
        db.session.execute(select(Case.reference).where(Case.agency_id == duplicate.id).order_by(Case.id)).scalars()
    )
    certificates = db.session.execute(
        select(func.count(RecipientCertificate.id)).where(RecipientCertificate.agency_id == duplicate.id)
    ).scalar_one()
    known = {canonical.name_key, *(a.name_key for a in canonical.aliases)}
    aliases = []
    for text in [duplicate.name, *(a.name for a in duplicate.aliases)]:
        if directory_key(text) not in known:
            known.add(directory_key(text))
            aliases.append(text)
    return MergePlan(
        cases=references,
        contacts=len(duplicate.contacts),
        domains=len(duplicate.domains),
        aliases=aliases,
        certificates=int(certificates),
        field_offices=len(duplicate.field_offices),
    )


def merge_agencies(actor: Actor, duplicate: Agency, canonical: Agency, ip: str | None) -> MergePlan:
    """Fold `duplicate` into `canonical`: its cases, channels, domains, certificates and field offices move, its
    name and aliases become aliases of `canonical`, and the duplicate record is deleted. One audit event names both
    (the duplicate's own events stay in the log under its old id)."""
    check_merge(actor, duplicate, canonical)
    plan = merge_plan(duplicate, canonical)
    gone = {"id": duplicate.id, "name": duplicate.name, "country": duplicate.country}
    was_verified = duplicate.verified_at is not None
    # Through the ORM, case by case: each case's version moves on (an open edit form sees the change) and the
    # search index (disclosure.cases.search) picks up the new agency's name.
    for case in db.session.execute(select(Case).where(Case.agency_id == duplicate.id)).scalars():
        case.agency = canonical
    db.session.execute(
        RecipientCertificate.__table__.update()
        .where(RecipientCertificate.agency_id == duplicate.id)
        .values(agency_id=canonical.id)
    )
    contacts_kept = []
    for contact in list(duplicate.contacts):
        twin = next((c for c in canonical.contacts if (c.kind, c.value) == (contact.kind, contact.value)), None)
        if twin is None:
            contact.agency = canonical
            contacts_kept.append(contact.id)
            continue
        if twin.verified_at is None and contact.verified_at is not None:
            twin.verified_at, twin.verified_by_id = contact.verified_at, contact.verified_by_id
            twin.verified_source, twin.verified_how = contact.verified_source, contact.verified_how
        duplicate.contacts.remove(contact)
    for domain in list(duplicate.domains):
        if any(d.domain == domain.domain for d in canonical.domains):
            duplicate.domains.remove(domain)
        else:
            domain.agency = canonical
    for office in list(duplicate.field_offices):
        office.parent = canonical
    duplicate.aliases.clear()
    db.session.flush()
    db.session.delete(duplicate)
    db.session.flush()
    for text in plan.aliases:
        if _name_in_use(text, canonical.country, but=canonical) is None:
            canonical.aliases.append(AgencyAlias(name=text))
    db.session.flush()
    _audit(
        actor,
        AuditAction.AGENCY_MERGED,
        canonical,
        ip,
        {
            "canonical": {"id": canonical.id, "name": canonical.name, "country": canonical.country},
            "duplicate": gone,
            "cases": plan.cases,
            "aliases_added": [a.name for a in canonical.aliases if a.name in plan.aliases],
            "contacts_moved": contacts_kept,
            "domains": [d.domain for d in canonical.domains],
            "certificates_moved": plan.certificates,
            "field_offices_moved": plan.field_offices,
            "duplicate_was_verified": was_verified,
        },
    )
    return plan
