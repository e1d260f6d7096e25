"""Two-person control for power (issue 17, 6): one administrator alone can neither grant reviewer, producer or
admin, nor install a policy version (which sets the approval counts); a second administrator approves after
re-entering their password; the requester never decides their own; an administrator never also reviews or
produces. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from disclosure.audit.models import AuditEvent
from disclosure.auth.models import User
from disclosure.auth.pending_models import PendingChange
from disclosure.extensions import db
from disclosure.permissions import Role, needs_second_administrator, roles_compatible
from disclosure.policy.loader import default_policy_bytes
from disclosure.review.models import PolicyVersion
from disclosure.review.policy_versions import current_version, policy_of
from tests.conftest import csrf_from
from tests.factories import PASSWORD, make_user

#: The packaged policy with interception orders down to one approval: what one administrator must not install.
ONE_APPROVAL = (
    default_policy_bytes()
    .replace(b'window = "prospective"\napprovals_required = 2', b'window = "prospective"\napprovals_required = 1', 1)
    .replace(b'version = "2026-2"', b'version = "2026-2-one-approval"', 1)
)


def roles_of(app: Flask, user_id: int) -> set[str]:
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        return {role.value for role in user.roles}


def post(client: FlaskClient, page: str, url: str, data: dict[str, Any] | None = None, **files: Any) -> Any:
    token = csrf_from(client.get(page).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, **(data or {}), **files}, follow_redirects=True)


def changes(app: Flask) -> list[tuple[int, str, str, int, int | None]]:
    with app.app_context():
        rows = db.session.execute(select(PendingChange).order_by(PendingChange.id)).scalars()
        return [(c.id, c.kind, c.state, c.requested_by_id, c.decided_by_id) for c in rows]


def actions(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.execute(select(AuditEvent.action).order_by(AuditEvent.seq)).scalars())


def versions(app: Flask) -> int:
    with app.app_context():
        current_version()
        db.session.commit()
        return db.session.execute(select(func.count()).select_from(PolicyVersion)).scalar_one()


@pytest.fixture
def second_admin(app: Flask, login_as: Any) -> tuple[FlaskClient, Any]:
    other = app.test_client()
    return other, login_as("admin", client_=other)


def test_the_separation_of_duties_rule_enumerated() -> None:
    for size in range(len(Role) + 1):
        for roles in itertools.combinations(Role, size):
            clash = Role.ADMIN in roles and (Role.REVIEWER in roles or Role.PRODUCER in roles)
            assert roles_compatible(roles) is not clash, roles
    assert needs_second_administrator([Role.INTAKE], [Role.INTAKE, Role.REVIEWER])
    assert not needs_second_administrator([Role.REVIEWER, Role.INTAKE], [Role.INTAKE, Role.AUDITOR])


def test_one_admin_alone_cannot_grant_themselves_reviewer_and_producer(
    app: Flask, client: FlaskClient, login_as: Any
) -> None:
    admin = login_as("admin")
    page = f"/admin/users/{admin.id}"
    response = post(client, page, f"{page}/roles", {"roles": ["admin", "reviewer", "producer"], "password": PASSWORD})
    assert "cannot also be a reviewer or producer" in response.get_data(as_text=True)
    assert roles_of(app, admin.id) == {"admin"}
    assert changes(app) == []


def test_granting_reviewer_waits_for_a_second_admin_who_applies_it_with_the_right_password(
    app: Flask, client: FlaskClient, login_as: Any, second_admin: tuple[FlaskClient, Any]
) -> None:
    admin = login_as("admin")
    with app.app_context():
        clerk = make_user("intake")
    page = f"/admin/users/{clerk.id}"
    response = post(client, page, f"{page}/roles", {"roles": ["intake", "reviewer"]})
    assert "waiting under Pending changes" in response.get_data(as_text=True)
    assert roles_of(app, clerk.id) == {"intake"}, "nothing is granted by one administrator"
    [(change_id, kind, state, requested_by, _)] = changes(app)
    assert (kind, state, requested_by) == ("grant_roles", "pending", admin.id)

    # The requester cannot approve their own, even with the right password.
    own = post(client, "/admin/changes", f"/admin/changes/{change_id}/approve", {"password": admin.password})
    assert "another administrator must approve" in own.get_data(as_text=True)
    assert roles_of(app, clerk.id) == {"intake"} and changes(app)[0][2] == "pending"

    other, approver = second_admin
    before = actions(app)
    wrong = post(other, "/admin/changes", f"/admin/changes/{change_id}/approve", {"password": "not my password!!"})
    assert "Your password was not correct; nothing was done." in wrong.get_data(as_text=True)
    assert roles_of(app, clerk.id) == {"intake"} and changes(app)[0][2] == "pending"
    assert actions(app) == [*before, "auth.step_up_failed"], "a wrong password changes nothing; only it is on record"

    right = post(other, "/admin/changes", f"/admin/changes/{change_id}/approve", {"password": approver.password})
    assert "Approved and applied." in right.get_data(as_text=True)
    assert roles_of(app, clerk.id) == {"intake", "reviewer"}
    assert changes(app) == [(change_id, "grant_roles", "approved", admin.id, approver.id)]
    assert [a for a in actions(app) if a.startswith("change.")] == ["change.requested", "change.approved"]


def test_an_admin_can_never_be_granted_producer_even_with_a_second_admin(
    app: Flask, client: FlaskClient, login_as: Any
) -> None:
    login_as("admin")
    with app.app_context():
        other_admin = make_user("admin")
    page = f"/admin/users/{other_admin.id}"
    response = post(client, page, f"{page}/roles", {"roles": ["admin", "producer"]})
    assert "cannot also be a reviewer or producer" in response.get_data(as_text=True)
    assert changes(app) == [] and roles_of(app, other_admin.id) == {"admin"}


def test_one_admin_cannot_install_a_policy_with_one_approval_for_interception(
    app: Flask, client: FlaskClient, login_as: Any, second_admin: tuple[FlaskClient, Any]
) -> None:
    from io import BytesIO

    admin = login_as("admin")
    stored = versions(app)
    response = post(client, "/policy", "/policy", file=(BytesIO(ONE_APPROVAL), "one-approval.toml"))
    assert "waiting for a second administrator" in response.get_data(as_text=True)
    assert versions(app) == stored, "not installed by one administrator"
    [(change_id, kind, state, _, _)] = changes(app)
    assert (kind, state) == ("upload_policy", "pending")

    # Refused by the second administrator with a wrong password: still nothing.
    other, approver = second_admin
    post(other, "/admin/changes", f"/admin/changes/{change_id}/approve", {"password": "wrong wrong wrong"})
    assert versions(app) == stored and changes(app)[0][2] == "pending"
    # Approved with the right password: installed, uploaded by the requester, applied by the approver.
    post(other, "/admin/changes", f"/admin/changes/{change_id}/approve", {"password": approver.password})
    assert versions(app) == stored + 1
    with app.app_context():
        version = current_version()
        assert version.uploaded_by_id == admin.id
        assert policy_of(version).process_types["wiretap_order"].approvals_required == 1
        uploaded = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "policy.uploaded").order_by(AuditEvent.seq.desc())
        ).scalar_one()
        body = json.loads(uploaded.body)
        assert (body["actor"]["id"], body["data"]["change"], body["data"]["requested_by"]) == (
            approver.id,
            change_id,
            admin.id,
        )


def test_the_requester_withdraws_and_another_admin_refuses(
    app: Flask, client: FlaskClient, login_as: Any, second_admin: tuple[FlaskClient, Any]
) -> None:
    admin = login_as("admin")
    with app.app_context():
        one, two = make_user("auditor"), make_user("intake")
    for target in (one, two):
        post(client, f"/admin/users/{target.id}", f"/admin/users/{target.id}/roles", {"roles": ["admin"]})
    [(first, *_), (second, *_)] = changes(app)
    other, approver = second_admin
    # Someone else cannot withdraw it; the requester can.
    refused = post(other, "/admin/changes", f"/admin/changes/{first}/withdraw")
    assert "Only the administrator who asked" in refused.get_data(as_text=True)
    post(client, "/admin/changes", f"/admin/changes/{first}/withdraw")
    post(other, "/admin/changes", f"/admin/changes/{second}/refuse", {"password": approver.password})
    assert [row[2] for row in changes(app)] == ["withdrawn", "refused"]
    assert roles_of(app, one.id) == {"auditor"} and roles_of(app, two.id) == {"intake"}
    # A decided change is never decided again.
    again = post(other, "/admin/changes", f"/admin/changes/{first}/approve", {"password": approver.password})
    assert "withdrawn already" in again.get_data(as_text=True)
    assert [a for a in actions(app) if a.startswith("change.")] == [
        "change.requested",
        "change.requested",
        "change.withdrawn",
        "change.refused",
    ]
    assert admin.id != approver.id


def test_the_command_line_creates_only_the_first_administrator(app: Flask) -> None:
    runner = app.test_cli_runner()
    args = ["users", "create", "--name", "First", "--role", "admin"]
    first = runner.invoke(args=[*args, "--email", "first@example.org"], input="a long enough passphrase\n")
    assert first.exit_code == 0, first.output
    second = runner.invoke(args=[*args, "--email", "second@example.org"], input="a long enough passphrase\n")
    assert second.exit_code == 1 and "second administrator approves" in second.output
    reviewer = runner.invoke(
        args=["users", "create", "--name", "R", "--role", "reviewer", "--email", "r@example.org"],
        input="a long enough passphrase\n",
    )
    assert reviewer.exit_code == 1
    with app.app_context():
        emails = set(db.session.execute(select(User.email)).scalars())
    assert "first@example.org" in emails and not {"second@example.org", "r@example.org"} & emails


def test_wrong_passwords_on_approvals_are_throttled_apart_from_sign_in(
    app: Flask, client: FlaskClient, login_as: Any, second_admin: tuple[FlaskClient, Any]
) -> None:
    from disclosure.auth import throttle

    login_as("admin")
    with app.app_context():
        clerk = make_user("intake")
    page = f"/admin/users/{clerk.id}"
    post(client, page, f"{page}/roles", {"roles": ["intake", "reviewer"]})
    [(change_id, *_)] = changes(app)
    other, approver = second_admin
    for _ in range(5):
        post(other, "/admin/changes", f"/admin/changes/{change_id}/approve", {"password": "not my password!!"})
    # Paused: even the right password is refused now, and nothing is approved.
    paused = post(other, "/admin/changes", f"/admin/changes/{change_id}/approve", {"password": approver.password})
    assert "Too many wrong passwords" in paused.get_data(as_text=True)
    assert changes(app)[0][2] == "pending" and roles_of(app, clerk.id) == {"intake"}
    assert actions(app).count("auth.step_up_failed") == 5
    with app.app_context():
        assert throttle.step_ups_paused(approver.email)
        assert not throttle.is_throttled(approver.email, "127.0.0.1")


# -- Revoking (and so reissuing) the bundle-signing certificate ------------------------------------------------


def signer_serial(app: Flask) -> int:
    from cryptography import x509

    from disclosure.exports.pki import SIGNER_CERT_FILE
    from disclosure.production.bundles import pki_dir

    return x509.load_pem_x509_certificate((pki_dir(app.config) / SIGNER_CERT_FILE).read_bytes()).serial_number


def revocation_list(app: Flask) -> set[int] | None:
    from cryptography import x509

    from disclosure.exports.pki_revocation import CRL_FILE
    from disclosure.production.bundles import pki_dir

    path = pki_dir(app.config) / CRL_FILE
    return {entry.serial_number for entry in x509.load_pem_x509_crl(path.read_bytes())} if path.exists() else None


def keys_cli(app: Flask, *args: str, input: str | None = None) -> Any:
    return app.test_cli_runner().invoke(args=["keys", *args], input=input)


def test_revoking_the_signer_waits_for_a_second_admin_who_applies_it_with_the_right_password(
    app: Flask, client: FlaskClient, login_as: Any, second_admin: tuple[FlaskClient, Any]
) -> None:
    """Observed on main: `flask keys revoke-signer` revoked the bundle-signing certificate and issued a new one
    with no second person. Now the command only asks, as the administrator named with --as."""
    admin = login_as("admin")
    signer = signer_serial(app)
    alone = keys_cli(app, "revoke-signer", "--reason", "key_compromise", "--yes")
    assert alone.exit_code != 0 and "--as" in alone.output, alone.output
    assert signer_serial(app) == signer and revocation_list(app) is None, "one operator alone revoked the signer"

    asked = keys_cli(app, "revoke-signer", "--reason", "key_compromise", "--as", admin.email, "--yes")
    assert asked.exit_code == 0, asked.output
    [(change_id, kind, state, requested_by, _)] = changes(app)
    assert (kind, state, requested_by) == ("revoke_signer", "pending", admin.id)
    assert f"asked for change #{change_id}" in asked.output and "nothing is revoked yet" in asked.output
    assert signer_serial(app) == signer and revocation_list(app) is None
    page = client.get("/admin/changes").get_data(as_text=True)
    assert "Revoke and reissue the bundle-signing certificate" in page and f"{signer:X}" in page

    # The requester cannot approve their own; a wrong password changes nothing.
    own = post(client, "/admin/changes", f"/admin/changes/{change_id}/approve", {"password": admin.password})
    assert "another administrator must approve" in own.get_data(as_text=True)
    other, approver = second_admin
    post(other, "/admin/changes", f"/admin/changes/{change_id}/approve", {"password": "not my password!!"})
    assert signer_serial(app) == signer and revocation_list(app) is None and changes(app)[0][2] == "pending"

    right = post(other, "/admin/changes", f"/admin/changes/{change_id}/approve", {"password": approver.password})
    assert "Approved and applied." in right.get_data(as_text=True)
    assert signer_serial(app) != signer and revocation_list(app) == {signer}
    assert changes(app) == [(change_id, "revoke_signer", "approved", admin.id, approver.id)]
    assert [a for a in actions(app) if a.startswith(("change.", "keys."))] == [
        "change.requested",
        "change.approved",
        "keys.signer_revoked",
    ]
    with app.app_context():
        revoked = db.session.execute(select(AuditEvent).where(AuditEvent.action == "keys.signer_revoked")).scalar_one()
        body = json.loads(revoked.body)
    assert body["actor"]["id"] == approver.id
    assert (body["data"]["change"], body["data"]["requested_by"], body["data"]["reason"]) == (
        change_id,
        admin.id,
        "key_compromise",
    )


def test_a_revocation_is_asked_for_only_by_an_administrator_and_once_at_a_time(
    app: Flask, client: FlaskClient, login_as: Any
) -> None:
    admin = login_as("admin")
    with app.app_context():
        auditor = make_user("auditor")
    refused = keys_cli(app, "revoke-signer", "--reason", "superseded", "--as", auditor.email, "--yes")
    assert refused.exit_code == 2 and "is not an administrator" in refused.output
    nobody = keys_cli(app, "revoke-signer", "--reason", "superseded", "--as", "nobody@example.org", "--yes")
    assert nobody.exit_code == 2 and "no active user" in nobody.output
    assert changes(app) == []

    assert keys_cli(app, "revoke-signer", "--reason", "superseded", "--as", admin.email, "--yes").exit_code == 0
    again = keys_cli(app, "revoke-signer", "--reason", "key_compromise", "--as", admin.email, "--yes")
    assert again.exit_code == 1 and "is waiting already (change #" in again.output
    [(change_id, *_)] = changes(app)
    post(client, "/admin/changes", f"/admin/changes/{change_id}/withdraw")
    assert changes(app)[0][2] == "withdrawn" and revocation_list(app) is None
    assert keys_cli(app, "revoke-signer", "--reason", "key_compromise", "--as", admin.email, "--yes").exit_code == 0


def test_a_signer_replaced_since_the_request_is_not_revoked_by_its_approval(
    app: Flask, login_as: Any, second_admin: tuple[FlaskClient, Any]
) -> None:
    from disclosure.exports.pki import SIGNER_CERT_FILE, SIGNER_KEY_FILE, init_pki
    from disclosure.production.bundles import pki_dir

    admin = login_as("admin")
    assert keys_cli(app, "revoke-signer", "--reason", "superseded", "--as", admin.email, "--yes").exit_code == 0
    [(change_id, *_)] = changes(app)
    folder = pki_dir(app.config)
    for name in (SIGNER_CERT_FILE, SIGNER_KEY_FILE):
        (folder / name).unlink()
    init_pki(folder, "Disclosure Test Provider")  # another signer, issued since
    replaced = signer_serial(app)
    other, approver = second_admin
    response = post(other, "/admin/changes", f"/admin/changes/{change_id}/approve", {"password": approver.password})
    assert "not" in response.get_data(as_text=True) and "as asked: nothing was revoked" in response.get_data(
        as_text=True
    )
    assert signer_serial(app) == replaced and revocation_list(app) is None and changes(app)[0][2] == "pending"
    assert "keys.signer_revoked" not in actions(app)
