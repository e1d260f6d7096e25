"""Policy versions: stored append-only with their SHA-256; the newest applies to reviews started after it.

Uploading a version takes policy:manage: an operator at the command line installs it at once; an administrator in
the web app asks for it, and it is installed once a second administrator approves (disclosure.auth.pending).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from sqlalchemy import select

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.extensions import db
from disclosure.permissions import Permission
from disclosure.policy.loader import PolicyFileError, default_policy_bytes, load_policy
from disclosure.policy.model import Policy
from disclosure.review.models import PolicyVersion
from disclosure.services import Actor, ServiceError, require

MAX_POLICY_BYTES = 256 * 1024


class PolicyUploadError(ServiceError):
    """An uploaded policy file was refused; the message lists what to fix, by line and field."""


def current_version() -> PolicyVersion:
    """The newest version. The packaged default is registered as the first one when there is none, and again
    when a release brings a newer default and nobody has uploaded a policy of their own (an upload always
    stays in force until someone uploads another)."""
    version = db.session.execute(select(PolicyVersion).order_by(PolicyVersion.id.desc()).limit(1)).scalar()
    content = default_policy_bytes()
    digest = hashlib.sha256(content).hexdigest()
    if version is None or (version.uploaded_by_id is None and version.sha256 != digest):
        known = db.session.execute(select(PolicyVersion).where(PolicyVersion.sha256 == digest)).scalar()
        if known is not None:  # this default was in force before an upload; uploads are never undone silently
            return version if version is not None else known
        policy = load_policy(content, source="default.toml")
        version = PolicyVersion(
            sha256=digest,
            content=content,
            label=f"{policy.info.name} {policy.info.version} (default)",
        )
        db.session.add(version)
        db.session.flush()
    return version


@lru_cache(maxsize=16)
def _parsed(sha256: str, content: bytes) -> Policy:
    return load_policy(content)


def policy_of(version: PolicyVersion) -> Policy:
    return _parsed(version.sha256, bytes(version.content))


def check_upload(content: bytes, filename: str) -> tuple[str, str]:
    """Refuse a file that is too large, does not load or is stored already; return its (label, SHA-256)."""
    if len(content) > MAX_POLICY_BYTES:
        raise PolicyUploadError(f"The file is larger than {MAX_POLICY_BYTES // 1024} KiB; a policy file is small text.")
    try:
        policy = load_policy(content, source=filename or "upload.toml")
    except PolicyFileError as error:
        raise PolicyUploadError(str(error)) from error
    digest = hashlib.sha256(content).hexdigest()
    if db.session.execute(select(PolicyVersion.id).where(PolicyVersion.sha256 == digest)).first():
        raise PolicyUploadError(f"This exact policy (SHA-256 {digest[:16]}…) is already stored.")
    return f"{policy.info.name} {policy.info.version}", digest


def upload_version(actor: Actor, content: bytes, filename: str, ip: str | None) -> PolicyVersion:
    """An operator at the command line installs a version at once. A person (an administrator in the web app)
    asks for it instead (disclosure.auth.pending.request_policy_version) and a second administrator approves it:
    the policy sets the approval counts, so one person alone must not be able to lower them."""
    require(actor, Permission.POLICY_MANAGE)
    if actor.id is not None:
        raise PolicyUploadError("A new policy version needs a second administrator's approval: request it instead.")
    return install_version(actor, content, filename, ip, None, None)


def install_version(
    actor: Actor,
    content: bytes,
    filename: str,
    ip: str | None,
    change_id: int | None,
    requested_by_id: int | None,
) -> PolicyVersion:
    """Store a checked version: at the command line, or as the approved pending change `change_id` (applied by the
    approving administrator, uploaded by whoever asked for it)."""
    require(actor, Permission.POLICY_MANAGE)
    label, digest = check_upload(content, filename)
    current_version()  # the default stays on record as the version before this one
    version = PolicyVersion(
        sha256=digest, content=content, label=label, uploaded_by_id=requested_by_id if change_id else actor.id
    )
    db.session.add(version)
    db.session.flush()
    data: dict[str, object] = {"sha256": digest, "label": version.label, "filename": filename[:200]}
    if change_id is not None:
        data |= {"change": change_id, "requested_by": requested_by_id}
    record(actor, AuditAction.POLICY_UPLOADED, subject=f"policy:{version.id}", ip=ip, data=data)
    return version
