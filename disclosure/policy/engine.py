"""The rules engine: what a request's process compels, and what the policy permits.

`evaluate` gives one finding per requested category (permitted / exceeds_process / no_policy_ground /
preserve_only, with the reason and the policy clause it rests on), the checklist the reviewer must confirm,
and warnings with stable ids. The scope guards a reviewer's approval must pass live in scope.py and are
re-exported here. Pure: no Flask, no database, no clock (the caller passes `today`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from functools import partial
from types import MappingProxyType

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
from disclosure.policy.validity import REAL_TIME, Bar, Period, Validity, days_spanned, names
from disclosure.policy.vocabulary import Category, ProcessType, Regime, TargetKind, Verdict

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

#: The legal systems US process (a subpoena, a 2703(d) order, a warrant, 2703(f) preservation) belongs to. An
#: authority under any other is no "governmental entity" (18 USC 2711(4): the United States and its States).
US_REGIMES = frozenset({Regime.US_FEDERAL, Regime.US_STATE})

#: Approvals any interception needs when the policy's interception order does not say (DESIGN: two reviewers).
INTERCEPTION_APPROVALS = 2

#: What US law takes to reach a category that a US process cannot: said when it refuses one, so that the reason
#: speaks of that category (a process's own note in the policy speaks of the contents of communications).
US_ROUTE: Mapping[Category, str] = MappingProxyType(
    {
        Category.SUBSCRIBER_BASIC: "Basic subscriber information takes a subpoena, a court order under 18 USC "
        "2703(d) or a search warrant (18 USC 2703(c)(2)).",
        Category.ACCOUNT_RECORDS: "Records beyond basic subscriber information take a court order under 18 USC "
        "2703(d) or a search warrant (18 USC 2703(c)(1)).",
        Category.STORED_CONTENT: "The contents of communications take a search warrant (18 USC 2703(a), (b)(1)(A)).",
        Category.REALTIME_CONTENT: "Interception takes an interception order (18 USC 2518).",
        Category.REALTIME_NONCONTENT: "Collecting routing and addressing information as it passes takes a pen "
        "register or trap and trace order (18 USC 3123).",
    }
)
#: The same for civil process, which no US process of a private party can widen.
CIVIL_ROUTE: Mapping[Category, str] = MappingProxyType(
    {
        Category.ACCOUNT_RECORDS: "Federal law does not forbid giving records other than contents to a private "
        "party (18 USC 2702(c)(6)), but this policy lets a civil subpoena reach basic subscriber information only.",
        Category.REALTIME_CONTENT: "Intercepting communications for a private party is a crime (18 USC 2511(1)); "
        "no civil process allows it.",
        Category.REALTIME_NONCONTENT: "A pen register or trap and trace may be used only under a court order "
        "obtained by a government attorney or officer (18 USC 3121(a), 3122); no civil process allows it.",
    }
)


def _found(
    category: Category,
    verdict: Verdict,
    reason: str,
    clause: str,
    grounds: tuple[GroundRule, ...] = (),
    narrow_to: Period | None = None,
) -> CategoryFinding:
    period = None if narrow_to is None else (narrow_to.start, narrow_to.end)
    return CategoryFinding(category, verdict, tuple(g.id for g in grounds), reason, clause, period)


def _day(moment: date) -> date:
    return moment.date() if isinstance(moment, datetime) else moment


class _Rules:
    """One evaluation's context: the request, the policy, the policy's rule for the request's process (None when
    this version of the policy does not know it) and the process's validity."""

    def __init__(self, request: RequestDocument, policy: Policy, today: date) -> None:
        self.request, self.policy, self.today = request, policy, today
        self.rule: ProcessRule | None = policy.process_types.get(request.process_type)
        self.validity = None if self.rule is None else Validity(request, policy, self.rule, today)
        self.bar = None if self.validity is None else self.validity.bar()
        self.excess = None if self.validity is None or self.bar else self.validity.excess()

    @property
    def process(self) -> ProcessRule:
        assert self.rule is not None  # only read once `finding` has dealt with an unknown process
        return self.rule

    @property
    def valid(self) -> Validity:
        assert self.validity is not None
        return self.validity

    @property
    def approvals(self) -> int:
        """The process's own count; interception needs as many approvals as an interception order does, whatever
        the process that asks for it (an order under an executive agreement)."""
        p = self.process
        if Category.REALTIME_CONTENT in self.request.categories and Category.REALTIME_CONTENT in p.can_compel:
            return max(p.approvals_required, self.interception_approvals)
        return p.approvals_required

    @property
    def interception_approvals(self) -> int:
        wiretap = self.policy.process_types.get(ProcessType.WIRETAP_ORDER)
        return wiretap.approvals_required if wiretap is not None else INTERCEPTION_APPROVALS

    @property
    def foreign_requester(self) -> bool:
        """Whether the request comes from an authority under another country's law (no US governmental entity)."""
        return self.request.jurisdiction.regime not in US_REGIMES

    def label(self, category: Category) -> str:
        return self.policy.categories[category].label

    def labels(self, categories: Iterable[Category]) -> str:
        return names(self.label(c) for c in categories)

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

    # -- findings ------------------------------------------------------------------------------------------

    def finding(self, category: Category) -> CategoryFinding:
        kind, name = self.kind(category), self.label(category)
        found = partial(_found, category)
        if self.rule is None:
            return found(
                Verdict.EXCEEDS_PROCESS,
                f"Policy {self.policy.info.version} does not know the process type "
                f"“{self.request.process_type.label}”: nothing may be disclosed under it. Evaluate the request "
                "under the current policy.",
                self.restriction(kind),
            )
        p = self.process
        if p.preserve_only:
            return self.preservation_finding(category)
        if kind is DataKind.PUBLIC:
            grounds = self.policy.grounds_for(kind, GroundUse.PUBLIC_DATA)
            if not grounds:
                return found(
                    Verdict.NO_POLICY_GROUND, f"No ground in the policy covers {name}.", self.restriction(kind)
                )
            return found(Verdict.PERMITTED, grounds[0].reason or grounds[0].label, grounds[0].clause, grounds)
        if p.by_basis:
            return self.basis_finding(category)
        if p.voluntary:
            return self.emergency_finding(category)
        return self.compelled_finding(category)

    def preservation_finding(self, category: Category) -> CategoryFinding:
        p, kind, name = self.process, self.kind(category), self.label(category)
        found = partial(_found, category, clause=self.restriction(kind))
        if self.bar is not None:
            return found(Verdict.EXCEEDS_PROCESS, self.bar.message)
        if p.preserves is not None and category not in p.preserves:
            return found(
                Verdict.EXCEEDS_PROCESS,
                f"{p.label}: preserves only what we hold when it is received ({self.labels(p.preserves)}); "
                f"{name} would be collected from now on, which is interception or a pen register and takes an "
                "order for it.",
            )
        if (fault := self.valid.issuer_fault(category)) is not None:
            return found(Verdict.EXCEEDS_PROCESS, f"{p.label}: preserving {name} {fault}")
        return found(
            Verdict.PRESERVE_ONLY,
            f"{p.label}: preserve {name} as held today; nothing is disclosed until other legal process compels it.",
        )

    def compelled_finding(self, category: Category) -> CategoryFinding:
        p, kind, name, valid = self.process, self.kind(category), self.label(category), self.valid
        grounds = self.policy.grounds_for(kind, GroundUse.COMPELLED_PROCESS)
        exceeds = partial(_found, category, Verdict.EXCEEDS_PROCESS, clause=self.clause(kind, grounds))
        if self.bar is not None:
            return exceeds(self.bar.message)
        if category not in p.can_compel:
            note = f" {note}" if (note := self.refusal_note(category)) else ""
            return exceeds(f"{p.label}: cannot compel {name}; it can compel only {self.labels(p.can_compel)}.{note}")
        agreement = valid.agreement
        if valid.via_agreement and agreement is not None and category not in agreement.categories:
            return exceeds(
                f"The {agreement.label} does not reach {name}; it reaches {self.labels(agreement.categories)}."
            )
        if (ended := valid.collection_ended(category)) is not None:
            return exceeds(ended.message)
        if (fault := valid.issuer_fault(category)) is not None:
            return exceeds(f"{p.label}: {name} {fault}")
        if (fault := valid.offence_fault(category)) is not None:
            return exceeds(f"{p.label}: {name} {fault}")
        if not grounds:
            return _found(
                category,
                Verdict.NO_POLICY_GROUND,
                f"{p.label}: compels {name}, but no ground in the policy covers compelled "
                "disclosure of it; it must go to counsel.",
                self.restriction(kind),
            )
        if self.excess is not None:
            what, inside = self.excess
            narrow = (
                f" Approve {name} only for {inside.text()}."
                if inside is not None
                else " Nothing requested lies inside it: ask for a new order."
            )
            return exceeds(f"{what}.{narrow}", narrow_to=inside)
        via = f" under the {agreement.label} ({agreement.statute})" if valid.via_agreement and agreement else ""
        return _found(
            category,
            Verdict.PERMITTED,
            f"{p.label}{via}: compels {name}{self.limit(category)} once confirmed valid and enforceable "
            f"(checklist). Permitted by the policy: {self.ground_labels(grounds)}.",
            self.clause(kind, grounds),
            grounds,
        )

    def refusal_note(self, category: Category) -> str | None:
        """What it would take to reach `category`, which the process cannot compel. For US process, said of that
        category: the policy's own note where it speaks of stored contents, else what US law requires (for civil
        process, why no civil process reaches it). Foreign law's process: the policy's note."""
        p = self.process
        if p.regimes is None or not set(p.regimes) <= US_REGIMES:
            return p.exceeds_note
        if category is Category.STORED_CONTENT and p.exceeds_note:
            return p.exceeds_note
        if self.request.process_type is ProcessType.CIVIL_SUBPOENA:
            return CIVIL_ROUTE.get(category)
        return US_ROUTE.get(category)

    def emergency_finding(self, category: Category) -> CategoryFinding:
        """An emergency request compels nothing: 18 USC 2702 lets us disclose what we hold, content to a US
        governmental entity only ((b)(8)), records to it ((c)(4)) or to anyone else ((c)(6)); a policy ground
        must cover it as well. It never starts real-time collection."""
        p, kind, name = self.process, self.kind(category), self.label(category)
        found = partial(_found, category)
        exceeds = partial(found, Verdict.EXCEEDS_PROCESS, clause=self.restriction(kind))
        if self.bar is not None:
            return exceeds(self.bar.message)
        if category in REAL_TIME:
            return exceeds(self.real_time_in_emergency(category))
        if self.foreign_requester and kind is DataKind.COMMUNICATIONS_CONTENT:
            return exceeds(
                f"{p.label}: 18 USC 2702(b)(8) lets us disclose the contents of communications in an emergency "
                "only to a governmental entity, which 18 USC 2711(4) limits to the United States and its States. "
                f"This request comes from an authority under {self.law} law, so 18 USC 2702(a) forbids disclosing "
                f"{name} to it, emergency or not, and counsel cannot approve it. {self.foreign_route()}"
            )
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
            return exceeds(
                f"{p.label}: voluntary disclosure covers only {covered}; {name} needs legal process that compels it."
            )
        if self.foreign_requester:
            law = (
                f"18 USC 2702(c)(4) reaches only a governmental entity, which 18 USC 2711(4) limits to the United "
                f"States and its States; to an authority under {self.law} law, {name}{self.limit(category)} may "
                "be disclosed as to any person other than a governmental entity (18 USC 2702(c)(6)), on a "
                "good-faith belief that an emergency involving danger of death or serious physical injury "
                "requires it"
            )
        else:
            law = (
                f"{name}{self.limit(category)} may be disclosed voluntarily to a governmental entity on a "
                "good-faith belief that an emergency involving danger of death or serious physical injury "
                "requires it without delay (18 USC 2702(c)(4))"
            )
        return found(
            Verdict.PERMITTED,
            f"{p.label}: {law}. Permitted by the policy: {self.ground_labels(grounds)}.",
            self.clause(kind, grounds),
            grounds,
        )

    @property
    def law(self) -> str:
        """The request's legal system as an adjective ("UK", "another country's")."""
        regime = self.request.jurisdiction.regime
        return {Regime.UK: "UK", Regime.EU: "EU member state", Regime.OTHER: "another country's"}.get(
            regime, regime.label
        )

    def foreign_route(self) -> str:
        """The lawful route for a foreign authority: an order under an agreement with its country, else MLAT."""
        country = self.request.jurisdiction.country
        agreement = next((a for a in self.policy.agreements.values() if country in a.countries), None)
        mlat = "a mutual legal assistance request (MLAT, 18 USC 3512)"
        if agreement is None:
            return f"Ask for {mlat}."
        return f"Ask for an order under the {agreement.label} (18 USC 2702(b)(9)), or for {mlat}."

    def real_time_in_emergency(self, category: Category) -> str:
        p, name = self.process, self.label(category)
        held = (
            f"{p.label}: 18 USC 2702 lets us disclose, in an emergency, only communications and records we hold; "
            f"it never authorises collecting {name} from now on."
        )
        if category is Category.REALTIME_CONTENT:
            needs = (
                "Emergency interception needs an authorisation under 18 USC 2518(7), with an order applied for "
                "within 48 hours, and we may assist only on a court order or a written certification under "
                "18 USC 2511(2)(a)(ii)(B) that no warrant or order is required and every statutory requirement "
                "is met."
            )
        else:
            needs = (
                "An emergency pen register or trap and trace needs an authorisation under 18 USC 3125, with an "
                "order applied for within 48 hours."
            )
        foreign = (
            " A foreign authority can use neither: collecting for it is lawful only under an order under an "
            "executive agreement (18 USC 2511(2)(j))."
            if self.foreign_requester
            else ""
        )
        return f"{held} {needs}{foreign}"

    def basis_finding(self, category: Category) -> CategoryFinding:
        """Disclosure we start ourselves: the basis chosen up front must reach the category, and a policy ground
        must cover it."""
        p, kind, name = self.process, self.kind(category), self.label(category)
        found = partial(_found, category)
        chosen = self.request.voluntary_basis
        basis = self.policy.voluntary_bases.get(chosen) if chosen is not None else None
        if self.bar is not None:
            return found(Verdict.EXCEEDS_PROCESS, self.bar.message, self.restriction(kind))
        if basis is None:
            said = chosen.label if chosen is not None else "none"
            return found(
                Verdict.EXCEEDS_PROCESS,
                f"{p.label}: say why we disclose; this policy has no basis “{said}”.",
                self.restriction(kind),
            )
        if category not in p.voluntary_disclosure or category not in basis.categories:
            reach = [c for c in basis.categories if c in p.voluntary_disclosure]
            return found(
                Verdict.EXCEEDS_PROCESS,
                f"{basis.label} ({basis.statute}) lets us disclose only {self.labels(reach)}; {name} needs legal "
                "process that compels it.",
                self.restriction(kind),
            )
        grounds = tuple(self.policy.grounds[g] for g in basis.grounds if self.policy.grounds[g].applies_to is kind)
        note = f" {basis.note}" if basis.note else ""
        if not grounds:
            return found(
                Verdict.NO_POLICY_GROUND,
                f"{basis.label} ({basis.statute}) allows disclosing {name}, but no ground in the policy covers it "
                f"on this basis: counsel decides.{note}",
                self.restriction(kind),
            )
        # A basis reaching both kinds of data has a note about one of them (the content counsel decides, the
        # ground that needs a written reason): it is said where it applies, not on every permitted category.
        kinds = {self.kind(c) for c in basis.categories}
        note = note if kinds == {kind} else ""
        written = "".join(
            f" {g.note or 'Citing it needs a written reason.'}" for g in grounds if g.requires_written_reason
        )
        return found(
            Verdict.PERMITTED,
            f"{basis.label} ({basis.statute}) allows us to disclose {name} on our own initiative. Permitted by "
            f"the policy: {self.ground_labels(grounds)}.{note}{written}",
            self.clause(kind, grounds),
            grounds,
        )

    # -- warnings ------------------------------------------------------------------------------------------

    def warnings(self, findings: tuple[CategoryFinding, ...]) -> list[PolicyWarning]:
        if self.rule is None:
            return [
                PolicyWarning(
                    "process_type_unknown",
                    f"Policy {self.policy.info.version} does not know the process type "
                    f"“{self.request.process_type.label}”. Evaluate the request under the current policy.",
                )
            ]
        p, out = self.process, list[PolicyWarning]()
        if self.bar is not None:
            out.append(PolicyWarning(self.bar.id, self.bar.message))
        elif (ended := self.collection_ended()) is not None:
            out.append(PolicyWarning(ended.id, ended.message))
        if p.preserve_only:
            out.extend(self.preservation_warnings(findings))
        out.extend(self.ground_warnings(findings))
        if p.voluntary and not p.by_basis:
            out.extend(self.emergency_warnings())
        if (approvals := self.approvals) >= 2:
            who = p.label if approvals == p.approvals_required else f"{p.label}, for interception"
            out.append(
                PolicyWarning(
                    "two_approvals_required",
                    f"{who}: {approvals} different reviewers must approve, "
                    "and the person who logged the case cannot be one of them.",
                )
            )
        if p.counsel_required:
            out.append(
                PolicyWarning(
                    "counsel_required",
                    f"{p.label}: counsel must review the disclosure and their decision be recorded before approval.",
                )
            )
        if self.bar is None:
            out.extend(self.authority_warnings())
        out.extend(self.jurisdiction_warnings())
        if p.reported_in_bands:
            out.extend(self.national_security_warnings())
        out.extend(self.non_disclosure_warnings())
        out.extend(self.identifier_warnings())
        out.extend(self.period_warnings())
        return out

    def collection_ended(self) -> Bar | None:
        """The first real-time category the process reaches whose collection period has ended, as a bar."""
        reachable = (c for c in self.request.categories if c in self.process.can_compel)
        return next((bar for c in reachable if (bar := self.valid.collection_ended(c)) is not None), None)

    def emergency_warnings(self) -> list[PolicyWarning]:
        out: list[PolicyWarning] = []
        if real_time := [c for c in self.request.categories if c in REAL_TIME]:
            out.append(
                PolicyWarning(
                    "emergency_realtime_needs_order",
                    f"Real-time collection is not a disclosure under 18 USC 2702: {self.labels(real_time)} cannot "
                    "be started on an emergency request. Emergency interception needs an authorisation under "
                    "18 USC 2518(7) and, for our assistance, a court order or a certification under 18 USC "
                    "2511(2)(a)(ii)(B); an emergency pen register or trap and trace, an authorisation under "
                    "18 USC 3125. Ask the requester for that authorisation.",
                )
            )
        if self.foreign_requester:
            out.append(
                PolicyWarning(
                    "emergency_foreign_authority",
                    f"The requester is an authority under {self.law} law, not a governmental entity as 18 USC "
                    "2711(4) defines it (the United States and its States): the contents of communications may "
                    "not be disclosed to it even in an emergency (18 USC 2702(a), (b)(8)); records only as "
                    f"18 USC 2702(c)(6) allows. {self.foreign_route()}",
                )
            )
        return out

    def preservation_warnings(self, findings: tuple[CategoryFinding, ...]) -> list[PolicyWarning]:
        p, out = self.process, list[PolicyWarning]()
        if any(f.verdict is Verdict.PRESERVE_ONLY for f in findings):
            renewal = f", renewable {p.renewals} time(s) for {p.renewal_days} days" if p.renewal_days else ""
            out.append(
                PolicyWarning(
                    "preservation_discloses_nothing",
                    f"{p.label}: preserve the data for {p.preserve_days} days{renewal}. "
                    "Nothing is disclosed until other legal process compels it.",
                )
            )
        if p.countries is None and self.request.jurisdiction.regime not in US_REGIMES:
            out.append(
                PolicyWarning(
                    "foreign_preservation_voluntary",
                    f"{p.label} binds us only for a US governmental entity; this request is under "
                    f"{self.request.jurisdiction.regime.label} law, so preserving is our choice, pending a mutual "
                    "legal assistance request or an order under an executive agreement.",
                )
            )
        if any(self.valid.emergency_exception(c) for c in self.request.categories):
            out.append(self.ex_post_validation())
        return out

    def ex_post_validation(self) -> PolicyWarning:
        return PolicyWarning(
            "eu_validation_ex_post",
            f"{self.process.label}: issued in an emergency without prior validation (Reg. 2023/1543 Art. 4(5)). "
            "Validation must follow within 96 hours; if it is refused, delete or stop using what was produced "
            "or preserved.",
        )

    def ground_warnings(self, findings: tuple[CategoryFinding, ...]) -> list[PolicyWarning]:
        out: list[PolicyWarning] = []
        unfounded = [f.category for f in findings if f.verdict is Verdict.NO_POLICY_GROUND]
        emergency = self.process.voluntary and not self.process.by_basis
        content = [c for c in unfounded if self.kind(c) is DataKind.COMMUNICATIONS_CONTENT]
        if emergency and content:
            out.append(
                PolicyWarning(
                    "emergency_content_no_ground",
                    "The policy has no emergency ground for communications content: "
                    f"{self.labels(content)} cannot be disclosed on an emergency request. "
                    "Escalate to counsel, or ask the requester for a search warrant.",
                )
            )
        if other := [c for c in unfounded if not (emergency and c in content)]:
            out.append(
                PolicyWarning(
                    "no_policy_ground", f"No ground in the policy covers {self.labels(other)}; escalate to counsel."
                )
            )
        for ground in self.policy.grounds.values():  # only grounds the engine itself cites; a reviewer's citation
            categories = [f.category for f in findings if ground.id in f.grounds]  # is checked when they cite it
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
        p, valid, out = self.process, self.valid, list[PolicyWarning]()
        issuer = self.request.issuing_authority
        reachable = [c for c in self.request.categories if p.preserve_only or c in p.can_compel]
        by_fault: dict[str, list[Category]] = {}
        for category in reachable:
            if (fault := valid.issuer_fault(category)) is not None:
                by_fault.setdefault(fault, []).append(category)
        ask = "" if valid.government_civil_subpoena else " Ask for an order from, or validated by, the right authority."
        out.extend(
            PolicyWarning("issuing_authority_not_allowed", f"{p.label}: {self.labels(cats)} {fault}{ask}")
            for fault, cats in by_fault.items()
        )
        if not p.preserve_only and any(valid.emergency_exception(c) for c in reachable):
            out.append(self.ex_post_validation())
        threshold = [c for c in reachable if c in p.offence_categories]
        if p.offence_threshold_years is not None and threshold and self.request.offence is None:
            out.append(
                PolicyWarning(
                    "offence_not_stated",
                    f"{p.label}: {self.labels(threshold)} may be ordered only for offences punishable by at least "
                    f"{p.offence_threshold_years} years or listed in Art. 5(4). The request states no offence, so "
                    f"{'they' if len(threshold) > 1 else 'it'} cannot be approved until it is recorded: fill in "
                    "the field `offence` from the certificate (its description, and max_penalty_years or listed).",
                )
            )
        if p.official_levels is not None and issuer.official_level is None:
            allowed = names((lv.label for lv in p.official_levels), "or")
            out.append(
                PolicyWarning(
                    "nsl_official_not_recorded",
                    f"{p.label}: record who signed it; only the {allowed} may (18 USC 2709(b)).",
                )
            )
        return out

    def jurisdiction_warnings(self) -> list[PolicyWarning]:
        where = self.request.jurisdiction
        rule = self.policy.jurisdictions[where.regime]
        if rule.countries is not None and where.country not in rule.countries:
            return [
                PolicyWarning(
                    "country_outside_jurisdiction",
                    f"Country {where.country} is not part of the {rule.label} jurisdiction.",
                )
            ]
        return []

    def national_security_warnings(self) -> list[PolicyWarning]:
        p = self.process
        limits = "; ".join(f"{self.label(c)}: {text}" for c, text in p.limits.items())
        limits = f" ({limits})" if limits else ""
        return [
            PolicyWarning(
                "national_security_constraints",
                f"{p.label}: counted in transparency reports only in bands, never "
                f"exactly. It reaches only {self.labels(p.can_compel)}{limits} and "
                "never content. It usually forbids telling anyone (18 USC 2709(c)).",
            )
        ]

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
            if (days := days_spanned(first, last)) > p.max_days:
                out.append(
                    PolicyWarning(
                        "period_exceeds_maximum",
                        f"A {p.label} may authorise at most {p.max_days} days; {what} "
                        f"spans {days} days ({first.isoformat()} to {last.isoformat()}, the first day not "
                        "counted). Ask for a shorter period or an extension order.",
                    )
                )
        return out


def evaluate(request: RequestDocument, policy: Policy, today: date) -> Evaluation:
    """The engine's findings for `request` under `policy`, as of `today` (for prospective collection: whether
    its period has ended; whether process was valid is judged on the day it was received)."""
    rules = _Rules(request, policy, today)
    findings = tuple(rules.finding(c) for c in request.categories)
    process = rules.rule
    counsel_required = process is not None and process.counsel_required
    checklist = process.checklist if process is not None else ()
    if counsel_required or any(f.verdict is Verdict.NO_POLICY_GROUND for f in findings):
        checklist += (COUNSEL_ESCALATION,)
    return Evaluation(
        policy_version=policy.sha256,
        process_type=request.process_type,
        approvals_required=rules.approvals if process is not None else 2,
        categories=findings,
        checklist=checklist,
        warnings=tuple(rules.warnings(findings)),
        counsel_required=counsel_required,
    )
