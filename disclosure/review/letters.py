"""Response letters (approval cover letter, rejection, request for clarification, no records held) as PDFs stored
with the case, and the same letter as HTML for the reviewer's preview before the decision is recorded.

A letter prints what the requester may read: the organisation's letterhead (settings LETTERHEAD_*), the period in
words, each refused category with a plain reason (never the engine's wording, which names internal ids), and the
reviewer's message to the requester. The reviewer's internal reasons (`Decision.text`) are never printed.
The optional logo is read here, from a PNG or JPEG inside the instance folder, and embedded as a data: URL; the
PDF's fetcher loads nothing else, so no text in a letter can make WeasyPrint read a file.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, cast

from flask import current_app, render_template

from disclosure.audit.actions import AuditAction
from disclosure.audit.service import record
from disclosure.cases.models import Case, Document
from disclosure.cases.service import file_document
from disclosure.clock import utcnow
from disclosure.pdf import DenyAllFetcher, StaticOnlyFetcher, render_pdf
from disclosure.permissions import Permission
from disclosure.policy.vocabulary import Category, TargetKind, Verdict
from disclosure.review.models import Decision, Outcome
from disclosure.review.scope import ScopeEntry
from disclosure.review.service import REJECTION_REASONS
from disclosure.review.summary import day_in_words, period_in_words
from disclosure.services import Actor, require

log = logging.getLogger(__name__)

TITLES = {
    Outcome.APPROVED: "Response to legal process",
    Outcome.REJECTED: "Response to legal process: objection",
    Outcome.NEEDS_INFO: "Request for clarification",
    Outcome.NO_RECORDS: "Response to legal process: no records held",
}

#: Why a requested category is not produced, in words a requester may read (the engine's own reasons name
#: internal ids and policy clauses; these do not).
REFUSAL_REASONS = {
    Verdict.EXCEEDS_PROCESS.value: "This kind of legal process cannot compel this data.",
    Verdict.NO_POLICY_GROUND.value: "Our privacy policy gives no ground on which we may disclose this data.",
    Verdict.PRESERVE_ONLY.value: "Your process asks us to preserve this data, not to disclose it.",
}
#: A category the engine would allow but the reviewer did not approve.
NOT_APPROVED = "On review, we did not find that your process supports disclosing this data."
#: The logo may be at most this large, and only these formats (judged by their first bytes).
LOGO_MAX_BYTES = 1024 * 1024
LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}


@dataclass(frozen=True)
class Letterhead:
    """The organisation as its letters name it."""

    name: str
    address: list[str]
    email: str
    phone: str
    #: The logo as a data: URL, or None.
    logo: str | None = None


@dataclass(frozen=True)
class Refusal:
    """A requested category not produced (for some targets, or for all when `targets` is empty), and why."""

    category: str
    reason: str
    targets: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LetterContent:
    """Everything a letter prints: from a recorded decision, or from the review form for a preview."""

    case: Case
    outcome: Outcome
    scope: Sequence[ScopeEntry]
    reason_codes: Sequence[str]
    message: str
    policy_sha256: str
    #: The engine's findings by category value ({"verdict": …}), as at the decision.
    findings: dict[str, dict[str, Any]]
    dated: date

    @classmethod
    def of(cls, decision: Decision) -> LetterContent:
        return cls(
            case=decision.review.case,
            outcome=decision.outcome,
            scope=decision.scope or (),
            reason_codes=decision.reason_codes,
            message=decision.requester_message,
            policy_sha256=decision.policy_sha256,
            findings={f["category"]: f for f in decision.engine.get("categories", [])},
            dated=decision.decided_at.date(),
        )


def letterhead() -> Letterhead:
    config = current_app.config
    address = str(config.get("LETTERHEAD_ADDRESS") or "")
    return Letterhead(
        name=str(config.get("LETTERHEAD_NAME") or config.get("ORGANISATION_NAME") or "Legal Department"),
        address=[line.strip() for line in re.split(r"\||\n", address) if line.strip()],
        email=str(config.get("LETTERHEAD_EMAIL") or ""),
        phone=str(config.get("LETTERHEAD_PHONE") or ""),
        logo=_logo(config.get("LETTERHEAD_LOGO")),
    )


def _logo(configured: Any) -> str | None:
    """The logo file as a data: URL: only a PNG or JPEG file inside the instance folder, at most 1 MB. Anything
    else leaves the letter without a logo and says why in the log (a letter is still owed to the requester)."""
    if not configured:
        return None
    instance = Path(current_app.instance_path).resolve()
    path = (instance / str(configured)).resolve()
    if not path.is_relative_to(instance):
        log.error("LETTERHEAD_LOGO %s is outside the instance folder %s; letters go without a logo", path, instance)
        return None
    try:
        data = path.read_bytes() if path.is_file() and path.stat().st_size <= LOGO_MAX_BYTES else b""
    except OSError as error:
        log.error("LETTERHEAD_LOGO %s cannot be read (%s); letters go without a logo", path, error)
        return None
    media_type = next((kind for magic, kind in LOGO_TYPES.items() if data.startswith(magic)), None)
    if media_type is None:
        log.error("LETTERHEAD_LOGO %s is not a PNG or JPEG file of at most 1 MB; letters go without a logo", path)
        return None
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"


def _label(enum: Any, value: str) -> str:
    try:
        return str(enum(value).label)
    except ValueError:
        return value


def refusals(content: LetterContent) -> list[Refusal]:
    """The requested categories an approval does not produce, in the case's order, each with a plain reason."""
    if content.outcome is not Outcome.APPROVED:
        return []
    targets = [t.value for t in content.case.targets]
    approved_for = {
        c.value: {e.value for e in content.scope if c.value in e.categories} for c in content.case.categories
    }
    refused = []
    for category in content.case.categories:
        approved = approved_for[category.value]
        if approved and approved >= set(targets):
            continue
        verdict = str(content.findings.get(category.value, {}).get("verdict", Verdict.PERMITTED.value))
        reason = REFUSAL_REASONS.get(verdict, NOT_APPROVED)
        not_for = [] if not approved else [t for t in targets if t not in approved]
        refused.append(Refusal(category.label, reason, not_for))
    # Whole categories first, then those refused for some targets only.
    return sorted(refused, key=lambda r: bool(r.targets))


def _searched_period(start: str | None, end: str | None) -> str:
    if start and end:
        return period_in_words(start, end)
    if start:
        return f"from {day_in_words(start)} to the date of our search"
    if end:
        return f"from the earliest records we keep to {day_in_words(end)}"
    return "No period was named: all the records we keep"


def letter_html(content: LetterContent | Decision, *, preview: bool = False) -> str:
    # (Decision derives from an untyped base, so isinstance alone does not narrow the union for mypy.)
    letter = LetterContent.of(content) if isinstance(content, Decision) else cast(LetterContent, content)
    case = letter.case
    scope = [
        {
            "target": f"{_label(TargetKind, entry.kind)}: {entry.value}",
            "labels": [_label(Category, c) for c in entry.categories],
            "period": period_in_words(entry.start, entry.end),
        }
        for entry in letter.scope
    ]
    targets = [
        {"value": t.value, "kind": t.target_kind.label, "period": _searched_period(t.date_from, t.date_to)}
        for t in case.targets
    ]
    head = letterhead()
    return render_template(
        f"letters/{letter.outcome.value}.html",
        case=case,
        content=letter,
        scope=scope,
        targets=targets,
        refused=refusals(letter),
        title=TITLES[letter.outcome],
        reasons=[REJECTION_REASONS.get(code, code) for code in letter.reason_codes],
        requested=[c.label for c in case.categories],
        dated=day_in_words(letter.dated),
        received=day_in_words(case.received_at.date()),
        letterhead=head,
        preview=preview,
    )


def letter_pdf(content: LetterContent | Decision) -> bytes:
    html = letter_html(content)
    # Only the logo's data: URL may load (and, harmlessly, our own static files); without a logo, nothing may.
    return render_pdf(html, StaticOnlyFetcher() if letterhead().logo else DenyAllFetcher())


def create_letter(actor: Actor, decision: Decision, ip: str | None) -> Document:
    """Render the decision's letter, store it encrypted with the case, and record it."""
    require(actor, Permission.REVIEW_DECIDE)
    case = decision.review.case
    data = letter_pdf(decision)
    name = f"{case.reference}-{decision.outcome.value.replace('_', '-')}-letter.pdf"
    document = file_document(actor, case, "response_letter", data, name, "application/pdf")
    record(
        actor,
        AuditAction.LETTER_CREATED,
        subject=case.subject,
        ip=ip,
        data={"document": document.id, "decision": decision.id, "sha256": document.sha256, "filename": name},
    )
    return document


def preview_content(
    actor: Actor,
    case: Case,
    outcome: str,
    scope: Sequence[ScopeEntry],
    reason_codes: Sequence[str],
    message: str,
    policy_sha256: str,
    findings: dict[str, dict[str, Any]],
) -> LetterContent:
    """The letter a decision would produce, from the review form as it stands; records nothing. Raises
    ValueError for an unknown outcome and ScopeError for a scope the decision would refuse."""
    from disclosure.review.scope import parse_scope

    require(actor, Permission.REVIEW_DECIDE)
    chosen = Outcome(outcome)
    entries = tuple(parse_scope(case, list(scope))) if chosen is Outcome.APPROVED else ()
    return LetterContent(
        case=case,
        outcome=chosen,
        scope=entries,
        reason_codes=sorted(set(reason_codes)) if chosen is Outcome.REJECTED else [],
        message=message.strip(),
        policy_sha256=policy_sha256,
        findings=findings,
        dated=utcnow().date(),
    )
