"""The rules engine: what a request's process compels, what the policy permits, and what a reviewer may approve.

`evaluate` gives one finding per requested category (permitted / exceeds_process / no_policy_ground / preserve_only,
with the reason and the policy clause it rests on), the checklist the reviewer must confirm, and warnings with stable
ids. Invariants: only `permitted` findings are approvable (plus `no_policy_ground` once counsel's escalation is
recorded); an approval never widens the request. Pure: no Flask, no database.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime

from disclosure.policy.loader import default_policy
from disclosure.policy.model import ChecklistItem, DataKind, GroundRule, GroundUse, Policy, ProcessRule
from disclosure.policy.request import RequestDocument
from disclosure.policy.vocabulary import Category, Ground, ProcessType, TargetKind, Verdict

__all__ = [
    "COUNSEL_ESCALATION",
    "CategoryFinding",
    "Evaluation",
    "PolicyWarning",
    "ScopeError",
    "approvable_categories",
    "check_grounds",
    "check_scope",
    "evaluate",
    "ground_requires_reason",
]

#: Added to the checklist when a requested category has no policy ground: counsel must decide it.
COUNSEL_ESCALATION = ChecklistItem(
    id="counsel_escalation",
    label="Escalated to counsel, and counsel's decision recorded, for the categories no policy ground covers",
)


class ScopeError(ValueError):
    """An approval is wider than the request, or includes what the engine does not let a reviewer approve."""


@dataclass(frozen=True)
class CategoryFinding:
    category: Category
    verdict: Verdict
    grounds: tuple[Ground, ...]
    reason: str
    clause: str  #: the policy text the verdict rests on

    def as_json(self) -> dict[str, object]:
        return {"category": self.category.value, "verdict": self.verdict.value,
                "grounds": [g.value for g in self.grounds], "reason": self.reason, "clause": self.clause}


@dataclass(frozen=True)
class PolicyWarning:
    id: str  #: stable, for machines (e.g. "emergency_content_no_ground")
    message: str  #: for people

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "message": self.message}


@dataclass(frozen=True)
class Evaluation:
    policy_version: str  #: SHA-256 of the policy file
    process_type: ProcessType
    approvals_required: int
    categories: tuple[CategoryFinding, ...]
    checklist: tuple[ChecklistItem, ...]
    warnings: tuple[PolicyWarning, ...]

    def finding(self, category: Category) -> CategoryFinding | None:
        return next((f for f in self.categories if f.category is category), None)

    def warning_ids(self) -> list[str]:
        return [w.id for w in self.warnings]

    def as_json(self) -> dict[str, object]:
        """DESIGN's output shape."""
        return {
            "policy_version": self.policy_version,
            "approvals_required": self.approvals_required,
            "categories": [f.as_json() for f in self.categories],
            "checklist": [{"id": i.id, "label": i.label} for i in self.checklist],
            "warnings": [w.as_json() for w in self.warnings],
        }


def _names(items: Iterable[str]) -> str:
    """`a`, `a and b`, `a, b and c`."""
    seq = list(items)
    if len(seq) <= 1:
        return seq[0] if seq else "nothing"
    return ", ".join(seq[:-1]) + " and " + seq[-1]


def _either(items: Iterable[str]) -> str:
    seq = list(items)
    if len(seq) <= 1:
        return seq[0] if seq else "nobody"
    return ", ".join(seq[:-1]) + " or " + seq[-1]


class _Rules:
    """One evaluation's context: the request, the policy and its rule for the request's process."""

    def __init__(self, request: RequestDocument, policy: Policy, today: date) -> None:
        self.request, self.policy, self.today = request, policy, today
        self.process: ProcessRule = policy.process_types[request.process_type]

    def label(self, category: Category) -> str:
        return self.policy.categories[category].label

    def labels(self, categories: Iterable[Category]) -> str:
        return _names(self.label(c) for c in categories)

    def restriction(self, kind: DataKind) -> str:
        """The sentence that restricts `kind` of data (for public data: the statement that nothing restricts it)."""
        if kind is DataKind.PUBLIC:
            return self.policy.grounds[Ground.PUBLIC].clause
        return self.policy.data_kinds[kind].clause

    def clause(self, kind: DataKind, grounds: tuple[GroundRule, ...]) -> str:
        """One ground's clause; for several, the sentence that contains them all when there is one."""
        if len(grounds) == 1:
            return grounds[0].clause
        whole = self.restriction(kind)
        if grounds and all(g.clause in whole for g in grounds):
            return whole
        return " / ".join(g.clause for g in grounds) or whole

    def finding(self, category: Category) -> CategoryFinding:
        p, kind, name = self.process, self.policy.categories[category].data_kind, self.label(category)

        def found(verdict: Verdict, reason: str, clause: str, grounds: tuple[GroundRule, ...] = ()) -> CategoryFinding:
            return CategoryFinding(category, verdict, tuple(g.id for g in grounds), reason, clause)

        if p.preserve_only:
            return found(Verdict.PRESERVE_ONLY, f"{p.label}: preserve {name}; nothing is disclosed until other legal "
                                                "process compels it.", self.restriction(kind))
        if kind is DataKind.PUBLIC:
            grounds = self.policy.grounds_for(kind, GroundUse.PUBLIC_DATA)
            if not grounds:
                return found(Verdict.NO_POLICY_GROUND, f"No ground in the policy covers {name}.", self.restriction(kind))
            return found(Verdict.PERMITTED, grounds[0].reason or grounds[0].label, grounds[0].clause, grounds)
        if p.voluntary:
            grounds = self.policy.grounds_for(kind, GroundUse.EMERGENCY)
            if not grounds:
                return found(Verdict.NO_POLICY_GROUND,
                             f"The policy has no emergency ground for {self.policy.data_kinds[kind].label.lower()}: "
                             f"{name} cannot be disclosed on an emergency request; it must go to counsel.",
                             self.restriction(kind))
            if category not in p.voluntary_disclosure:
                return found(Verdict.EXCEEDS_PROCESS,
                             f"{p.label}: voluntary disclosure covers only {self.labels(p.voluntary_disclosure)}; "
                             f"{name} needs legal process that compels it.", self.restriction(kind))
            return found(Verdict.PERMITTED,
                         f"{p.label}: {name}{self.limit(category)} may be disclosed voluntarily on a good-faith belief "
                         "that an emergency involving danger of death or serious physical injury requires it. "
                         f"Permitted by the policy: {self.ground_labels(grounds)}.", self.clause(kind, grounds), grounds)
        grounds = self.policy.grounds_for(kind, GroundUse.COMPELLED_PROCESS)
        if category not in p.can_compel:
            return found(Verdict.EXCEEDS_PROCESS, f"{p.label}: cannot compel {name}; it can compel only "
                                                  f"{self.labels(p.can_compel)}.", self.clause(kind, grounds))
        allowed = p.authorities_for(category)
        issuer = self.request.issuing_authority.kind
        if allowed is not None and issuer not in allowed:
            return found(Verdict.EXCEEDS_PROCESS,
                         f"{p.label}: {name} must be ordered by a {_either(a.value for a in allowed)}; this one was "
                         f"issued by a {issuer.value}.", self.clause(kind, grounds))
        if not grounds:
            return found(Verdict.NO_POLICY_GROUND, f"{p.label}: compels {name}, but no ground in the policy covers "
                                                   "compelled disclosure of it; it must go to counsel.",
                         self.restriction(kind))
        return found(Verdict.PERMITTED, f"{p.label}: compels {name}{self.limit(category)} once confirmed valid and "
                                        f"enforceable (checklist). Permitted by the policy: {self.ground_labels(grounds)}.",
                     self.clause(kind, grounds), grounds)

    def ground_labels(self, grounds: tuple[GroundRule, ...]) -> str:
        return "; ".join(g.label[0].lower() + g.label[1:] for g in grounds)

    def limit(self, category: Category) -> str:
        limit = self.process.limits.get(category)
        return f" ({limit})" if limit else ""

    def warnings(self, findings: tuple[CategoryFinding, ...]) -> list[PolicyWarning]:
        p, request, out = self.process, self.request, []
        if p.preserve_only:
            renewal = f", renewable {p.renewals} time(s) for {p.renewal_days} days" if p.renewal_days else ""
            out.append(PolicyWarning("preservation_discloses_nothing",
                                     f"{p.label}: preserve the data for {p.preserve_days} days{renewal}. Nothing is "
                                     "disclosed until other legal process compels it."))
        unfounded = [f.category for f in findings if f.verdict is Verdict.NO_POLICY_GROUND]
        content = [c for c in unfounded if self.policy.categories[c].data_kind is DataKind.COMMUNICATIONS_CONTENT]
        if p.voluntary and content:
            out.append(PolicyWarning("emergency_content_no_ground",
                                     f"The policy has no emergency ground for communications content: "
                                     f"{self.labels(content)} cannot be disclosed on an emergency request. Escalate "
                                     "to counsel, or ask the requester for a search warrant or interception order."))
        if [c for c in unfounded if not (p.voluntary and c in content)]:
            out.append(PolicyWarning("no_policy_ground", f"No ground in the policy covers {self.labels(unfounded)}; "
                                                         "escalate to counsel."))
        out.extend(self.reason_warnings(findings))
        if p.approvals_required >= 2:
            out.append(PolicyWarning("two_approvals_required",
                                     f"{p.label}: {p.approvals_required} different reviewers must approve, and the "
                                     "person who logged the case cannot be one of them."))
        out.extend(self.authority_warnings(findings))
        if p.regimes is not None and request.jurisdiction.regime not in p.regimes:
            out.append(PolicyWarning("process_outside_regime",
                                     f"A {p.label} belongs to {_either(r.value for r in p.regimes)} law; this request "
                                     f"is under {request.jurisdiction.regime.value}. Check what was actually served."))
        countries = self.policy.jurisdictions[request.jurisdiction.regime].countries
        if countries is not None and request.jurisdiction.country not in countries:
            out.append(PolicyWarning("country_outside_jurisdiction",
                                     f"Country {request.jurisdiction.country} is not part of the "
                                     f"{self.policy.jurisdictions[request.jurisdiction.regime].label} jurisdiction."))
        if p.reported_in_bands:
            limits = "; ".join(f"{self.label(c)}: {text}" for c, text in p.limits.items())
            out.append(PolicyWarning("national_security_constraints",
                                     f"{p.label}: counted in transparency reports only in bands, never exactly. It "
                                     f"reaches only {self.labels(p.can_compel)}{f' ({limits})' if limits else ''} and "
                                     "never content. It usually forbids telling anyone (18 USC 2709(c))."))
        out.extend(self.non_disclosure_warnings())
        if request.valid_until is not None and request.valid_until < self.today:
            out.append(PolicyWarning("process_expired",
                                     f"The {p.label} expired on {request.valid_until.isoformat()} (today is "
                                     f"{self.today.isoformat()}): it compels nothing now; ask for a new one."))
        out.extend(self.identifier_warnings())
        out.extend(self.period_warnings())
        return out

    def reason_warnings(self, findings: tuple[CategoryFinding, ...]) -> list[PolicyWarning]:
        citable = {Verdict.PERMITTED, Verdict.NO_POLICY_GROUND}
        out = []
        for ground in self.policy.grounds.values():
            if not ground.requires_written_reason:
                continue
            categories = [f.category for f in findings if f.verdict in citable
                          and self.policy.categories[f.category].data_kind is ground.applies_to]
            if categories:
                note = f" {ground.note}" if ground.note else ""
                out.append(PolicyWarning(f"{ground.id.value}_needs_reason",
                                         f"Citing “{ground.label}” ({ground.id.value}) for {self.labels(categories)} "
                                         f"needs a written reason.{note}"))
        return out

    def authority_warnings(self, findings: tuple[CategoryFinding, ...]) -> list[PolicyWarning]:
        p, issuer = self.process, self.request.issuing_authority.kind
        refused = [f.category for f in findings if f.category in p.can_compel and not p.preserve_only
                   and (allowed := p.authorities_for(f.category)) is not None and issuer not in allowed]
        if p.preserve_only and p.authorities is not None and issuer not in p.authorities:
            refused = list(self.request.categories)
        by_rule: dict[tuple[str, ...], list[Category]] = {}
        for category in refused:
            allowed = p.authorities_for(category) or ()
            by_rule.setdefault(tuple(a.value for a in allowed), []).append(category)
        return [PolicyWarning("issuing_authority_not_allowed",
                              f"{p.label}: {self.labels(cats)} need an order issued by a {_either(kinds)}; this one was "
                              f"issued by a {issuer.value}. Ask for an order from the right authority.")
                for kinds, cats in by_rule.items()]

    def non_disclosure_warnings(self) -> list[PolicyWarning]:
        order = self.request.non_disclosure_order
        if order is None:
            return []
        if order.until is None:
            return [PolicyWarning("non_disclosure_order", f"Do not notify the customer: a non-disclosure order "
                                                          f"({order.basis}) is in force indefinitely, until lifted.")]
        if order.until < self.today:
            return [PolicyWarning("non_disclosure_order_expired",
                                  f"The non-disclosure order ({order.basis}) expired on {order.until.isoformat()}: "
                                  "notify the customer unless it was renewed.")]
        return [PolicyWarning("non_disclosure_order", f"Do not notify the customer: a non-disclosure order "
                                                      f"({order.basis}) is in force until {order.until.isoformat()}.")]

    def identifier_warnings(self) -> list[PolicyWarning]:
        targets = self.request.targets
        out = [PolicyWarning("ip_without_time", f"The IP address {t.value} has no time or date range: an address is "
                                                "shared and reassigned, so without its time of use it names no one.")
               for t in targets if t.kind is TargetKind.IP and not t.is_specific]
        if not any(t.is_specific for t in targets):
            out.insert(0, PolicyWarning("no_specific_identifier",
                                        "No specific identifier: name an email address, username, domain, customer id "
                                        "or phone, or an IP address with its time of use."))
        return out

    def period_warnings(self) -> list[PolicyWarning]:
        p, request = self.process, self.request
        if p.max_days is None:
            return []
        spans = [("the order", request.issued_on, request.valid_until)]
        spans += [(f"target {t.value}", t.from_, t.to) for t in request.targets]
        out = []
        for what, start, end in spans:
            if start is None or end is None:
                continue
            first, last = _day(start), _day(end)
            days = (last - first).days + 1
            if days > p.max_days:
                out.append(PolicyWarning("period_exceeds_maximum",
                                         f"A {p.label} may authorise at most {p.max_days} days; {what} spans {days} "
                                         f"days ({first.isoformat()} to {last.isoformat()}). Ask for a shorter period "
                                         "or an extension order."))
        return out


def _day(moment: date) -> date:
    return moment.date() if isinstance(moment, datetime) else moment


def evaluate(request: RequestDocument, policy: Policy, today: date) -> Evaluation:
    """The engine's findings for `request` under `policy`, as of `today` (for expiry checks)."""
    rules = _Rules(request, policy, today)
    findings = tuple(rules.finding(c) for c in request.categories)
    checklist = rules.process.checklist
    if any(f.verdict is Verdict.NO_POLICY_GROUND for f in findings):
        checklist += (COUNSEL_ESCALATION,)
    return Evaluation(policy_version=policy.sha256, process_type=request.process_type,
                      approvals_required=rules.process.approvals_required, categories=findings,
                      checklist=checklist, warnings=tuple(rules.warnings(findings)))


def approvable_categories(evaluation: Evaluation, *, counsel_escalation: bool = False) -> set[Category]:
    """The categories a reviewer may approve: those permitted, and, once counsel's escalation is recorded, those no
    policy ground covers. Never one that exceeds the process, never one that is only preserved."""
    allowed = {Verdict.PERMITTED, Verdict.NO_POLICY_GROUND} if counsel_escalation else {Verdict.PERMITTED}
    return {f.category for f in evaluation.categories if f.verdict in allowed}


def check_scope(requested: Iterable[Category], approved: Iterable[Category], evaluation: Evaluation, *,
                counsel_escalation: bool = False) -> None:
    """Raise ScopeError unless `approved` is a non-empty subset of `requested` that the evaluation lets one approve."""
    wanted, granted = set(requested), set(approved)
    if not granted:
        raise ScopeError("approve at least one category, or reject the request")
    if wider := granted - wanted:
        raise ScopeError(f"approval is wider than the request: {', '.join(sorted(wider))} was not requested")
    evaluated = {f.category for f in evaluation.categories}
    if wanted != evaluated:
        raise ScopeError("the evaluation is for a different set of categories; evaluate the request again")
    for category in sorted(granted - approvable_categories(evaluation, counsel_escalation=counsel_escalation)):
        finding = evaluation.finding(category)
        assert finding is not None
        hint = " (record counsel's escalation first)" if finding.verdict is Verdict.NO_POLICY_GROUND else ""
        raise ScopeError(f"{category.value} cannot be approved: the engine found {finding.verdict.value}{hint}. "
                         f"{finding.reason}")


def ground_requires_reason(ground: Ground, policy: Policy | None = None) -> bool:
    """Whether citing `ground` needs a written reason (legitimate interests does)."""
    return (policy or default_policy()).grounds[ground].requires_written_reason


def check_grounds(category: Category, grounds: Collection[Ground], policy: Policy, *,
                  written_reason: str | None = None) -> None:
    """Raise ScopeError unless `grounds` is a non-empty citation that fits `category`'s kind of data, with a written
    reason wherever a cited ground needs one."""
    if not grounds:
        raise ScopeError(f"cite at least one ground for {category.value}")
    citable = policy.citable_grounds(category)
    for ground in grounds:
        if ground not in citable:
            raise ScopeError(f"{ground.value} does not apply to {category.value}; it may rest on "
                             f"{', '.join(g.value for g in citable)}")
        if policy.grounds[ground].requires_written_reason and not (written_reason or "").strip():
            raise ScopeError(f"citing {ground.value} for {category.value} needs a written reason")
