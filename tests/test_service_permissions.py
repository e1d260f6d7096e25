"""Every service that changes data refuses an actor without the permission, whatever the view in front of it did.

Each service is called directly (no view, no decorator) by a user holding the wrong role, by a user holding no role
at all, and, where the operator lacks the grant, by a SystemActor: each call raises NotPermitted before it writes,
so the audit log is as long afterwards as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import Flask
from sqlalchemy import func, select

from disclosure.audit.models import AuditEvent
from disclosure.auth import service as accounts
from disclosure.auth.models import User
from disclosure.cases import agencies
from disclosure.cases.models import Agency, AgencyContact
from disclosure.extensions import db
from disclosure.review import policy_versions
from disclosure.services import Actor, NotPermitted, SystemActor
from tests.factories import PASSWORD, make_case, make_user

NEW_PASSWORD = "another long passphrase 2026"
POLICY = b'[policy]\nname = "Refused"\nversion = "1"\n'


@dataclass(frozen=True)
class Objects:
    """What the services act on: another user's account and an agency with one unverified contact."""

    target: User
    agency: Agency
    contact: AgencyContact


Call = Callable[[Actor, Objects], object]

#: (service, the wrong role, whether an operator also lacks the grant, the call).
SERVICES: list[tuple[str, str, bool, Call]] = [
    (
        "create_user",
        "intake",
        False,
        lambda actor, o: accounts.create_user(actor, "new@example.org", "New", ["intake"], NEW_PASSWORD),
    ),
    ("set_roles", "auditor", False, lambda actor, o: accounts.set_roles(actor, o.target, ["auditor"], None)),
    ("set_active", "auditor", False, lambda actor, o: accounts.set_active(actor, o.target, False, None)),
    ("reset_password", "intake", False, lambda actor, o: accounts.reset_password(actor, o.target, NEW_PASSWORD, None)),
    ("reset_second_factor", "reviewer", False, lambda actor, o: accounts.reset_second_factor(actor, o.target, None)),
    ("end_sessions", "producer", False, lambda actor, o: accounts.end_sessions(actor, o.target, None)),
    (
        "upload_version",
        "reviewer",
        False,
        lambda actor, o: policy_versions.upload_version(actor, POLICY, "refused.toml", None),
    ),
    (
        "add_contact",
        "auditor",
        True,
        lambda actor, o: agencies.add_contact(actor, o.agency, "email", "duty@example.gov", None),
    ),
    (
        "verify_contact",
        "reviewer",
        True,
        lambda actor, o: agencies.verify_contact(actor, o.contact, None, "called the published number"),
    ),
]

CASES = [
    pytest.param(call, kind, role, id=f"{name}-{kind}")
    for name, role, operator_refused, call in SERVICES
    for kind in ("wrong_role", "no_roles", *(("operator",) if operator_refused else ()))
]


def audit_size() -> int:
    return int(db.session.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


def objects() -> Objects:
    make_case()
    target = db.session.get(User, make_user("reviewer").id)
    agency = db.session.execute(select(Agency)).scalar_one()
    contact = AgencyContact(kind="email", value="desk@example.gov")
    agency.contacts.append(contact)
    db.session.commit()
    return Objects(target, agency, contact)


def actor_of(kind: str, role: str) -> Actor:
    if kind == "operator":
        return SystemActor("tests")
    user = db.session.get(User, make_user(role).id)
    if kind == "no_roles":
        user.role_rows = []
        db.session.commit()
        assert user.roles == frozenset()
    return user


@pytest.mark.parametrize(("call", "kind", "role"), CASES)
def test_a_service_refuses_an_actor_without_the_permission_and_writes_nothing(
    app: Flask, call: Call, kind: str, role: str
) -> None:
    with app.app_context():
        acted_on = objects()
        actor = actor_of(kind, role)
        before = audit_size()
        with pytest.raises(NotPermitted):
            call(actor, acted_on)
        # Counted in the refused call's own transaction: anything it had written would be flushed and counted.
        assert audit_size() == before
        assert not db.session.new and not db.session.deleted
        db.session.rollback()


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(
            lambda user: accounts.change_own_password(user, PASSWORD, NEW_PASSWORD, None, None), id="change_password"
        ),
        pytest.param(lambda user: accounts.sign_out(user, None, None), id="sign_out"),
    ],
)
def test_self_service_needs_a_user_who_may_use_their_account(app: Flask, call: Callable[[User], object]) -> None:
    with app.app_context():
        user = actor_of("no_roles", "intake")
        assert isinstance(user, User)
        before = audit_size()
        with pytest.raises(NotPermitted):
            call(user)
        assert audit_size() == before
        db.session.rollback()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["storage", "rotate-key"], id="storage-rotate-key"),
        pytest.param(["keys", "reissue-crl"], id="keys-reissue-crl"),
        pytest.param(["audit", "checkpoint"], id="audit-checkpoint"),
    ],
)
def test_an_operator_without_the_grant_changes_no_keys_and_records_nothing(
    app: Flask, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    from disclosure import services

    with app.app_context():
        before = audit_size()
    monkeypatch.setattr(services, "OPERATOR_GRANTS", frozenset())
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code != 0
    assert "may not do this" in result.output, result.output
    with app.app_context():
        assert audit_size() == before
