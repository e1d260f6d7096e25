"""Revoking the bundle-signing certificate: asked for by one administrator, done when a second one approves.

`flask keys revoke-signer --as EMAIL` asks (disclosure.auth.pending.request_signer_revocation, after
check_signer_revocation() has shown that it could be done now); a second administrator approves it on the pending
changes page, and revoke_signer() does it in the approval's transaction, as them. It records
keys.signer_revoked while the audit log's head row is locked (one revocation or reissue of the list at a time),
then writes the list and the new signer (disclosure.exports.pki_revocation): a write that fails rolls the event
and the approval back, and the change stays pending. It revokes only the certificate the request named: if the
signer changed meanwhile, nothing is done, unless that request's revocation is already in place (a commit lost
after the files were written), which is then recorded, not repeated.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from flask import current_app

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import lock_head, record
from disclosure.exports.pki import SIGNER_CERT_FILE, PKIError, serial_hex
from disclosure.exports.pki_revocation import (
    REVOCATION_REASONS,
    REVOKED_SIGNER_PREFIX,
    SignerReplacement,
    apply_signer_revocation,
    prepare_signer_revocation,
    stored_crl,
)
from disclosure.extensions import db
from disclosure.keyring import bundle_key_passphrase
from disclosure.permissions import Permission
from disclosure.services import Actor, ServiceError, require


class SignerRevocationError(ServiceError):
    """The bundle-signing certificate cannot be revoked as asked; nothing was revoked."""


def pki_folder() -> Path:
    """Where the bundle CA and signer live (disclosure.production.bundles.pki_dir)."""
    from disclosure.production.bundles import pki_dir

    return pki_dir(current_app.config)


def _organisation() -> str:
    return str(current_app.config.get("ORGANISATION_NAME", "Disclosure"))


def check_signer_revocation(reason: str) -> SignerReplacement:
    """What revoking now would do, made in memory and written nowhere: a missing or unreadable key, an absent CA
    key or a damaged list is a SignerRevocationError at once, before anyone is asked to approve."""
    if reason not in REVOCATION_REASONS:
        raise SignerRevocationError(f"unknown reason {reason!r}; choose one of {', '.join(REVOCATION_REASONS)}")
    try:
        return prepare_signer_revocation(pki_folder(), _organisation(), reason, passphrase=bundle_key_passphrase())
    except PKIError as error:
        raise SignerRevocationError(str(error)) from error


def _revoked_already(folder: Path, serial: str) -> x509.Certificate | None:
    """The current signing certificate, if the one of `serial` was revoked and replaced already: listed, kept for
    the record, and no longer the signer (a revocation whose audit event was lost with its commit)."""
    if not (folder / f"{REVOKED_SIGNER_PREFIX}{serial}.pem").is_file():
        return None
    try:
        listed = {serial_hex(entry.serial_number) for entry in stored_crl(folder)}
        current = x509.load_pem_x509_certificate((folder / SIGNER_CERT_FILE).read_bytes())
    except (PKIError, OSError, ValueError):
        return None
    return current if serial in listed and serial_hex(current.serial_number) != serial else None


def revoke_signer(
    actor: Actor, reason: str, serial: str, *, change_id: int, requested_by_id: int, ip: str | None
) -> list[str]:
    """Revoke the signing certificate of `serial` and issue a new one, as `actor` (the approving administrator);
    return a line per file written. Records keys.signer_revoked with the change and who asked for it."""
    require(actor, Permission.STORAGE_MAINTAIN)
    folder = pki_folder()
    lock_head(db.session())  # one revocation, or reissue of the list, at a time
    data = {"revoked_serial": serial, "reason": reason, "change": change_id, "requested_by": requested_by_id}
    try:
        plan = prepare_signer_revocation(folder, _organisation(), reason, passphrase=bundle_key_passphrase())
    except PKIError as error:
        raise SignerRevocationError(f"nothing was revoked: {error}") from error
    current = serial_hex(plan.revoked.serial_number)
    if current != serial:
        done = _revoked_already(folder, serial)
        if done is None:
            raise SignerRevocationError(
                f"the bundle-signing certificate is now serial {current}, not {serial} as asked: nothing was "
                "revoked. Refuse this change and ask again"
            )
        record(
            actor,
            AuditAction.KEYS_SIGNER_REVOKED,
            subject="keys",
            ip=ip,
            data={**data, "new_serial": serial_hex(done.serial_number), "found_in_place": True},
        )
        return [f"serial {serial} was revoked and replaced already (its record was lost); recorded it now"]
    record(
        actor,
        AuditAction.KEYS_SIGNER_REVOKED,
        subject="keys",
        ip=ip,
        data={**data, "reason": plan.reason.name, "new_serial": serial_hex(plan.cert.serial_number)},
    )
    try:
        return apply_signer_revocation(plan)
    except OSError as error:
        raise SignerRevocationError(
            f"could not write to {folder}: {error.strerror or error}. Nothing was recorded and the change is still "
            "waiting: fix the folder and approve it again (that finishes the revocation without listing the "
            "certificate twice)"
        ) from error
