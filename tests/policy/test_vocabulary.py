"""The vocabulary's ids are stable (stored cases and request documents use them); labels are for people."""

from __future__ import annotations

import pytest

from disclosure.policy.vocabulary import (
    Agreement,
    AuthorityKind,
    Category,
    Ground,
    LabelledEnum,
    ListedOffence,
    OfficialLevel,
    ProcessType,
    ReceivedVia,
    Regime,
    TargetKind,
    Verdict,
    VoluntaryBasis,
)

IDS: dict[type[LabelledEnum], list[str]] = {
    ProcessType: [
        "subpoena",
        "court_order_2703d",
        "search_warrant",
        "wiretap_order",
        "pen_trap_order",
        "preservation_request",
        "emergency_request",
        "national_security_letter",
        "eu_production_order",
        "eu_preservation_order",
        "other_court_order",
        "civil_subpoena",
        "foreign_order",
        "agreement_order",
        "uk_ipa_communications_data",
        "uk_ipa_interception_warrant",
        "voluntary_disclosure",
    ],
    Regime: ["us_federal", "us_state", "eu", "uk", "other"],
    AuthorityKind: ["judge", "court", "prosecutor", "agency", "police", "attorney", "provider"],
    VoluntaryBasis: [
        "inadvertent_crime",
        "ncmec_report",
        "legitimate_interests",
        "provide_service",
        "customer_consent",
    ],
    OfficialLevel: ["director", "hq_deputy_assistant_director_or_higher", "special_agent_in_charge", "other"],
    ListedOffence: ["non_cash_payment_fraud", "child_sexual_abuse", "attack_on_information_systems", "terrorism"],
    Agreement: ["us_uk", "us_au"],
    ReceivedVia: ["email", "fax", "post", "portal", "in_person"],
    TargetKind: ["email", "username", "domain", "ip", "customer_id", "phone"],
    Category: [
        "subscriber_basic",
        "account_records",
        "stored_content",
        "realtime_content",
        "realtime_noncontent",
        "domain_registration",
    ],
    Ground: [
        "provide_service",
        "legitimate_interests",
        "legal_process",
        "inadvertent_crime",
        "harm_or_rights",
        "law_requires",
        "public",
    ],
    Verdict: ["permitted", "exceeds_process", "no_policy_ground", "preserve_only"],
}


@pytest.mark.parametrize("vocabulary", list(IDS), ids=lambda v: v.__name__)
def test_ids_are_stable_and_every_member_has_a_label(vocabulary: type[LabelledEnum]) -> None:
    assert [m.value for m in vocabulary] == IDS[vocabulary]
    for member in vocabulary:
        assert member.label.strip() and "_" not in member.label


def test_labels_people_read_on_the_review_page() -> None:
    assert Verdict.EXCEEDS_PROCESS.label == "Exceeds what the process can compel"
    assert Verdict.NO_POLICY_GROUND.label == "No policy ground (to counsel)"
    assert Ground.LAW_REQUIRES.label == "Good-faith belief that the law requires disclosure"
    assert ProcessType.COURT_ORDER_2703D.label == "Court order, 18 USC 2703(d)"
