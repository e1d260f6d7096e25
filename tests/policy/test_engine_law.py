"""The engine against the law where DESIGN's first rule table was silent (issue #13): each observed error as a test,
then the legal table over every process type × regime and every process type × validity window, written out by
hand. Requests are received on 2026-11-20 and judged on 2026-11-27 unless a test says otherwise."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from disclosure.policy.engine import Evaluation, check_scope, evaluate
from disclosure.policy.loader import default_policy, load_policy
from disclosure.policy.vocabulary import Category, ProcessType
from tests.policy.factories import TODAY, make_request

P, X, N, S = "permitted", "exceeds_process", "no_policy_ground", "preserve_only"
CATEGORIES = (
    "subscriber_basic",
    "account_records",
    "stored_content",
    "realtime_content",
    "realtime_noncontent",
    "domain_registration",
)
LETTER = {"P": P, "X": X, "N": N, "S": S}


def run(today: date = TODAY, **fields: Any) -> Evaluation:
    return evaluate(make_request(**fields), default_policy(), today)


def verdicts(evaluation: Evaluation) -> dict[str, str]:
    return {f.category.value: f.verdict.value for f in evaluation.categories}


def by(kind: str, name: str = "Issuer", **extra: Any) -> dict[str, Any]:
    return {"issuing_authority": {"kind": kind, "name": name, **extra}}


def where(regime: str, country: str) -> dict[str, Any]:
    return {"jurisdiction": {"regime": regime, "country": country}}


US_LAPSED = {"issued_on": "2026-11-01", "valid_until": "2026-11-14"}  # received 2026-11-20


# 1. Expired process.


@pytest.mark.parametrize(
    ("process", "category", "issuer"),
    [
        ("court_order_2703d", "account_records", "judge"),
        ("search_warrant", "stored_content", "judge"),
        ("wiretap_order", "realtime_content", "judge"),
        ("pen_trap_order", "realtime_noncontent", "court"),
    ],
)
def test_process_that_lapsed_before_it_was_served_compels_nothing(process: str, category: str, issuer: str) -> None:
    evaluation = run(process_type=process, categories=[category], **by(issuer), **US_LAPSED)
    [finding] = evaluation.categories
    assert finding.verdict == X
    assert "expired on 2026-11-14, before it was served on 2026-11-20" in finding.reason
    assert finding.clause  # the compelled-process ground it would have rested on
    assert "process_expired" in evaluation.warning_ids()


@pytest.mark.parametrize("process", ["court_order_2703d", "wiretap_order", "pen_trap_order", "search_warrant"])
def test_every_process_with_a_window_has_a_window_item_on_its_checklist(process: str) -> None:
    assert "within_validity_window" in [item.id for item in run(process_type=process).checklist]


def test_a_warrant_served_in_its_window_still_compels_after_the_window_passes() -> None:
    evaluation = run(
        today=date(2027, 3, 1), categories=["stored_content"], issued_on="2026-11-19", valid_until="2026-11-21"
    )
    assert verdicts(evaluation) == {"stored_content": P}
    assert not any("compels nothing now" in w.message for w in evaluation.warnings)


def test_interception_whose_period_has_ended_collects_nothing_more() -> None:
    fields = {"process_type": "wiretap_order", "categories": ["realtime_content"], "issued_on": "2026-11-19"}
    during = run(today=date(2026, 12, 1), valid_until="2026-12-10", **fields)
    after = run(today=date(2026, 12, 11), valid_until="2026-12-10", **fields)
    assert verdicts(during) == {"realtime_content": P}
    assert verdicts(after) == {"realtime_content": X}
    assert "that period has ended (today is 2026-12-11)" in after.categories[0].reason
    assert "collection_period_ended" in after.warning_ids()


# 2. Foreign orders are not US process.


@pytest.mark.parametrize(
    ("process", "category", "regime", "country"),
    [
        ("search_warrant", "stored_content", "other", "BR"),  # a Brazilian search order
        ("search_warrant", "stored_content", "eu", "FR"),  # a French national (non-EPOC) order
        ("wiretap_order", "realtime_content", "other", "BR"),  # a Brazilian interception order
        ("foreign_order", "stored_content", "eu", "FR"),  # the same, logged as what it is
        ("foreign_order", "subscriber_basic", "other", "BR"),
    ],
)
def test_a_foreign_order_compels_nothing_here_by_itself(process: str, category: str, regime: str, country: str) -> None:
    evaluation = run(process_type=process, categories=[category], **by("judge"), **where(regime, country))
    [finding] = evaluation.categories
    assert finding.verdict == X
    assert "compels nothing here by itself" in finding.reason
    assert "executive agreement" in finding.reason or "MLAT" in finding.reason  # the lawful route instead


# 3. Preservation holds stored data only.


@pytest.mark.parametrize(
    ("process", "fields"),
    [
        ("preservation_request", by("agency")),
        ("eu_preservation_order", {**by("prosecutor"), **where("eu", "DE")}),
    ],
)
def test_preserving_real_time_data_exceeds_preservation(process: str, fields: dict[str, Any]) -> None:
    evaluation = run(process_type=process, categories=["stored_content", "realtime_content"], **fields)
    assert verdicts(evaluation) == {"stored_content": S, "realtime_content": X}
    assert "preserves only what we hold when it is received" in evaluation.categories[1].reason
    with pytest.raises(Exception, match="cannot be approved"):
        check_scope(evaluation_categories(evaluation), [Category.REALTIME_CONTENT], evaluation)


def evaluation_categories(evaluation: Evaluation) -> list[Category]:
    return [f.category for f in evaluation.categories]


def test_a_foreign_preservation_request_is_honoured_as_our_choice() -> None:
    evaluation = run(process_type="preservation_request", categories=["stored_content"], **where("other", "BR"))
    assert verdicts(evaluation) == {"stored_content": S}
    assert "foreign_preservation_voluntary" in evaluation.warning_ids()


# 4. EU orders.


def test_an_eu_preservation_order_from_the_police_needs_validation() -> None:
    unvalidated = run(process_type="eu_preservation_order", **by("police"), **where("eu", "DE"))
    assert verdicts(unvalidated) == {"subscriber_basic": X}
    validated = run(
        process_type="eu_preservation_order",
        **by("police", validated_by={"kind": "prosecutor", "name": "Staatsanwaltschaft München I"}),
        **where("eu", "DE"),
    )
    assert verdicts(validated) == {"subscriber_basic": S}


@pytest.mark.parametrize("process", ["eu_production_order", "eu_preservation_order"])
def test_the_regulation_does_not_apply_in_denmark(process: str) -> None:
    evaluation = run(process_type=process, **by("judge"), **where("eu", "DK"))
    assert verdicts(evaluation) == {"subscriber_basic": X}
    assert "does not bind or apply to orders from DK" in evaluation.categories[0].reason


def test_the_regulation_applies_only_to_orders_received_from_18_august_2026() -> None:
    before = run(process_type="eu_production_order", received_at="2026-08-17T09:00:00Z", **where("eu", "DE"))
    on_the_day = run(process_type="eu_production_order", received_at="2026-08-18T09:00:00Z", **where("eu", "DE"))
    assert verdicts(before) == {"subscriber_basic": X}
    assert "applies only to orders received from 2026-08-18" in before.categories[0].reason
    assert verdicts(on_the_day) == {"subscriber_basic": P}


@pytest.mark.parametrize(
    ("offence", "verdict"),
    [
        ({"description": "Fraud", "max_penalty_years": 5}, P),
        ({"description": "Fraud", "max_penalty_years": 3}, P),
        ({"description": "Insult", "max_penalty_years": 2}, X),
        ({"description": "Card fraud", "max_penalty_years": 2, "listed": "non_cash_payment_fraud"}, P),
        ({"description": "Unstated"}, X),
    ],
)
def test_traffic_and_content_data_need_the_offence_threshold(offence: dict[str, Any], verdict: str) -> None:
    evaluation = run(
        process_type="eu_production_order",
        categories=["subscriber_basic", "stored_content"],
        offence=offence,
        **where("eu", "DE"),
    )
    assert verdicts(evaluation) == {"subscriber_basic": P, "stored_content": verdict}
    if verdict == X:
        assert "at least 3 years" in evaluation.categories[1].reason


def test_an_eu_order_that_states_no_offence_is_flagged_for_traffic_and_content() -> None:
    evaluation = run(process_type="eu_production_order", categories=["stored_content"], **where("eu", "DE"))
    assert "offence_not_stated" in evaluation.warning_ids()
    assert "offence_threshold" in [item.id for item in evaluation.checklist]
    subscriber_only = run(process_type="eu_production_order", categories=["subscriber_basic"], **where("eu", "DE"))
    assert "offence_not_stated" not in subscriber_only.warning_ids()


def test_an_eu_order_validated_by_a_judge_reaches_content() -> None:
    evaluation = run(
        process_type="eu_production_order",
        categories=["stored_content"],
        offence={"description": "Extortion", "max_penalty_years": 5},
        **by("police", validated_by={"kind": "judge", "name": "Amtsgericht München"}),
        **where("eu", "DE"),
    )
    assert verdicts(evaluation) == {"stored_content": P}


def test_an_emergency_eu_order_may_be_validated_afterwards_for_subscriber_data_only() -> None:
    evaluation = run(
        process_type="eu_production_order",
        categories=["subscriber_basic", "stored_content"],
        emergency=True,
        offence={"description": "Kidnapping", "max_penalty_years": 10},
        **by("police"),
        **where("eu", "DE"),
    )
    assert verdicts(evaluation) == {"subscriber_basic": P, "stored_content": X}
    assert "eu_validation_ex_post" in evaluation.warning_ids()


# 5. Orders under an executive agreement.


def test_a_uk_overseas_production_order_reaches_content_under_the_agreement() -> None:
    evaluation = run(
        process_type="agreement_order",
        categories=["subscriber_basic", "stored_content"],
        agreement="us_uk",
        **by("judge", "HHJ Example, Southwark Crown Court"),
        **where("uk", "GB"),
    )
    assert verdicts(evaluation) == {"subscriber_basic": P, "stored_content": P}
    assert "US–UK Data Access Agreement" in evaluation.categories[1].reason


def test_an_australian_international_production_order_reaches_content_once_the_agreement_is_in_force() -> None:
    fields = {
        "process_type": "agreement_order",
        "categories": ["stored_content"],
        "agreement": "us_au",
        **by("judge"),
        **where("other", "AU"),
    }
    assert verdicts(run(**fields)) == {"stored_content": P}
    before = run(received_at="2024-01-30T09:00:00Z", **fields)
    assert verdicts(before) == {"stored_content": X}
    assert "entered into force on 2024-01-31" in before.categories[0].reason


def test_an_agreement_order_from_a_country_outside_the_agreement_goes_through_mlat() -> None:
    evaluation = run(
        process_type="agreement_order",
        categories=["stored_content"],
        agreement="us_uk",
        **by("judge"),
        **where("other", "BR"),
    )
    assert verdicts(evaluation) == {"stored_content": X}
    assert "covers orders from GB only; this one is from BR" in evaluation.categories[0].reason
    assert "MLAT" in evaluation.categories[0].reason


def test_an_agreement_order_is_never_assumed_to_invoke_the_agreement_of_its_country() -> None:
    """An order is subject to an agreement only when it invokes one (18 USC 2523): the country does not say so."""
    evaluation = run(
        process_type="agreement_order", categories=["subscriber_basic"], **by("judge"), **where("uk", "GB")
    )
    assert verdicts(evaluation) == {"subscriber_basic": X}
    assert "agreement_not_stated" in evaluation.warning_ids()


def test_a_foreign_order_that_invokes_the_agreement_is_judged_under_it() -> None:
    fields = {"process_type": "foreign_order", "categories": ["stored_content"], **where("uk", "GB")}
    assert verdicts(run(**fields, **by("judge"))) == {"stored_content": X}
    assert verdicts(run(**fields, **by("judge"), agreement="us_uk")) == {"stored_content": P}
    assert verdicts(run(**fields, **by("police"), agreement="us_uk")) == {"stored_content": X}


# 7. Emergencies and the legitimate-interests warning.


def test_emergency_findings_rest_on_harm_or_rights_only() -> None:
    evaluation = run(process_type="emergency_request", emergency=True, categories=["subscriber_basic"], **by("police"))
    assert evaluation.categories[0].grounds == ("harm_or_rights",)


def test_the_legitimate_interests_warning_is_not_noise() -> None:
    content = run(categories=["stored_content"])
    assert verdicts(content) == {"stored_content": P}
    assert "legitimate_interests_needs_reason" not in content.warning_ids()


# 8. What could not be expressed before.


def voluntary(basis: str, categories: list[str]) -> Evaluation:
    return run(
        process_type="voluntary_disclosure",
        voluntary_basis=basis,
        categories=categories,
        **by("provider", "Legal team"),
    )


def test_inadvertently_obtained_evidence_covers_content_only() -> None:
    evaluation = voluntary("inadvertent_crime", ["subscriber_basic", "stored_content"])
    assert verdicts(evaluation) == {"subscriber_basic": X, "stored_content": P}
    assert evaluation.categories[1].grounds == ("inadvertent_crime",)


def test_an_ncmec_report_rests_on_the_law_for_account_data_and_goes_to_counsel_for_content() -> None:
    evaluation = voluntary("ncmec_report", ["subscriber_basic", "stored_content"])
    assert verdicts(evaluation) == {"subscriber_basic": P, "stored_content": N}
    assert evaluation.categories[0].grounds == ("law_requires",)


def test_customer_consent_goes_to_counsel() -> None:
    assert verdicts(voluntary("customer_consent", ["subscriber_basic", "stored_content"])) == {
        "subscriber_basic": N,
        "stored_content": N,
    }


def test_a_voluntary_disclosure_needs_counsel_and_two_approvals_and_never_reaches_real_time_data() -> None:
    evaluation = voluntary("legitimate_interests", ["stored_content", "realtime_content"])
    assert verdicts(evaluation) == {"stored_content": P, "realtime_content": X}
    assert evaluation.counsel_required and evaluation.approvals_required == 2
    assert "counsel_escalation" in [item.id for item in evaluation.checklist]
    assert {"counsel_required", "legitimate_interests_needs_reason"} <= set(evaluation.warning_ids())


def test_a_civil_subpoena_reaches_basic_subscriber_information_and_never_content() -> None:
    evaluation = run(
        process_type="civil_subpoena",
        categories=["subscriber_basic", "account_records", "stored_content"],
        **by("attorney", "Counsel for the plaintiff"),
        **where("us_state", "US"),
    )
    assert verdicts(evaluation) == {"subscriber_basic": P, "account_records": X, "stored_content": X}
    assert "forbids disclosing the contents of communications on civil process" in evaluation.categories[2].reason


@pytest.mark.parametrize(
    ("agency", "level", "verdict"),
    [
        ("Federal Bureau of Investigation", "special_agent_in_charge", P),
        ("FBI", "hq_deputy_assistant_director_or_higher", P),
        ("Drug Enforcement Administration", "special_agent_in_charge", X),
        ("Federal Bureau of Investigation", "other", X),
    ],
)
def test_only_the_fbis_designated_officials_may_issue_a_national_security_letter(
    agency: str, level: str, verdict: str
) -> None:
    evaluation = run(
        process_type="national_security_letter",
        agency={"name": agency, "country": "US"},
        **by("agency", agency, official_level=level),
    )
    assert verdicts(evaluation) == {"subscriber_basic": verdict}


def test_an_nsl_whose_signer_is_not_recorded_asks_for_it() -> None:
    evaluation = run(process_type="national_security_letter", **by("agency", "FBI"))
    assert "nsl_official_not_recorded" in evaluation.warning_ids()


def test_uk_ipa_process_is_foreign_unless_issued_under_the_agreement() -> None:
    data = {"process_type": "uk_ipa_communications_data", **where("uk", "GB")}
    assert verdicts(run(**data, **by("agency", "OCDA"))) == {"subscriber_basic": X}
    assert verdicts(run(**data, **by("agency", "OCDA"), agreement="us_uk")) == {"subscriber_basic": P}
    warrant = {"process_type": "uk_ipa_interception_warrant", "categories": ["realtime_content"], **where("uk", "GB")}
    commissioner = {"validated_by": {"kind": "judge", "name": "Judicial Commissioner"}}
    approved = run(**warrant, **by("agency", "Home Secretary", **commissioner), agreement="us_uk")
    assert verdicts(approved) == {"realtime_content": P}
    assert verdicts(run(**warrant, **by("agency", "Home Secretary"), agreement="us_uk")) == {"realtime_content": X}


def test_an_interception_order_longer_than_30_days_is_approvable_only_for_its_first_30() -> None:
    """30 days after the day of issue (FRCrP 45(a)(1)): from 2026-11-19, to 2026-12-19."""
    evaluation = run(
        process_type="wiretap_order",
        categories=["realtime_content"],
        issued_on="2026-11-19",
        valid_until="2027-01-02",  # 44 days
    )
    [finding] = evaluation.categories
    assert finding.verdict == X
    assert "the order spans 44 days (2026-11-19 to 2027-01-02)" in finding.reason
    assert finding.narrow_to == (date(2026, 11, 19), date(2026, 12, 19))
    assert finding.as_json()["narrow_to"] == {"from": "2026-11-19", "to": "2026-12-19"}
    requested = [Category.REALTIME_CONTENT]
    check_scope(
        requested,
        requested,
        evaluation,
        periods={Category.REALTIME_CONTENT: [(date(2026, 11, 19), date(2026, 12, 19))]},
    )
    with pytest.raises(Exception, match="only for 2026-11-19 to 2026-12-19"):
        check_scope(
            requested,
            requested,
            evaluation,
            periods={Category.REALTIME_CONTENT: [(date(2026, 11, 19), date(2027, 1, 2))]},
        )
    with pytest.raises(Exception, match="only for 2026-11-19 to 2026-12-19"):
        check_scope(requested, requested, evaluation)


def test_no_narrowing_is_offered_when_nothing_requested_lies_inside_the_orders_period() -> None:
    """Interception collects from the order's start on: a requested period wholly before it cannot be narrowed to."""
    evaluation = run(
        process_type="wiretap_order",
        categories=["realtime_content"],
        issued_on="2026-11-19",
        valid_until="2027-01-20",
        targets=[{"kind": "email", "value": "user@example.net", "from": "2026-01-01", "to": "2026-06-30"}],
    )
    [finding] = evaluation.categories
    assert finding.verdict == X and finding.narrow_to is None
    assert "Nothing requested lies inside it: ask for a new order." in finding.reason


def test_an_interception_order_without_an_issue_date_is_measured_from_its_receipt() -> None:
    evaluation = run(process_type="pen_trap_order", categories=["realtime_noncontent"], valid_until="2027-02-28")
    [finding] = evaluation.categories
    assert finding.verdict == X and finding.narrow_to == (date(2026, 11, 20), date(2027, 1, 19))
    assert "the order spans 100 days (2026-11-20 to 2027-02-28)" in finding.reason


def test_a_warrant_reaches_no_records_made_after_its_window() -> None:
    evaluation = run(
        categories=["stored_content"],
        valid_until="2026-12-01",
        targets=[{"kind": "email", "value": "user@example.net", "from": "2026-06-01", "to": "2026-12-31"}],
    )
    [finding] = evaluation.categories
    assert finding.verdict == X and finding.narrow_to == (None, date(2026, 12, 1))
    assert "target user@example.net is requested 2026-06-01 to 2026-12-31" in finding.reason


def test_an_older_policy_knows_nothing_of_the_new_process_types() -> None:
    from pathlib import Path

    import disclosure.policy

    frozen = Path(disclosure.policy.__file__).with_name("versions") / "2026-1.toml"
    old = load_policy(frozen.read_bytes(), source="2026-1.toml")
    evaluation = evaluate(make_request(process_type="civil_subpoena", **by("attorney")), old, TODAY)
    assert verdicts(evaluation) == {"subscriber_basic": X}
    assert evaluation.warning_ids() == ["process_type_unknown"]


# The legal table: every process type under every regime, a typical issuer, all six categories in CATEGORIES' order.
# Outside the law it belongs to, a process compels nothing; public domain data stays public.

ISSUER = {
    "subpoena": "prosecutor",
    "court_order_2703d": "judge",
    "search_warrant": "judge",
    "wiretap_order": "judge",
    "pen_trap_order": "court",
    "preservation_request": "agency",
    "emergency_request": "police",
    "national_security_letter": "agency",
    "eu_production_order": "judge",
    "eu_preservation_order": "prosecutor",
    "other_court_order": "court",
    "civil_subpoena": "attorney",
    "foreign_order": "court",
    "agreement_order": "judge",
    "uk_ipa_communications_data": "agency",
    "uk_ipa_interception_warrant": "agency",
    "voluntary_disclosure": "provider",
}
COUNTRY = {"us_federal": "US", "us_state": "US", "eu": "DE", "uk": "GB", "other": "BR"}
#: What a well-formed instance states besides: why we disclose, the agreement an order invokes, a European order's
#: offence (without which traffic and content data cannot be approved).
PARTICULARS: dict[str, dict[str, Any]] = {
    "voluntary_disclosure": {"voluntary_basis": "legitimate_interests"},
    "agreement_order": {"agreement": "us_uk"},
    "eu_production_order": {"offence": {"description": "Computer fraud", "max_penalty_years": 5}},
}

BY_REGIME = {
    #                             us_federal us_state  eu        uk        other
    "subpoena": ("PXXXXP", "PXXXXP", "XXXXXP", "XXXXXP", "XXXXXP"),
    "court_order_2703d": ("PPXXXP", "PPXXXP", "XXXXXP", "XXXXXP", "XXXXXP"),
    "search_warrant": ("PPPXXP", "PPPXXP", "XXXXXP", "XXXXXP", "XXXXXP"),
    "wiretap_order": ("XXXPXP", "XXXPXP", "XXXXXP", "XXXXXP", "XXXXXP"),
    "pen_trap_order": ("XXXXPP", "XXXXPP", "XXXXXP", "XXXXXP", "XXXXXP"),
    "preservation_request": ("SSSXXS", "SSSXXS", "SSSXXS", "SSSXXS", "SSSXXS"),  # foreign: our choice, warned
    # Contents go to a US governmental entity only (2702(b)(8), 2711(4)), and then only through counsel, the
    # policy having no emergency ground for them; real-time collection is never an emergency disclosure.
    "emergency_request": ("PPNXXP", "PPNXXP", "PPXXXP", "PPXXXP", "PPXXXP"),
    "national_security_letter": ("PPXXXP", "XXXXXP", "XXXXXP", "XXXXXP", "XXXXXP"),
    "eu_production_order": ("XXXXXP", "XXXXXP", "PPPXXP", "XXXXXP", "XXXXXP"),
    "eu_preservation_order": ("XXXXXX", "XXXXXX", "SSSXXS", "XXXXXX", "XXXXXX"),
    "other_court_order": ("PPXXXP", "PPXXXP", "XXXXXP", "XXXXXP", "XXXXXP"),
    "civil_subpoena": ("PXXXXP", "PXXXXP", "XXXXXP", "XXXXXP", "XXXXXP"),
    "foreign_order": ("XXXXXP", "XXXXXP", "XXXXXP", "XXXXXP", "XXXXXP"),
    "agreement_order": ("XXXXXP", "XXXXXP", "XXXXXP", "PPPPPP", "XXXXXP"),  # US-UK: "other" here is Brazil
    "uk_ipa_communications_data": ("XXXXXP", "XXXXXP", "XXXXXP", "XXXXXP", "XXXXXP"),  # no agreement invoked
    "uk_ipa_interception_warrant": ("XXXXXP", "XXXXXP", "XXXXXP", "XXXXXP", "XXXXXP"),
    "voluntary_disclosure": ("PPPXXP", "PPPXXP", "PPPXXP", "PPPXXP", "PPPXXP"),  # legitimate interests
}


def test_the_legal_tables_cover_every_process_type() -> None:
    assert set(BY_REGIME) == set(BY_WINDOW) == set(ISSUER) == {p.value for p in ProcessType}


@pytest.mark.parametrize(("process", "regime"), [(p, r) for p in BY_REGIME for r in COUNTRY])
@pytest.mark.parametrize("emergency", [False, True])
def test_every_process_type_under_every_regime(process: str, regime: str, emergency: bool) -> None:
    expected = BY_REGIME[process][list(COUNTRY).index(regime)]
    extra = PARTICULARS.get(process, {})
    for category, letter in zip(CATEGORIES, expected, strict=True):
        evaluation = run(
            process_type=process,
            categories=[category],
            emergency=emergency,
            **by(ISSUER[process]),
            **where(regime, COUNTRY[regime]),
            **extra,
        )
        [finding] = evaluation.categories
        assert (category, finding.verdict.value) == (category, LETTER[letter])
        assert finding.clause and finding.reason


# Every process type in its home regime under seven window states (received 2026-11-20, judged 2026-11-27):
# none stated; valid; expired before it was served; served in time but the window has since passed; an order
# that spans longer than the longest its kind may authorise (wiretap 30 days, pen/trap 60, UK interception 180);
# and orders of exactly 30 and of 31 days.
# UK IPA process here invokes the US-UK agreement, a warrant with a Judicial Commissioner's approval.
WINDOWS = {
    "none": {},
    "valid": {"issued_on": "2026-11-19", "valid_until": "2026-12-07"},
    "expired_when_served": {"issued_on": "2026-11-01", "valid_until": "2026-11-19"},
    "passed_since": {"issued_on": "2026-11-19", "valid_until": "2026-11-22"},
    "too_long": {"issued_on": "2026-11-19", "valid_until": "2027-06-30"},
    # Days counted as FRCrP 45(a)(1) counts them, the day of issue excluded: 30 days, then 31.
    "30_days": {"issued_on": "2026-11-19", "valid_until": "2026-12-19"},
    "31_days": {"issued_on": "2026-11-19", "valid_until": "2026-12-20"},
}
HOME = {
    "eu_production_order": ("eu", "DE"),
    "eu_preservation_order": ("eu", "FR"),
    "foreign_order": ("other", "BR"),
    "agreement_order": ("uk", "GB"),
    "uk_ipa_communications_data": ("uk", "GB"),
    "uk_ipa_interception_warrant": ("uk", "GB"),
}
BY_WINDOW = {
    #                  none      valid     expired   passed    too_long  30 days   31 days
    "subpoena": ("PXXXXP", "PXXXXP", "XXXXXP", "PXXXXP", "PXXXXP", "PXXXXP", "PXXXXP"),
    "court_order_2703d": ("PPXXXP", "PPXXXP", "XXXXXP", "PPXXXP", "PPXXXP", "PPXXXP", "PPXXXP"),
    "search_warrant": ("PPPXXP", "PPPXXP", "XXXXXP", "PPPXXP", "PPPXXP", "PPPXXP", "PPPXXP"),
    "wiretap_order": ("XXXPXP", "XXXPXP", "XXXXXP", "XXXXXP", "XXXXXP", "XXXPXP", "XXXXXP"),
    "pen_trap_order": ("XXXXPP", "XXXXPP", "XXXXXP", "XXXXXP", "XXXXXP", "XXXXPP", "XXXXPP"),
    "preservation_request": ("SSSXXS", "SSSXXS", "XXXXXX", "SSSXXS", "SSSXXS", "SSSXXS", "SSSXXS"),
    "emergency_request": ("PPNXXP", "PPNXXP", "XXXXXP", "PPNXXP", "PPNXXP", "PPNXXP", "PPNXXP"),
    "national_security_letter": ("PPXXXP", "PPXXXP", "XXXXXP", "PPXXXP", "PPXXXP", "PPXXXP", "PPXXXP"),
    "eu_production_order": ("PPPXXP", "PPPXXP", "XXXXXP", "PPPXXP", "PPPXXP", "PPPXXP", "PPPXXP"),
    "eu_preservation_order": ("SSSXXS", "SSSXXS", "XXXXXX", "SSSXXS", "SSSXXS", "SSSXXS", "SSSXXS"),
    "other_court_order": ("PPXXXP", "PPXXXP", "XXXXXP", "PPXXXP", "PPXXXP", "PPXXXP", "PPXXXP"),
    "civil_subpoena": ("PXXXXP", "PXXXXP", "XXXXXP", "PXXXXP", "PXXXXP", "PXXXXP", "PXXXXP"),
    "foreign_order": ("XXXXXP", "XXXXXP", "XXXXXP", "XXXXXP", "XXXXXP", "XXXXXP", "XXXXXP"),
    # Real-time collection under an agreement order ends with its period; stored data served in time stays.
    "agreement_order": ("PPPPPP", "PPPPPP", "XXXXXP", "PPPXXP", "PPPPPP", "PPPPPP", "PPPPPP"),
    "uk_ipa_communications_data": ("PPXXXP", "PPXXXP", "XXXXXP", "PPXXXP", "PPXXXP", "PPXXXP", "PPXXXP"),
    "uk_ipa_interception_warrant": ("XXXPPP", "XXXPPP", "XXXXXP", "XXXXXP", "XXXXXP", "XXXPPP", "XXXPPP"),
    "voluntary_disclosure": ("PPPXXP", "PPPXXP", "XXXXXP", "PPPXXP", "PPPXXP", "PPPXXP", "PPPXXP"),
}


@pytest.mark.parametrize(("process", "window"), [(p, w) for p in BY_WINDOW for w in WINDOWS])
def test_every_process_type_in_every_window_state(process: str, window: str) -> None:
    expected = BY_WINDOW[process][list(WINDOWS).index(window)]
    regime, country = HOME.get(process, ("us_federal", "US"))
    fields: dict[str, Any] = {**by(ISSUER[process]), **where(regime, country), **WINDOWS[window]}
    fields |= PARTICULARS.get(process, {})
    if process.startswith("uk_ipa"):
        fields |= {
            "agreement": "us_uk",
            **by("agency", validated_by={"kind": "judge", "name": "Judicial Commissioner"}),
        }
    for category, letter in zip(CATEGORIES, expected, strict=True):
        [finding] = run(process_type=process, categories=[category], **fields).categories
        assert (category, finding.verdict.value) == (category, LETTER[letter])
