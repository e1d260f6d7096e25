"""The rules engine, enumerated over every process type, data category and emergency flag against a table
written out here by hand (not computed by the engine or read from the policy file), plus its scope guards."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from disclosure.policy.engine import (
    COUNSEL_ESCALATION,
    Evaluation,
    ScopeError,
    approvable_categories,
    check_grounds,
    check_scope,
    evaluate,
    ground_requires_reason,
)
from disclosure.policy.loader import default_policy
from disclosure.policy.vocabulary import Category, Ground, ProcessType
from tests.policy.factories import TODAY, make_request

P, X, N, S = "permitted", "exceeds_process", "no_policy_ground", "preserve_only"
LAW, PROC, PUB, NONE = ("law_requires",), ("legal_process",), ("public",), ()
EMERG = HR = ("harm_or_rights",)  # 2702(c)(4) permits emergency disclosure; it never requires it
LI = ("legitimate_interests",)

# The clauses a verdict may rest on, quoted from privacy-policy.txt (typographic apostrophe included).
CLAUSES = {
    "LP": "it is required to cooperate with interception orders, warrants, or other legal process that we "
    "determine in our sole discretion to be valid and enforceable",
    "LR": "we have a good faith belief that the law requires such disclosure",
    "PS": "We will not otherwise disclose our customers’ personal and account information "
    "unless we have a reason to believe that disclosing such information is necessary to identify, "
    "make contact with, or bring legal action against someone who may be causing harm or interfering "
    "with the rights or property of us, our customers, or others, or where we have a good faith belief "
    "that the law requires such disclosure.",
    "CS": "We also will not, except for reasons stated below, disclose to third parties the contents of any "
    "electronic mail or other electronic communications that we store or transmit for our customers. "
    "The circumstances under which we will disclose such electronic customer communications are when:",
    "HR": "we have a reason to believe that disclosing such information is necessary to identify, make contact "
    "with, or bring legal action against someone who may be causing harm or interfering with the rights or "
    "property of us, our customers, or others",
    "LI": "it is necessary to protect the legitimate interests of us and our customers",
    "PUB": "No ground needed: the policy restricts only personal and account information and the contents of "
    "communications.",
}

CATEGORIES = (
    "subscriber_basic",
    "account_records",
    "stored_content",
    "realtime_content",
    "realtime_noncontent",
    "domain_registration",
)

# process: (issuing authority kind, regime, country) of a typical, well-formed instance.
ISSUERS = {
    "subpoena": ("prosecutor", "us_federal", "US"),
    "court_order_2703d": ("judge", "us_federal", "US"),
    "search_warrant": ("judge", "us_federal", "US"),
    "wiretap_order": ("judge", "us_federal", "US"),
    "pen_trap_order": ("court", "us_federal", "US"),
    "preservation_request": ("agency", "us_federal", "US"),
    "emergency_request": ("police", "us_state", "US"),
    "national_security_letter": ("agency", "us_federal", "US"),
    "eu_production_order": ("judge", "eu", "DE"),
    "eu_preservation_order": ("prosecutor", "eu", "FR"),
    "other_court_order": ("court", "us_state", "US"),
    "civil_subpoena": ("attorney", "us_state", "US"),
    "foreign_order": ("court", "other", "BR"),
    "agreement_order": ("judge", "uk", "GB"),
    "uk_ipa_communications_data": ("agency", "uk", "GB"),
    "uk_ipa_interception_warrant": ("agency", "uk", "GB"),
    "voluntary_disclosure": ("provider", "us_federal", "US"),
}
#: The particulars a well-formed instance states: a voluntary disclosure says why we disclose (here, to protect our
#: legitimate interests); an order under an agreement names the agreement; a European order, its offence.
PARTICULARS: dict[str, dict[str, Any]] = {
    "voluntary_disclosure": {"voluntary_basis": "legitimate_interests"},
    "agreement_order": {"agreement": "us_uk"},
    "eu_production_order": {"offence": {"description": "Computer fraud", "max_penalty_years": 5}},
}

# THE EXPECTED TABLE. Columns, in order: subscriber_basic, account_records, stored_content, realtime_content,
# realtime_noncontent, domain_registration. Each cell: (verdict, grounds, clause). The same with and without
# the emergency flag: an emergency label never widens or narrows what a process compels.
EXPECTED: dict[str, tuple[tuple[str, tuple[str, ...], str], ...]] = {
    "subpoena": ((P, LAW, "LR"), (X, NONE, "LR"), (X, NONE, "LP"), (X, NONE, "LP"), (X, NONE, "LR"), (P, PUB, "PUB")),
    "court_order_2703d": (
        (P, LAW, "LR"),
        (P, LAW, "LR"),
        (X, NONE, "LP"),
        (X, NONE, "LP"),
        (X, NONE, "LR"),
        (P, PUB, "PUB"),
    ),
    "search_warrant": (
        (P, LAW, "LR"),
        (P, LAW, "LR"),
        (P, PROC, "LP"),
        (X, NONE, "LP"),
        (X, NONE, "LR"),
        (P, PUB, "PUB"),
    ),
    "wiretap_order": (
        (X, NONE, "LR"),
        (X, NONE, "LR"),
        (X, NONE, "LP"),
        (P, PROC, "LP"),
        (X, NONE, "LR"),
        (P, PUB, "PUB"),
    ),
    "pen_trap_order": (
        (X, NONE, "LR"),
        (X, NONE, "LR"),
        (X, NONE, "LP"),
        (X, NONE, "LP"),
        (P, LAW, "LR"),
        (P, PUB, "PUB"),
    ),
    # 2703(f) preserves records we hold; it cannot reach what is transmitted from now on.
    "preservation_request": (
        (S, NONE, "PS"),
        (S, NONE, "PS"),
        (S, NONE, "CS"),
        (X, NONE, "CS"),
        (X, NONE, "PS"),
        (S, NONE, "PUB"),
    ),
    # The policy has no emergency ground for content (to counsel); real-time collection is no disclosure at all
    # (2518(7), 3125).
    "emergency_request": (
        (P, EMERG, "HR"),
        (P, EMERG, "HR"),
        (N, NONE, "CS"),
        (X, NONE, "CS"),
        (X, NONE, "PS"),
        (P, PUB, "PUB"),
    ),
    "national_security_letter": (
        (P, LAW, "LR"),
        (P, LAW, "LR"),
        (X, NONE, "LP"),
        (X, NONE, "LP"),
        (X, NONE, "LR"),
        (P, PUB, "PUB"),
    ),
    "eu_production_order": (
        (P, LAW, "LR"),
        (P, LAW, "LR"),
        (P, PROC, "LP"),
        (X, NONE, "LP"),
        (X, NONE, "LR"),
        (P, PUB, "PUB"),
    ),
    "eu_preservation_order": (
        (S, NONE, "PS"),
        (S, NONE, "PS"),
        (S, NONE, "CS"),
        (X, NONE, "CS"),
        (X, NONE, "PS"),
        (S, NONE, "PUB"),
    ),
    "other_court_order": (
        (P, LAW, "LR"),
        (P, LAW, "LR"),
        (X, NONE, "LP"),
        (X, NONE, "LP"),
        (X, NONE, "LR"),
        (P, PUB, "PUB"),
    ),
    # Civil process reaches basic subscriber information only, never content (2702(a), (c)(6)).
    "civil_subpoena": (
        (P, LAW, "LR"),
        (X, NONE, "LR"),
        (X, NONE, "LP"),
        (X, NONE, "LP"),
        (X, NONE, "LR"),
        (P, PUB, "PUB"),
    ),
    # A Brazilian court's order compels nothing here by itself: MLAT or an agreement.
    "foreign_order": (
        (X, NONE, "LR"),
        (X, NONE, "LR"),
        (X, NONE, "LP"),
        (X, NONE, "LP"),
        (X, NONE, "LR"),
        (P, PUB, "PUB"),
    ),
    # A UK judge's order under the US-UK agreement reaches content too (2702(b)(9), 2511(2)(j)).
    "agreement_order": (
        (P, LAW, "LR"),
        (P, LAW, "LR"),
        (P, PROC, "LP"),
        (P, PROC, "LP"),
        (P, LAW, "LR"),
        (P, PUB, "PUB"),
    ),
    # UK IPA process that invokes no agreement is foreign process.
    "uk_ipa_communications_data": (
        (X, NONE, "LR"),
        (X, NONE, "LR"),
        (X, NONE, "LP"),
        (X, NONE, "LP"),
        (X, NONE, "LR"),
        (P, PUB, "PUB"),
    ),
    "uk_ipa_interception_warrant": (
        (X, NONE, "LR"),
        (X, NONE, "LR"),
        (X, NONE, "LP"),
        (X, NONE, "LP"),
        (X, NONE, "LR"),
        (P, PUB, "PUB"),
    ),
    # Protecting our legitimate interests (2702(b)(5), (c)(3)): stored data only, never real-time collection.
    "voluntary_disclosure": (
        (P, HR, "HR"),
        (P, HR, "HR"),
        (P, LI, "LI"),
        (X, NONE, "CS"),
        (X, NONE, "PS"),
        (P, PUB, "PUB"),
    ),
}

# A European Production Order by who issued it (Reg. 2023/1543 Art. 4): same columns.
EU_PRODUCTION_BY_AUTHORITY = {
    "judge": (P, P, P, X, X, P),
    "court": (P, P, P, X, X, P),
    "prosecutor": (P, X, X, X, X, P),
    "police": (X, X, X, X, X, P),
    "agency": (X, X, X, X, X, P),
}

CHECKLISTS = {
    "subpoena": ["issuing_authority", "specific_identifier"],
    "court_order_2703d": [
        "court_of_competent_jurisdiction",
        "specific_articulable_facts",
        "specific_identifier",
        "within_validity_window",
    ],
    "search_warrant": ["judge_signature", "probable_cause", "particularity", "within_validity_window"],
    "wiretap_order": [
        "judge_signature",
        "names_person_facilities_offence_agency_period",
        "period_within_limit",
        "within_validity_window",
    ],
    "pen_trap_order": ["court_order", "specific_identifier", "period_within_limit", "within_validity_window"],
    "preservation_request": ["governmental_entity", "specific_identifier"],
    "emergency_request": ["good_faith_danger", "verified_out_of_band"],
    "national_security_letter": ["issuing_authority", "certification", "specific_identifier"],
    "eu_production_order": ["issuing_authority", "certificate_received", "specific_identifier", "offence_threshold"],
    "eu_preservation_order": ["issuing_authority", "certificate_received", "specific_identifier"],
    "other_court_order": ["court_of_competent_jurisdiction", "legal_basis_reviewed", "specific_identifier"],
    "civil_subpoena": ["not_governmental_entity", "customer_notified", "specific_identifier"],
    "foreign_order": ["routing_decided"],
    "agreement_order": [
        "invokes_agreement",
        "not_us_person",
        "serious_crime",
        "specific_identifier",
        "within_validity_window",
    ],
    "uk_ipa_communications_data": ["invokes_agreement", "not_us_person", "specific_identifier"],
    "uk_ipa_interception_warrant": [
        "invokes_agreement",
        "judicial_commissioner",
        "not_us_person",
        "within_validity_window",
    ],
    "voluntary_disclosure": ["basis_fits", "recipient_entitled", "counsel_escalation"],
}
TWO_APPROVALS = {"wiretap_order", "uk_ipa_interception_warrant", "voluntary_disclosure"}
APPROVALS = {p: 2 if p in TWO_APPROVALS else 1 for p in CHECKLISTS}
#: Interception needs two approvals whatever the process that may order it.
INTERCEPTION = {"agreement_order", "foreign_order"}


def typical(process: str, categories: list[str], **overrides: Any) -> dict[str, Any]:
    kind, regime, country = ISSUERS[process]
    fields: dict[str, Any] = {
        "process_type": process,
        "categories": categories,
        "issuing_authority": {"kind": kind, "name": "Issuer"},
        "jurisdiction": {"regime": regime, "country": country},
    }
    fields.update(PARTICULARS.get(process, {}))
    fields.update(overrides)
    return fields


def evaluate_typical(process: str, categories: list[str], **overrides: Any) -> Evaluation:
    return evaluate(make_request(**typical(process, categories, **overrides)), default_policy(), TODAY)


def test_the_tables_cover_the_whole_vocabulary() -> None:
    assert set(EXPECTED) == set(ISSUERS) == set(CHECKLISTS) == {p.value for p in ProcessType}
    assert set(PARTICULARS) <= set(EXPECTED)
    assert set(CATEGORIES) == {c.value for c in Category}


@pytest.mark.parametrize(
    ("process", "column", "emergency"), list(itertools.product(sorted(EXPECTED), range(len(CATEGORIES)), [False, True]))
)
def test_every_process_category_and_emergency_flag(process: str, column: int, emergency: bool) -> None:
    category = CATEGORIES[column]
    verdict, grounds, clause = EXPECTED[process][column]
    evaluation = evaluate_typical(process, [category], emergency=emergency)
    [finding] = evaluation.categories
    assert (finding.category, finding.verdict, finding.grounds) == (category, verdict, grounds)
    assert finding.clause == CLAUSES[clause]
    assert finding.reason.strip()
    interception = process in INTERCEPTION and category == "realtime_content"
    assert evaluation.approvals_required == (2 if interception else APPROVALS[process])
    counsel = verdict == N and "counsel_escalation" not in CHECKLISTS[process]
    expected_checklist = CHECKLISTS[process] + (["counsel_escalation"] if counsel else [])
    assert [item.id for item in evaluation.checklist] == expected_checklist
    assert (Category(category) in approvable_categories(evaluation)) == (verdict == P)


@pytest.mark.parametrize(("authority", "column"), list(itertools.product(sorted(EU_PRODUCTION_BY_AUTHORITY), range(6))))
def test_eu_production_order_by_issuing_authority(authority: str, column: int) -> None:
    evaluation = evaluate_typical(
        "eu_production_order", [CATEGORIES[column]], issuing_authority={"kind": authority, "name": "Issuer"}
    )
    assert evaluation.categories[0].verdict == EU_PRODUCTION_BY_AUTHORITY[authority][column]


def test_all_categories_at_once_keep_the_request_order() -> None:
    order = list(reversed(CATEGORIES))
    evaluation = evaluate_typical("search_warrant", order)
    assert [f.category.value for f in evaluation.categories] == order
    assert [f.verdict for f in evaluation.categories] == [P, X, X, P, P, P]


def test_reason_names_the_process_and_what_it_can_compel() -> None:
    finding = evaluate_typical("subpoena", ["stored_content"]).categories[0]
    assert finding.reason == (
        "Subpoena (grand jury, administrative, trial): cannot compel Stored content; "
        "it can compel only Basic subscriber information. A subpoena never reaches the contents of "
        "communications (18 USC 2703(a), (b)): that takes a warrant."
    )


def test_national_security_letter_reason_states_its_limits() -> None:
    evaluation = evaluate_typical("national_security_letter", ["subscriber_basic", "account_records"])
    assert "name, address and length of service only" in evaluation.categories[0].reason
    assert "toll billing records only" in evaluation.categories[1].reason


def test_court_process_from_the_police_exceeds_it() -> None:
    evaluation = evaluate_typical(
        "search_warrant",
        ["stored_content", "domain_registration"],
        issuing_authority={"kind": "police", "name": "Precinct 9"},
    )
    assert [f.verdict for f in evaluation.categories] == [X, P]
    assert "must be ordered by a judge or a court; this one was issued by the police" in (
        evaluation.categories[0].reason
    )


def test_subpoena_needs_no_particular_issuer() -> None:
    evaluation = evaluate_typical("subpoena", ["subscriber_basic"], issuing_authority={"kind": "agency", "name": "IRS"})
    assert evaluation.categories[0].verdict == P


def test_evaluation_json_has_designs_shape_and_records_the_policy_hash() -> None:
    evaluation = evaluate_typical("search_warrant", ["stored_content"])
    out = evaluation.as_json()
    assert set(out) == {"policy_version", "approvals_required", "categories", "checklist", "warnings"}
    assert out["policy_version"] == default_policy().sha256 and len(default_policy().sha256) == 64
    assert out["categories"] == [
        {
            "category": "stored_content",
            "verdict": "permitted",
            "grounds": ["legal_process"],
            "reason": "Search warrant: compels Stored content once confirmed valid and enforceable (checklist). "
            "Permitted by the policy: required to cooperate with valid and enforceable legal process.",
            "clause": CLAUSES["LP"],
        }
    ]
    assert out["checklist"] == [{"id": i.id, "label": i.label} for i in evaluation.checklist]
    assert evaluation.checklist[0].label == "Signed by a judge"
    assert out["warnings"] == []  # nobody cites legitimate interests here, so nothing warns about it
    assert json.loads(json.dumps(out)) == out


# Done-when checks of issue 5.


def test_subpoena_for_email_content_only_basic_part_is_approvable() -> None:
    request = make_request(**typical("subpoena", ["subscriber_basic", "stored_content"]))
    evaluation = evaluate(request, default_policy(), TODAY)
    assert [f.verdict for f in evaluation.categories] == [P, X]
    assert approvable_categories(evaluation) == {Category.SUBSCRIBER_BASIC}
    assert approvable_categories(evaluation, counsel_escalation=True) == {Category.SUBSCRIBER_BASIC}
    check_scope(request.categories, [Category.SUBSCRIBER_BASIC], evaluation)
    with pytest.raises(ScopeError, match="stored_content cannot be approved: the engine found exceeds_proc"):
        check_scope(request.categories, request.categories, evaluation, counsel_escalation=True)


def test_emergency_content_needs_counsel_before_approval() -> None:
    request = make_request(**typical("emergency_request", ["subscriber_basic", "stored_content"], emergency=True))
    evaluation = evaluate(request, default_policy(), TODAY)
    assert [f.verdict for f in evaluation.categories] == [P, N]
    assert COUNSEL_ESCALATION in evaluation.checklist
    assert approvable_categories(evaluation) == {Category.SUBSCRIBER_BASIC}
    with pytest.raises(ScopeError, match="record counsel's escalation first"):
        check_scope(request.categories, [Category.STORED_CONTENT], evaluation)
    check_scope(request.categories, [Category.STORED_CONTENT], evaluation, counsel_escalation=True)


# Scope guards.


def test_check_scope_refuses_widening_and_empty_approvals() -> None:
    request = make_request(**typical("search_warrant", ["subscriber_basic"]))
    evaluation = evaluate(request, default_policy(), TODAY)
    with pytest.raises(ScopeError, match="wider than the request: stored_content was not requested"):
        check_scope(request.categories, [Category.SUBSCRIBER_BASIC, Category.STORED_CONTENT], evaluation)
    with pytest.raises(ScopeError, match="at least one category"):
        check_scope(request.categories, [], evaluation)
    with pytest.raises(ScopeError, match="different set of categories"):
        check_scope([Category.SUBSCRIBER_BASIC, Category.ACCOUNT_RECORDS], [Category.SUBSCRIBER_BASIC], evaluation)


def test_preserve_only_is_never_approvable() -> None:
    request = make_request(**typical("preservation_request", list(CATEGORIES)))
    evaluation = evaluate(request, default_policy(), TODAY)
    assert approvable_categories(evaluation, counsel_escalation=True) == set()
    with pytest.raises(ScopeError, match="preserve_only"):
        check_scope(request.categories, [Category.DOMAIN_REGISTRATION], evaluation, counsel_escalation=True)


def test_ground_requires_reason_only_for_legitimate_interests() -> None:
    assert {g for g in Ground if ground_requires_reason(g)} == {Ground.LEGITIMATE_INTERESTS}
    assert ground_requires_reason(Ground.LEGITIMATE_INTERESTS, default_policy())


def test_check_grounds() -> None:
    policy = default_policy()
    check_grounds(Category.STORED_CONTENT, [Ground.LEGAL_PROCESS], policy)
    check_grounds(Category.STORED_CONTENT, [Ground.LEGITIMATE_INTERESTS], policy, written_reason="Botnet")
    check_grounds(Category.ACCOUNT_RECORDS, [Ground.HARM_OR_RIGHTS, Ground.LAW_REQUIRES], policy)
    check_grounds(Category.DOMAIN_REGISTRATION, [Ground.PUBLIC], policy)
    with pytest.raises(ScopeError, match="needs a written reason"):
        check_grounds(Category.STORED_CONTENT, [Ground.LEGITIMATE_INTERESTS], policy, written_reason="  ")
    with pytest.raises(ScopeError, match="law_requires does not apply to stored_content"):
        check_grounds(Category.STORED_CONTENT, [Ground.LAW_REQUIRES], policy)
    with pytest.raises(ScopeError, match="legal_process does not apply to subscriber_basic"):
        check_grounds(Category.SUBSCRIBER_BASIC, [Ground.LEGAL_PROCESS], policy)
    with pytest.raises(ScopeError, match="cite at least one ground"):
        check_grounds(Category.SUBSCRIBER_BASIC, [], policy)


def test_citable_grounds_follow_the_policys_two_kinds_of_data() -> None:
    policy = default_policy()
    content = (Ground.PROVIDE_SERVICE, Ground.LEGITIMATE_INTERESTS, Ground.LEGAL_PROCESS, Ground.INADVERTENT_CRIME)
    personal = (Ground.HARM_OR_RIGHTS, Ground.LAW_REQUIRES)
    assert policy.citable_grounds(Category.STORED_CONTENT) == content
    assert policy.citable_grounds(Category.REALTIME_CONTENT) == content
    for category in (Category.SUBSCRIBER_BASIC, Category.ACCOUNT_RECORDS, Category.REALTIME_NONCONTENT):
        assert policy.citable_grounds(category) == personal
    assert policy.citable_grounds(Category.DOMAIN_REGISTRATION) == (Ground.PUBLIC,)


def test_stored_data_process_is_judged_valid_on_the_day_it_was_served() -> None:
    """Observed (#13.1): a warrant served inside its window was said to "compel nothing now" once the window
    passed, and one that had lapsed before it was served was still permitted."""
    served_in_time = make_request(received_at="2026-11-20T14:05:00Z", valid_until="2026-11-21")
    evaluation = evaluate(served_in_time, default_policy(), TODAY)
    assert evaluation.categories[0].verdict == P
    assert "process_expired" not in evaluation.warning_ids()
    lapsed = make_request(received_at="2026-11-20T14:05:00Z", valid_until="2026-11-19")
    evaluation = evaluate(lapsed, default_policy(), TODAY)
    assert evaluation.categories[0].verdict == X
    assert "process_expired" in evaluation.warning_ids()
    assert "expired on 2026-11-19, before it was served on 2026-11-20" in evaluation.categories[0].reason
