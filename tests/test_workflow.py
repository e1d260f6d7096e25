"""The transition table, enumerated over every state × action × track, against an expected table written out here."""

from __future__ import annotations

import pytest

from disclosure.permissions import Permission
from disclosure.workflow import Action, IllegalTransition, State, Track, available_actions, transition

S = State
A = Action
# Written out by hand from DESIGN "A case's life"; the test compares the module against it, not against itself.
EXPECTED_DISCLOSURE = {
    (S.RECEIVED, A.START_REVIEW): S.IN_REVIEW,
    (S.RECEIVED, A.AWAIT_TARGETS): S.NEEDS_INFO,
    (S.APPROVED, A.CORRECT_FACTS): S.IN_REVIEW,
    (S.REJECTED, A.CORRECT_FACTS): S.IN_REVIEW,
    (S.RECEIVED, A.WITHDRAW): S.WITHDRAWN,
    (S.IN_REVIEW, A.REQUEST_INFO): S.NEEDS_INFO,
    (S.IN_REVIEW, A.APPROVE): S.APPROVED,
    (S.IN_REVIEW, A.REJECT): S.REJECTED,
    (S.IN_REVIEW, A.NO_RECORDS): S.CLOSED,
    (S.IN_REVIEW, A.WITHDRAW): S.WITHDRAWN,
    (S.NEEDS_INFO, A.REQUESTER_ANSWERED): S.IN_REVIEW,
    (S.NEEDS_INFO, A.WITHDRAW): S.WITHDRAWN,
    (S.APPROVED, A.START_PRODUCTION): S.PRODUCING,
    (S.APPROVED, A.REOPEN): S.IN_REVIEW,
    (S.APPROVED, A.CLOSE): S.CLOSED,
    (S.APPROVED, A.WITHDRAW): S.WITHDRAWN,
    (S.REJECTED, A.REOPEN): S.IN_REVIEW,
    (S.REJECTED, A.CLOSE): S.CLOSED,
    (S.PRODUCING, A.MARK_DISCLOSED): S.DISCLOSED,
    (S.PRODUCING, A.WITHDRAW): S.WITHDRAWN,
    (S.DISCLOSED, A.CLOSE): S.CLOSED,
}
EXPECTED_PRESERVATION = {
    (S.RECEIVED, A.PRESERVE): S.PRESERVED,
    (S.RECEIVED, A.WITHDRAW): S.WITHDRAWN,
    (S.PRESERVED, A.RENEW_PRESERVATION): S.PRESERVED,
    (S.PRESERVED, A.EXPIRE): S.EXPIRED,
    (S.PRESERVED, A.WITHDRAW): S.WITHDRAWN,
}


@pytest.mark.parametrize(
    "track, expected", [(Track.DISCLOSURE, EXPECTED_DISCLOSURE), (Track.PRESERVATION, EXPECTED_PRESERVATION)]
)
def test_every_state_and_action(track, expected):
    for state in State:
        for action in Action:
            if (state, action) in expected:
                assert transition(state, action, track) is expected[(state, action)], (state, action)
            else:
                with pytest.raises(IllegalTransition):
                    transition(state, action, track)


def test_nothing_leaves_a_terminal_state():
    for state in (S.CLOSED, S.WITHDRAWN, S.EXPIRED):
        for track in Track:
            assert available_actions(state, track) == []


def test_only_review_reaches_a_decision_and_nothing_is_produced_unreviewed():
    reachable_from_received = {S.RECEIVED}
    frontier = [S.RECEIVED]
    while frontier:
        state = frontier.pop()
        for action in available_actions(state, Track.DISCLOSURE):
            target = transition(state, action, Track.DISCLOSURE)
            if action in {A.APPROVE, A.REJECT, A.NO_RECORDS}:
                assert state is S.IN_REVIEW
            if target not in reachable_from_received:
                reachable_from_received.add(target)
                frontier.append(target)
    assert S.PRESERVED not in reachable_from_received  # a disclosure case never takes the preservation path
    for state in (S.PRODUCING, S.DISCLOSED):
        assert all(source is not S.RECEIVED for (source, _), target in EXPECTED_DISCLOSURE.items() if target is state)


def test_decisions_need_the_review_permission_and_production_the_producer_one():
    from disclosure.workflow import TRANSITIONS

    assert TRANSITIONS[A.APPROVE].permission is Permission.REVIEW_DECIDE
    assert TRANSITIONS[A.REJECT].permission is Permission.REVIEW_DECIDE
    assert TRANSITIONS[A.NO_RECORDS].permission is Permission.REVIEW_DECIDE
    assert TRANSITIONS[A.MARK_DISCLOSED].permission is Permission.PRODUCTION_MANAGE


def test_illegal_moves_explain_themselves():
    with pytest.raises(IllegalTransition, match="not possible while the case is closed"):
        transition(S.CLOSED, A.START_REVIEW, Track.DISCLOSURE)
    with pytest.raises(IllegalTransition, match="does not apply to a disclosure case"):
        transition(S.RECEIVED, A.PRESERVE, Track.DISCLOSURE)
