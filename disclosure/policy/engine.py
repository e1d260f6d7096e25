"""The rules engine: what a request's process compels, and what the policy permits.

`evaluate` gives one finding per requested category (permitted / exceeds_process / no_policy_ground /
preserve_only, with the reason and the policy clause it rests on), the checklist the reviewer must confirm,
and warnings with stable ids. The scope guards a reviewer's approval must pass live in scope.py and are
re-exported here. Pure: no Flask, no database, no clock (the caller passes `today`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from functools import partial

from disclosure.policy.findings import COUNSEL_ESCALATION, CategoryFinding, Evaluation, PolicyWarning
from disclosure.policy.model import DataKind, GroundRule, GroundUse, Policy, ProcessRule
from disclosure.policy.request import RequestDocument
from disclosure.policy.scope import (
    ScopeError,
    approvable_categories,
    check_grounds,
    check_scope,
    ground_requires_reason,
)
from disclosure.policy.vocabulary import AuthorityKind, Category, TargetKind, Verdict

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

#: Warnings that may appear more than once (one per rule, target or period concerned); others at most once.
REPEATABLE_WARNINGS = frozenset(
    {
        "issuing_authority_not_allowed",
        "ip_without_time",
        "period_exceeds_maximum",
    }
)


#: How an issuing authority is named in a sentence ("this one was issued by …").
_WHO = {
    AuthorityKind.JUDGE: "a judge",
    AuthorityKind.COURT: "a court",
    AuthorityKind.PROSECUTOR: "a prosecutor",
    AuthorityKind.AGENCY: "an agency",
    AuthorityKind.POLICE: "the police",
}


def _names(items: Iterable[str], conjunction: str = "and") -> str:
    """`a`, `a and b`, `a, b and c` (or `or`)."""
    seq = list(items)
    if len(seq) <= 1:
        return seq[0] if seq else "nothing"
    return ", ".join(seq[:-1]) + f" {conjunction} " + seq[-1]


def _found(
    category: Category, verdict: Verdict, reason: str, clause: str, grounds: tuple[GroundRule, ...] = ()
) -> CategoryFinding:
    return CategoryFinding(category, verdict, tuple(g.id for g in grounds), reason, clause)


def _day(moment: date) -> date:
    return moment.date() if isinstance(moment, datetime) else moment


class _Rules:
    """One evaluation's context: the request, the policy and the policy's rule for the request's process."""

    def __init__(self, request: RequestDocument, policy: Policy, today: date) -> None:
        self.request, self.policy, self.today = request, policy, today
        self.process: ProcessRule = policy.process_types[request.process_type]

    def label(self, category: Category) -> str:
        return self.policy.categories[category].label

    def labels(self, categories: Iterable[Category]) -> str:
        return _names(self.label(c) for c in categories)

    def kind(self, category: Category) -> DataKind:
        return self.policy.categories[category].data_kind

    def restriction(self, kind: DataKind) -> str:
        """The sentence restricting `kind` of data (for public data: the statement that nothing does)."""
        if kind is DataKind.PUBLIC:
            return next(g.clause for g in self.policy.grounds.values() if g.applies_to is DataKind.PUBLIC)
        return self.policy.data_kinds[kind].clause

    def clause(self, kind: DataKind, grounds: tuple[GroundRule, ...]) -> str:
        """One ground's clause; for several, the sentence that holds them all (else each, joined)."""
        if len(grounds) == 1:
            return grounds[0].clause
        whole = self.restriction(kind)
        if grounds and all(g.clause in whole for g in grounds):
            return whole
        return " / ".join(g.clause for g in grounds) or whole

    @staticmethod
    def ground_labels(grounds: tuple[GroundRule, ...]) -> str:
        return "; ".join(g.label[0].lower() + g.label[1:] for g in grounds)

    def limit(self, category: Category) -> str:
        limit = self.process.limits.get(category)
        return f" ({limit})" if limit else ""

    def finding(self, category: Category) -> CategoryFinding:
        p, kind, name = self.process, self.kind(category), self.label(category)
        found = partial(_found, category)
        if p.preserve_only:
            return found(
                Verdict.PRESERVE_ONLY,
                f"{p.label}: preserve {name}; nothing is disclosed until other legal process compels it.",
                self.restriction(kind),
            )
        if kind is DataKind.PUBLIC:
            grounds = self.policy.grounds_for(kind, GroundUse.PUBLIC_DATA)
            if not grounds:
                return found(
                    Verdict.NO_POLICY_GROUND, f"No ground in the policy covers {name}.", self.restriction(kind)
                )
            return found(Verdict.PERMITTED, grounds[0].reason or grounds[0].label, grounds[0].clause, grounds)
        if p.voluntary:
            return self.voluntary_finding(category)
        grounds = self.policy.grounds_for(kind, GroundUse.COMPELLED_PROCESS)
        if category not in p.can_compel:
            return found(
                Verdict.EXCEEDS_PROCESS,
                f"{p.label}: cannot compel {name}; it can compel only {self.labels(p.can_compel)}.",
                self.clause(kind, grounds),
            )
        allowed, issuer = p.authorities_for(category), self.request.issuing_authority.kind
        if allowed is not None and issuer not in allowed:
            who = _names((a.value for a in allowed), "or")
            return found(
                Verdict.EXCEEDS_PROCESS,
                f"{p.label}: {name} must be ordered by a {who}; this one was issued by {_WHO[issuer]}.",
                self.clause(kind, grounds),
            )
        if not grounds:
            return found(
                Verdict.NO_POLICY_GROUND,
                f"{p.label}: compels {name}, but no ground in the policy covers compelled "
                "disclosure of it; it must go to counsel.",
                self.restriction(kind),
            )
        return found(
            Verdict.PERMITTED,
            f"{p.label}: compels {name}{self.limit(category)} once confirmed valid and enforceable "
            f"(checklist). Permitted by the policy: {self.ground_labels(grounds)}.",
            self.clause(kind, grounds),
            grounds,
        )

    def voluntary_finding(self, category: Category) -> CategoryFinding:
        p, kind, name = self.process, self.kind(category), self.label(category)
        found = partial(_found, category)
        grounds = self.policy.grounds_for(kind, GroundUse.EMERGENCY)
        if not grounds:
            data = self.policy.data_kinds[kind].label.lower()
            return found(
                Verdict.NO_POLICY_GROUND,
                f"The policy has no emergency ground for {data}: {name} cannot be disclosed on an "
                "emergency request; it must go to counsel.",
                self.restriction(kind),
            )
        if category not in p.voluntary_disclosure:
            covered = self.labels(p.voluntary_disclosure)
            return found(
                Verdict.EXCEEDS_PROCESS,
                f"{p.label}: voluntary disclosure covers only {covered}; {name} needs legal process that compels it.",
                self.restriction(kind),
            )
        return found(
            Verdict.PERMITTED,
            f"{p.label}: {name}{self.limit(category)} may be disclosed voluntarily on a good-faith "
            "belief that an emergency involving danger of death or serious physical injury requires "
            f"it. Permitted by the policy: {self.ground_labels(grounds)}.",
            self.clause(kind, grounds),
            grounds,
        )

    def warnings(self, findings: tuple[CategoryFinding, ...]) -> list[PolicyWarning]:
        p, request, out = self.process, self.request, []
        if p.preserve_only:
            renewal = f", renewable {p.renewals} time(s) for {p.renewal_days} days" if p.renewal_days else ""
            out.append(
                PolicyWarning(
                    "preservation_discloses_nothing",
                    f"{p.label}: preserve the data for {p.preserve_days} days{renewal}. "
                    "Nothing is disclosed until other legal process compels it.",
                )
            )
        out.extend(self.ground_warnings(findings))
        if p.approvals_required >= 2:
            out.append(
                PolicyWarning(
                    "two_approvals_required",
                    f"{p.label}: {p.approvals_required} different reviewers must approve, "
                    "and the person who logged the case cannot be one of them.",
                )
            )
        out.extend(self.authority_warnings())
        out.extend(self.jurisdiction_warnings())
        if p.reported_in_bands:
            limits = "; ".join(f"{self.label(c)}: {text}" for c, text in p.limits.items())
            limits = f" ({limits})" if limits else ""
            out.append(
                PolicyWarning(
                    "national_security_constraints",
                    f"{p.label}: counted in transparency reports only in bands, never "
                    f"exactly. It reaches only {self.labels(p.can_compel)}{limits} and "
                    "never content. It usually forbids telling anyone (18 USC 2709(c)).",
                )
            )
        out.extend(self.non_disclosure_warnings())
        if request.valid_until is not None and request.valid_until < self.today:
            out.append(
                PolicyWarning(
                    "process_expired",
                    f"The {p.label} expired on {request.valid_until.isoformat()} (today "
                    f"is {self.today.isoformat()}): it compels nothing now; ask for a new "
                    "one.",
                )
            )
        out.extend(self.identifier_warnings())
        out.extend(self.period_warnings())
        return out

    def ground_warnings(self, findings: tuple[CategoryFinding, ...]) -> list[PolicyWarning]:
        out: list[PolicyWarning] = []
        unfounded = [f.category for f in findings if f.verdict is Verdict.NO_POLICY_GROUND]
        content = [c for c in unfounded if self.kind(c) is DataKind.COMMUNICATIONS_CONTENT]
        if self.process.voluntary and content:
            out.append(
                PolicyWarning(
                    "emergency_content_no_ground",
                    "The policy has no emergency ground for communications content: "
                    f"{self.labels(content)} cannot be disclosed on an emergency request. "
                    "Escalate to counsel, or ask the requester for a search warrant or "
                    "interception order.",
                )
            )
        if other := [c for c in unfounded if not (self.process.voluntary and c in content)]:
            out.append(
                PolicyWarning(
                    "no_policy_ground", f"No ground in the policy covers {self.labels(other)}; escalate to counsel."
                )
            )
        citable = {Verdict.PERMITTED, Verdict.NO_POLICY_GROUND}  # a reviewer (or counsel) could cite a ground
        for ground in self.policy.grounds.values():
            categories = [
                f.category for f in findings if f.verdict in citable and self.kind(f.category) is ground.applies_to
            ]
            if ground.requires_written_reason and categories:
                note = f" {ground.note}" if ground.note else ""
                out.append(
                    PolicyWarning(
                        f"{ground.id.value}_needs_reason",
                        f"Citing “{ground.label}” ({ground.id.value}) for "
                        f"{self.labels(categories)} needs a written reason.{note}",
                    )
                )
        return out

    def authority_warnings(self) -> list[PolicyWarning]:
        p, issuer = self.process, self.request.issuing_authority.kind
        if p.preserve_only:
            wrong = p.authorities is not None and issuer not in p.authorities
            concerned = list(self.request.categories) if wrong else []
        else:
            concerned = [
                c
                for c in self.request.categories
                if c in p.can_compel and (allowed := p.authorities_for(c)) is not None and issuer not in allowed
            ]
        by_rule: dict[tuple[str, ...], list[Category]] = {}
        for category in concerned:
            by_rule.setdefault(tuple(a.value for a in p.authorities_for(category) or ()), []).append(category)
        return [
            PolicyWarning(
                "issuing_authority_not_allowed",
                f"{p.label}: {self.labels(cats)} need an order issued by a "
                f"{_names(kinds, 'or')}; this one was issued by {_WHO[issuer]}. Ask for an "
                "order from the right authority.",
            )
            for kinds, cats in by_rule.items()
        ]

    def jurisdiction_warnings(self) -> list[PolicyWarning]:
        p, where, out = self.process, self.request.jurisdiction, []
        if p.regimes is not None and where.regime not in p.regimes:
            law = _names((r.value for r in p.regimes), "or")
            out.append(
                PolicyWarning(
                    "process_outside_regime",
                    f"A {p.label} belongs to {law} law; this request is under "
                    f"{where.regime.value}. Check what was served.",
                )
            )
        rule = self.policy.jurisdictions[where.regime]
        if rule.countries is not None and where.country not in rule.countries:
            out.append(
                PolicyWarning(
                    "country_outside_jurisdiction",
                    f"Country {where.country} is not part of the {rule.label} jurisdiction.",
                )
            )
        return out

    def non_disclosure_warnings(self) -> list[PolicyWarning]:
        order = self.request.non_disclosure_order
        if order is None:
            return []
        if order.until is not None and order.until < self.today:
            return [
                PolicyWarning(
                    "non_disclosure_order_expired",
                    f"The non-disclosure order ({order.basis}) expired on "
                    f"{order.until.isoformat()}: notify the customer unless it was renewed.",
                )
            ]
        term = "indefinitely, until lifted" if order.until is None else f"until {order.until.isoformat()}"
        return [
            PolicyWarning(
                "non_disclosure_order",
                f"Do not notify the customer: a non-disclosure order ({order.basis}) is in force {term}.",
            )
        ]

    def identifier_warnings(self) -> list[PolicyWarning]:
        targets = self.request.targets
        out = [
            PolicyWarning(
                "ip_without_time",
                f"The IP address {t.value} has no time or date range: an "
                "address is shared and reassigned, so without its time of "
                "use it names no one.",
            )
            for t in targets
            if t.kind is TargetKind.IP and not t.is_specific
        ]
        if not any(t.is_specific for t in targets):
            out.insert(
                0,
                PolicyWarning(
                    "no_specific_identifier",
                    "No specific identifier: name an email address, username, domain, "
                    "customer id or phone, or an IP address with its time of use.",
                ),
            )
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
            if (days := (last - first).days + 1) > p.max_days:
                out.append(
                    PolicyWarning(
                        "period_exceeds_maximum",
                        f"A {p.label} may authorise at most {p.max_days} days; {what} "
                        f"spans {days} days ({first.isoformat()} to {last.isoformat()}). "
                        "Ask for a shorter period or an extension order.",
                    )
                )
        return out


def evaluate(request: RequestDocument, policy: Policy, today: date) -> Evaluation:
    """The engine's findings for `request` under `policy`, as of `today` (for expiry checks)."""
    rules = _Rules(request, policy, today)
    findings = tuple(rules.finding(c) for c in request.categories)
    checklist = rules.process.checklist
    if any(f.verdict is Verdict.NO_POLICY_GROUND for f in findings):
        checklist += (COUNSEL_ESCALATION,)
    return Evaluation(
        policy_version=policy.sha256,
        process_type=request.process_type,
        approvals_required=rules.process.approvals_required,
        categories=findings,
        checklist=checklist,
        warnings=tuple(rules.warnings(findings)),
    )
