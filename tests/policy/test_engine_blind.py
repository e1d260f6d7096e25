"""The engine against the lawyer's blind set (issue #13): each request they wrote from the law that the engine got
wrong, literally (tests/policy/blind_cases.py), with the verdict the law gives and the clause the reason must name.
The lawyer ran the engine on 2026-12-07; so do these tests."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from disclosure.policy.engine import Evaluation, evaluate
from disclosure.policy.loader import default_policy
from disclosure.policy.request import parse_request
from disclosure.policy.vocabulary import Ground
from tests.policy import blind_cases as case

P, X, N, S = "permitted", "exceeds_process", "no_policy_ground", "preserve_only"
TODAY = date(2026, 12, 7)
NOW = datetime(2026, 12, 7, 21, 0, tzinfo=UTC)


def run(doc: dict[str, Any], today: date = TODAY) -> Evaluation:
    return evaluate(parse_request(doc, now=NOW), default_policy(), today)


def verdicts(evaluation: Evaluation) -> dict[str, str]:
    return {f.category.value: f.verdict.value for f in evaluation.categories}


def reason(evaluation: Evaluation, category: str) -> str:
    return next(f.reason for f in evaluation.categories if f.category.value == category)


def warning(evaluation: Evaluation, warning_id: str) -> str:
    return next(w.message for w in evaluation.warnings if w.id == warning_id)


# 1. Interception under an agreement order: it stops when its period ends, and two reviewers approve it.


def test_agreement_interception_whose_period_has_ended_collects_nothing_more() -> None:
    """105: a UK interception order under the agreement, 2026-10-01 to 2026-10-30, judged on 2026-12-07. 2511(2)(j)
    covers interception only under an order in force; after its period it is a 2511 offence."""
    evaluation = run(case.AGREEMENT_UK_REALTIME_PERIOD_ENDED)
    assert verdicts(evaluation) == {"realtime_content": X}
    assert "that period has ended (today is 2026-12-07)" in reason(evaluation, "realtime_content")
    assert "collection_period_ended" in evaluation.warning_ids()
    assert evaluation.approvals_required == 2


def test_agreement_interception_in_its_period_needs_two_approvals() -> None:
    """94: the same order, in force."""
    evaluation = run(case.AGREEMENT_UK_REALTIME)
    assert verdicts(evaluation) == {"realtime_content": P}
    assert evaluation.approvals_required == 2
    assert "interception" in warning(evaluation, "two_approvals_required").lower()


def test_stored_data_under_an_agreement_order_served_in_time_is_not_cut_off_by_the_period() -> None:
    """A stored-data order is judged on the day it was served; only real-time collection stops with the period."""
    doc = {**case.AGREEMENT_UK_REALTIME_PERIOD_ENDED, "categories": ["stored_content", "realtime_noncontent"]}
    evaluation = run(doc)
    assert verdicts(evaluation) == {"stored_content": P, "realtime_noncontent": X}
    assert evaluation.approvals_required == 1  # no interception asked for
    assert run(case.UK_OPO_CROWN_COURT).approvals_required == 1


# 2. An agreement order must say which agreement it invokes.


def test_an_agreement_order_that_invokes_no_agreement_is_not_judged_under_one() -> None:
    """93: a Crown Court order logged as an agreement order, without `agreement`: nothing shows that it was issued
    under the US-UK agreement, and only an order subject to an agreement lifts the bar of 2702(a) (2702(b)(9),
    2523), so it compels nothing; the engine must not guess the agreement from the country."""
    evaluation = run(case.AGREEMENT_ORDER_MISSING_AGREEMENT)
    assert verdicts(evaluation) == {"stored_content": X}
    text = reason(evaluation, "stored_content")
    assert "must invoke an executive agreement (18 USC 2523)" in text
    assert "`agreement`" in text and "us_uk" in text
    assert "agreement_not_stated" in evaluation.warning_ids()


# 3. Emergency requests from a foreign authority.


def test_emergency_content_to_a_foreign_authority_is_barred_by_the_statute() -> None:
    """101: 2702(b)(8) lets us give contents only to a "governmental entity", which 2711(4) limits to the United
    States and the States: the Metropolitan Police are neither, so 2702(a) forbids it and counsel cannot cure it."""
    evaluation = run(case.EMERGENCY_UK_POLICE_CONTENT)
    assert verdicts(evaluation) == {"stored_content": X}
    text = reason(evaluation, "stored_content")
    assert "2702(b)(8)" in text and "2711(4)" in text and "2702(a)" in text
    assert "US–UK Data Access Agreement" in text  # the lawful route
    assert "emergency_content_no_ground" not in evaluation.warning_ids()
    assert "emergency_foreign_authority" in evaluation.warning_ids()


def test_emergency_records_to_a_foreign_authority_rest_on_2702c6() -> None:
    """26: records may go to "any person other than a governmental entity" (2702(c)(6)), a foreign police force
    included; the policy's harm-or-rights ground still has to cover them."""
    evaluation = run(case.EMERGENCY_UK_POLICE)
    [finding] = evaluation.categories
    assert (finding.verdict.value, finding.grounds) == (P, ("harm_or_rights",))
    assert "2702(c)(6)" in finding.reason and "2711(4)" in finding.reason


def test_a_us_emergency_still_rests_on_2702c4() -> None:
    [finding] = run(case.EMERGENCY_SUBSCRIBER).categories[:1]
    assert finding.verdict.value == P and "2702(c)(4)" in finding.reason and "2702(c)(6)" not in finding.reason


# 4. Emergency requests for real-time data.


def test_an_emergency_request_cannot_start_interception() -> None:
    """86: 2702 covers stored communications only; emergency interception takes 2518(7) and a 2511(2)(a)(ii)(B)
    certification, emergency pen/trap 3125."""
    evaluation = run(case.EMERGENCY_REALTIME)
    assert verdicts(evaluation) == {"realtime_content": X, "realtime_noncontent": X}
    assert "2518(7)" in reason(evaluation, "realtime_content")
    assert "2511(2)(a)(ii)(B)" in reason(evaluation, "realtime_content")
    assert "3125" in reason(evaluation, "realtime_noncontent")
    message = warning(evaluation, "emergency_realtime_needs_order")
    assert "2518(7)" in message and "2511(2)(a)(ii)(B)" in message and "search warrant" not in message
    assert "emergency_content_no_ground" not in evaluation.warning_ids()


def test_emergency_stored_content_still_goes_to_counsel_and_asks_for_a_warrant() -> None:
    """25: the policy has no emergency ground for content (DESIGN), so a US emergency for content is counsel's."""
    evaluation = run(case.EMERGENCY_CONTENT)
    assert verdicts(evaluation) == {"stored_content": N}
    message = warning(evaluation, "emergency_content_no_ground")
    assert "search warrant" in message and "interception" not in message


# 5. An EU production order that states no offence.


def test_an_eu_order_for_content_that_states_no_offence_cannot_pass() -> None:
    """51: Art. 5(4) lets traffic and content data be ordered only for offences punishable by 3 years or listed;
    without the offence the threshold cannot be checked, so the content cannot be approved until it is recorded."""
    evaluation = run(case.EPOC_CONTENT_NO_OFFENCE_FIELD)
    assert verdicts(evaluation) == {"stored_content": X}
    text = reason(evaluation, "stored_content")
    assert "states no offence" in text and "`offence`" in text
    assert "offence_not_stated" in evaluation.warning_ids()


@pytest.mark.parametrize(
    ("categories", "expected"),
    [
        (["subscriber_basic"], {"subscriber_basic": P}),  # Art. 5(3): any offence; 78, the old shape
        (["subscriber_basic", "account_records"], {"subscriber_basic": P, "account_records": X}),
    ],
)
def test_subscriber_data_needs_no_offence(categories: list[str], expected: dict[str, str]) -> None:
    doc = {**case.EPOC_CONTENT_NO_OFFENCE_FIELD, "categories": categories}
    assert verdicts(run(doc)) == expected


# 6. Maximum durations count days as the law does: the day of the triggering event is not counted (FRCrP 45(a)(1)).


def test_an_interception_order_of_30_days_counted_from_its_issue_is_within_the_limit() -> None:
    """80: issued 2026-12-01, valid until 2026-12-31: 30 days after the day of issue, as 2518(5) allows."""
    evaluation = run(case.WIRETAP_30D_RULE45_COUNT, today=date(2026, 12, 7))
    assert verdicts(evaluation) == {"realtime_content": P}
    assert "period_exceeds_maximum" not in evaluation.warning_ids()
    one_more_day = run({**case.WIRETAP_30D_RULE45_COUNT, "valid_until": "2027-01-01"})
    [finding] = one_more_day.categories
    assert finding.verdict.value == X
    assert finding.narrow_to == (date(2026, 12, 1), date(2026, 12, 31))
    assert "the order spans 31 days (2026-12-01 to 2027-01-01)" in finding.reason
    assert "spans 31 days" in warning(one_more_day, "period_exceeds_maximum")


def test_a_pen_register_of_60_days_counted_from_its_issue_is_within_the_limit() -> None:
    """81: issued 2026-12-01, valid until 2027-01-30: 60 days, as 3123(c)(1) allows."""
    evaluation = run(case.PENTRAP_60D_RULE45_COUNT)
    assert verdicts(evaluation) == {"realtime_noncontent": P}
    one_more_day = run({**case.PENTRAP_60D_RULE45_COUNT, "valid_until": "2027-01-31"})
    [finding] = one_more_day.categories
    assert finding.verdict.value == X and finding.narrow_to == (date(2026, 12, 1), date(2027, 1, 30))


# 7. The EU's code for Greece (EL) and the common code for the United Kingdom (UK) name the countries GR and GB.


def test_a_greek_order_written_with_the_eus_code_el_is_judged_as_one_from_greece() -> None:
    """107: EU certificates write Greece as EL; Greece is bound by the Regulation."""
    request = parse_request(case.EPOC_GREECE_EL_CODE, now=NOW)
    assert (request.jurisdiction.country, request.agency.country) == ("GR", "GR")
    evaluation = run(case.EPOC_GREECE_EL_CODE)
    assert verdicts(evaluation) == {"subscriber_basic": P}
    assert evaluation.warning_ids() == []


def test_a_uk_overseas_production_order_written_with_uk_is_judged_as_one_from_gb() -> None:
    """108: ISO 3166 reserves UK for the United Kingdom, whose code is GB; the US-UK agreement covers it."""
    request = parse_request(case.UK_OPO_COUNTRY_UK, now=NOW)
    assert (request.jurisdiction.country, request.agency.country) == ("GB", "GB")
    evaluation = run(case.UK_OPO_COUNTRY_UK)
    assert verdicts(evaluation) == {"stored_content": P}
    assert "country_outside_jurisdiction" not in evaluation.warning_ids()


# 10. Reasons a reviewer can act on, saying what the law says about the category at hand.


def test_a_subpoena_refused_for_records_points_to_a_2703d_order_not_to_content() -> None:
    """01: a grand jury subpoena reaches basic subscriber information only (2703(c)(2))."""
    evaluation = run(case.GRAND_JURY_SUBPOENA)
    assert verdicts(evaluation) == {"subscriber_basic": P, "account_records": X, "stored_content": X}
    records = reason(evaluation, "account_records")
    assert "2703(d)" in records and "content" not in records.replace("(non-content)", "").lower()
    assert "warrant" in reason(evaluation, "stored_content")


def test_a_civil_subpoena_refused_for_records_does_not_cite_the_content_bar() -> None:
    """33: 2702(a) bars contents; records other than contents may go to a private party (2702(c)(6)), though this
    policy lets civil process reach basic subscriber information only."""
    evaluation = run(case.CIVIL_SUBPOENA_BSI_RECORDS_CONTENT)
    assert verdicts(evaluation) == {"subscriber_basic": P, "account_records": X, "stored_content": X}
    records = reason(evaluation, "account_records")
    assert "2702(c)(6)" in records and "2702(a)" not in records and "contents of communications" not in records
    assert "2702(a)" in reason(evaluation, "stored_content")


def test_a_civil_subpoena_from_a_government_agency_is_to_be_logged_as_a_subpoena() -> None:
    """99: the SEC's subpoena is 2703(c)(2) process, not civil process between private parties."""
    evaluation = run(case.CIVIL_SUBPOENA_BY_GOVERNMENT)
    assert verdicts(evaluation) == {"subscriber_basic": X}
    text = reason(evaluation, "subscriber_basic")
    assert "log it as `subpoena`" in text and "a attorney" not in text and "an attorney" in text
    message = warning(evaluation, "issuing_authority_not_allowed")
    assert "log it as `subpoena`" in message and "validated by" not in message


def test_issuers_are_named_with_their_articles() -> None:
    doc = {**case.CIVIL_SUBPOENA_BY_GOVERNMENT, "process_type": "court_order_2703d", "categories": ["account_records"]}
    assert "must be ordered by a judge or a court; this one was issued by an agency" in reason(
        run(doc), "account_records"
    )


@pytest.mark.parametrize(
    ("doc", "needs_reason"),
    [(case.VOLUNTARY_LEGITIMATE_INTERESTS_RECORDS, False), (case.VOLUNTARY_LEGITIMATE_INTERESTS_CONTENT, True)],
)
def test_the_legitimate_interests_reason_says_what_the_warnings_say(doc: dict[str, Any], needs_reason: bool) -> None:
    """40 rests on harm or rights, which needs no written reason; 41 on legitimate interests, which does."""
    evaluation = run(doc)
    [finding] = evaluation.categories
    assert finding.verdict.value == P
    assert ("written reason" in finding.reason) is needs_reason
    assert ("legitimate_interests_needs_reason" in evaluation.warning_ids()) is needs_reason
    if needs_reason:  # the same sentence in both: the ground's own note
        note = default_policy().grounds[Ground.LEGITIMATE_INTERESTS].note
        assert note and finding.reason.endswith(note)
        assert warning(evaluation, "legitimate_interests_needs_reason").endswith(note)


def test_an_ncmec_reports_subscriber_reason_does_not_talk_about_content() -> None:
    """37: counsel decides the content (the policy has no ground for content the law requires); the subscriber
    data's reason is about subscriber data."""
    evaluation = run(case.VOLUNTARY_NCMEC)
    assert verdicts(evaluation) == {"stored_content": N, "subscriber_basic": P}
    assert "content" not in reason(evaluation, "subscriber_basic").lower().replace("2702(b)(6)", "")
    assert "counsel decides the content" in reason(evaluation, "stored_content")
