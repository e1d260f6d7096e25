"""Each warning the engine raises, shown where it must appear and absent where it must not."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from disclosure.policy.engine import Evaluation, evaluate
from disclosure.policy.loader import default_policy, default_policy_bytes, load_policy
from disclosure.policy.model import Policy
from tests.policy.factories import TODAY, make_request

EU = {"jurisdiction": {"regime": "eu", "country": "DE"}}
JUDGE = {"issuing_authority": {"kind": "judge", "name": "Hon. A. Example"}}
FBI = {"issuing_authority": {"kind": "agency", "name": "FBI"}}


def by(kind: str) -> dict[str, Any]:
    return {"issuing_authority": {"kind": kind, "name": "Issuer"}}


def run(**fields: Any) -> Evaluation:
    return evaluate(make_request(**fields), default_policy(), TODAY)


def run_under(policy: Policy, **fields: Any) -> Evaluation:
    return evaluate(make_request(**fields), policy, TODAY)


def message(evaluation: Evaluation, warning_id: str) -> str:
    [text] = [w.message for w in evaluation.warnings if w.id == warning_id]
    return text


def test_a_clean_warrant_raises_no_warning_at_all() -> None:
    assert run(categories=["subscriber_basic", "account_records"]).warnings == ()


def test_emergency_request_for_content_has_no_ground() -> None:
    evaluation = run(
        process_type="emergency_request",
        emergency=True,
        **by("police"),
        categories=["subscriber_basic", "stored_content", "realtime_content"],
    )
    text = message(evaluation, "emergency_content_no_ground")
    assert "no emergency ground for communications content" in text
    assert "Stored content cannot be disclosed" in text and "counsel" in text and "search warrant" in text
    assert "no_policy_ground" not in evaluation.warning_ids()
    # Interception is no disclosure at all: it exceeds an emergency request, with its own warning.
    assert "2518(7)" in message(evaluation, "emergency_realtime_needs_order")


def test_emergency_request_for_personal_information_only_has_no_content_warning() -> None:
    evaluation = run(
        process_type="emergency_request", **by("police"), categories=["subscriber_basic", "account_records"]
    )
    assert "emergency_content_no_ground" not in evaluation.warning_ids()


def test_no_policy_ground_outside_emergencies_when_the_policy_drops_a_ground() -> None:
    text = (
        default_policy_bytes()
        .decode()
        .replace('verbatim = true\ncited_for = ["compelled_process"]\n', "verbatim = true\n")
    )
    evaluation = run_under(load_policy(text), categories=["stored_content"])
    assert evaluation.categories[0].verdict == "no_policy_ground"
    assert "Stored content" in message(evaluation, "no_policy_ground")
    assert "emergency_content_no_ground" not in evaluation.warning_ids()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # Observed (#13.7): a warrant for content warned although nobody cites the ground
        ({"categories": ["stored_content"]}, False),
        # no content: the ground does not apply
        ({"categories": ["subscriber_basic", "account_records"]}, False),
        # exceeds_process: nothing to cite it for
        ({"process_type": "subpoena", "categories": ["stored_content"]}, False),
        # nothing is disclosed
        ({"process_type": "preservation_request", "categories": ["stored_content"]}, False),
        # no policy ground: counsel is asked anyway, and a reviewer citing it must write the reason then
        ({"process_type": "emergency_request", "categories": ["stored_content"]}, False),
        ({"process_type": "wiretap_order", "categories": ["realtime_content"]}, False),
        # a disclosure we start to protect our legitimate interests rests on that ground itself
        (
            {
                "process_type": "voluntary_disclosure",
                "voluntary_basis": "legitimate_interests",
                "issuing_authority": {"kind": "provider", "name": "Legal team"},
                "categories": ["stored_content"],
            },
            True,
        ),
    ],
)
def test_legitimate_interests_needs_a_written_reason(fields: dict[str, Any], expected: bool) -> None:
    evaluation = run(**fields)
    assert ("legitimate_interests_needs_reason" in evaluation.warning_ids()) is expected
    if expected:
        assert "needs a written reason" in message(evaluation, "legitimate_interests_needs_reason")


@pytest.mark.parametrize(
    ("process", "fields", "days"),
    [
        ("preservation_request", {}, "90 days, renewable 1 time(s) for 90 days"),
        ("eu_preservation_order", {**EU, **by("prosecutor")}, "60 days, renewable 1 time(s) for 30 days"),
    ],
)
def test_preservation_discloses_nothing(process: str, fields: dict[str, Any], days: str) -> None:
    evaluation = run(process_type=process, categories=["stored_content"], **fields)
    text = message(evaluation, "preservation_discloses_nothing")
    assert days in text and "Nothing is disclosed" in text
    assert "preservation_discloses_nothing" not in run().warning_ids()


def test_national_security_letter_constraints() -> None:
    evaluation = run(process_type="national_security_letter", **FBI, categories=["subscriber_basic"])
    text = message(evaluation, "national_security_constraints")
    assert "only in bands" in text and "toll billing records only" in text and "never content" in text
    assert "national_security_constraints" not in run(categories=["subscriber_basic"]).warning_ids()


def test_non_disclosure_order_until_a_date() -> None:
    evaluation = run(non_disclosure_order={"basis": "18 USC 2705(b)", "until": "2027-05-01"})
    assert message(evaluation, "non_disclosure_order") == (
        "Do not notify the customer: a non-disclosure order (18 USC 2705(b)) is in force until 2027-05-01."
    )


def test_indefinite_non_disclosure_order() -> None:
    evaluation = run(non_disclosure_order={"basis": "18 USC 2709(c)", "until": None})
    text = message(evaluation, "non_disclosure_order")
    assert "indefinitely" in text and "2709(c)" in text


def test_expired_non_disclosure_order_prompts_notifying_the_customer() -> None:
    evaluation = run(non_disclosure_order={"basis": "18 USC 2705(b)", "until": "2026-11-26"})
    assert "non_disclosure_order" not in evaluation.warning_ids()
    assert "notify the customer" in message(evaluation, "non_disclosure_order_expired")
    last_day = run(non_disclosure_order={"basis": "b", "until": "2026-11-27"})
    assert "non_disclosure_order" in last_day.warning_ids()


def test_eu_production_order_for_traffic_or_content_needs_a_judge_or_court() -> None:
    evaluation = run(
        process_type="eu_production_order",
        **EU,
        **by("prosecutor"),
        categories=["subscriber_basic", "account_records", "stored_content"],
    )
    text = message(evaluation, "issuing_authority_not_allowed")
    assert "Account records (non-content) and Stored content must be ordered or validated by a judge or a court" in text
    assert "issued by a prosecutor, and no validation by one is recorded" in text
    judge = run(process_type="eu_production_order", **EU, **JUDGE, categories=["account_records", "stored_content"])
    assert "issuing_authority_not_allowed" not in judge.warning_ids()


def test_eu_production_order_from_the_police_lists_each_rule() -> None:
    evaluation = run(
        process_type="eu_production_order", **EU, **by("police"), categories=["subscriber_basic", "stored_content"]
    )
    texts = [w.message for w in evaluation.warnings if w.id == "issuing_authority_not_allowed"]
    assert len(texts) == 2
    assert any("a judge, a court or a prosecutor" in t for t in texts)
    assert any("a judge or a court;" in t for t in texts)


def test_preservation_order_from_the_wrong_authority_preserves_nothing() -> None:
    """Observed (#13.4): an EU preservation order from the police, unvalidated, gave preserve_only."""
    evaluation = run(process_type="eu_preservation_order", **EU, **by("police"))
    assert evaluation.categories[0].verdict == "exceeds_process"
    assert "a judge, a court or a prosecutor" in evaluation.categories[0].reason
    assert "a judge, a court or a prosecutor" in message(evaluation, "issuing_authority_not_allowed")
    validated = run(
        process_type="eu_preservation_order",
        **EU,
        issuing_authority={"kind": "police", "name": "BKA", "validated_by": {"kind": "prosecutor", "name": "StA"}},
    )
    assert validated.categories[0].verdict == "preserve_only"


def test_interception_order_needs_two_approvals() -> None:
    evaluation = run(process_type="wiretap_order", categories=["realtime_content"])
    assert evaluation.approvals_required == 2
    assert "2 different reviewers" in message(evaluation, "two_approvals_required")
    assert "two_approvals_required" not in run(process_type="pen_trap_order").warning_ids()


def test_expired_process() -> None:
    """Expiry is judged on the day the process was served (received 2026-11-20 here), not today."""
    text = message(run(valid_until="2026-11-19"), "process_expired")
    assert "expired on 2026-11-19, before it was served on 2026-11-20" in text
    assert "process_expired" not in run(valid_until="2026-11-20").warning_ids()
    assert "process_expired" not in run(valid_until="2026-11-26").warning_ids()


@pytest.mark.parametrize("targets", [[], [{"kind": "ip", "value": "198.51.100.4"}]])
def test_no_specific_identifier(targets: list[dict[str, str]]) -> None:
    assert "no_specific_identifier" in run(targets=targets).warning_ids()


def test_ip_address_without_its_time_of_use() -> None:
    evaluation = run(targets=[{"kind": "email", "value": "a@example.net"}, {"kind": "ip", "value": "198.51.100.4"}])
    assert "no_specific_identifier" not in evaluation.warning_ids()
    assert "198.51.100.4" in message(evaluation, "ip_without_time")
    timed = run(targets=[{"kind": "ip", "value": "198.51.100.4", "from": "2026-03-01T10:00:00Z"}])
    assert timed.warnings == ()


@pytest.mark.parametrize(
    ("process", "days", "warned"),
    [
        ("wiretap_order", 30, False),
        ("wiretap_order", 31, True),
        ("pen_trap_order", 60, False),
        ("pen_trap_order", 61, True),
        ("search_warrant", 365, False),
    ],
)
def test_order_period_over_the_maximum(process: str, days: int, warned: bool) -> None:
    """Days counted as FRCrP 45(a)(1) counts them: the first day (the order's issue) is not counted."""
    start = date(2026, 11, 1)
    end = (start + timedelta(days=days)).isoformat()
    by_order = run(process_type=process, issued_on=start.isoformat(), valid_until=end)
    by_target = run(
        process_type=process, targets=[{"kind": "username", "value": "u1", "from": start.isoformat(), "to": end}]
    )
    for evaluation in (by_order, by_target):
        assert ("period_exceeds_maximum" in evaluation.warning_ids()) is warned
    if warned:
        assert f"spans {days} days" in message(by_order, "period_exceeds_maximum")


def test_process_outside_its_regime() -> None:
    evaluation = run(process_type="national_security_letter", **FBI, **EU)
    assert "legal process only in US federal law; this request comes under EU law" in message(
        evaluation, "process_outside_regime"
    )
    assert "process_outside_regime" not in run(process_type="eu_production_order", **EU).warning_ids()


def test_country_outside_the_jurisdiction() -> None:
    evaluation = run(jurisdiction={"regime": "eu", "country": "US"})
    assert "Country US" in message(evaluation, "country_outside_jurisdiction")
    anywhere = run(jurisdiction={"regime": "other", "country": "BR"})
    assert "country_outside_jurisdiction" not in anywhere.warning_ids()
