"""Property tests: on any valid request the engine answers, and nothing it refuses can be approved."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from disclosure.policy.engine import (
    REPEATABLE_WARNINGS,
    ScopeError,
    approvable_categories,
    check_scope,
    evaluate,
)
from disclosure.policy.loader import default_policy
from disclosure.policy.request import RequestDocument, parse_request, to_json
from disclosure.policy.vocabulary import Category, ProcessType, Verdict
from tests.policy.strategies import dates, request_documents

LATER = datetime(2028, 1, 1, tzinfo=UTC)


def parsed(doc: dict[str, Any]) -> RequestDocument:
    return parse_request(doc, now=LATER)


@settings(max_examples=400, deadline=None)
@given(request_documents(), dates)
def test_evaluate_answers_every_valid_request(doc: dict[str, Any], today: date) -> None:
    request = parsed(doc)
    evaluation = evaluate(request, default_policy(), today)
    assert [f.category for f in evaluation.categories] == list(request.categories)
    for finding in evaluation.categories:
        assert finding.verdict in Verdict and finding.reason and finding.clause
        assert (finding.verdict is Verdict.PERMITTED) == bool(finding.grounds)
    assert evaluation.checklist and evaluation.approvals_required >= 1
    once = [w.id for w in evaluation.warnings if w.id not in REPEATABLE_WARNINGS]
    assert len(once) == len(set(once))
    out = evaluation.as_json()
    assert json.loads(json.dumps(out)) == out


@settings(max_examples=300, deadline=None)
@given(request_documents(), st.booleans())
def test_approvable_is_within_the_request_and_never_exceeds_the_process(doc: dict[str, Any], counsel: bool) -> None:
    request = parsed(doc)
    evaluation = evaluate(request, default_policy(), date(2026, 6, 1))
    approvable = approvable_categories(evaluation, counsel_escalation=counsel)
    assert approvable <= set(request.categories)
    refused = {Verdict.EXCEEDS_PROCESS, Verdict.PRESERVE_ONLY}
    if not counsel:
        refused.add(Verdict.NO_POLICY_GROUND)
    for finding in evaluation.categories:
        assert (finding.category in approvable) == (finding.verdict not in refused)
    if approvable:
        check_scope(request.categories, approvable, evaluation, counsel_escalation=counsel)
    for finding in evaluation.categories:
        if finding.verdict in refused:
            with pytest.raises(ScopeError):
                check_scope(request.categories, approvable | {finding.category}, evaluation, counsel_escalation=counsel)


@settings(max_examples=200, deadline=None)
@given(request_documents(), st.sampled_from(list(Category)))
def test_check_scope_refuses_any_widening(doc: dict[str, Any], extra: Category) -> None:
    request = parsed(doc)
    evaluation = evaluate(request, default_policy(), date(2026, 6, 1))
    if extra in request.categories:
        return
    with pytest.raises(ScopeError, match="wider than the request"):
        check_scope(request.categories, {*request.categories, extra}, evaluation, counsel_escalation=True)


@settings(max_examples=200, deadline=None)
@given(request_documents())
def test_the_emergency_flag_never_changes_what_compulsory_process_reaches(doc: dict[str, Any]) -> None:
    """Except where the law says so: an EU order issued in an emergency may be validated afterwards (Art. 4(5))."""
    request = parsed({**doc, "emergency": False})
    flagged = parsed({**doc, "emergency": True})
    process = default_policy().process_types[request.process_type]
    if request.process_type is ProcessType.EMERGENCY_REQUEST or process.emergency_without_validation:
        return
    plain = evaluate(request, default_policy(), date(2026, 6, 1))
    urgent = evaluate(flagged, default_policy(), date(2026, 6, 1))
    assert plain.categories == urgent.categories


@settings(max_examples=300, deadline=None)
@given(request_documents())
def test_request_documents_round_trip_through_json(doc: dict[str, Any]) -> None:
    request = parsed(doc)
    assert parse_request(json.loads(json.dumps(to_json(request))), now=LATER) == request
