"""The audit vocabulary: every action the log can record. Names are stable; labels are for people."""

from enum import StrEnum


class AuditAction(StrEnum):
    USER_SIGN_IN = "user.sign_in"
    USER_SIGN_IN_FAILED = "user.sign_in_failed"
    USER_SIGN_OUT = "user.sign_out"
    USER_SESSION_EXPIRED = "user.session_expired"
    USER_SECOND_FACTOR_ENROLLED = "user.second_factor_enrolled"
    USER_SECOND_FACTOR_FAILED = "user.second_factor_failed"
    USER_SECOND_FACTOR_RESET = "user.second_factor_reset"
    USER_PASSWORD_CHANGED = "user.password_changed"  # noqa: S105 - an action name
    USER_PASSWORD_RESET = "user.password_reset"  # noqa: S105 - an action name
    USER_CREATE = "user.create"
    USER_ROLES_CHANGED = "user.roles_changed"
    USER_DISABLED = "user.disabled"
    USER_ENABLED = "user.enabled"
    USER_SESSIONS_ENDED = "user.sessions_ended"
    #: A person changed a setting of their own account (the time zone pages show times in).
    USER_SETTINGS_CHANGED = "user.settings_changed"
    #: Two-person control (disclosure.auth.pending): a powerful change asked for, and how it ended.
    CHANGE_REQUESTED = "change.requested"
    CHANGE_APPROVED = "change.approved"
    CHANGE_REFUSED = "change.refused"
    CHANGE_WITHDRAWN = "change.withdrawn"
    #: An address reached the failure count that pauses sign-in to the account: a notice for its owner.
    AUTH_LOCKOUT_NOTICE = "auth.lockout_notice"
    #: A wrong password where a step-up was asked for (building a bundle, an administrator's change to themselves).
    AUTH_STEP_UP_FAILED = "auth.step_up_failed"
    CASE_CREATE = "case.create"
    CASE_UPDATE = "case.update"
    CASE_TRANSITION = "case.transition"
    CASE_ASSIGN = "case.assign"
    DOCUMENT_UPLOAD = "document.upload"
    DOCUMENT_DOWNLOAD = "document.download"
    COMMENT_ADDED = "comment.added"
    CASES_EXPORTED = "cases.exported"
    NDO_SET = "ndo.set"
    NDO_RENEW = "ndo.renew"
    NDO_CUSTOMER_NOTIFIED = "ndo.customer_notified"
    AGENCY_CREATE = "agency.create"
    AGENCY_CONTACT_ADD = "agency.contact_add"
    AGENCY_CONTACT_VERIFIED = "agency.contact_verified"
    #: The agency directory (issue 15): a record's own facts, its aliases and official domains, a channel no longer
    #: relied on, an administrator vouching for the agency (or withdrawing it), a duplicate folded into its
    #: canonical record, and a CSV import (its rows' own changes are events of their own).
    AGENCY_UPDATE = "agency.update"
    AGENCY_ALIAS_ADD = "agency.alias_add"
    AGENCY_ALIAS_REMOVE = "agency.alias_remove"
    AGENCY_DOMAIN_ADD = "agency.domain_add"
    AGENCY_DOMAIN_REMOVE = "agency.domain_remove"
    AGENCY_CONTACT_RETIRED = "agency.contact_retired"
    AGENCY_VERIFIED = "agency.verified"
    AGENCY_VERIFICATION_WITHDRAWN = "agency.verification_withdrawn"
    AGENCY_MERGED = "agency.merged"
    AGENCIES_IMPORTED = "agencies.imported"
    POLICY_UPLOADED = "policy.uploaded"
    REVIEW_WORKSHEET_SAVED = "review.worksheet_saved"
    REVIEW_APPROVAL_RECORDED = "review.approval_recorded"
    REVIEW_STEP_UP_FAILED = "review.step_up_failed"
    LETTER_CREATED = "letter.created"
    PRODUCTION_RECORD_ADDED = "production.record_added"
    RECIPIENT_CERT_ADDED = "recipient.certificate_added"
    RECIPIENT_CERT_REVOKED = "recipient.certificate_revoked"
    BUNDLE_BUILD_STARTED = "bundle.build_started"
    BUNDLE_BUILT = "bundle.built"
    BUNDLE_DOWNLOADED = "bundle.downloaded"
    BUNDLE_PURGED = "bundle.purged"
    AUDIT_CHECKPOINT = "audit.checkpoint"
    AUDIT_VERIFIED = "audit.verified"
    AUDIT_EXPORTED = "audit.exported"
    KEYS_CREATED = "keys.created"
    KEYS_SIGNER_REVOKED = "keys.signer_revoked"
    KEYS_CRL_REISSUED = "keys.crl_reissued"
    STORAGE_KEY_ROTATED = "storage.key_rotated"
    #: `flask storage reconcile` removed a file no committed row names (an orphan, a partial, an abandoned write)
    #: or a purged bundle's file that was still there.
    STORAGE_FILE_REMOVED = "storage.file_removed"
    BACKUP_CREATED = "backup.created"
    BACKUP_RESTORED = "backup.restored"
    DEMO_SEEDED = "demo.seeded"
    JOB_QUEUED = "job.queued"
    JOB_STARTED = "job.started"
    JOB_REQUEUED = "job.requeued"
    JOB_FINISHED = "job.finished"
    JOB_CANCELLED = "job.cancelled"
    JOB_SECRET_SHOWN = "job.secret_shown"  # noqa: S105 - an action name
    #: A file a job produced (a dossier or report PDF) was deleted once its retention ran out.
    JOB_OUTPUT_PURGED = "job.output_purged"

    @property
    def label(self) -> str:
        return self.value.replace(".", ": ").replace("_", " ")
