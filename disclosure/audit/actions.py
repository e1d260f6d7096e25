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
    USER_PASSWORD_CHANGED = "user.password_changed"
    USER_PASSWORD_RESET = "user.password_reset"
    USER_CREATE = "user.create"
    USER_ROLES_CHANGED = "user.roles_changed"
    USER_DISABLED = "user.disabled"
    USER_ENABLED = "user.enabled"
    USER_SESSIONS_ENDED = "user.sessions_ended"
    AUDIT_CHECKPOINT = "audit.checkpoint"
    AUDIT_VERIFIED = "audit.verified"
    AUDIT_EXPORTED = "audit.exported"
    KEYS_CREATED = "keys.created"
    DEMO_SEEDED = "demo.seeded"

    @property
    def label(self) -> str:
        return self.value.replace(".", ": ").replace("_", " ")
